"""Importing real Claude Code and Codex transcripts, and our own export, through the core.

Expected figures are computed here straight from the sample files, in a few lines each,
independently of the importer's readers.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import attrs
import pytest

from sidecar import protocol as p
from sidecar.errors import InvalidParams
from sidecar.store import Store, context, edits, export, messages, sessions, usage
from sidecar.transcripts import importer
from sidecar.wire import structure_params

from .helpers import SAMPLES

CLAUDE = sorted((SAMPLES / "claude-code").glob("*.jsonl"))
CODEX = sorted((SAMPLES / "codex").glob("*.jsonl"))
pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="the shared sample transcripts are not here")


def run_import(store: Store, path: Path, **raw: Any) -> p.ImportTranscriptResult:
    return importer.import_transcript(store, structure_params({"path": str(path), **raw}, p.ImportTranscriptParams))


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def all_messages(store: Store, session_id: str) -> list[p.Message]:
    params = structure_params({"sessionId": session_id, "limit": 1000}, p.GetMessagesParams)
    page = messages.get_messages(store, params)
    assert not page.has_more
    return page.messages


def usage_totals(session: p.Session) -> tuple[int, int, int, int, int]:
    u = session.usage
    return (u.prompt_tokens, u.completion_tokens, u.cache_read_tokens, u.cache_creation_tokens, u.thinking_tokens)


# -- Claude Code ------------------------------------------------------------------------


def claude_expected(path: Path) -> dict[str, Any]:
    entries = [r for r in rows(path) if r.get("type") in ("user", "assistant")]
    calls = {b["id"] for r in entries if r["type"] == "assistant" for b in r["message"]["content"]
             if isinstance(b, dict) and b.get("type") == "tool_use"}  # fmt: skip
    results = [b for r in entries if r["type"] == "user" and isinstance(r["message"]["content"], list)
               for b in r["message"]["content"] if b.get("type") == "tool_result"]  # fmt: skip
    usage_by_call = {r["message"]["id"]: r["message"]["usage"] for r in entries if r["type"] == "assistant"}
    user_texts = 0
    for r in entries:
        content = r["message"]["content"]
        if r["type"] == "user" and not r.get("isCompactSummary"):
            blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
            user_texts += any(b.get("type") != "tool_result" for b in blocks)
    return {
        "messages": len(usage_by_call) + user_texts + len(results),
        "tool_calls": len(calls),
        "results": len(results),
        "paired": sum(b["tool_use_id"] in calls for b in results),
        "errors": sum(bool(b.get("is_error")) for b in results),
        "usage": (
            sum(u.get("input_tokens", 0) for u in usage_by_call.values()),
            sum(u.get("output_tokens", 0) for u in usage_by_call.values()),
            sum(u.get("cache_read_input_tokens", 0) for u in usage_by_call.values()),
            sum(u.get("cache_creation_input_tokens", 0) for u in usage_by_call.values()),
            0,
        ),
        "compactions": sum(bool(r.get("isCompactSummary")) for r in entries),
        "cwd": next(r["cwd"] for r in entries if r.get("cwd")),
    }


@pytest.mark.parametrize("path", CLAUDE, ids=lambda path: path.name[:40])
def test_claude_code_sessions_match_their_files(store: Store, path: Path) -> None:
    expected = claude_expected(path)
    result = run_import(store, path)
    assert (result.files, result.skipped_lines, len(result.sessions)) == (1, 0, 1)
    session = result.sessions[0]
    stored = all_messages(store, session.id)
    tool_messages = [m for m in stored if m.role is p.Role.TOOL]
    call_ids = {call.id for m in stored for call in m.tool_calls or []}
    assert session.message_count == len(stored) == expected["messages"] == result.messages
    assert session.tool_call_count == expected["tool_calls"]
    assert len(tool_messages) == expected["results"]
    assert sum(m.tool_call_id in call_ids for m in tool_messages) == expected["paired"]
    assert sum(bool((m.metadata or {}).get("isError")) for m in tool_messages) == expected["errors"]
    assert usage_totals(session) == expected["usage"]
    assert session.project_id == expected["cwd"]
    assert [m.index for m in stored] == list(range(len(stored)))
    assert sum(m.compacted for m in stored) > 0 if expected["compactions"] else not any(m.compacted for m in stored)


def test_sidechains_carry_an_agent_name_and_sub_agent_files_link_to_their_session(store: Store, tmp_path: Path) -> None:
    # The 2.1 layout: <project>/<session>.jsonl and <project>/<session>/subagents/agent-<id>.jsonl
    project = tmp_path / ".claude" / "projects" / "-experiments-worktrees"
    main_id = "ef958aa1-0e93-49f0-bb71-150f63befcd1"
    (project / main_id / "subagents").mkdir(parents=True)
    shutil.copy(SAMPLES / "claude-code" / f"iansherr__claude-code-log__{main_id}.jsonl", project / f"{main_id}.jsonl")
    for suffix in (".jsonl", ".meta.json"):
        shutil.copy(
            SAMPLES / "claude-code" / f"iansherr__claude-code-log__agent-a52886dc180afb356{suffix}",
            project / main_id / "subagents" / f"agent-a52886dc180afb356{suffix}",
        )
    result = run_import(store, tmp_path / ".claude" / "projects")
    assert result.files == 2
    main, sub = sorted(result.sessions, key=lambda s: s.kind)
    assert (main.kind, sub.kind) == ("agent", "subagent")
    assert sub.parent_session_id == main.id
    meta = json.loads((project / main_id / "subagents" / "agent-a52886dc180afb356.meta.json").read_text())
    assert sub.agent_name == meta["agentType"]
    assert {m.agent_name for m in all_messages(store, sub.id)} == {meta["agentType"]}

    inline = run_import(store, next(path for path in CLAUDE if "5c0375b4" in path.name)).sessions[0]
    sidechain_rows = [r for r in rows(next(path for path in CLAUDE if "5c0375b4" in path.name)) if r.get("isSidechain")]
    named = [m for m in all_messages(store, inline.id) if m.agent_name == "sidechain"]
    assert sidechain_rows and named and inline.agent_name is None


def test_a_compaction_becomes_the_summary_of_the_context(store: Store) -> None:
    path = next(path for path in CLAUDE if "a6-e4c2a0fbd1" in path.name)
    summary_row = next(r for r in rows(path) if r.get("isCompactSummary"))
    session = run_import(store, path).sessions[0]
    rebuilt = context.get_context(store, structure_params({"sessionId": session.id}, p.GetContextParams))
    assert rebuilt.summary == summary_row["message"]["content"]
    assert all(not m.compacted for m in rebuilt.messages)


# -- Codex --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CODEX, ids=lambda path: path.name[:40])
def test_codex_sessions_match_their_files(store: Store, path: Path) -> None:
    items = [r["payload"] for r in rows(path) if r["type"] == "response_item"]
    calls = [i for i in items if i["type"] in ("function_call", "custom_tool_call")]
    outputs = [i for i in items if i["type"] in ("function_call_output", "custom_tool_call_output")]
    texts = [i for i in items if i["type"] == "message"]
    counts = [r["payload"]["info"] for r in rows(path) if r["payload"].get("type") == "token_count"]
    final = [info for info in counts if info][-1]["total_token_usage"]
    meta = next(r["payload"] for r in rows(path) if r["type"] == "session_meta")

    result = run_import(store, path)
    session = result.sessions[0]
    stored = all_messages(store, session.id)
    assert session.message_count == len(stored) == len(calls) + len(outputs) + len(texts)
    assert session.tool_call_count == len(calls)
    assert {m.tool_call_id for m in stored if m.role is p.Role.TOOL} == {c["call_id"] for c in calls}
    prompt, completion, cache_read, _, thinking = usage_totals(session)
    assert prompt + cache_read == final["input_tokens"]
    assert cache_read == final["cached_input_tokens"]
    assert completion == final["output_tokens"]
    assert thinking == final["reasoning_output_tokens"]
    assert session.project_id == meta["cwd"] and session.metadata["sourceSessionId"] == meta["id"]
    assert session.created_at.startswith(meta["timestamp"][:19])


# What the sample sessions are named by: their first real request, never the harness's text.
EXPECTED_PREVIEWS = {
    "claude-code:198393f2-22db-477b-ac77-1825bea883ae": "for the change in cmd/entire/cli/hooks_claudecode_handlers.go",
    "claude-code:1af7fc5e-8455-4414-9ccd-011d40f70b2a": "Please analyze this codebase and create a CLAUDE.md file",
    "claude-code:4379d1bf-ccb1-414e-a856-9791b73f3af2": "Can you please add margin-bottom to the details element",
    "claude-code:fe5e1c67-53e7-4862-81ae-d0e013e3270b": "/orchestrator create TODO app by Next.js",
    "codex:019a93b9-f380-7600-98ff-940e6b99603c": "finish up the users work by rigging up the chatbot-ui",
    "codex:019b04ae-b1c6-7c72-a134-a4c2de66058c": "add myapp directory and create myapp/hoge.py",
}


def test_every_sample_session_is_previewed_by_a_real_request(store: Store) -> None:
    run_import(store, SAMPLES)
    rows = store.db.execute("SELECT import_key, id FROM sessions")
    by_key = {key: sessions.get_session(store, structure_params({"sessionId": i}, p.SessionParams)) for key, i in rows}
    for key, start in EXPECTED_PREVIEWS.items():
        assert (by_key[key].preview or "").startswith(start), key
    for key, session in by_key.items():
        stored = all_messages(store, session.id)
        assert session.last_message_at == max(m.created_at for m in stored), key
        if not any(m.role is p.Role.USER for m in stored):
            # A sub-agent started without a prompt: named by what it set out to do.
            first_said = next(m.content for m in stored if m.role is p.Role.ASSISTANT and m.content)
            assert session.preview and first_said.startswith(session.preview.rstrip("…")[:40]), key
            continue
        assert session.preview, key
        assert len(session.preview) <= 200 and " ".join(session.preview.split()) == session.preview, key
        assert not session.preview.startswith(("<", "Caveat", "[", "#")), (key, session.preview)


# Tool outputs as Codex writes them, and whether each reports a failure.
CODEX_OUTPUTS = [
    ('{"output":"ok\\n","metadata":{"exit_code":0,"duration_seconds":0.1}}', False),
    ('{"output":"","metadata":{"exit_code":1,"duration_seconds":0.0}}', True),
    ("Exit code: 0\nWall time: 0.1 seconds\nOutput:\nExit code: 1\n", False),
    ("Exit code: 1\nWall time: 0.1 seconds\nOutput:\nerror: target shim binary not found\n", True),
    (
        "Chunk ID: 4f2a\nWall time: 0.5 seconds\nProcess exited with code 0\nOutput:\nProcess exited with code 2\n",
        False,
    ),
    (
        "Chunk ID: 4f2b\nWall time: 0.5 seconds\nProcess exited with code 127\nOriginal token count: 9\nOutput:\nno\n",
        True,
    ),
    ("apply_patch verification failed: Failed to find expected lines in a.py:\nfoo()", True),
    ('{"output":"apply_patch verification failed: invalid hunk","metadata":{"exit_code":0}}', True),
    ("Success. Updated the following files:\nM a.py\n", False),
]


def test_codex_tool_outputs_that_report_failure_are_errors(store: Store, tmp_path: Path) -> None:
    # Before: unified exec's `Process exited with code 127` and apply_patch failures were not errors.
    lines: list[dict[str, Any]] = [{"type": "session_meta", "payload": {"id": "failing", "cwd": "/w"}}]
    for n, (output, _) in enumerate(CODEX_OUTPUTS):
        call = {"type": "function_call", "name": "shell", "arguments": "{}", "call_id": f"c{n}"}
        lines += [
            {"type": "response_item", "payload": call},
            {
                "type": "response_item",
                "payload": {"type": "function_call_output", "call_id": f"c{n}", "output": output},
            },
        ]
    rollout = tmp_path / "rollout-failing.jsonl"
    stamp = "2025-12-09T19:55:16.336Z"
    rollout.write_text("".join(json.dumps({"timestamp": stamp, **line}) + "\n" for line in lines))
    (session,) = run_import(store, rollout, format="codex").sessions
    results = [m for m in all_messages(store, session.id) if m.role is p.Role.TOOL]
    assert [bool((m.metadata or {}).get("isError")) for m in results] == [failed for _, failed in CODEX_OUTPUTS]


# -- again, broken, grown -------------------------------------------------------------------


def test_importing_again_adds_nothing(store: Store) -> None:
    first = run_import(store, SAMPLES)
    assert first.files == len(CLAUDE) + len(CODEX) and first.skipped_files == 0 and first.messages > 1000
    before = housekeeping_counts(store)
    again = run_import(store, SAMPLES)
    assert (again.files, again.messages, again.sessions) == (first.files, 0, [])
    assert housekeeping_counts(store) == before


def housekeeping_counts(store: Store) -> tuple[int, int]:
    return store.db.scalar("SELECT count(*) FROM sessions"), store.db.scalar("SELECT count(*) FROM messages")


def test_malformed_lines_are_skipped_and_counted(store: Store, tmp_path: Path) -> None:
    source = next(path for path in CLAUDE if "1af7fc5e" in path.name)
    lines = source.read_bytes().splitlines(keepends=True)
    broken = tmp_path / "broken.jsonl"
    garbage = [
        b"{not json\n",
        b"[1, 2, 3]\n",
        b'{"type": "user", "sessionId": "x", "timestamp": "2025"}\n',
        b"\xff\xfe\n",
    ]
    broken.write_bytes(b"".join(lines[:5] + garbage[:2] + lines[5:10] + garbage[2:] + lines[10:]))
    result = run_import(store, broken)
    assert result.skipped_lines == 4
    assert result.sessions[0].message_count == claude_expected(source)["messages"]


def test_a_token_count_past_the_bound_makes_its_line_malformed(store: Store, tmp_path: Path) -> None:
    # Before: 2^63-1 from a transcript was stored, and the session's sums overflowed.
    source = next(path for path in CLAUDE if "1af7fc5e" in path.name)
    entries = rows(source)
    hostile = next(r for r in entries if r.get("type") == "assistant" and r["message"].get("usage"))
    hostile["message"]["usage"]["input_tokens"] = 2**63 - 1
    broken = tmp_path / "hostile.jsonl"
    broken.write_text("".join(json.dumps(r) + "\n" for r in entries))
    assert run_import(store, broken).skipped_lines == 1
    total = usage.get_usage(store, structure_params({}, p.GetUsageParams)).total
    assert all(type(value) is int and value < 2**41 for value in attrs.astuple(total))


def test_a_transcript_that_grew_adds_only_its_new_messages(store: Store, tmp_path: Path) -> None:
    source = next(path for path in CLAUDE if "7acd37a8" in path.name)
    lines = source.read_bytes().splitlines(keepends=True)
    growing = tmp_path / "growing.jsonl"
    growing.write_bytes(b"".join(lines[: len(lines) // 2]))
    first = run_import(store, growing)
    growing.write_bytes(b"".join(lines))
    second = run_import(store, growing)
    assert second.sessions[0].id == first.sessions[0].id
    assert first.messages + second.messages == claude_expected(source)["messages"]
    assert second.sessions[0].message_count == claude_expected(source)["messages"]


def test_a_path_that_does_not_exist_is_invalid_params(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InvalidParams) as raised:
        run_import(store, tmp_path / "nowhere")
    assert raised.value.data["field"] == "path"


def test_a_file_of_no_known_format_is_counted_not_imported(store: Store, tmp_path: Path) -> None:
    (tmp_path / "notes.jsonl").write_text('{"hello": "world"}\n')
    result = run_import(store, tmp_path)
    assert (result.files, result.skipped_files, result.sessions) == (0, 1, [])


# -- reader processes ---------------------------------------------------------------------


def name_and_reader(path: Path) -> tuple[str, int]:
    return path.name, os.getpid()


@pytest.mark.skipif(importer.usable_cores() < 2, reason="reader processes need a second core")
def test_a_large_import_reads_in_other_processes_and_keeps_file_order(monkeypatch: pytest.MonkeyPatch) -> None:
    files = [(path, path.stat().st_size) for path in CLAUDE + CODEX]
    monkeypatch.setattr(importer, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(importer, "AHEAD_BYTES", 1)  # the writer waits on every file: order is tested
    with importer.readers(name_and_reader, files) as reads:
        read = list(reads)
    assert [name for name, _ in read] == [path.name for path, _ in files]
    assert os.getpid() not in {reader for _, reader in read}
    monkeypatch.setattr(importer, "PARALLEL_BYTES", 1 << 62)
    with importer.readers(name_and_reader, files) as reads:  # small: read right here
        assert {reader for _, reader in reads} == {os.getpid()}


def test_reading_in_other_processes_imports_what_one_process_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def imported(store: Store) -> list[tuple[Any, ...]]:
        found = []
        for key, session_id in store.db.execute("SELECT import_key, id FROM sessions ORDER BY import_key"):
            session = sessions.load_session(store.db, session_id)
            texts = [
                (m.index, m.role, m.content, m.tool_calls, m.tool_call_id) for m in all_messages(store, session_id)
            ]
            found.append((key, session.message_count, usage_totals(session), texts))
        return found

    alone, parallel = Store(tmp_path / "alone.db"), Store(tmp_path / "parallel.db")
    try:
        first = run_import(alone, SAMPLES)
        monkeypatch.setattr(importer, "PARALLEL_BYTES", 0)
        second = run_import(parallel, SAMPLES)
        assert (first.files, first.messages, first.skipped_lines) == (
            second.files,
            second.messages,
            second.skipped_lines,
        )
        assert imported(alone) == imported(parallel)
    finally:
        alone.close()
        parallel.close()


# -- our own export, round trip -------------------------------------------------------------


def test_the_jsonl_export_imports_back_to_the_same_session(store: Store, tmp_path: Path) -> None:
    source = next(path for path in CLAUDE if "a6-e4c2a0fbd1" in path.name)  # has a compaction
    session = run_import(store, source).sessions[0]
    first_message = all_messages(store, session.id)[0]
    edit = structure_params(
        {
            "sessionId": session.id,
            "messageId": first_message.id,
            "filePath": "a.txt",
            "kind": "create",
            "diff": "--- /dev/null\n+++ b/a.txt\n@@ -0,0 +1 @@\n+hello\n",
        },
        p.RecordEditParams,
    )
    edits.record_edit(store, edit)
    sessions.update_session(
        store,
        structure_params(
            {"sessionId": session.id, "title": "Round trip", "metadata": {"k": [1]}}, p.UpdateSessionParams
        ),
    )
    sessions.end_session(store, structure_params({"sessionId": session.id}, p.SessionParams))

    def exported() -> str:
        params = structure_params({"sessionId": session.id, "format": "jsonl"}, p.ExportSessionParams)
        return export.export_session(store, params).content

    original = exported()
    (tmp_path / "export.jsonl").write_text(original)
    assert run_import(store, tmp_path / "export.jsonl").messages == 0  # still there: nothing added
    sessions.delete_session(store, structure_params({"sessionId": session.id}, p.DeleteSessionParams))
    result = run_import(store, tmp_path / "export.jsonl", format="auto")
    assert [s.id for s in result.sessions] == [session.id]
    assert exported() == original


def test_a_file_a_reader_cannot_read_is_counted_and_the_others_import(store: Store, tmp_path: Path) -> None:
    # A time no calendar holds (year 3170000) made the whole folder's import fail with a traceback.
    good = Path(__file__).parent / "fixtures" / "copilot-chat" / "git-ai__copilot_session_simple.json"
    folder = tmp_path / "chatSessions"
    folder.mkdir()
    shutil.copy(good, folder / "good.json")
    bad = json.loads(good.read_text())
    bad["creationDate"] = 1e17
    for request in bad.get("requests", []):
        request.pop("timestamp", None)  # every time falls back to the session's
    (folder / "bad.json").write_text(json.dumps(bad))
    result = run_import(store, folder)
    assert len(result.sessions) == 1 and result.messages > 0
    assert (result.skipped_lines, result.skipped_files) == (1, 0)


def test_more_one_hour_cache_writes_than_all_cache_writes_are_not_believed_and_the_file_imports(
    store: Store, tmp_path: Path
) -> None:
    row = {
        "type": "assistant",
        "sessionId": "s1",
        "uuid": "u1",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "cwd": "/p",
        "message": {
            "id": "m1",
            "role": "assistant",
            "model": "claude-sonnet-4-20250514",
            "content": [{"type": "text", "text": "hi"}],
            "usage": {
                "input_tokens": 3,
                "output_tokens": 4,
                "cache_creation_input_tokens": 0,
                "cache_creation": {"ephemeral_1h_input_tokens": 5},
            },
        },
    }
    (tmp_path / "s1.jsonl").write_text(json.dumps(row) + "\n")
    result = run_import(store, tmp_path / "s1.jsonl")
    assert result.messages == 1
    [message] = messages.get_messages(
        store, structure_params({"sessionId": result.sessions[0].id}, p.GetMessagesParams)
    ).messages
    assert message.usage is not None and message.usage.cache_creation1h_tokens == 0
    assert message.usage.completion_tokens == 4
