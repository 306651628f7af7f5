"""The readers of GitHub Copilot (VS Code chat sessions, Copilot CLI events) and Cursor
(state.vscdb, agent transcripts), on the fixtures of tests/fixtures (sources in
tests/fixtures/SOURCES.md). Expected figures are counted here from the fixtures' own JSON,
independently of the readers."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from sidecar import protocol as p
from sidecar.search import index as search
from sidecar.store import Store
from sidecar.store.database import Database
from sidecar.transcripts import importer, locations, stamp_millis
from sidecar.wire import structure_params

from .test_capture import captured, compared, expected_total, oneshot, sidecar, until_count, write_slowly
from .test_readers import Expected, all_messages, check_import, index, run_import, usage_totals

FIXTURES = Path(__file__).parent / "fixtures"
COPILOT_JSON = FIXTURES / "copilot-chat" / "git-ai__copilot_session_simple.json"
COPILOT_LOG = FIXTURES / "copilot-chat" / "git-ai__copilot_session_multiline.jsonl"
COPILOT_CLI = FIXTURES / "copilot-cli" / "git-ai__copilot_cli_session_events.jsonl"
COPILOT_AGENT = FIXTURES / "copilot-cli" / "git-ai__copilot_vscode_event_stream.jsonl"
CURSOR_ROWS = FIXTURES / "cursor" / "cursorDiskKV.json"
CURSOR_DB = FIXTURES / "cursor" / "git-ai__cursor_test.vscdb"
CURSOR_CLI = FIXTURES / "cursor-cli" / "git-ai__cursor-session-simple.jsonl"
ZERO = (0, 0, 0, 0, 0)

__all__ = ["index"]  # the search index fixture, used here by name


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- Copilot Chat ---------------------------------------------------------------------------


def copilot_document(path: Path) -> dict[str, Any]:
    """The session object: the file, or its log's first object with the requests it pushes."""
    if path.suffix == ".json":
        document: dict[str, Any] = json.loads(path.read_text())
        return document
    rows = lines(path)
    document = rows[0]["v"]
    for row in rows[1:]:
        if row["kind"] == 2 and row["k"] == ["requests"]:
            document["requests"] += row["v"]
    return document


def copilot_expected(document: dict[str, Any], word: str) -> Expected:
    requests = document["requests"]
    rounds = [r for q in requests for r in q["result"]["metadata"]["toolCallRounds"]]
    calls = [c for r in rounds for c in r["toolCalls"]]
    results = {k: v for q in requests for k, v in q["result"]["metadata"].get("toolCallResults", {}).items()}
    return Expected(
        messages=len(requests) + len(rounds) + sum(c["id"] in results for c in calls),
        tool_calls=len(calls),
        results=sum(c["id"] in results for c in calls),
        errors=sum("ERROR while calling tool" in json.dumps(v) for v in results.values()),
        usage=ZERO,  # neither capture kept token counts
        model=requests[-1]["modelId"].split("/", 1)[1],
        word=word,
    )


def workspace(root: Path, folder: str) -> Path:
    """A VS Code workspace storage folder for `folder`, as VS Code lays it out."""
    storage = root / "User" / "workspaceStorage" / "4f2a9c0d1e"
    (storage / "chatSessions").mkdir(parents=True)
    (storage / "workspace.json").write_text(json.dumps({"folder": f"file://{folder}"}))
    return storage


@pytest.mark.parametrize(("path", "word"), [(COPILOT_JSON, "Bonjour"), (COPILOT_LOG, "7sadfh32u23gdaWF")])
def test_copilot_chat_sessions_match_their_files(
    store: Store, index: Database, tmp_path: Path, path: Path, word: str
) -> None:
    document = copilot_document(path)
    storage = workspace(tmp_path, "/Users/svarlamov/projects/testing git")
    shutil.copy(path, storage / "chatSessions" / f"{document['sessionId']}{path.suffix}")
    (storage / "state.vscdb").write_bytes(b"")  # VS Code's own: not a transcript
    session = check_import(store, index, tmp_path / "User" / "workspaceStorage", copilot_expected(document, word))
    assert (session.agent_name, session.title) == ("copilot-chat", document["customTitle"])
    assert session.project_id == "/Users/svarlamov/projects/testing git"
    found = all_messages(store, session.id)
    assert found[0].content == document["requests"][0]["message"]["text"]
    assert found[0].created_at == stamp_millis(document["requests"][0]["timestamp"])
    assert session.created_at == stamp_millis(document["creationDate"])


def test_copilot_chat_empty_window_session_has_no_project(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "User" / "globalStorage" / "emptyWindowChatSessions"
    folder.mkdir(parents=True)
    shutil.copy(COPILOT_JSON, folder / "331fed7f.json")
    (session,) = run_import(store, folder).sessions
    assert (
        session.project_id is None
        and session.message_count == copilot_expected(copilot_document(COPILOT_JSON), "").messages
    )


def test_copilot_chat_without_tool_rounds_reads_the_panels_parts(store: Store, tmp_path: Path) -> None:
    document = copilot_document(COPILOT_JSON)
    request = document["requests"][1]
    del request["result"]["metadata"]["toolCallRounds"]
    invocations = [part for part in request["response"] if part.get("kind") == "toolInvocationSerialized"]
    path = tmp_path / "chatSessions" / "s.json"
    path.parent.mkdir()
    path.write_text(json.dumps({**document, "requests": [request]}))
    (session,) = run_import(store, path).sessions
    _, answer, *results = all_messages(store, session.id)
    assert [call.name for call in answer.tool_calls or []] == [part["toolId"] for part in invocations]
    assert [r.tool_call_id for r in results] == [part["toolCallId"] for part in invocations]
    markdown = [part["value"] for part in request["response"] if "value" in part and "kind" not in part]
    assert all(piece.strip() in (answer.content or "") for piece in markdown if piece.strip())


def test_copilot_chat_summary_compacts_the_conversation_up_to_its_round(store: Store, tmp_path: Path) -> None:
    document = copilot_document(COPILOT_JSON)
    metadata = document["requests"][1]["result"]["metadata"]
    first_round = metadata["toolCallRounds"][0]
    metadata["summary"] = {"toolCallRoundId": first_round["id"], "text": "The user asked to say hello world."}
    path = tmp_path / "chatSessions" / "s.json"
    path.parent.mkdir()
    path.write_text(json.dumps(document))
    (session,) = run_import(store, path).sessions
    stored = store.db.scalar("SELECT group_concat(summary) FROM compactions WHERE session_id = ?", (session.id,))
    assert stored == "The user asked to say hello world."
    # The first request (prompt, answer), the second's prompt, its first round and that round's result.
    through = 2 + 1 + 1 + len(first_round["toolCalls"])
    found = all_messages(store, session.id)
    assert [m.compacted for m in found] == [True] * through + [False] * (len(found) - through)


def test_copilot_chat_usage_and_the_model_that_served_are_kept(store: Store, tmp_path: Path) -> None:
    document = copilot_document(COPILOT_JSON)  # VS Code's IChatUsage, as newer VS Code writes it
    document["requests"][0]["usage"] = {"promptTokens": 9100, "completionTokens": 420, "kind": "usage"}
    document["requests"][2]["usage"] = {
        "promptTokens": 12040,
        "completionTokens": 96,
        "copilotCredits": 1,
        "actualModelId": "claude-sonnet-4.5",
        "kind": "usage",
    }
    path = tmp_path / "chatSessions" / "s.json"
    path.parent.mkdir()
    path.write_text(json.dumps(document))
    (session,) = run_import(store, path).sessions
    assert usage_totals(session) == (9100 + 12040, 420 + 96, 0, 0, 0) and session.model == "claude-sonnet-4.5"
    credited = [m.metadata for m in all_messages(store, session.id) if m.metadata and "copilotCredits" in m.metadata]
    assert [m["copilotCredits"] for m in credited] == [1]


def test_copilot_chat_request_without_a_time_takes_the_one_before(store: Store, tmp_path: Path) -> None:
    document = copilot_document(COPILOT_JSON)
    first, second = document["requests"][0], document["requests"][1]
    del second["timestamp"]  # as sessions of older VS Code kept them
    path = tmp_path / "chatSessions" / "s.json"
    path.parent.mkdir()
    path.write_text(json.dumps(document))
    result = run_import(store, path)
    assert result.skipped_lines == 0
    found = all_messages(store, result.sessions[0].id)
    prompts = [m for m in found if m.role is p.Role.USER]
    before = [m for m in found if m.index < prompts[1].index]
    answered = first["timestamp"] + first["result"]["timings"]["totalElapsed"]
    assert prompts[1].created_at == before[-1].created_at == stamp_millis(answered)


def test_copilot_chat_grown_session_adds_only_new_messages(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "chatSessions" / "s.json"
    path.parent.mkdir()
    document = copilot_document(COPILOT_JSON)
    path.write_text(json.dumps({**document, "requests": document["requests"][:-1]}))
    first = run_import(store, path)
    path.write_text(json.dumps(document))
    second = run_import(store, path)
    last = document["requests"][-1]["result"]["metadata"]
    added = 1 + len(last["toolCallRounds"]) + len(last["toolCallResults"])
    assert second.messages == added and first.sessions[0].id == second.sessions[0].id


def test_copilot_chat_log_that_grows_adds_only_new_messages(store: Store, tmp_path: Path) -> None:
    rows = COPILOT_LOG.read_text().splitlines(keepends=True)
    pushed = next(n for n, row in enumerate(rows) if json.loads(row)["kind"] == 2)
    path = tmp_path / "chatSessions" / "s.jsonl"
    path.parent.mkdir()
    path.write_text("".join(rows[:pushed]))
    first = run_import(store, path)
    path.write_text("".join(rows))
    second = run_import(store, path)
    (request,) = json.loads(rows[pushed])["v"]
    added = 1 + len(request["result"]["metadata"]["toolCallRounds"])
    assert (second.messages, second.skipped_lines) == (added, 0)
    assert first.sessions[0].id == second.sessions[0].id


def test_copilot_chat_malformed_requests_and_log_lines_are_skipped_and_counted(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "chatSessions"
    folder.mkdir()
    document = copilot_document(COPILOT_JSON)
    dropped = document["requests"][0]["result"]["metadata"]["toolCallRounds"]
    del document["requests"][0]["message"]
    document["requests"].append("not a request")
    (folder / "a.json").write_text(json.dumps(document))
    result = run_import(store, folder / "a.json")
    assert result.skipped_lines == 2
    assert result.messages == copilot_expected(copilot_document(COPILOT_JSON), "").messages - 1 - len(dropped)
    rows = COPILOT_LOG.read_text().splitlines(keepends=True)
    broken = [rows[0], "{not json\n", '{"kind": 1, "k": ["requests", 9, "x"], "v": 1}\n', *rows[1:]]
    (folder / "b.jsonl").write_text("".join(broken))
    assert run_import(store, folder / "b.jsonl").skipped_lines == 2
    (folder / "c.json").write_text("{not json")
    assert run_import(store, folder).skipped_files == 1


# -- Copilot CLI ----------------------------------------------------------------------------


def copilot_cli_expected(path: Path, word: str) -> Expected:
    events = lines(path)
    data = [(e["type"], e["data"]) for e in events]
    completed = [d for kind, d in data if kind == "tool.execution_complete"]
    models = [d.get("newModel") or d.get("model") for _, d in data if d.get("newModel") or d.get("model")]
    return Expected(
        messages=sum(kind in ("user.message", "assistant.message", "tool.execution_complete") for kind, _ in data),
        tool_calls=sum(len(d.get("toolRequests", [])) for kind, d in data if kind == "assistant.message"),
        results=len(completed),
        errors=sum(d.get("success") is False or d.get("result", {}).get("result_type", "success") != "success"
                   for d in completed),
        usage=ZERO,
        model=models[-1] if models else None,
        word=word,
    )  # fmt: skip


def test_copilot_cli_session_matches_its_events(store: Store, index: Database, tmp_path: Path) -> None:
    start = lines(COPILOT_CLI)[0]["data"]
    folder = tmp_path / "session-state" / start["sessionId"]
    folder.mkdir(parents=True)
    shutil.copy(COPILOT_CLI, folder / "events.jsonl")
    session = check_import(store, index, tmp_path / "session-state", copilot_cli_expected(COPILOT_CLI, "hello"))
    assert (session.agent_name, session.project_id) == ("copilot-cli", start["context"]["cwd"])
    assert session.metadata is not None and session.metadata["branch"] == start["context"]["branch"]
    assert session.created_at == start["startTime"]


def test_copilot_agent_transcript_in_vs_code_storage_takes_its_workspace(
    store: Store, index: Database, tmp_path: Path
) -> None:
    storage = workspace(tmp_path, "/Users/test/project")
    transcripts = storage / "GitHub.copilot-chat" / "transcripts"
    transcripts.mkdir(parents=True)
    shutil.copy(COPILOT_AGENT, transcripts / "5fcddc54.jsonl")
    session = check_import(store, index, storage, copilot_cli_expected(COPILOT_AGENT, "comment"))
    assert (session.agent_name, session.project_id) == ("copilot-chat", "/Users/test/project")


def test_a_session_vs_code_keeps_in_both_folders_is_imported_once_from_chat_sessions(
    store: Store, tmp_path: Path
) -> None:
    storage = workspace(tmp_path, "/Users/test/project")
    transcripts = storage / "GitHub.copilot-chat" / "transcripts"
    transcripts.mkdir(parents=True)
    session_id = lines(COPILOT_AGENT)[0]["data"]["sessionId"]
    shutil.copy(COPILOT_AGENT, transcripts / f"{session_id}.jsonl")
    shutil.copy(COPILOT_JSON, storage / "chatSessions" / f"{session_id}.json")
    result = run_import(store, storage)
    assert (result.files, result.skipped_files) == (2, 0)
    assert [s.metadata["source"] for s in result.sessions if s.metadata] == ["copilot-chat"]


def test_copilot_cli_grown_and_malformed_events(store: Store, tmp_path: Path) -> None:
    rows = COPILOT_CLI.read_text().splitlines(keepends=True)
    path = tmp_path / "events.jsonl"
    path.write_text("".join(rows[:-2]))
    first = run_import(store, path)
    path.write_text("".join([*rows, "{not json\n", '{"type": "tool.execution_complete", "data": {}}\n']))
    second = run_import(store, path)
    assert (second.messages, second.skipped_lines) == (1, 2)  # the last event's result
    assert first.sessions[0].id == second.sessions[0].id


@pytest.mark.timeout(300)
async def test_copilot_cli_events_are_captured_live_as_an_import_reads_them(tmp_path: Path) -> None:
    content = COPILOT_CLI.read_bytes()
    expected = oneshot(tmp_path, (tmp_path / "copy" / "events.jsonl", content))
    watched = tmp_path / "session-state"
    watched.mkdir()
    async with sidecar(tmp_path / "history.db", watched) as client:
        await write_slowly(watched / "301561f1" / "events.jsonl", content.splitlines(keepends=True))
        await until_count(client, expected_total(expected))
        got = await captured(client)
        assert {key: compared(m) for key, m in got.items()} == {key: compared(m) for key, m in expected.items()}


# -- Cursor ---------------------------------------------------------------------------------


def cursor_user(root: Path, rows: dict[str, Any], *, wal: bool = False) -> Path:
    """A Cursor `User` folder: the global state.vscdb built from the fixture's rows (values
    as Cursor writes them, JSON text, some as BLOBs), and one workspace listing a composer."""
    user = root / "Cursor" / "User"
    (user / "globalStorage").mkdir(parents=True)
    database = user / "globalStorage" / "state.vscdb"
    build_database(database, "cursorDiskKV", rows, wal=wal)
    workspace_storage = user / "workspaceStorage" / "8b1e2f"
    workspace_storage.mkdir(parents=True)
    shutil.copy(FIXTURES / "cursor" / "workspace.json", workspace_storage)
    items = json.loads((FIXTURES / "cursor" / "workspace-ItemTable.json").read_text())
    build_database(workspace_storage / "state.vscdb", "ItemTable", items)
    return user


def build_database(path: Path, table: str, rows: dict[str, Any], *, wal: bool = False) -> None:
    db = sqlite3.connect(path)
    if wal:
        db.execute("PRAGMA journal_mode=WAL")
    with db:
        db.execute("CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
        db.execute("CREATE TABLE cursorDiskKV (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")
        for number, (key, value) in enumerate(rows.items()):
            text = value if isinstance(value, str) else json.dumps(value)
            db.execute(f"INSERT INTO {table} VALUES (?, ?)", (key, text.encode() if number % 2 else text))
    db.close()


def cursor_rows() -> dict[str, Any]:
    rows: dict[str, Any] = json.loads(CURSOR_ROWS.read_text())
    return rows


def cursor_expected(rows: dict[str, Any], composer_id: str, word: str) -> Expected:
    composer = rows[f"composerData:{composer_id}"]
    bubbles = composer.get("conversation") or [
        rows[f"bubbleId:{composer_id}:{h['bubbleId']}"] for h in composer["fullConversationHeadersOnly"]
    ]
    kept = [
        b
        for b in bubbles
        if b["type"] == 1 or b["text"] or (b.get("thinking") or {}).get("text") or b.get("toolFormerData")
    ]
    tools = [b["toolFormerData"] for b in kept if b.get("toolFormerData")]
    answered = [t for t in tools if "result" in t or "error" in t]
    tokens = [b["tokenCount"] for b in kept if b.get("tokenCount")]
    models = [b["modelInfo"]["modelName"] for b in bubbles if b["type"] == 2 and b.get("modelInfo")]
    return Expected(
        messages=len(kept) + len(answered),
        tool_calls=len(tools),
        results=len(answered),
        errors=sum(t["status"] == "error" or "error" in t for t in answered),
        usage=(sum(t["inputTokens"] for t in tokens), sum(t["outputTokens"] for t in tokens), 0, 0, 0),
        model=models[-1] if models else composer["modelConfig"]["modelName"],
        word=word,
    )


def composer_ids(rows: dict[str, Any]) -> list[str]:
    """The composers with something said in them."""
    return [
        key.partition(":")[2]
        for key, value in rows.items()
        if key.startswith("composerData:") and (value.get("conversation") or value.get("fullConversationHeadersOnly"))
    ]


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(f.relative_to(folder)): (f.stat().st_size, f.stat().st_mtime_ns) for f in folder.rglob("*")}


def genuine_cursor_rows(database: Path) -> dict[str, Any]:
    """Every row of a Cursor database's `cursorDiskKV`, its JSON parsed (read here with the
    standard library, not with the reader)."""
    db = sqlite3.connect(f"{database.as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        return {key: json.loads(value) for key, value in db.execute("SELECT key, value FROM cursorDiskKV")}
    finally:
        db.close()


def test_cursor_genuine_database_matches_its_rows(store: Store, index: Database, tmp_path: Path) -> None:
    storage = tmp_path / "Cursor" / "User" / "globalStorage"
    storage.mkdir(parents=True)
    shutil.copy(CURSOR_DB, storage / "state.vscdb")
    rows = genuine_cursor_rows(storage / "state.vscdb")
    [composer_id] = composer_ids(rows)
    expected = cursor_expected(rows, composer_id, "vscdb")
    bubbles = [b for k, b in rows.items() if k.startswith("bubbleId:")]
    # Reasoning Cursor kept only encrypted (empty text, a signature) is no message.
    assert expected.messages == len(bubbles) - sum(
        b["type"] == 2 and not b["text"] and not b.get("toolFormerData") and not b["thinking"]["text"] for b in bubbles
    ) + sum("result" in (b.get("toolFormerData") or {}) for b in bubbles)
    before = listing(tmp_path / "Cursor")
    session = check_import(store, index, tmp_path / "Cursor", expected)
    assert listing(tmp_path / "Cursor") == before
    assert (session.title, session.agent_name) == (rows[f"composerData:{composer_id}"]["name"], "cursor")
    assert session.created_at == stamp_millis(rows[f"composerData:{composer_id}"]["createdAt"])


def test_cursor_composers_match_their_rows(store: Store, index: Database, tmp_path: Path) -> None:
    rows = cursor_rows()
    user = cursor_user(tmp_path, rows)
    before = listing(user)
    result = run_import(store, user)
    assert listing(user) == before  # nothing written, nothing created beside the databases
    assert (result.files, result.skipped_files, result.skipped_lines) == (1, 0, 0)
    sessions = {s.metadata["sourceSessionId"]: s for s in result.sessions if s.metadata}
    assert sorted(sessions) == sorted(composer_ids(rows))
    words = {
        "5c1d0f3e-8a2b-4c7d-9e61-2f4a8b9c0d1e": "separators",
        "9e2f7a41-3c5d-4b8e-a1f0-6d7c8e9f0a2b": "retry",
        "d4e5f6a7-0b1c-4d2e-8f3a-4b5c6d7e8f90": "callers",
    }
    for composer_id, session in sessions.items():
        expected = cursor_expected(rows, composer_id, words[composer_id])
        found = all_messages(store, session.id)
        calls = {call.id for m in found for call in m.tool_calls or []}
        assert len(found) == session.message_count == expected.messages
        assert len(calls) == expected.tool_calls
        assert sum(m.role is p.Role.TOOL and m.tool_call_id in calls for m in found) == expected.results
        assert sum(bool((m.metadata or {}).get("isError")) for m in found) == expected.errors
        assert (usage_totals(session), session.model) == (expected.usage, expected.model)
        assert session.title == rows[f"composerData:{composer_id}"]["name"] and session.agent_name == "cursor"
    assert sessions["5c1d0f3e-8a2b-4c7d-9e61-2f4a8b9c0d1e"].project_id == "/home/dev/tiny-parser"
    assert sessions["9e2f7a41-3c5d-4b8e-a1f0-6d7c8e9f0a2b"].project_id is None
    helper = sessions["d4e5f6a7-0b1c-4d2e-8f3a-4b5c6d7e8f90"]  # in the first one's subComposerIds
    assert (helper.kind, helper.parent_session_id) == ("subagent", sessions["5c1d0f3e-8a2b-4c7d-9e61-2f4a8b9c0d1e"].id)
    assert helper.project_id == "/home/dev/tiny-parser"
    assert (run_import(store, user).messages, listing(user)) == (0, before)
    index.catch_up(store.db)
    hits = search.search_messages(store, structure_params({"query": "separators"}, p.SearchMessagesParams)).hits
    assert {hit.session_id for hit in hits} == {sessions["5c1d0f3e-8a2b-4c7d-9e61-2f4a8b9c0d1e"].id}


def test_cursor_database_open_in_wal_mode_is_read_without_a_file_made_or_a_lock_taken(
    store: Store, tmp_path: Path
) -> None:
    rows = cursor_rows()
    user = cursor_user(tmp_path, rows, wal=True)
    database = user / "globalStorage" / "state.vscdb"
    idle = listing(user)
    assert run_import(store, user).messages > 0 and listing(user) == idle  # closed: read as immutable
    cursor = sqlite3.connect(database)  # Cursor running: its -wal and -shm beside the file
    try:
        composer_id = "9e2f7a41-3c5d-4b8e-a1f0-6d7c8e9f0a2b"
        composer = rows[f"composerData:{composer_id}"]
        composer["conversation"].append({"type": 1, "bubbleId": "b-legacy-3", "text": "And after the third?"})
        with cursor:
            cursor.execute(
                "INSERT INTO cursorDiskKV VALUES (?, ?)", (f"composerData:{composer_id}", json.dumps(composer))
            )
        running = listing(user)
        assert {"globalStorage/state.vscdb-wal", "globalStorage/state.vscdb-shm"} <= set(running)
        assert run_import(store, user).messages == 1  # the row still only in the WAL is read
        with cursor:  # and Cursor can still write: no lock was left behind
            cursor.execute("INSERT INTO cursorDiskKV VALUES ('probe', '{}')")
        assert set(listing(user)) == set(running)
    finally:
        cursor.close()


def test_cursor_grown_composer_adds_only_new_bubbles(store: Store, tmp_path: Path) -> None:
    rows = cursor_rows()
    composer_id = "5c1d0f3e-8a2b-4c7d-9e61-2f4a8b9c0d1e"
    composer = rows[f"composerData:{composer_id}"]
    last = composer["fullConversationHeadersOnly"].pop()
    user = cursor_user(tmp_path, rows)
    first = run_import(store, user)
    composer["fullConversationHeadersOnly"].append(last)
    db = sqlite3.connect(user / "globalStorage" / "state.vscdb")
    with db:
        db.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (f"composerData:{composer_id}", json.dumps(composer)))
    db.close()
    second = run_import(store, user)
    assert second.messages == 1 and {s.id for s in second.sessions} <= {s.id for s in first.sessions}


def test_cursor_malformed_rows_are_skipped_and_counted(store: Store, tmp_path: Path) -> None:
    rows = cursor_rows()
    composer_id = "5c1d0f3e-8a2b-4c7d-9e61-2f4a8b9c0d1e"
    headers = rows[f"composerData:{composer_id}"]["fullConversationHeadersOnly"]
    rows[f"bubbleId:{composer_id}:{headers[0]['bubbleId']}"] = "{not json"
    headers.append({"bubbleId": "no-such-bubble", "type": 2})
    rows["composerData:broken"] = "3"
    user = cursor_user(tmp_path, rows)
    result = run_import(store, user)
    assert result.skipped_lines == 3
    assert (
        result.messages == sum(cursor_expected(cursor_rows(), c, "").messages for c in composer_ids(cursor_rows())) - 1
    )
    (user / "globalStorage" / "state.vscdb").write_bytes(b"not a database")
    assert run_import(store, user / "globalStorage").skipped_files == 1


# -- Cursor agent transcripts ---------------------------------------------------------------


def test_cursor_agent_transcript_matches_its_file(store: Store, index: Database, tmp_path: Path) -> None:
    rows = lines(CURSOR_CLI)
    folder = tmp_path / "projects" / "Users-dev-hbo" / "agent-transcripts"
    folder.mkdir(parents=True)
    shutil.copy(CURSOR_CLI, folder / "3f9e1c2a.jsonl")
    expected = Expected(
        messages=len(rows),
        tool_calls=sum(b["type"] == "tool_use" for r in rows for b in r["message"]["content"]),
        results=0,
        errors=0,
        usage=ZERO,
        model=None,
        word="HBO",
    )
    session = check_import(store, index, tmp_path / "projects", expected)
    assert session.agent_name == "cursor" and session.metadata is not None
    assert session.metadata["projectSlug"] == "Users-dev-hbo"
    first = all_messages(store, session.id)[0]
    assert (first.content or "").startswith("Generate a file") and "<user_query>" not in (first.content or "")


def test_cursor_agent_transcript_grown_and_malformed(store: Store, tmp_path: Path) -> None:
    text = CURSOR_CLI.read_text().splitlines(keepends=True)
    path = tmp_path / "t.jsonl"
    path.write_text("".join(text[:-3]))
    first = run_import(store, path, format="cursor-cli")
    path.write_text("".join([*text, "{not json\n", '{"role": "assistant", "message": {}}\n']))
    second = run_import(store, path)
    assert (second.messages, second.skipped_lines) == (3, 2)
    assert first.sessions[0].id == second.sessions[0].id


# -- all of them ------------------------------------------------------------------------------


def test_default_locations_name_copilot_and_cursor_folders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    monkeypatch.delenv("COPILOT_HOME", raising=False)
    found = locations.default_locations()
    if sys.platform == "linux":
        assert found["cursor"] == tmp_path / ".config" / "Cursor" / "User" / "globalStorage"
        assert found["copilot-chat"] == tmp_path / ".config" / "Code" / "User" / "workspaceStorage"
        insiders = tmp_path / ".config" / "Code - Insiders" / "User" / "globalStorage" / "emptyWindowChatSessions"
        assert found["copilot-chat (Code - Insiders) (empty windows)"] == insiders
    assert found["copilot-cli"] == tmp_path / ".copilot" / "session-state"
    assert found["cursor-cli"] == tmp_path / ".cursor" / "projects"
    monkeypatch.setenv("COPILOT_HOME", str(tmp_path / "elsewhere"))
    assert locations.default_locations()["copilot-cli"] == tmp_path / "elsewhere" / "session-state"


def test_a_folder_of_every_kind_imports_each_by_its_format(store: Store, tmp_path: Path) -> None:
    storage = workspace(tmp_path, "/work/app")
    shutil.copy(COPILOT_JSON, storage / "chatSessions" / "a.json")
    shutil.copy(COPILOT_LOG, storage / "chatSessions" / "b.jsonl")
    shutil.copy(COPILOT_CLI, tmp_path / "events.jsonl")
    shutil.copy(CURSOR_CLI, tmp_path / "cursor.jsonl")
    cursor_user(tmp_path, cursor_rows())
    found = {str(f.relative_to(tmp_path)): importer.detect(f) for f in importer.transcript_files(tmp_path)}
    assert found == {
        "Cursor/User/globalStorage/state.vscdb": "cursor",
        "User/workspaceStorage/4f2a9c0d1e/chatSessions/a.json": "copilot-chat",
        "User/workspaceStorage/4f2a9c0d1e/chatSessions/b.jsonl": "copilot-chat",
        "cursor.jsonl": "cursor-cli",
        "events.jsonl": "copilot-cli",
    }
    result = run_import(store, tmp_path)
    assert (result.files, result.skipped_files, result.skipped_lines, len(result.sessions)) == (
        5,
        0,
        0,
        4 + len(composer_ids(cursor_rows())),
    )


def test_cursor_database_with_a_wal_and_no_shm_is_read_from_a_copy(store: Store, tmp_path: Path) -> None:
    """A profile copied or restored while Cursor ran: its -wal holds commits, no -shm lies
    beside it. Before, `mode=ro` could not open it and the whole database was skipped."""
    rows = cursor_rows()
    user = cursor_user(tmp_path, rows, wal=True)
    database = user / "globalStorage" / "state.vscdb"
    writer = sqlite3.connect(database)
    writer.execute("PRAGMA wal_autocheckpoint = 0")  # the row stays in the -wal
    composer_id = "9e2f7a41-3c5d-4b8e-a1f0-6d7c8e9f0a2b"
    composer = rows[f"composerData:{composer_id}"]
    composer["conversation"].append({"type": 1, "bubbleId": "b-legacy-3", "text": "Only in the WAL?"})
    with writer:
        writer.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (f"composerData:{composer_id}", json.dumps(composer)))
    restored = tmp_path / "restored" / "Cursor" / "User"
    shutil.copytree(user, restored, ignore=shutil.ignore_patterns("*-shm"))
    writer.close()
    wal = restored / "globalStorage" / "state.vscdb-wal"
    assert wal.stat().st_size > 0 and not wal.with_name("state.vscdb-shm").exists()
    before = listing(restored)
    result = run_import(store, restored)
    assert result.skipped_files == 0 and result.messages > 0
    texts = {m.content for s in result.sessions for m in all_messages(store, s.id)}
    assert "Only in the WAL?" in texts
    assert listing(restored) == before  # nothing made beside it
