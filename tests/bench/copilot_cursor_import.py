"""Import throughput of the Copilot and Cursor readers, on copies of their fixtures.

    python -m tests.bench.copilot_cursor_import [--sessions 100] [--turns 30]

Lays out `--sessions` sessions of each fixture as each agent keeps them (VS Code
`chatSessions/` .json and .jsonl, Copilot CLI `session-state/<id>/events.jsonl`, Cursor
`agent-transcripts/*.jsonl`, and one Cursor `state.vscdb` holding a composer per session),
each its fixture's turns repeated `--turns` times under new ids (the fixtures are a few
turns long; the Claude Code benchmark's sessions average ~290 messages), then imports each
folder, and all of them at once, into fresh databases through the storage core, as
`agent-history import` does.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sidecar import protocol as p
from sidecar.store import Store
from sidecar.transcripts import importer
from sidecar.wire import structure_params

FIXTURES = Path(__file__).parent.parent / "fixtures"
COPILOT_JSON = FIXTURES / "copilot-chat" / "git-ai__copilot_session_simple.json"
COPILOT_LOG = FIXTURES / "copilot-chat" / "git-ai__copilot_session_multiline.jsonl"
COPILOT_CLI = FIXTURES / "copilot-cli" / "git-ai__copilot_cli_session_events.jsonl"
CURSOR_CLI = FIXTURES / "cursor-cli" / "git-ai__cursor-session-simple.jsonl"
CURSOR_ROWS = FIXTURES / "cursor" / "cursorDiskKV.json"
COMPOSER = "5c1d0f3e-8a2b-4c7d-9e61-2f4a8b9c0d1e"


# The ids a fixture's turns carry, given a suffix per repetition so that a session made of
# repeated turns holds no id twice.
IDS = re.compile(
    r"(?:request_|response_|toolu_vrtx_|call_|tool-|toolu_01)[0-9A-Za-z]+"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def renamed(text: str, old: str, copy: int) -> str:
    """The fixture's text with its session id made that of copy `copy`."""
    return text.replace(old, str(uuid.UUID(int=copy)))


def repeated(text: str, times: int) -> list[str]:
    """`text` (turns of a session) `times` over, its ids made new each time."""
    return [IDS.sub(rf"\g<0>-{n}", text) for n in range(times)]


def copilot_chat(folder: Path, copies: int, turns: int) -> None:
    sessions = folder / "workspaceStorage" / "0a1b2c" / "chatSessions"
    sessions.mkdir(parents=True)
    document = json.loads(COPILOT_JSON.read_text())
    requests = [r for text in repeated(json.dumps(document["requests"]), turns) for r in json.loads(text)]
    whole = json.dumps({**document, "requests": requests})
    rows = [json.loads(line) for line in COPILOT_LOG.read_text().splitlines()]
    pushed = [r for row in rows if row["kind"] == 2 for r in row["v"]]
    first = {**rows[0], "v": {**rows[0]["v"], "requests": []}}
    log = [json.dumps(first)]
    for text in repeated(json.dumps(rows[0]["v"]["requests"] + pushed), turns):
        log.append(json.dumps({"kind": 2, "k": ["requests"], "v": json.loads(text)}))
    for copy in range(copies):
        (sessions / f"{copy}.json").write_text(renamed(whole, "331fed7f-cfd6-409c-8502-06a56322b636", copy))
        text = renamed("\n".join(log) + "\n", "7de89a80-6d93-43e7-be0a-0a9afe980198", copy)
        (sessions / f"{copy}.jsonl").write_text(text)


def copilot_cli(folder: Path, copies: int, turns: int) -> None:
    start, *events = COPILOT_CLI.read_text().splitlines(keepends=True)
    text = start + "".join(repeated("".join(events), turns))
    for copy in range(copies):
        (folder / "session-state" / str(copy)).mkdir(parents=True)
        session = text.replace("301561f1-558a-43e9-a144-82d3ca12ab62", str(uuid.UUID(int=copy)))
        (folder / "session-state" / str(copy) / "events.jsonl").write_text(session)


def cursor_cli(folder: Path, copies: int, turns: int) -> None:
    transcripts = folder / "projects" / "home-dev" / "agent-transcripts"
    transcripts.mkdir(parents=True)
    text = CURSOR_CLI.read_text() * turns
    for copy in range(copies):
        (transcripts / f"{uuid.UUID(int=copy)}.jsonl").write_text(text)


def cursor(folder: Path, copies: int, turns: int) -> None:
    (folder / "Cursor" / "User" / "globalStorage").mkdir(parents=True)
    rows = json.loads(CURSOR_ROWS.read_text())
    composer = rows[f"composerData:{COMPOSER}"]
    bubbles = [rows[f"bubbleId:{COMPOSER}:{h['bubbleId']}"] for h in composer["fullConversationHeadersOnly"]]
    grown = [b for text in repeated(json.dumps(bubbles), turns) for b in json.loads(text)]
    headers = [{"bubbleId": b["bubbleId"], "type": b["type"]} for b in grown]
    db = sqlite3.connect(folder / "Cursor" / "User" / "globalStorage" / "state.vscdb")
    with db:
        db.execute("CREATE TABLE cursorDiskKV (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
        for copy in range(copies):
            composer_id = str(uuid.UUID(int=copy))
            value = {**composer, "composerId": composer_id, "fullConversationHeadersOnly": headers}
            db.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (f"composerData:{composer_id}", json.dumps(value)))
            db.executemany(
                "INSERT INTO cursorDiskKV VALUES (?, ?)",
                [(f"bubbleId:{composer_id}:{b['bubbleId']}", json.dumps(b)) for b in grown],
            )
    db.close()


LAYOUTS: dict[str, Callable[[Path, int, int], None]] = {
    "copilot-chat": copilot_chat,
    "copilot-cli": copilot_cli,
    "cursor-cli": cursor_cli,
    "cursor": cursor,
}


def timed_import(folder: Path, database: Path) -> tuple[int, int, float]:
    """Messages, files, seconds."""
    store = Store(database)
    try:
        params = structure_params({"path": str(folder)}, p.ImportTranscriptParams)
        started = time.perf_counter()
        result = importer.import_transcript(store, params)
        return result.messages, result.files, time.perf_counter() - started
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=100, help="sessions of each format")
    parser.add_argument("--turns", type=int, default=30, help="times each fixture's turns repeat in a session")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "sources"
        for name, layout in LAYOUTS.items():
            layout(root / name, args.sessions, args.turns)
            messages, files, seconds = timed_import(root / name, Path(scratch) / f"{name}.db")
            print(
                f"{name:>13}: {messages:,} messages from {files} files in {seconds:.2f} s: {messages / seconds:,.0f}/s"
            )
        messages, files, seconds = timed_import(root, Path(scratch) / "mixed.db")
        print(f"{'all, mixed':>13}: {messages:,} messages from {files} files in {seconds:.2f} s: ", end="")
        print(f"{messages / seconds:,.0f}/s")


if __name__ == "__main__":
    main()
