"""The readers of the agents beside Claude Code and Codex, on real captures (tests/fixtures,
sources in tests/fixtures/SOURCES.md). Expected figures are counted here straight from the
fixture's own JSON, independently of the readers."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from sidecar import protocol as p
from sidecar.search import index as search
from sidecar.store import Store, messages
from sidecar.store.database import Database
from sidecar.transcripts import importer
from sidecar.wire import structure_params

FIXTURES = Path(__file__).parent / "fixtures"


@attrs.define
class Expected:
    messages: int
    tool_calls: int
    results: int  # tool messages, each answering a call
    errors: int
    usage: tuple[int, int, int, int, int]  # prompt, completion, cache read, cache creation, thinking
    model: str | None
    word: str  # a word the fixture holds, to search for


def run_import(store: Store, path: Path, **raw: Any) -> p.ImportTranscriptResult:
    return importer.import_transcript(store, structure_params({"path": str(path), **raw}, p.ImportTranscriptParams))


def all_messages(store: Store, session_id: str) -> list[p.Message]:
    page = messages.get_messages(store, structure_params({"sessionId": session_id, "limit": 1000}, p.GetMessagesParams))
    assert not page.has_more
    return page.messages


def usage_totals(session: p.Session) -> tuple[int, int, int, int, int]:
    u = session.usage
    return (u.prompt_tokens, u.completion_tokens, u.cache_read_tokens, u.cache_creation_tokens, u.thinking_tokens)


@pytest.fixture
def index(store: Store) -> Iterator[search.SearchIndex]:
    opened = search.open_index(store.path)
    yield opened
    opened.close()


def check_import(store: Store, index: search.SearchIndex, path: Path, expected: Expected, files: int = 1) -> p.Session:
    """The fixture imports as one session with exactly the expected figures, every tool
    result answers a call of the session, a second import adds nothing, and a word of the
    fixture is found."""
    result = run_import(store, path)
    assert (result.files, result.skipped_files, result.skipped_lines) == (files, 0, 0)
    (session,) = result.sessions
    found = all_messages(store, session.id)
    calls = {call.id for m in found for call in m.tool_calls or []}
    results = [m for m in found if m.role is p.Role.TOOL]
    assert len(found) == session.message_count == result.messages == expected.messages
    assert len(calls) == expected.tool_calls
    assert all(m.tool_call_id in calls for m in results) and len(results) == expected.results
    assert sum(bool((m.metadata or {}).get("isError")) for m in found) == expected.errors
    assert usage_totals(session) == expected.usage
    assert session.model == expected.model
    again = run_import(store, path)
    assert (again.messages, again.sessions) == (0, [])
    index.catch_up(store.db)
    hits = search.search_messages(store, structure_params({"query": expected.word}, p.SearchMessagesParams)).hits
    assert any(hit.session_id == session.id for hit in hits)
    return session


def check_growth(store: Store, path: Path, shorten: Callable[[Any], Any], added: int) -> None:
    """A source that grows (its shortened version first) adds only the new messages; `path`
    is a copy, rewritten here."""
    document = json.loads(path.read_text())
    path.write_text(json.dumps(shorten(json.loads(path.read_text()))))
    first = run_import(store, path)
    path.write_text(json.dumps(document))
    second = run_import(store, path)
    assert second.messages == added and first.sessions[0].id == second.sessions[0].id


# -- Gemini CLI -------------------------------------------------------------------------

GEMINI = sorted((FIXTURES / "gemini-cli").glob("*.json"))


def gemini_expected(path: Path) -> Expected:
    document = json.loads(path.read_text())
    entries = document["messages"]
    calls = [call for m in entries for call in m.get("toolCalls") or []]
    tokens = [m["tokens"] for m in entries if m.get("tokens")]
    return Expected(
        messages=len(entries) + len(calls),
        tool_calls=len(calls),
        results=len(calls),
        errors=sum(call["status"] == "error" for call in calls),
        usage=(
            sum(t["input"] - t["cached"] + t["tool"] for t in tokens),
            sum(t["output"] for t in tokens),
            sum(t["cached"] for t in tokens),
            0,
            sum(t["thoughts"] for t in tokens),
        ),
        model=[m["model"] for m in entries if m.get("model")][-1],
        word=entries[0]["content"].split()[0],
    )


@pytest.mark.parametrize("path", GEMINI, ids=[path.stem for path in GEMINI])
def test_gemini_cli_sessions_match_their_files(store: Store, index: Database, tmp_path: Path, path: Path) -> None:
    # Laid out as the CLI keeps it, found by importing the folder.
    chats = tmp_path / "tmp" / "0123abcd" / "chats"
    chats.mkdir(parents=True)
    (chats.parent / ".project_root").write_text("/home/someone/project\n")
    shutil.copy(path, chats / "session-2025-12-09T19-51-0a1b2c3d.json")
    (chats.parent / "logs.json").write_text("[]")  # the CLI's prompt log: not a transcript
    document = json.loads(path.read_text())
    session = check_import(store, index, tmp_path / "tmp", gemini_expected(path))
    assert session.project_id == "/home/someone/project" and session.agent_name == "gemini-cli"
    assert session.title == document.get("summary")
    assert session.metadata is not None and session.metadata["projectHash"] == document["projectHash"]
    assert session.created_at.startswith(document["startTime"][:19])


def test_gemini_cli_cancelled_calls_keep_their_status(store: Store) -> None:
    path = FIXTURES / "gemini-cli" / "mischa-thisness__M-Gemini__session-2025-12-13T19-01-049d9bb6.json"
    document = json.loads(path.read_text())
    statuses = [call["status"] for m in document["messages"] for call in m.get("toolCalls") or []]
    (session,) = run_import(store, path).sessions
    kept = [
        (m.metadata or {}).get("status", "success") for m in all_messages(store, session.id) if m.role is p.Role.TOOL
    ]
    assert kept == statuses and "cancelled" in kept
    notices = [m for m in all_messages(store, session.id) if m.role is p.Role.SYSTEM]
    assert len(notices) == sum(m["type"] in ("info", "warning", "error") for m in document["messages"])


def test_gemini_cli_grown_chat_adds_only_new_messages(store: Store, tmp_path: Path) -> None:
    path = Path(shutil.copy(GEMINI[0], tmp_path))
    last = json.loads(path.read_text())["messages"][-1]
    check_growth(store, path, lambda d: {**d, "messages": d["messages"][:-1]}, 1 + len(last.get("toolCalls") or []))


def test_gemini_cli_malformed_messages_are_skipped_and_counted(store: Store, tmp_path: Path) -> None:
    document = json.loads(GEMINI[0].read_text())
    dropped = document["messages"][1:3]  # each with its tool results
    del document["messages"][1]["timestamp"]
    document["messages"][2] = "not a message"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    result = run_import(store, broken)
    assert result.skipped_lines == 2
    lost = sum(1 + len(m.get("toolCalls") or []) for m in dropped)
    assert result.messages == gemini_expected(GEMINI[0]).messages - lost
    (tmp_path / "chats").mkdir()
    (tmp_path / "chats" / "session-x.json").write_text("{not json")
    assert run_import(store, tmp_path / "chats").skipped_files == 1


# -- Cline, Roo Code, Kilo Code ---------------------------------------------------------

CLINE = sorted((FIXTURES / "cline").rglob("api_conversation_history.json"))
RESULT_HEADER = re.compile(r"^\[[^\]]+\] Result:\n")
FAILURES = ("The tool execution failed with the following error", "The user denied this operation")


def cline_expected(path: Path, word: str) -> Expected:
    history = json.loads(path.read_text())
    ui = json.loads((path.parent / "ui_messages.json").read_text())
    blocks = [(m["role"], b) for m in history for b in m["content"]]
    results = [b for role, b in blocks if b["type"] == "tool_result" or RESULT_HEADER.match(b.get("text", ""))]
    prompts = sum(
        any(b["type"] == "text" and not RESULT_HEADER.match(b["text"]) and "<environment_details>" not in b["text"]
            for b in m["content"])
        for m in history if m["role"] == "user"
    )  # fmt: skip
    requests = [json.loads(row["text"]) for row in ui if row.get("say") == "api_req_started"]
    failed = [b for b in results if b.get("is_error") or RESULT_HEADER.sub("", b.get("text", "")).startswith(FAILURES)]
    return Expected(
        messages=sum(m["role"] == "assistant" for m in history) + prompts + len(results),
        tool_calls=sum(b["type"] == "tool_use" for _, b in blocks),
        results=len(results),
        errors=len(failed),
        usage=(
            sum(r["tokensIn"] for r in requests),
            sum(r["tokensOut"] for r in requests),
            sum(r["cacheReads"] for r in requests),
            sum(r["cacheWrites"] for r in requests),
            0,
        ),
        model=next((row["modelInfo"]["modelId"] for row in ui if row.get("modelInfo")), None),
        word=word,
    )


@pytest.mark.parametrize(("path", "agent", "word"), [(CLINE[0], "roo-code", "blank"), (CLINE[1], "cline", "wordcount")])
def test_cline_tasks_match_their_files(store: Store, index: Database, path: Path, agent: str, word: str) -> None:
    ui = json.loads((path.parent / "ui_messages.json").read_text())
    session = check_import(store, index, path.parent, cline_expected(path, word))
    assert (session.agent_name, session.project_id) == (agent, "/home/dev/wordcount")
    assert session.created_at == iso(ui[0]["ts"]) and session.metadata is not None
    assert session.metadata["sourceSessionId"] == path.parent.name
    costs = [m.metadata["cost"] for m in all_messages(store, session.id) if m.metadata and "cost" in m.metadata]
    assert costs == [json.loads(row["text"])["cost"] for row in ui if row.get("say") == "api_req_started"]


def test_cline_roo_and_kilo_folders_import_together(store: Store, tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "cline", tmp_path / "globalStorage")
    kilo = tmp_path / "globalStorage" / "kilocode.kilo-code" / "tasks"
    shutil.copytree(CLINE[1].parent, kilo / "1777799642000")
    result = run_import(store, tmp_path / "globalStorage")
    assert (result.files, result.skipped_files) == (3, 0)
    assert sorted(s.agent_name or "" for s in result.sessions) == ["cline", "kilo-code", "roo-code"]


def test_cline_grown_task_adds_only_new_messages(store: Store, tmp_path: Path) -> None:
    task = tmp_path / "1777799642000"
    shutil.copytree(CLINE[1].parent, task)
    path = task / "api_conversation_history.json"
    check_growth(store, path, lambda history: history[:-2], 1 + 1 + 1)  # a result, the feedback, an answer


def test_cline_malformed_messages_are_skipped_and_counted(store: Store, tmp_path: Path) -> None:
    task = tmp_path / "1777799642000"
    shutil.copytree(CLINE[1].parent, task)
    history = json.loads((task / "api_conversation_history.json").read_text())
    history[3] = {"role": "assistant"}  # no content
    (task / "api_conversation_history.json").write_text(json.dumps(history))
    result = run_import(store, task)
    assert result.skipped_lines == 1
    (task / "api_conversation_history.json").write_text("[{not json")
    assert run_import(store, task).skipped_files == 1


def iso(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- Continue ---------------------------------------------------------------------------

CONTINUE = FIXTURES / "continue" / "sessions" / "7b0e5c1a-3f2d-4c8e-9a61-d54e2b7f0c19.json"


def continue_expected(path: Path) -> Expected:
    document = json.loads(path.read_text())
    messages = [item["message"] for item in document["history"]]
    states = {s["toolCallId"]: s["status"] for item in document["history"] for s in item.get("toolCallStates", [])}
    usages = [m["usage"] for m in messages if m.get("usage")]
    return Expected(
        messages=sum(m["role"] != "thinking" for m in messages),
        tool_calls=sum(len(m.get("toolCalls", [])) for m in messages),
        results=sum(m["role"] == "tool" for m in messages),
        errors=sum(m["role"] == "tool" and states.get(m["toolCallId"]) == "errored" for m in messages),
        usage=(
            sum(u["promptTokens"] for u in usages),
            sum(u["completionTokens"] for u in usages),
            sum(u.get("promptTokensDetails", {}).get("cachedTokens", 0) for u in usages),
            sum(u.get("promptTokensDetails", {}).get("cacheWriteTokens", 0) for u in usages),
            sum(u.get("completionTokensDetails", {}).get("reasoningTokens", 0) for u in usages),
        ),
        model=[log["modelTitle"] for item in document["history"] for log in item.get("promptLogs", [])][-1],
        word="incremented",
    )


def test_continue_sessions_match_their_files(store: Store, index: Database) -> None:
    document = json.loads(CONTINUE.read_text())
    [entry] = json.loads((CONTINUE.parent / "sessions.json").read_text())
    session = check_import(store, index, CONTINUE.parent, continue_expected(CONTINUE))
    assert (session.title, session.project_id, session.agent_name) == (
        document["title"],
        "/home/dev/fetcher",
        "continue",
    )
    assert session.created_at == iso(int(entry["dateCreated"]))
    assert session.metadata is not None and session.metadata["totalCost"] == document["usage"]["totalCost"]
    found = all_messages(store, session.id)
    summaries = [item for item in document["history"] if item.get("conversationSummary")]
    assert len(summaries) == 1
    stored = store.db.scalar("SELECT group_concat(summary) FROM compactions WHERE session_id = ?", (session.id,))
    assert stored == summaries[0]["conversationSummary"]
    assert [m.compacted for m in found] == [True] * 5 + [False] * 2
    thinking = [m.metadata["thinking"] for m in found if m.metadata and "thinking" in m.metadata]
    assert thinking == ["The loop condition is probably never updated.\n\nRead first, then test."]
    assert [m.created_at for m in found][-1] == iso(document["history"][-1]["reasoning"]["startAt"])


def test_continue_grown_session_adds_only_new_messages(store: Store, tmp_path: Path) -> None:
    shutil.copytree(CONTINUE.parent, tmp_path / "sessions")
    path = tmp_path / "sessions" / CONTINUE.name
    check_growth(store, path, lambda d: {**d, "history": d["history"][:-2]}, 2)


def test_continue_malformed_items_are_skipped_and_counted(store: Store, tmp_path: Path) -> None:
    shutil.copytree(CONTINUE.parent, tmp_path / "sessions")
    path = tmp_path / "sessions" / CONTINUE.name
    document = json.loads(path.read_text())
    document["history"][6] = {"contextItems": []}  # no message
    document["history"][7]["message"]["role"] = "narrator"
    path.write_text(json.dumps(document))
    result = run_import(store, tmp_path / "sessions")
    assert (result.files, result.skipped_lines, result.messages) == (1, 2, continue_expected(CONTINUE).messages - 2)
