"""The storage core on real temporary Turso databases, no server involved."""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from sidecar import protocol as p
from sidecar.errors import InvalidParams, MessageNotFound, PayloadTooLarge, SessionNotFound, StorageError
from sidecar.store import Settings, Store, changes, housekeeping, messages, sessions
from sidecar.store.database import Database
from sidecar.store.migrations import MIGRATIONS, SCHEMA_VERSION
from sidecar.store.preview import PREVIEW_CHARS, preview_of
from sidecar.wire import structure_params, unstructure

from .helpers import assistant, tool, user


def make(cls: type[Any], **raw: Any) -> Any:
    return structure_params(raw, cls)


def new_session(store: Store, **raw: Any) -> p.Session:
    return sessions.create_session(store, make(p.CreateSessionParams, kind="chat", **raw))


def append(store: Store, session_id: str, *batch: dict[str, Any]) -> list[p.AppendedMessage]:
    result = messages.append_messages(store, make(p.AppendMessagesParams, sessionId=session_id, messages=list(batch)))
    return result.messages


def all_messages(store: Store, session_id: str) -> list[p.Message]:
    return messages.get_messages(store, make(p.GetMessagesParams, sessionId=session_id, limit=1000)).messages


# -- the file -------------------------------------------------------------------------


def test_directory_is_0700_and_every_file_0600(store: Store, db_path: Path) -> None:
    append(store, new_session(store).id, user("x"))
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700
    files = [f for f in db_path.parent.iterdir() if f.name.startswith(db_path.name)]
    assert db_path in files and Path(f"{db_path}-wal") in files
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}


def test_schema_version_is_recorded_and_a_reopen_keeps_everything(db_path: Path) -> None:
    first = Store(db_path)
    session = new_session(first, title="kept")
    append(first, session.id, user("one"), assistant("two"))
    first.close()
    del first
    second = Store(db_path)
    assert second.db.schema_version == SCHEMA_VERSION
    assert second.db.scalar("PRAGMA user_version") == SCHEMA_VERSION
    assert sessions.get_session(second, make(p.SessionParams, sessionId=session.id)).title == "kept"
    assert [m.content for m in all_messages(second, session.id)] == ["one", "two"]


def test_a_newer_schema_is_refused(db_path: Path) -> None:
    store = Store(db_path)
    store.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store.close()
    del store
    with pytest.raises(StorageError, match="newer"):
        Store(db_path)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_another_programs_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")
        connection.execute("INSERT INTO notes VALUES ('mine')")
    connection.close()
    before = _digest(foreign)
    with pytest.raises(StorageError, match="some other program"):
        Store(foreign)
    assert _digest(foreign) == before


def test_a_garbage_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all\n" * 200)
    before = _digest(garbage)
    with pytest.raises(StorageError):
        Store(garbage)
    assert _digest(garbage) == before


def test_read_only_store_refuses_writes(db_path: Path) -> None:
    writable = Store(db_path)
    session = new_session(writable)
    writable.close()
    del writable
    reader = Store(db_path, read_only=True)
    assert sessions.get_session(reader, make(p.SessionParams, sessionId=session.id)).id == session.id
    with pytest.raises(StorageError, match="read-only"):
        append(reader, session.id, user("refused"))


# -- appending ------------------------------------------------------------------------


def test_indexes_are_dense_from_zero_across_batches(store: Store) -> None:
    session = new_session(store)
    first = append(store, session.id, user("a"), assistant("b"))
    second = append(store, session.id, user("c"))
    assert [m.index for m in first + second] == [0, 1, 2]
    assert len({m.id for m in first + second}) == 3


def test_a_large_append_is_announced_with_exactly_its_rows(store: Store) -> None:
    """1,000 messages (the most one batch takes) go in two INSERT statements; the change
    feed names their seqs from the statements' last rowids, and must name exactly these rows."""
    other, session = new_session(store), new_session(store)
    append(store, other.id, user("before"))
    cursor = changes.latest_change(store.db)
    append(store, session.id, *(user(f"m{n}") for n in range(1000)))
    append(store, other.id, user("after"))
    _, announced = changes.changes_since(store.db, cursor)
    first = announced[0]
    assert isinstance(first, changes.MessagesAppended) and first.session_id == session.id
    assert [m.content for m in first.messages] == [f"m{n}" for n in range(1000)]
    seqs = store.db.execute("SELECT min(seq), max(seq), count(*) FROM messages WHERE session_id = ?", (session.id,))
    recorded = store.db.execute(
        "SELECT first_message_seq, last_message_seq FROM changes WHERE seq > ? AND session_id = ?",
        (cursor, session.id),
    )
    assert recorded == [(seqs[0][0], seqs[0][1])] and seqs[0][1] - seqs[0][0] + 1 == seqs[0][2]


def test_a_retried_client_message_id_appends_nothing_and_returns_the_first_result(store: Store) -> None:
    session = new_session(store)
    first = append(store, session.id, user("hello", clientMessageId="c-1"))
    retry = append(store, session.id, user("hello", clientMessageId="c-1"), user("new", clientMessageId="c-2"))
    assert unstructure(retry[0]) == unstructure(first[0])
    assert retry[1].index == 1
    assert [m.content for m in all_messages(store, session.id)] == ["hello", "new"]
    assert sessions.get_session(store, make(p.SessionParams, sessionId=session.id)).message_count == 2


def test_a_client_message_id_twice_in_one_batch_is_appended_once(store: Store) -> None:
    session = new_session(store)
    result = append(store, session.id, user("x", clientMessageId="same"), user("x", clientMessageId="same"))
    assert result[0] == result[1]
    assert len(all_messages(store, session.id)) == 1


def test_the_same_client_message_id_in_two_sessions_is_two_messages(store: Store) -> None:
    a, b = new_session(store), new_session(store)
    append(store, a.id, user("x", clientMessageId="k"))
    append(store, b.id, user("x", clientMessageId="k"))
    assert len(all_messages(store, a.id)) == len(all_messages(store, b.id)) == 1


def test_a_batch_with_one_oversized_message_appends_nothing(db_path: Path) -> None:
    store = Store(db_path, settings=Settings(max_message_bytes=100))
    session = new_session(store)
    with pytest.raises(PayloadTooLarge, match=r"messages\[2\]"):
        append(store, session.id, user("fine"), user("fine"), user("x" * 101))
    assert all_messages(store, session.id) == []
    assert sessions.get_session(store, make(p.SessionParams, sessionId=session.id)).message_count == 0


def test_a_batch_with_an_unpaired_tool_message_appends_nothing(store: Store) -> None:
    session = new_session(store)
    with pytest.raises(InvalidParams, match=r"messages\[1\]\.toolCallId: required for role tool"):
        append(store, session.id, user("a"), {"role": "tool", "content": "orphan"})
    assert all_messages(store, session.id) == []


def test_appending_to_a_missing_session_is_session_not_found(store: Store) -> None:
    with pytest.raises(SessionNotFound):
        append(store, "01NOPE", user("x"))


def test_appending_to_an_ended_session_reopens_it(store: Store) -> None:
    session = new_session(store)
    ended = sessions.end_session(store, make(p.SessionParams, sessionId=session.id))
    assert ended.ended_at is not None
    assert sessions.end_session(store, make(p.SessionParams, sessionId=session.id)).ended_at == ended.ended_at
    append(store, session.id, user("back"))
    assert sessions.get_session(store, make(p.SessionParams, sessionId=session.id)).ended_at is None


def test_session_counters_follow_appends(store: Store) -> None:
    session = new_session(store)
    append(
        store,
        session.id,
        user("q"),
        assistant("thinking", calls=[("t1", "ls"), ("t2", "cat")], usage={"promptTokens": 10, "completionTokens": 4}),
        tool("t1", "a b"),
        assistant(None, calls=[("t3", "rm")], usage={"promptTokens": 7, "cacheReadTokens": 3, "thinkingTokens": 2}),
    )
    got = sessions.get_session(store, make(p.SessionParams, sessionId=session.id))
    assert (got.message_count, got.turn_count, got.tool_call_count) == (4, 1, 3)
    assert unstructure(got.usage) == {
        "promptTokens": 17,
        "completionTokens": 4,
        "cacheReadTokens": 3,
        "cacheCreationTokens": 0,
        "thinkingTokens": 2,
        "apiCalls": 2,
    }


def _append_many(db_path: str, session_id: str, worker: int, count: int) -> None:
    store = Store(Path(db_path))
    for n in range(count):
        append(store, session_id, user(f"{worker}-{n}", clientMessageId=f"{worker}-{n}"))
    store.close()


def test_three_processes_appending_at_once_get_dense_unique_indexes(store: Store, db_path: Path) -> None:
    session = new_session(store)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(str(db_path), session.id, w, 40)) for w in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    stored = all_messages(store, session.id)
    assert [m.index for m in stored] == list(range(120))
    assert sorted(m.content or "" for m in stored) == sorted(f"{w}-{n}" for w in range(3) for n in range(40))
    for w in range(3):  # each process's own messages keep their order
        mine = [m.content for m in stored if (m.content or "").startswith(f"{w}-")]
        assert mine == [f"{w}-{n}" for n in range(40)]


# -- reading --------------------------------------------------------------------------


def test_get_messages_pages_forward_and_backward(store: Store) -> None:
    session = new_session(store)
    append(store, session.id, *[user(str(n)) for n in range(10)])

    def page(**raw: Any) -> tuple[list[int], bool]:
        result = messages.get_messages(store, make(p.GetMessagesParams, sessionId=session.id, **raw))
        return [m.index for m in result.messages], result.has_more

    assert page(limit=3) == ([0, 1, 2], True)
    assert page(afterIndex=6, limit=3) == ([7, 8, 9], False)
    assert page(beforeIndex=5, limit=2) == ([3, 4], True)
    assert page(beforeIndex=2, limit=5) == ([0, 1], False)
    assert page(afterIndex=2, beforeIndex=6) == ([3, 4, 5], False)


def test_get_messages_filters_roles(store: Store) -> None:
    session = new_session(store)
    append(store, session.id, user("u"), assistant("a", calls=[("t", "x")]), tool("t", "r"), user("u2"))
    result = messages.get_messages(store, make(p.GetMessagesParams, sessionId=session.id, roles=["user", "tool"]))
    assert [m.role.value for m in result.messages] == ["user", "tool", "user"]


def test_messages_round_trip_every_field(store: Store) -> None:
    session = new_session(store)
    sent = {
        "role": "assistant",
        "content": "ünïcode ✓",
        "codeExcerpt": "print('x')",
        "toolCalls": [{"id": "c1", "name": "bash", "arguments": {"cmd": "ls -la", "nested": [1, {"a": None}]}}],
        "agentName": "planner",
        "model": "claude-opus-4-5-20251101",
        "usage": {
            "promptTokens": 1,
            "completionTokens": 2,
            "cacheReadTokens": 3,
            "cacheCreationTokens": 4,
            "cacheCreation1hTokens": 3,
            "thinkingTokens": 5,
        },
        "metadata": {"k": [1, 2, {"deep": True}]},
        "clientMessageId": "client-1",
    }
    append(store, session.id, sent)
    stored = unstructure(all_messages(store, session.id)[0])
    for key in ("id", "sessionId", "index", "compacted", "createdAt"):
        stored.pop(key)
    assert stored == sent


def test_recent_prompts_are_user_messages_newest_first_by_project(store: Store) -> None:
    a, b = new_session(store, projectId="A"), new_session(store, projectId="B")
    append(store, a.id, user("a1"), assistant("reply"))
    append(store, b.id, user("b1"))
    append(store, a.id, user("a2"))
    everything = messages.recent_prompts(store, make(p.RecentPromptsParams))
    assert [x.content for x in everything.prompts] == ["a2", "b1", "a1"]
    only_a = messages.recent_prompts(store, make(p.RecentPromptsParams, projectId="A", limit=1))
    assert [x.content for x in only_a.prompts] == ["a2"]


# -- sessions -------------------------------------------------------------------------


def test_list_sessions_pages_newest_first_with_filters(store: Store) -> None:
    made = [new_session(store, projectId="P" if n % 2 else "Q", title=f"Title {n}") for n in range(7)]
    sessions.end_session(store, make(p.SessionParams, sessionId=made[6].id))
    seen: list[str] = []
    cursor = None
    while True:
        page = sessions.list_sessions(store, make(p.ListSessionsParams, limit=3, cursor=cursor))
        seen += [s.id for s in page.sessions]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [s.id for s in reversed(made)]
    only_p = sessions.list_sessions(store, make(p.ListSessionsParams, projectId="P"))
    assert {s.project_id for s in only_p.sessions} == {"P"}
    open_only = sessions.list_sessions(store, make(p.ListSessionsParams, includeEnded=False))
    assert made[6].id not in {s.id for s in open_only.sessions}
    titled = sessions.list_sessions(store, make(p.ListSessionsParams, query="title 3"))
    assert [s.id for s in titled.sessions] == [made[3].id]


CAVEAT = (
    "Caveat: The messages below were generated by the user while running local commands. DO NOT respond to"
    " these messages or otherwise consider them in your response unless the user explicitly asks you to."
)
CLEAR = "<command-name>/clear</command-name>\n <command-message>clear</command-message>\n <command-args></command-args>"
COMMAND = (
    "<command-message>orchestrator is running…</command-message>\n<command-name>/orchestrator</command-name>\n"
    "<command-args>create a TODO app</command-args>"
)
IDE_FILE = "<ide_opened_file>The user opened a.py</ide_opened_file>\nwhy does a.py fail?"
CODEX_IDE = "# Context from my IDE setup:\n\n## Open tabs:\n- a.py\n\n## My request for Codex:\nrename foo to bar"
CONTINUED = "This session is being continued from a previous conversation that ran out of context. Summary: …"
CODEX_CONTEXT = "<environment_context>\n  <cwd>/home/u/app</cwd>\n  <shell>bash</shell>\n</environment_context>"
AGENTS_MD = "# AGENTS.md instructions for /home/u/app\n\n<INSTRUCTIONS>\nAlways run the tests.\n</INSTRUCTIONS>"


def test_the_preview_is_the_first_real_request_and_last_message_at_the_newest_message(store: Store) -> None:
    session = new_session(store)
    assert (session.preview, session.last_message_at) == (None, None)
    append(store, session.id, user(CAVEAT), user(CLEAR), user("<local-command-stdout></local-command-stdout>"))
    assert load(store, session.id).preview is None  # only boilerplate so far
    request = "[image]\n[Image #1]  Fix   the flaky\n parser <system-reminder>x</system-reminder>"
    appended = append(store, session.id, user(request))
    reply = append(store, session.id, assistant("done"))
    append(store, session.id, user("and another thing"))
    stored = load(store, session.id)
    assert stored.preview == "Fix the flaky parser"
    assert appended[0].created_at <= reply[0].created_at
    assert stored.last_message_at == all_messages(store, session.id)[-1].created_at
    assert stored.title is None  # the title stays what the user sets
    fork = sessions.fork_session(store, make(p.ForkSessionParams, sessionId=session.id, atMessageId=reply[0].id))
    assert (fork.preview, fork.last_message_at) == ("Fix the flaky parser", reply[0].created_at)


def load(store: Store, session_id: str) -> p.Session:
    return sessions.get_session(store, make(p.SessionParams, sessionId=session_id))


@pytest.mark.parametrize(
    ("contents", "expected"),
    [
        ([CODEX_CONTEXT, AGENTS_MD, "<user_instructions>be terse</user_instructions>", "add a flag"], "add a flag"),
        ([COMMAND], "/orchestrator create a TODO app"),
        (
            [f"<local-command-caveat>{CAVEAT}</local-command-caveat>", "[Request interrupted by user]", IDE_FILE],
            IDE_FILE[-19:],
        ),
        ([CODEX_IDE], "rename foo to bar"),
        ([CONTINUED, "go on"], "go on"),
        (["<bash-input>ls</bash-input>", "<bash-stdout>a.py</bash-stdout><bash-stderr></bash-stderr>", "why?"], "why?"),
        ([CAVEAT, "", None], None),
    ],
)
def test_the_preview_strips_what_agents_write_around_a_request(
    contents: list[str | None], expected: str | None
) -> None:
    assert preview_of(contents) == expected


def test_a_long_request_is_cut_at_a_word_near_the_limit() -> None:
    preview = preview_of(["word " * 100])
    assert preview is not None and len(preview) <= PREVIEW_CHARS and preview.endswith("word…")


def test_list_sessions_query_matches_the_preview(store: Store) -> None:
    # The first user message holds only the caveat: before previews, "flaky" matched nothing.
    session = new_session(store)
    append(store, session.id, user(CAVEAT), user("fix the flaky parser"))
    new_session(store, title="other")
    found = sessions.list_sessions(store, make(p.ListSessionsParams, query="FLAKY parser"))
    assert [s.id for s in found.sessions] == [session.id]


def test_the_migration_backfills_previews_and_last_message_times(db_path: Path) -> None:
    old = Database(db_path, migrations=MIGRATIONS[:4])  # a database of the previous version
    old.execute(
        "INSERT INTO sessions (id, kind, created_at, updated_at) VALUES ('s1', 'chat', '2025-01-01T00:00:00.000Z',"
        " '2025-01-02T00:00:00.000Z'), ('s2', 'chat', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z')"
    )
    old.execute(
        "INSERT INTO messages (id, session_id, idx, role, tokens, created_at, content) VALUES"
        " ('m1', 's1', 0, 'user', 1, '2025-01-01T00:00:01.000Z', ?),"
        " ('m2', 's1', 1, 'user', 1, '2025-01-01T00:00:02.000Z', 'port the importer'),"
        " ('m3', 's1', 2, 'assistant', 1, '2025-01-01T00:00:03.000Z', 'ok')",
        (CODEX_CONTEXT,),
    )
    old.close()
    store = Store(db_path)
    try:
        assert (load(store, "s1").preview, load(store, "s1").last_message_at) == (
            "port the importer",
            "2025-01-01T00:00:03.000Z",
        )
        assert (load(store, "s2").preview, load(store, "s2").last_message_at) == (None, None)
    finally:
        store.close()


def test_a_forged_cursor_is_invalid_params(store: Store) -> None:
    with pytest.raises(InvalidParams, match="cursor"):
        sessions.list_sessions(store, make(p.ListSessionsParams, cursor="not-a-cursor"))


def test_the_default_project_applies_to_new_sessions_only(db_path: Path) -> None:
    store = Store(db_path, settings=Settings(default_project_id="home"))
    assert new_session(store).project_id == "home"
    assert new_session(store, projectId="other").project_id == "other"
    assert len(sessions.list_sessions(store, make(p.ListSessionsParams)).sessions) == 2


def test_metadata_merges_key_by_key_and_null_deletes(store: Store) -> None:
    session = new_session(store, metadata={"keep": 1, "drop": 2, "nested": {"a": 1}})
    updated = sessions.update_session(
        store, make(p.UpdateSessionParams, sessionId=session.id, metadata={"drop": None, "nested": {"b": 2}, "new": 3})
    )
    assert updated.metadata == {"keep": 1, "nested": {"b": 2}, "new": 3}
    sessions.set_metadata(store, make(p.SetMetadataParams, sessionId=session.id, key="todo", value=["write tests"]))
    assert sessions.get_metadata(store, make(p.GetMetadataParams, sessionId=session.id, key="todo")).value == [
        "write tests"
    ]
    sessions.set_metadata(store, make(p.SetMetadataParams, sessionId=session.id, key="todo", value=None))
    assert sessions.get_metadata(store, make(p.GetMetadataParams, sessionId=session.id, key="todo")).value is None


def test_delete_session_takes_messages_edits_and_compactions_with_it(store: Store) -> None:
    session = new_session(store)
    append(store, session.id, user("a"), user("b"))
    store.db.execute(
        "INSERT INTO edits (id, session_id, file_path, kind, diff, created_at) VALUES ('e', ?, 'f', 'create', '', 't')",
        (session.id,),
    )
    from sidecar.store import context

    context.compact_session(store, make(p.CompactSessionParams, sessionId=session.id, summary="s", preserveCount=0))
    assert sessions.delete_session(store, make(p.DeleteSessionParams, sessionId=session.id)).deleted
    for table in ("messages", "edits", "compactions", "sessions"):
        assert store.db.scalar(f"SELECT count(*) FROM {table}") == 0, table
    assert not sessions.delete_session(store, make(p.DeleteSessionParams, sessionId=session.id)).deleted


def test_fork_copies_up_to_the_message_with_fresh_ids(store: Store) -> None:
    session = new_session(store, projectId="P", title="orig", metadata={"m": 1})
    ids = append(store, session.id, user("a"), assistant("b", calls=[("t1", "ls")]), tool("t1", "r"), user("d"))
    fork = sessions.fork_session(store, make(p.ForkSessionParams, sessionId=session.id, atMessageId=ids[1].id))
    assert (fork.parent_session_id, fork.forked_from_message_id) == (session.id, ids[1].id)
    assert (fork.project_id, fork.title, fork.metadata) == ("P", "orig", {"m": 1})
    copied = all_messages(store, fork.id)
    assert [(m.index, m.content) for m in copied] == [(0, "a"), (1, "b")]
    assert not {m.id for m in copied} & {m.id for m in ids}
    assert fork.message_count == 2 and fork.tool_call_count == 1
    from sidecar.store import context

    ctx = context.get_context(store, make(p.GetContextParams, sessionId=fork.id))
    assert [c.id for c in ctx.pending_tool_calls] == ["t1"]  # the result lies past the fork point
    append(store, fork.id, user("next"))
    assert all_messages(store, fork.id)[-1].index == 2
    assert len(all_messages(store, session.id)) == 4


def test_fork_at_an_unknown_message_is_message_not_found(store: Store) -> None:
    session = new_session(store)
    with pytest.raises(MessageNotFound):
        sessions.fork_session(store, make(p.ForkSessionParams, sessionId=session.id, atMessageId="01NOPE"))


def test_fork_of_everything_by_default(store: Store) -> None:
    session = new_session(store)
    ids = append(store, session.id, user("a"), user("b"))
    fork = sessions.fork_session(store, make(p.ForkSessionParams, sessionId=session.id))
    assert fork.forked_from_message_id == ids[-1].id
    assert [m.content for m in all_messages(store, fork.id)] == ["a", "b"]


# -- housekeeping ---------------------------------------------------------------------


def _age(store: Store, session_id: str, days: int) -> None:
    store.db.execute(
        "UPDATE sessions SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?) WHERE id = ?",
        (f"-{days} days", session_id),
    )


def test_retention_dry_run_reports_and_deletes_nothing(store: Store) -> None:
    old, new = new_session(store), new_session(store)
    _age(store, old.id, 40)
    dry = housekeeping.apply_retention(store, make(p.ApplyRetentionParams, maxAgeDays=30, dryRun=True))
    assert (dry.deleted_sessions, dry.session_ids) == (1, [old.id])
    assert housekeeping.stats(store).sessions == 2
    real = housekeeping.apply_retention(store, make(p.ApplyRetentionParams, maxAgeDays=30))
    assert real.session_ids == [old.id]
    assert [s.id for s in sessions.list_sessions(store, make(p.ListSessionsParams)).sessions] == [new.id]


def test_retention_keeps_the_newest_per_project_and_overall(store: Store) -> None:
    made = {name: new_session(store, projectId=name[0]) for name in ("A1", "A2", "A3", "B1", "B2")}
    for age, name in enumerate(reversed(list(made))):
        _age(store, made[name].id, age)  # A1 oldest, B2 newest
    per_project = housekeeping.apply_retention(
        store, make(p.ApplyRetentionParams, maxSessionsPerProject=2, dryRun=True)
    )
    assert set(per_project.session_ids) == {made["A1"].id}
    overall = housekeeping.apply_retention(store, make(p.ApplyRetentionParams, maxSessions=2, dryRun=True))
    assert set(overall.session_ids) == {made["A1"].id, made["A2"].id, made["A3"].id}


def test_retention_purges_old_compacted_messages_only(store: Store) -> None:
    from sidecar.store import context

    session = new_session(store)
    append(store, session.id, user("old1"), user("old2"), user("live"))
    context.compact_session(store, make(p.CompactSessionParams, sessionId=session.id, summary="s", preserveCount=1))
    store.db.execute("UPDATE messages SET created_at = '2000-01-01T00:00:00.000Z' WHERE content LIKE 'old%'")
    dry = housekeeping.apply_retention(store, make(p.ApplyRetentionParams, purgeCompactedOlderThanDays=1, dryRun=True))
    assert dry.purged_messages == 2 and len(all_messages(store, session.id)) == 3
    done = housekeeping.apply_retention(store, make(p.ApplyRetentionParams, purgeCompactedOlderThanDays=1))
    assert done.purged_messages == 2
    assert [m.content for m in all_messages(store, session.id)] == ["live"]
    counted = sessions.get_session(store, make(p.SessionParams, sessionId=session.id))
    assert counted.message_count == 1
    stats = housekeeping.stats(store)
    assert (stats.messages, stats.compacted_messages) == (1, 0)
    append(store, session.id, user("after"))
    assert all_messages(store, session.id)[-1].index == 3  # indexes are never reused


def test_stats_count_what_is_stored(store: Store, db_path: Path) -> None:
    session = new_session(store)
    append(store, session.id, user("a"), user("b"))
    stats = housekeeping.stats(store)
    assert (stats.sessions, stats.messages, stats.edits, stats.compacted_messages) == (1, 2, 0, 0)
    assert stats.db_path == str(db_path) and stats.db_bytes > 0 and stats.schema_version == SCHEMA_VERSION


def _open_and_close(path: str, start: Any) -> None:
    start.wait(30)  # all at once: starting processes alone spreads them over ~0.1 s
    Store(Path(path)).close()


def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    # Unserialised, four openers started together failed on nearly every fresh file: the shared-WAL map
    # read half made ("magic mismatch"), or the schema changed under a first read.
    context = multiprocessing.get_context("spawn")
    for attempt in range(3):
        path = tmp_path / f"fresh-{attempt}.db"
        start = context.Barrier(4)
        openers = [context.Process(target=_open_and_close, args=(str(path), start)) for _ in range(4)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join(60)
        assert [o.exitcode for o in openers] == [0, 0, 0, 0]
        assert Store(path).db.schema_version == SCHEMA_VERSION


def test_the_change_feed_keeps_what_sync_has_not_copied_up_to_a_bound(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changes, "KEEP_CHANGES", 10)
    session = new_session(store)
    with store.db.write():
        changes.set_synced_through(store.db, 5)
    while changes.latest_change(store.db) < 1000:
        append(store, session.id, user("one change"))
    assert store.db.scalar("SELECT min(seq) FROM changes") <= 6  # pruned, but not past the copy
    assert changes.synced_through(store.db) == 5

    monkeypatch.setattr(changes, "KEEP_UNSYNCED", 100)  # sync abandoned: the feed is bounded
    while changes.latest_change(store.db) < 2000:
        append(store, session.id, user("one change"))
    assert store.db.scalar("SELECT min(seq) FROM changes") == 2000 - 100 + 1
    assert changes.synced_through(store.db) is None  # so the next round copies everything
