"""The readers of opencode, Zed's agent threads, Aider and Gemini CLI's JSONL chats, on the
fixtures of tests/fixtures (sources in tests/fixtures/SOURCES.md). Expected figures are
counted here from the fixture's own records, independently of the readers."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sidecar import protocol as p
from sidecar.search import index as search
from sidecar.store import Store
from sidecar.store.database import Database
from sidecar.transcripts import importer

from .reader_fixtures import OPENCODE_STORAGE, ZED_SCHEMA, build_opencode_db, build_zed_db, opencode_records, zed_rows
from .test_cli import cli
from .test_readers import FIXTURES, GEMINI, Expected, all_messages, gemini_expected, index, run_import, usage_totals

__all__ = ["index"]  # the fixture, used by name


def check_sessions(
    store: Store, db: Database, result: p.ImportTranscriptResult, expected: dict[str, Expected]
) -> dict[str, p.Session]:
    """Each imported session (by its source's id) has exactly the expected figures, every
    tool result answers a call of its session, and a word of each is found."""
    assert result.skipped_lines == 0
    sessions = {(s.metadata or {})["sourceSessionId"]: s for s in result.sessions}
    assert sorted(sessions) == sorted(expected)
    db.catch_up(store.db)
    for source_id, figures in expected.items():
        session = sessions[source_id]
        found = all_messages(store, session.id)
        calls = {call.id for m in found for call in m.tool_calls or []}
        results = [m.tool_call_id for m in found if m.role is p.Role.TOOL]
        counted = (len(found), len(calls), len(results), sum(bool((m.metadata or {}).get("isError")) for m in found))
        assert counted == (figures.messages, figures.tool_calls, figures.results, figures.errors), source_id
        assert set(results) <= calls and session.message_count == figures.messages
        assert (usage_totals(session), session.model) == (figures.usage, figures.model)
        hits = search.search_messages(store, p.SearchMessagesParams(query=figures.word)).hits
        assert any(hit.session_id == session.id for hit in hits), figures.word
    assert result.messages == sum(figures.messages for figures in expected.values())
    return sessions


def listing(folder: Path) -> list[tuple[str, int]]:
    return sorted((found.name, found.stat().st_size) for found in folder.iterdir())


# -- opencode ---------------------------------------------------------------------------


def opencode_expected() -> dict[str, Expected]:
    expected = {}
    for info, messages in opencode_records():
        tools = [part for _, parts in messages for part in parts if part["type"] == "tool"]
        answered = [tool for tool in tools if tool["state"]["status"] in ("completed", "error")]
        tokens = [m["tokens"] for m, _ in messages if m["role"] == "assistant"]
        expected[info["id"]] = Expected(
            messages=len(messages) + len(answered),
            tool_calls=len(tools),
            results=len(answered),
            errors=sum(tool["state"]["status"] == "error" for tool in tools),
            usage=(
                sum(t["input"] for t in tokens),
                sum(t["output"] for t in tokens),
                sum(t["cache"]["read"] for t in tokens),
                sum(t["cache"]["write"] for t in tokens),
                sum(t["reasoning"] for t in tokens),
            ),
            model=[m["modelID"] for m, _ in messages if m["role"] == "assistant"][-1],
            word="tokenizer" if "parentID" not in info else "caller",
        )
    return expected


def check_opencode(store: Store, index: Database, result: p.ImportTranscriptResult) -> None:
    sessions = check_sessions(store, index, result, opencode_expected())
    by_kind = {s.kind: s for s in sessions.values()}
    assert by_kind["subagent"].parent_session_id == by_kind["agent"].id
    assert {s.project_id for s in sessions.values()} == {"/home/dev/wordcount"}
    main = by_kind["agent"]
    summaries = [
        "".join(part["text"] for part in parts if part["type"] == "text")
        for info, messages in opencode_records()
        for m, parts in messages
        if m.get("summary")
    ]
    stored = store.db.scalar("SELECT group_concat(summary) FROM compactions WHERE session_id = ?", (main.id,))
    assert [stored] == summaries
    compacted = [m.compacted for m in all_messages(store, main.id)]
    assert compacted == [True] * compacted.index(False) + [False] * (len(compacted) - compacted.index(False))


def test_opencode_storage_tree_matches_its_files(store: Store, index: Database, tmp_path: Path) -> None:
    shutil.copytree(OPENCODE_STORAGE, tmp_path / "opencode" / "storage")
    result = run_import(store, tmp_path / "opencode")
    assert (result.files, result.skipped_files) == (2, 0)
    check_opencode(store, index, result)
    assert run_import(store, tmp_path / "opencode").messages == 0


def test_opencode_database_matches_and_is_left_untouched(store: Store, index: Database, tmp_path: Path) -> None:
    owner = build_opencode_db(tmp_path / "opencode.db")  # still open: its -wal and -shm exist
    before = listing(tmp_path)
    result = run_import(store, tmp_path)
    assert listing(tmp_path) == before and (result.files, result.skipped_files) == (1, 0)
    check_opencode(store, index, result)
    owner.execute(
        "INSERT INTO part SELECT id || 'x', message_id, session_id, time_created, time_updated, data FROM part LIMIT 0"
    )
    owner.commit()  # the owner can still write: no lock was left behind
    owner.close()
    before = listing(tmp_path)  # checkpointed and closed: no -wal, read in place
    assert run_import(store, tmp_path / "opencode.db").messages == 0 and listing(tmp_path) == before


def test_opencode_sessions_in_both_the_tree_and_the_database_import_once(store: Store, tmp_path: Path) -> None:
    shutil.copytree(OPENCODE_STORAGE, tmp_path / "storage")  # migrated into the database, still there
    build_opencode_db(tmp_path / "opencode.db").close()
    result = run_import(store, tmp_path)
    assert result.files == 3 and len(result.sessions) == 2
    assert result.messages == sum(figures.messages for figures in opencode_expected().values())


def test_opencode_grown_session_adds_only_new_messages(store: Store, tmp_path: Path) -> None:
    owner = build_opencode_db(tmp_path / "opencode.db")
    last = owner.execute("SELECT id FROM message ORDER BY time_created DESC LIMIT 1").fetchone()[0]
    saved = owner.execute("SELECT * FROM message WHERE id = ?", (last,)).fetchall()
    owner.execute("DELETE FROM message WHERE id = ?", (last,))
    owner.commit()
    first = run_import(store, tmp_path / "opencode.db")
    owner.executemany("INSERT INTO message VALUES (?, ?, ?, ?, ?)", saved)
    owner.commit()
    second = run_import(store, tmp_path / "opencode.db")
    tools = owner.execute('SELECT count(*) FROM part WHERE message_id = ? AND data LIKE \'%"type": "tool"%\'', (last,))
    assert second.messages == 1 + tools.fetchone()[0]
    assert {s.id for s in second.sessions} <= {s.id for s in first.sessions}
    owner.close()


def test_opencode_malformed_records_are_skipped_and_counted(store: Store, tmp_path: Path) -> None:
    owner = build_opencode_db(tmp_path / "opencode.db")
    plain = owner.execute('SELECT id FROM message WHERE data LIKE \'%"role": "user"%\' ORDER BY id LIMIT 2').fetchall()
    owner.execute("UPDATE message SET data = '{not json' WHERE id = ?", plain[0])
    owner.execute("UPDATE message SET data = json_remove(data, '$.time') WHERE id = ?", plain[1])
    owner.commit()
    result = run_import(store, tmp_path / "opencode.db")
    total = sum(figures.messages for figures in opencode_expected().values())
    assert (result.skipped_lines, result.messages) == (2, total - 2)
    owner.close()
    (tmp_path / "other" / "opencode.db").parent.mkdir()
    (tmp_path / "other" / "opencode.db").write_text("not a database")
    assert run_import(store, tmp_path / "other").skipped_lines == 1


def test_import_with_no_path_finds_opencode_and_zed(db_path: Path, tmp_path: Path) -> None:
    data = tmp_path / "home" / ".local" / "share"
    (data / "opencode").mkdir(parents=True)
    (data / "zed" / "threads").mkdir(parents=True)
    build_opencode_db(data / "opencode" / "opencode.db").close()
    build_zed_db(data / "zed" / "threads" / "threads.db")
    env = {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": "", "CODEX_HOME": "", "CLAUDE_CONFIG_DIR": ""}
    done = cli(db_path, "import", "--json", **env)
    assert done.returncode == 0, done.stderr
    messages = sorted(result["messages"] for result in json.loads(done.stdout))
    expected = [sum(e.messages for e in opencode_expected().values()), sum(e.messages for e in zed_expected().values())]
    assert messages == sorted(expected)


# -- Zed --------------------------------------------------------------------------------


def zed_expected() -> dict[str, Expected]:
    expected = {}
    for row in zed_rows():
        thread = row["thread"]
        if thread["version"] == "0.3.0":
            agents = [m["Agent"] for m in thread["messages"] if isinstance(m, dict) and "Agent" in m]
            calls = [c["ToolUse"] for a in agents for c in a["content"] if "ToolUse" in c]
            results = [r for a in agents for r in a["tool_results"].values()]
            prompts = sum(isinstance(m, dict) and "User" in m for m in thread["messages"])
            usages = list(thread["request_token_usage"].values())
        else:
            agents = [m for m in thread["messages"] if m["role"] == "assistant"]
            calls = [c for a in agents for c in a["tool_uses"]]
            results = [r for a in agents for r in a["tool_results"]]
            prompts = sum(m["role"] == "user" for m in thread["messages"])
            usages = thread["request_token_usage"][-1:]  # Zed keeps the last request's of a prompt
        expected[row["id"]] = Expected(
            messages=prompts + len(agents) + len(results),
            tool_calls=len(calls),
            results=len(results),
            errors=sum(r["is_error"] for r in results),
            usage=(
                sum(u["input_tokens"] for u in usages),
                sum(u["output_tokens"] for u in usages),
                sum(u["cache_read_input_tokens"] for u in usages),
                sum(u["cache_creation_input_tokens"] for u in usages),
                0,
            ),
            model=thread["model"]["model"],
            word={"0.3.0": "tokenizer"}.get(thread["version"], "loop") if row["parent_id"] is None else "caller",
        )
    return expected


def test_zed_threads_match_and_the_database_is_left_untouched(store: Store, index: Database, tmp_path: Path) -> None:
    threads = tmp_path / "threads"
    threads.mkdir()
    build_zed_db(threads / "threads.db")
    before = listing(threads)
    result = run_import(store, threads)
    assert listing(threads) == before and (result.files, result.skipped_files) == (1, 0)
    sessions = check_sessions(store, index, result, zed_expected())
    rows = {row["id"]: row for row in zed_rows()}
    for source_id, session in sessions.items():
        row = rows[source_id]
        assert (session.title, session.project_id) == (row["summary"], "/home/dev/wordcount")
        assert session.created_at == stamp(row["created_at"]) and session.updated_at == stamp(row["updated_at"])
        parent = row["parent_id"]
        assert session.parent_session_id == (sessions[parent].id if parent else None)
        assert (session.metadata or {})["cumulativeTokenUsage"] == row["thread"]["cumulative_token_usage"]
    main = all_messages(store, sessions["d4b1e0a2-6c3f-4e5d-9a8b-7c6d5e4f3a2b"].id)
    assert (main[0].content or "").startswith("Why does wordcount report 0 for \n\n[/home/dev/wordcount/README.md]")
    assert [m.metadata["thinking"] for m in main if m.metadata and "thinking" in m.metadata] == [
        "The tokenizer probably splits on commas."
    ]
    assert run_import(store, threads).messages == 0


def test_zed_grown_thread_adds_only_new_messages(store: Store, tmp_path: Path) -> None:
    rows = zed_rows()[:1]
    shorter = [{**rows[0], "thread": {**rows[0]["thread"], "messages": rows[0]["thread"]["messages"][:-1]}}]
    build_zed_db(tmp_path / "threads.db", shorter)
    first = run_import(store, tmp_path / "threads.db")
    (tmp_path / "threads.db").unlink()
    build_zed_db(tmp_path / "threads.db", rows)
    second = run_import(store, tmp_path / "threads.db")
    assert second.messages == 1 and first.sessions[0].id == second.sessions[0].id


def test_zed_malformed_threads_and_messages_are_skipped_and_counted(store: Store, tmp_path: Path) -> None:
    rows = zed_rows()
    rows[0]["thread"]["messages"][1] = {"Agent": {"no content": []}}  # an answer and its 2 results lost
    build_zed_db(tmp_path / "threads.db", rows)
    with sqlite3.connect(tmp_path / "threads.db") as database:
        database.execute("UPDATE threads SET data = x'28b52ffd00' WHERE id = ?", (rows[2]["id"],))  # bad zstd frame
        database.execute("UPDATE threads SET data_type = 'zstd' WHERE id = ?", (rows[2]["id"],))
    result = run_import(store, tmp_path / "threads.db")
    expected = zed_expected()
    assert result.skipped_lines == 2
    assert result.messages == expected[rows[0]["id"]].messages - 3 + expected[rows[1]["id"]].messages


def test_zed_database_without_the_added_columns(store: Store, tmp_path: Path) -> None:
    """A threads.db of a Zed from before parent_id, folder_paths and created_at."""
    row = zed_rows()[0]
    with sqlite3.connect(tmp_path / "threads.db") as database:
        database.execute(ZED_SCHEMA.split(";")[0])
        database.execute(
            "INSERT INTO threads VALUES (?, ?, ?, 'json', ?)",
            (row["id"], row["summary"], row["updated_at"], json.dumps(row["thread"])),
        )
    result = run_import(store, tmp_path / "threads.db", format="zed")
    (session,) = result.sessions
    assert result.messages == zed_expected()[row["id"]].messages and session.project_id == "/home/dev/wordcount"
    assert session.created_at == stamp(row["updated_at"])


def stamp(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- Aider ------------------------------------------------------------------------------

AIDER = FIXTURES / "aider" / "monochromatic" / ".aider.chat.history.md"
HEADER = "# aider chat started at "


def aider_runs(text: str) -> list[list[tuple[str, str]]]:
    """Each run's blocks (kind, text), split as aider's own split_chat_history_markdown does."""
    runs: list[list[tuple[str, str]]] = []
    for chunk in text.split("\n" + HEADER)[1:]:
        blocks: list[tuple[str, str]] = []
        for line in chunk.splitlines(keepends=True)[1:]:
            kind = "user" if line.startswith("#### ") else "output" if line.startswith("> ") else "answer"
            if blocks and blocks[-1][0] == kind:
                blocks[-1] = (kind, blocks[-1][1] + line)
            else:
                blocks.append((kind, line))
        runs.append([(kind, body) for kind, body in blocks if body.strip()])
    return runs


def aider_tokens(text: str) -> tuple[int, int, int, int, int]:
    totals = [0, 0, 0, 0, 0]
    for sent, received in re.findall(r"^> Tokens: ([\d.]+k?) sent, ([\d.]+k?) received\.", text, re.MULTILINE):
        for slot, count in ((0, sent), (1, received)):
            totals[slot] += round(float(count.rstrip("k")) * (1000 if count.endswith("k") else 1))
    return (totals[0], totals[1], totals[2], totals[3], totals[4])


def test_aider_history_matches_its_file(store: Store, index: Database, tmp_path: Path) -> None:
    repository = tmp_path / "monochromatic"
    repository.mkdir()
    shutil.copy(AIDER, repository / ".aider.chat.history.md")
    text = AIDER.read_text()
    runs = aider_runs(text)
    result = run_import(store, repository)
    assert (result.files, result.skipped_lines) == (1, 0)
    assert len(result.sessions) == len(runs) == text.count("\n" + HEADER)
    assert result.messages == sum(len(run) for run in runs)
    sessions = sorted(result.sessions, key=lambda s: s.created_at)
    starts = re.findall(r"^# aider chat started at (.+)$", text, re.MULTILINE)
    assert [s.created_at for s in sessions] == [
        stamp(datetime.strptime(at, "%Y-%m-%d %H:%M:%S").astimezone().isoformat()) for at in starts
    ]
    for session, run in zip(sessions, runs, strict=True):
        roles = [m.role.value for m in all_messages(store, session.id)]
        assert roles == [{"user": "user", "output": "system", "answer": "assistant"}[kind] for kind, _ in run]
        assert session.project_id == str(repository.resolve())
    totals = [usage_totals(s) for s in sessions]
    assert tuple(map(sum, zip(*totals, strict=True))) == aider_tokens(text)
    models = {s.model for s in sessions if s.model}
    assert models == set(re.findall(r"^> (?:Main )?[Mm]odel: (\S+)", text, re.MULTILINE))
    index.catch_up(store.db)
    hits = search.search_messages(store, p.SearchMessagesParams(query="monochromatic")).hits
    assert hits
    assert run_import(store, repository).messages == 0


def test_aider_grown_history_adds_only_new_messages(store: Store, tmp_path: Path) -> None:
    path = tmp_path / ".aider.chat.history.md"
    text = AIDER.read_text()
    path.write_text(text)
    run_import(store, path)
    path.write_text(text + "\n#### And the docs?  \n\nThe docs are in README.md.\n")
    assert run_import(store, path).messages == 2


def test_aider_lines_before_any_run_or_not_utf8_are_skipped_and_counted(store: Store, tmp_path: Path) -> None:
    path = tmp_path / ".aider.chat.history.md"
    path.write_bytes(b"#### no run yet  \n\nan answer without a time\n" + b"\xff\xfe\n" + AIDER.read_bytes())
    result = run_import(store, path)
    assert result.skipped_lines == 3 and result.messages == sum(len(run) for run in aider_runs(AIDER.read_text()))


def test_aider_is_not_in_the_default_locations() -> None:
    from sidecar.transcripts.locations import default_locations

    assert "aider" not in default_locations()


# -- Gemini CLI JSONL -------------------------------------------------------------------


def gemini_jsonl(document: dict[str, Any]) -> str:
    """A legacy chat as the CLI migrates it to JSONL on resume (chatRecordingService.ts
    `initialize`): the metadata line, then each message."""
    fields = ("sessionId", "projectHash", "startTime", "lastUpdated", "kind", "directories", "summary")
    metadata = {name: document[name] for name in fields if name in document}
    return "".join(json.dumps(row) + "\n" for row in [metadata, *document["messages"]])


@pytest.mark.parametrize("path", GEMINI, ids=[path.stem for path in GEMINI])
def test_gemini_cli_jsonl_chats_match_their_json(store: Store, index: Database, tmp_path: Path, path: Path) -> None:
    chats = tmp_path / "tmp" / "0123abcd" / "chats"
    chats.mkdir(parents=True)
    document = json.loads(path.read_text())
    (chats / "session-2025-12-09T19-51-0a1b2c3d.jsonl").write_text(gemini_jsonl(document))
    result = run_import(store, tmp_path / "tmp")
    sessions = check_sessions(store, index, result, {document["sessionId"]: gemini_expected(path)})
    assert importer.detect(chats / "session-2025-12-09T19-51-0a1b2c3d.jsonl") == "gemini-cli"
    assert sessions[document["sessionId"]].title == document.get("summary")


def test_gemini_cli_jsonl_updates_rewinds_and_subagents(store: Store, tmp_path: Path) -> None:
    document = json.loads(GEMINI[0].read_text())
    messages = document["messages"]
    chats = tmp_path / "chats"
    (chats / document["sessionId"]).mkdir(parents=True)
    lines = gemini_jsonl({**document, "messages": messages[:3]})
    lines += json.dumps({**messages[2], "content": "rewritten answer"}) + "\n"  # a later write of message 2
    lines += json.dumps(messages[3]) + "\n" + json.dumps({"$rewindTo": messages[3]["id"]}) + "\n"
    lines += json.dumps({"$set": {"summary": "A set title"}}) + "\nnot json\n"
    (chats / "session-2025-12-09T19-51-0a1b2c3d.jsonl").write_text(lines)
    child = {
        "sessionId": "child-1",
        "projectHash": document["projectHash"],
        "startTime": document["startTime"],
        "kind": "subagent",
    }
    (chats / document["sessionId"] / "child-1.jsonl").write_text(gemini_jsonl({**child, "messages": messages[:1]}))
    result = run_import(store, chats)
    assert result.skipped_lines == 1
    parent = next(s for s in result.sessions if s.kind == "agent")
    sub = next(s for s in result.sessions if s.kind == "subagent")
    assert (parent.title, sub.parent_session_id) == ("A set title", parent.id)
    found = all_messages(store, parent.id)
    calls = sum(len(m.get("toolCalls") or []) for m in messages[:3])
    assert len(found) == 3 + calls and "rewritten answer" in [m.content for m in found]
