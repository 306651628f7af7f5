"""Sessions written many to a statement (store.imports.write_sessions): what a batch writes
is what writing its sessions one by one, each recounted from its rows, wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar import protocol as p
from sidecar.store import Store, changes, messages
from sidecar.store.counters import TOTALS_COLUMNS, refresh_counters
from sidecar.store.imports import ImportedMessage, ImportedSession, encode_session, import_sessions
from sidecar.transcripts import importer
from sidecar.wire import structure_params

from .helpers import SAMPLES
from .reader_fixtures import FIXTURES

AT = "2025-01-01T00:00:00.000Z"


def run_import(store: Store, path: Path) -> p.ImportTranscriptResult:
    return importer.import_transcript(store, structure_params({"path": str(path)}, p.ImportTranscriptParams))


def counted(store: Store) -> dict[str, tuple[object, ...]]:
    rows = store.db.execute(f"SELECT id, next_index, updated_at, {TOTALS_COLUMNS} FROM sessions")
    return {row[0]: row[1:] for row in rows}


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="the shared sample transcripts are not here")
def test_created_sessions_hold_what_a_recount_of_their_rows_finds(store: Store) -> None:
    # Every format's fixtures and the shared samples: tool calls left pending, compacted
    # messages, usage with and without cache counts, sessions with no user message.
    for path in (FIXTURES, SAMPLES / "claude-code", SAMPLES / "codex"):
        assert run_import(store, path).messages > 0
    tallied = counted(store)
    assert len(tallied) > 40
    with store.db.write():
        store.db.execute("UPDATE sessions SET first_prompt = NULL, preview = NULL")  # recounted only when null
        for session_id in tallied:
            refresh_counters(store.db, session_id)
    assert counted(store) == tallied
    highest = dict(store.db.execute("SELECT session_id, max(idx) FROM messages GROUP BY session_id"))
    assert {session_id: row[0] - 1 for session_id, row in tallied.items() if row[0]} == highest


def imported(key: str, contents: list[str], session_id: str | None = None) -> ImportedSession:
    return ImportedSession(
        key=key,
        kind="agent",
        id=session_id,
        created_at=AT,
        updated_at=AT,
        messages=[
            ImportedMessage(p.MessageInput(role=p.Role.USER, content=text, client_message_id=text), AT)
            for text in contents
        ],
    )


def contents(store: Store, session_id: str) -> list[str | None]:
    rows = store.db.execute("SELECT content FROM messages WHERE session_id = ? ORDER BY idx", (session_id,))
    return [row[0] for row in rows]


def test_a_batch_that_names_one_session_twice_writes_each_message_once(store: Store) -> None:
    (first,) = import_sessions(store, [encode_session(store.settings, imported("t:a", ["m1", "m2"], "S"))])
    batch = [
        imported("t:a", ["m1", "m2", "m3"]),  # found by key: it grew
        imported("t:b", ["m1", "m2", "m3", "m4"], "S"),  # found by id: the same session, grown more
        imported("t:c", ["n1"]),
        imported("t:c", ["n1", "n2"]),  # the same new session, twice in one batch
    ]
    outcomes = import_sessions(store, [encode_session(store.settings, session) for session in batch])
    assert [outcome.added for outcome in outcomes] == [1, 1, 1, 1]
    assert [outcome.session.id for outcome in outcomes[:2]] == ["S", "S"]
    assert contents(store, "S") == ["m1", "m2", "m3", "m4"]
    assert outcomes[3].session.id == outcomes[2].session.id
    assert contents(store, outcomes[3].session.id) == ["n1", "n2"]
    assert outcomes[3].session.message_count == 2 and outcomes[1].session.message_count == 4
    assert first.session.message_count == 2


def test_a_sub_agent_in_its_parents_batch_links_to_it(store: Store) -> None:
    child = imported("t:child", ["do a part"])
    child.parent_key = "t:parent"
    outcomes = import_sessions(
        store, [encode_session(store.settings, session) for session in (imported("t:parent", ["do it"]), child)]
    )
    assert outcomes[1].session.parent_session_id == outcomes[0].session.id


def test_each_session_of_a_batch_announces_its_messages_then_its_creation(store: Store) -> None:
    batch = [imported(f"t:{number}", [f"{number}-{n}" for n in range(number + 1)]) for number in range(5)]
    batch.append(imported("t:empty", []))
    outcomes = import_sessions(store, [encode_session(store.settings, session) for session in batch])
    _, feed = changes.changes_since(store.db, 0)
    expected: list[tuple[str, object]] = []
    for outcome in outcomes:
        if outcome.added:
            expected.append((outcome.session.id, contents(store, outcome.session.id)))
        expected.append((outcome.session.id, p.SessionChange.CREATED))
    announced = [
        (event.session_id, [m.content for m in event.messages])
        if isinstance(event, changes.MessagesAppended)
        else (event.session_id, event.change)
        for event in feed
    ]
    assert announced == expected


def test_a_batch_of_several_insert_statements_keeps_each_sessions_rows_and_seqs(store: Store) -> None:
    # Rows of whole statements and a part: the feed's seq ranges must name each session's own.
    sizes = [messages.INSERT_BATCH - 3, messages.INSERT_BATCH + 5, 2, messages.INSERT_BATCH]
    batch = [imported(f"t:{number}", [f"{number}-{n}" for n in range(size)]) for number, size in enumerate(sizes)]
    outcomes = import_sessions(store, [encode_session(store.settings, session) for session in batch])
    _, feed = changes.changes_since(store.db, 0)
    appended = {event.session_id: event for event in feed if isinstance(event, changes.MessagesAppended)}
    for number, (outcome, size) in enumerate(zip(outcomes, sizes, strict=True)):
        expected = [f"{number}-{n}" for n in range(size)]
        assert contents(store, outcome.session.id) == expected
        assert [message.content for message in appended[outcome.session.id].messages] == expected
    seqs = [row[0] for row in store.db.execute("SELECT seq FROM messages ORDER BY seq")]
    assert seqs == list(range(1, sum(sizes) + 1))
