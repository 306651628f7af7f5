"""The `agent-history` terminal commands, run as a user would, on a real database file."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .helpers import SAMPLES


def cli(db_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "AGENT_HISTORY_DB": str(db_path), **env}
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def imported(db_path: Path) -> list[dict[str, Any]]:
    if not SAMPLES.is_dir():
        pytest.skip("the shared sample transcripts are not here")
    results: list[dict[str, Any]] = as_json(cli(db_path, "import", str(SAMPLES / "codex"), "--json"))
    return results


def test_import_then_search_finds_what_was_imported(db_path: Path, imported: list[dict[str, Any]]) -> None:
    assert imported[0]["files"] == 2 and imported[0]["messages"] > 0
    hits = as_json(cli(db_path, "search", "apply_patch", "--json"))["hits"]
    assert hits and {hit["sessionId"] for hit in hits} <= {s["id"] for s in imported[0]["sessions"]}
    table = cli(db_path, "search", "apply_patch")
    assert table.returncode == 0 and hits[0]["sessionId"] in table.stdout
    again = as_json(cli(db_path, "import", str(SAMPLES / "codex"), "--json"))
    assert again[0]["messages"] == 0


def test_sessions_show_export_stats_and_gc(db_path: Path, imported: list[dict[str, Any]], tmp_path: Path) -> None:
    listed = as_json(cli(db_path, "sessions", "--json"))["sessions"]
    assert len(listed) == 2
    table = cli(db_path, "sessions")
    assert all(session["id"] in table.stdout for session in listed)
    session_id = listed[0]["id"]
    shown = cli(db_path, "show", session_id)
    assert shown.returncode == 0 and shown.stdout.startswith("# ")
    output = tmp_path / "session.jsonl"
    assert cli(db_path, "export", session_id, "--format", "jsonl", "-o", str(output)).returncode == 0
    assert json.loads(output.read_text().splitlines()[0])["id"] == session_id
    stats = as_json(cli(db_path, "stats", "--json"))
    assert stats["sessions"] == 2 and stats["messages"] == sum(s["messageCount"] for s in listed)
    dry = as_json(cli(db_path, "gc", "--max-sessions", "1", "--dry-run", "--json"))
    assert dry["deletedSessions"] == 1 and as_json(cli(db_path, "stats", "--json"))["sessions"] == 2
    done = as_json(cli(db_path, "gc", "--max-sessions", "1", "--json"))
    assert done["sessionIds"] == dry["sessionIds"] and as_json(cli(db_path, "stats", "--json"))["sessions"] == 1


def test_exit_codes_say_what_went_wrong(db_path: Path, imported: list[dict[str, Any]]) -> None:
    nothing = cli(db_path, "search", "zzzyqx")
    assert nothing.returncode == 1  # as grep: no hits
    unknown = cli(db_path, "show", "01NOSUCHSESSION")
    assert unknown.returncode == 3 and "no session" in unknown.stderr
    bad_query = cli(db_path, "search", '"unclosed')
    assert bad_query.returncode == 2 and "query: unclosed quote" in bad_query.stderr
    bad_limit = cli(db_path, "sessions", "--limit", "0")
    assert bad_limit.returncode == 2 and "limit" in bad_limit.stderr
    missing = cli(db_path, "import", "/no/such/place")
    assert missing.returncode == 2 and "path" in missing.stderr
    usage = cli(db_path, "export")
    assert usage.returncode == 2 and "usage:" in usage.stderr


def test_every_command_has_help(db_path: Path) -> None:
    for command in ("sessions", "show", "search", "export", "import", "stats", "gc"):
        result = cli(db_path, command, "--help")
        assert result.returncode == 0 and "--json" in result.stdout and "--db" in result.stdout


def test_a_foreign_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    foreign = tmp_path / "notes.db"
    foreign.write_bytes(b"not a database at all" * 100)
    result = cli(foreign, "stats")
    assert result.returncode == 4 and "error" in result.stderr
    assert foreign.read_bytes() == b"not a database at all" * 100


def test_sync_with_a_url_that_is_not_one_is_a_usage_error(db_path: Path) -> None:
    done = cli(db_path, "sync", "--sync-url", "ftp://example.com/db")
    assert done.returncode == 2 and "--sync-url" in done.stderr and "libsql://" in done.stderr


# -- importing -----------------------------------------------------------------------------


def test_import_takes_every_path_that_exists_and_warns_of_the_others(db_path: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-codex-here"
    done = cli(db_path, "import", str(missing), str(SAMPLES / "codex"), "--json")
    assert done.returncode == 0, done.stderr
    assert f"warning: {missing} does not exist" in done.stderr
    assert [result["files"] for result in json.loads(done.stdout)] == [2]


def sample_home(tmp_path: Path) -> Path:
    """A home holding one Claude Code transcript in ~/.claude/projects, and nothing else."""
    projects = tmp_path / "home" / ".claude" / "projects" / "-Users-test-user-agent-sample"
    projects.mkdir(parents=True)
    (projects / "session.jsonl").write_bytes(
        (SAMPLES / "claude-code" / "lanegrid__agtrace__claude_session.jsonl").read_bytes()
    )
    return tmp_path / "home"


def test_import_with_no_path_imports_the_default_locations(db_path: Path, tmp_path: Path) -> None:
    home = sample_home(tmp_path)
    codex_home = tmp_path / "codex-home"
    (codex_home / "sessions").mkdir(parents=True)
    (codex_home / "sessions" / "rollout.jsonl").write_bytes(
        (SAMPLES / "codex" / "lanegrid__agtrace__codex_session.jsonl").read_bytes()
    )
    done = cli(db_path, "import", "--json", HOME=str(home), CODEX_HOME=str(codex_home), CLAUDE_CONFIG_DIR="")
    assert done.returncode == 0, done.stderr
    assert [result["files"] for result in json.loads(done.stdout)] == [1, 1]
    moved = tmp_path / "claude-config"
    (home / ".claude").rename(moved)
    again = cli(db_path, "import", "--json", HOME=str(home), CODEX_HOME=str(codex_home), CLAUDE_CONFIG_DIR=str(moved))
    assert again.returncode == 0 and [result["files"] for result in json.loads(again.stdout)] == [1, 1]
    nowhere = cli(db_path, "import", HOME=str(tmp_path / "empty"), CODEX_HOME="", CLAUDE_CONFIG_DIR="")
    assert nowhere.returncode == 2 and "nothing to import" in nowhere.stderr and ".codex/sessions" in nowhere.stderr


def test_import_with_no_path_finds_gemini_cli_chats(db_path: Path, tmp_path: Path) -> None:
    chats = tmp_path / "home" / ".gemini" / "tmp" / "9126eddec7f6" / "chats"
    chats.mkdir(parents=True)
    fixture = Path(__file__).parent / "fixtures" / "gemini-cli" / "lanegrid__agtrace__gemini_session.json"
    (chats / "session-2025-12-09T19-51-f0a689a6.json").write_bytes(fixture.read_bytes())
    env = {"HOME": str(tmp_path / "home"), "CODEX_HOME": "", "CLAUDE_CONFIG_DIR": "", "GEMINI_CLI_HOME": ""}
    done = cli(db_path, "import", "--json", **env)
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)
    entries = json.loads(fixture.read_text())["messages"]
    assert result["files"] == 1 and result["messages"] == len(entries) + sum(
        len(m.get("toolCalls", [])) for m in entries
    )


def test_a_file_of_no_known_format_is_named_and_a_wrong_format_is_said(db_path: Path, tmp_path: Path) -> None:
    odd = tmp_path / "transcripts" / "notes.jsonl"
    odd.parent.mkdir()
    odd.write_text('{"hello": "world"}\n')
    done = cli(db_path, "import", str(odd.parent))
    assert done.returncode == 0 and f"warning: {odd} is of no transcript format we know" in done.stderr
    codex = SAMPLES / "codex" / "lanegrid__agtrace__codex_session.jsonl"
    wrong = cli(db_path, "import", "--format", "claude-code", str(codex))
    assert wrong.returncode == 2 and "is a codex transcript, not claude-code" in wrong.stderr
    folder = cli(db_path, "import", "--format", "codex", str(SAMPLES / "claude-code"))
    assert folder.returncode == 2 and "is a claude-code transcript, not codex (and 14 more files" in folder.stderr
    assert as_json(cli(db_path, "stats", "--json"))["sessions"] == 0


# -- reading -------------------------------------------------------------------------------


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every sample transcript, imported once for the tests that only read them."""
    if not SAMPLES.is_dir():
        pytest.skip("the shared sample transcripts are not here")
    db_path = tmp_path_factory.mktemp("everything") / "history.db"
    assert cli(db_path, "import", str(SAMPLES)).returncode == 0
    return db_path


def test_sessions_at_80_columns_keep_ids_counts_and_tokens_whole(everything: Path) -> None:
    listed = {s["id"]: s for s in as_json(cli(everything, "sessions", "--json"))["sessions"]}
    table = cli(everything, "sessions", COLUMNS="80")
    rows = lines_of(table.stdout)[1:]
    assert table.returncode == 0 and len(rows) == len(listed)
    assert all(len(line) <= 80 for line in lines_of(table.stdout)), table.stdout
    from sidecar.figures import tokens

    for row in rows:
        prefix = row.split()[0]
        (session,) = [s for session_id, s in listed.items() if session_id.startswith(prefix)]
        usage = session["usage"]
        total = (
            usage["promptTokens"] + usage["completionTokens"] + usage["cacheReadTokens"] + usage["cacheCreationTokens"]
        )
        assert row.split()[-2:] == [f"{session['messageCount']:,}", tokens(total)]
        assert cli(everything, "show", prefix).returncode == 0  # the prefix names the session
    # A long project path loses its middle, so its last part (the project's name) still shows.
    assert any("…" in row and "Recorder" in row for row in rows), table.stdout


def test_search_names_each_hits_session_and_project_and_says_no_matches(everything: Path) -> None:
    hits = as_json(cli(everything, "search", "apply_patch", "--json"))["hits"]
    table = cli(everything, "search", "apply_patch", COLUMNS="80")
    assert table.returncode == 0 and all(len(line) <= 80 for line in lines_of(table.stdout))
    headers = [line for line in lines_of(table.stdout) if not line.startswith(" ")]
    assert len(headers) == len(hits)
    projects = {s["id"]: s["projectId"] for s in as_json(cli(everything, "sessions", "--json"))["sessions"]}
    rows = [re.split(r"\s{2,}", row) for row in lines_of(cli(everything, "sessions").stdout)[1:]]  # whole, piped
    labels = {row[0]: row[3] for row in rows}
    for header, hit in zip(headers, hits, strict=True):
        assert header.startswith(hit["sessionId"][:8]) and f"#{hit['index']} {hit['role']}" in header
        assert projects[hit["sessionId"]][-6:] in header  # the project's name, its middle maybe cut
        assert labels[hit["sessionId"]][:12] in header  # the session's title, preview or first prompt
    nothing = cli(everything, "search", "zzzyqx")
    assert nothing.returncode == 1 and "no matches for zzzyqx" in nothing.stderr


def test_a_leading_minus_word_is_part_of_the_query(everything: Path) -> None:
    both = as_json(cli(everything, "search", "apply_patch", "-zzzyqx", "--json"))["hits"]
    assert both == as_json(cli(everything, "search", "apply_patch", "--json"))["hits"] and both
    alone = cli(everything, "search", "-flaky")
    assert alone.returncode == 2 and "exclusions alone match nothing" in alone.stderr
    order = cli(everything, "search", "zzzyqx", "OR", "apply_patch", "--json")  # the order typed is kept
    assert order.returncode == 0, order.stderr


def test_usage_by_every_grouping_and_period(everything: Path) -> None:
    total = as_json(cli(everything, "usage", "--json"))["total"]
    for by in ("day", "month", "model", "agent", "project", "session"):
        result = as_json(cli(everything, "usage", "--by", by, "--json"))
        assert result["groups"] and sum(g["usage"]["promptTokens"] for g in result["groups"]) == total["promptTokens"]
        table = cli(everything, "usage", "--by", by, COLUMNS="80")
        assert table.returncode == 0 and all(len(line) <= 80 for line in lines_of(table.stdout)), table.stdout
        assert lines_of(table.stdout)[0].split()[0] == by and lines_of(table.stdout)[-1].startswith("total")
    projects = as_json(cli(everything, "usage", "--by", "project", "--json"))["groups"]
    assert "/path/to/Demo" in {group["key"] for group in projects}
    recent = as_json(cli(everything, "usage", "--since", "2026-01-01", "--by", "day", "--json"))["groups"]
    assert recent and all(group["key"] >= "2026-01-01" for group in recent)
    assert as_json(cli(everything, "usage", "--since", "7d", "--json"))["total"]["apiCalls"] == 0  # the samples are old
    bad = cli(everything, "usage", "--since", "last tuesday")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_usage_reports_show_cost_with_a_total_row_equal_to_get_usage(everything: Path) -> None:
    from sidecar.figures import dollars

    for report, by in (("daily", "day"), ("monthly", "month"), ("model", "model"), ("session", "session")):
        result = as_json(cli(everything, "usage", report, "--json", TZ="America/Los_Angeles"))
        assert result["cost"] > 0 and sum(g["cost"] for g in result["groups"]) == pytest.approx(result["cost"])
        table = cli(everything, "usage", report, COLUMNS="80", TZ="America/Los_Angeles")
        lines = lines_of(table.stdout)
        assert table.returncode == 0 and all(len(line) <= 80 for line in lines), table.stdout
        assert lines[0].split()[0] == by and lines[0].split()[-1] == "cost"
        total = next(line for line in lines if line.startswith("total"))
        assert total.split()[-1] == dollars(result["cost"], unknown=bool(result["unpricedModels"]))
    utc_days = {g["key"] for g in as_json(cli(everything, "usage", "daily", "--json", TZ="UTC"))["groups"]}
    tokyo_days = {g["key"] for g in as_json(cli(everything, "usage", "--time-zone", "Asia/Tokyo", "--json"))["groups"]}
    assert utc_days != tokyo_days
    bad = cli(everything, "usage", "--time-zone", "Nowhere/Land")
    assert bad.returncode == 2 and "timeZone" in bad.stderr
    windows = as_json(cli(everything, "usage", "blocks", "--json"))
    assert windows and all(block["usage"]["apiCalls"] > 0 and not block["active"] for block in windows)  # old samples
    table = cli(everything, "usage", "blocks", COLUMNS="80")
    assert table.returncode == 0 and all(len(line) <= 80 for line in lines_of(table.stdout)), table.stdout
    assert (
        lines_of(table.stdout)[0].split()[:2] == ["block", "start"] and len(lines_of(table.stdout)) == len(windows) + 1
    )


def test_stats_has_labels_and_token_totals_and_gc_dry_run_would_purge(everything: Path) -> None:
    stats = cli(everything, "stats", COLUMNS="80")
    assert stats.returncode == 0 and "compacted messages" in stats.stdout and "compactedMessages" not in stats.stdout
    total = as_json(cli(everything, "usage", "--json"))["total"]
    from sidecar.figures import tokens

    everything_spent = total["promptTokens"] + total["completionTokens"] + total["cacheReadTokens"]
    assert f"tokens              {tokens(everything_spent + total['cacheCreationTokens'])}:" in stats.stdout
    dry = cli(everything, "gc", "--purge-compacted-older-than-days", "1", "--dry-run")
    assert dry.returncode == 0 and "would purge 140 compacted messages" in dry.stdout


def test_show_of_a_sub_agent_says_so(everything: Path) -> None:
    listed = as_json(cli(everything, "sessions", "--json"))["sessions"]
    child = next(s for s in listed if s["kind"] == "subagent" and s.get("parentSessionId"))
    shown = cli(everything, "show", child["id"]).stdout
    assert f"Sub-agent of: {child['parentSessionId']}" in shown and "Forked from" not in shown


def in_pty(command: list[str], env: dict[str, str], *, stdout_tty: bool) -> tuple[bytes, bytes]:
    """Run `command` with a terminal (a pty) as stdin, and as stdout when `stdout_tty`; what
    reached stdout and stderr. Ctrl-D is typed at once, so a command reading stdin ends."""
    import pty

    main, child = pty.openpty()
    with subprocess.Popen(
        command, stdin=child, stdout=child if stdout_tty else subprocess.PIPE, stderr=subprocess.PIPE, env=env
    ) as process:
        os.close(child)
        os.write(main, b"\x04")
        screen = b""
        while stdout_tty:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the command closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        stdout, stderr = process.communicate(timeout=60)
    os.close(main)
    return (screen if stdout_tty else stdout), stderr


def test_show_pages_with_colour_in_a_terminal(everything: Path, tmp_path: Path) -> None:
    session_id = as_json(cli(everything, "sessions", "--json", "--limit", "1"))["sessions"][0]["id"]
    paged = tmp_path / "paged.txt"
    env = {**os.environ, "AGENT_HISTORY_DB": str(everything), "PAGER": f"cat > {paged}", "TERM": "xterm-256color"}
    env.pop("MANPAGER", None)
    in_pty([sys.executable, "-m", "sidecar", "show", session_id], env, stdout_tty=True)
    text = paged.read_text()
    assert "\x1b[" in text and session_id in text


def test_serve_by_hand_in_a_terminal_says_what_it_is_on_stderr_only(db_path: Path) -> None:
    env = {**os.environ, "AGENT_HISTORY_DB": str(db_path)}
    stdout, stderr = in_pty([sys.executable, "-m", "sidecar", "serve"], env, stdout_tty=False)
    said = stderr.decode()
    assert stdout == b""
    assert said.count("JSON-RPC") == 1 and str(db_path) in said
    assert all(f"agent-history {command}" in said for command in ("sessions", "search", "import"))


# -- the database, errors, help -------------------------------------------------------------


def test_db_goes_before_or_after_the_command(db_path: Path, imported: list[dict[str, Any]], tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    before = cli(elsewhere, "--db", str(db_path), "stats", "--json")
    after = cli(elsewhere, "stats", "--json", "--db", str(db_path))
    assert as_json(before)["sessions"] == as_json(after)["sessions"] == 2 and not elsewhere.exists()


def test_reading_a_database_that_is_not_there_is_an_error(tmp_path: Path) -> None:
    nowhere = tmp_path / "no-such-dir" / "h.db"
    for command in (["sessions"], ["search", "x"], ["stats"], ["usage"], ["show", "01X"]):
        done = cli(nowhere, *command)
        assert done.returncode == 4 and f"the directory {nowhere.parent} does not exist" in done.stderr
    assert not nowhere.parent.exists()


def test_paths_that_cannot_hold_a_database_say_why(tmp_path: Path) -> None:
    a_file = tmp_path / "README.md"
    a_file.write_text("hello")
    inside = cli(a_file / "h.db", "import", str(tmp_path))
    assert inside.returncode == 2 or inside.returncode == 4
    assert f"{a_file} is a file, not a directory" in inside.stderr and "File exists" not in inside.stderr
    if Path("/proc/self").is_dir():
        proc = cli(Path("/proc/h.db"), "import", str(tmp_path))
        assert "/proc does not accept new files" in proc.stderr and "No such file" not in proc.stderr


def test_export_into_a_missing_directory_is_a_clear_error(db_path: Path, imported: list[dict[str, Any]]) -> None:
    target = db_path.parent / "no-such-dir" / "out.md"
    done = cli(db_path, "export", imported[0]["sessions"][0]["id"], "-o", str(target))
    assert done.returncode == 2 and f"the directory {target.parent} does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_query_with_no_words_says_so_on_one_line(db_path: Path, imported: list[dict[str, Any]]) -> None:
    for query in ('""', "...", "!?"):
        done = cli(db_path, "search", query, COLUMNS="40")
        assert done.returncode == 2 and "the query has no words to search for" in done.stderr
        assert "exclusions" not in done.stderr and len(done.stderr.strip().splitlines()) == 1  # not hard-wrapped


def test_help_hides_internal_commands_and_every_option_says_its_default() -> None:
    from sidecar.cli import _parser

    parser = _parser()
    listing = subprocess.run([sys.executable, "-m", "sidecar", "--help"], capture_output=True, text=True, check=True)
    assert "sync-worker" not in listing.stdout and "\n    index" not in listing.stdout
    (commands,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    for name, command in commands.choices.items():
        if name in ("index", "sync-worker"):
            continue
        for action in command._actions:
            if action.option_strings and action.dest != "help":
                assert action.help and "default" in action.help, f"{name} {action.option_strings}: {action.help}"


def test_every_screen_reads_at_80_columns(everything: Path) -> None:
    for command in (["--help"], ["sessions"], ["search", "database"], ["usage", "--by", "model"], ["stats"]):
        done = cli(everything, *command, COLUMNS="80")
        assert done.returncode == 0, done.stderr
        assert all(len(line) <= 80 for line in done.stdout.splitlines()), "\n".join(done.stdout.splitlines()[:5])


# -- the README's quick start ---------------------------------------------------------------


def test_the_readme_quick_start_runs_on_a_machine_with_only_claude_code(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
    assert commands and all(command.startswith(".venv/bin/agent-history ") for command in commands)
    home = sample_home(tmp_path)
    env = {key: value for key, value in os.environ.items() if key not in ("AGENT_HISTORY_DB", "XDG_DATA_HOME")}
    env |= {"HOME": str(home), "CLAUDE_CONFIG_DIR": "", "CODEX_HOME": ""}
    for command in commands:
        argv = [sys.executable, "-m", "sidecar", *shlex.split(command)[1:]]
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
        assert done.returncode == 0, f"{command}: {done.stderr}"
        assert done.stdout.strip() and "Traceback" not in done.stderr
    assert (home / ".local" / "share" / "agent-history" / "history.db").exists()


# -- how figures, times and snippets read ----------------------------------------------------


def test_token_figures_read_one_way() -> None:
    from sidecar.figures import tokens

    figures = [0, 999, 1000, 12_345, 999_949, 999_960, 1_234_567, 5_000_000_000]
    assert list(map(tokens, figures)) == ["0", "999", "1.0k", "12.3k", "999.9k", "1.0M", "1.2M", "5.0G"]


def test_times_are_relative_for_a_week_then_dates() -> None:
    from datetime import UTC, datetime

    from sidecar.figures import ago

    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert ago("2026-12-02T11:59:30.000Z", now) == "just now"
    assert ago("2026-12-02T11:15:00.000Z", now) == "45 min ago"
    assert ago("2026-12-02T10:00:00.000Z", now) == "2 h ago"
    assert ago("2026-11-29T12:00:00.000Z", now) == "3 d ago"
    assert ago("2026-04-18T12:00:00.000Z", now) == "Apr 18"
    assert ago("2025-11-17T12:00:00.000Z", now) == "2025-11-17"


def test_long_paths_lose_their_middle() -> None:
    from sidecar.figures import middle

    assert middle("/Users/dain/workspace/JSSoundRecorder", 18) == "/User…oundRecorder"
    assert middle("/path/to/Demo", 18) == "/path/to/Demo"


def test_search_styles_the_matched_words_and_shows_the_texts_own_asterisks(store: Any) -> None:
    """Through the real core: the snippet's markers and escapes are gone, the words styled
    (an emoji before them counts two UTF-16 units in `highlights`)."""
    from sidecar import protocol as p
    from sidecar.display import MATCH_STYLE, snippet
    from sidecar.search import index as search
    from sidecar.store import messages, sessions

    session = sessions.create_session(store, p.CreateSessionParams(kind="chat"))
    text = "🎉 *** Begin Patch fix the **database** lock"
    new = [p.MessageInput(role=p.Role.USER, content=text)]
    messages.append_messages(store, p.AppendMessagesParams(session_id=session.id, messages=new))
    search.search_index(store).catch_up(store.db)
    (hit,) = search.search_messages(store, p.SearchMessagesParams(query="database")).hits
    shown = snippet(hit)
    assert shown.plain == text
    assert [shown.plain[span.start : span.end] for span in shown.spans if span.style == MATCH_STYLE] == ["database"]


def test_search_while_an_editors_indexer_holds_the_index_finds_what_it_indexed(db_path: Path) -> None:
    """Tantivy has one writer: a running sidecar's indexer holds it for good. Before, the
    terminal's own catch-up met it and `search` failed with "database is busy"."""
    from sidecar import protocol as p
    from sidecar.search.tantivy_fts import TantivyIndex
    from sidecar.store import Store, messages, sessions

    store = Store(db_path)
    session = sessions.create_session(store, p.CreateSessionParams(kind="chat"))
    said = [p.MessageInput(role=p.Role.USER, content="the heron took the fish")]
    messages.append_messages(store, p.AppendMessagesParams(session_id=session.id, messages=said))
    indexer = TantivyIndex(db_path, keeps_writer=True)  # as a sidecar's indexer does
    indexer.catch_up(store.db)
    later = [p.MessageInput(role=p.Role.USER, content="a second heron, not indexed yet")]
    messages.append_messages(store, p.AppendMessagesParams(session_id=session.id, messages=later))
    store.close()
    result = cli(db_path, "search", "heron", "--json")
    indexer.close()
    assert result.returncode == 0, result.stderr
    assert [hit["snippet"] for hit in json.loads(result.stdout)["hits"]] == ["the **heron** took the fish"]
