"""One sync round: copy local changes to the replica, push, pull, merge what came in.

Copying reads the store's change feed from the last change copied (kept in the store, so
the feed keeps every change until it is copied); merging compares the replica with the
store session by session and writes only the difference. Both are idempotent: a round cut
short by a crash or a lost network is simply run again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs

from .. import protocol as p
from ..store import Store
from ..store.changes import APPENDED, APPENDED_ROWS, PURGED, latest_change, set_synced_through, synced_through
from ..store.database import Database
from ..store.fields import STORED, latest, stored_fields
from ..store.merge import delete_everywhere, merge_fields, merge_session
from ..store.records import MESSAGE_COLUMNS, SESSION_COLUMNS, message_from_row, now, session_from_row
from .replica import (
    MESSAGE_KIND,
    SESSION_KIND,
    exchange,
    imported_message,
    imported_session,
    message_record,
    order_key,
    push,
    record_fields,
    session_record,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
CHANGES_PER_BATCH = 500
SESSIONS_PER_BATCH = 50
ROWS_PER_INSERT = 200


@attrs.define
class Moved:
    pulled: int = 0
    deleted: int = 0
    renumbered: int = 0
    sessions: dict[str, None] = attrs.Factory(dict)  # ordered set
    rewritten: int = 0  # session records written to the replica again (merge_replica)


def sync_round(store: Store, replica: Database, *, merge: bool = True) -> p.SyncResult:
    """Copy, push, pull and merge. A remote that cannot be reached is reported, not raised."""
    pushed = copy_changes(store, replica)
    pulled, error = _reach(lambda: exchange(replica, checkpoint=bool(pushed)), False)
    moved = merge_replica(store, replica) if merge or pulled else Moved()
    if moved.rewritten and error is None:
        # Sent now rather than next round: one round on each machine then converges.
        _, error = _reach(lambda: push(replica), None)
    return p.SyncResult(
        online=error is None,
        pushed_messages=pushed,
        pulled_messages=moved.pulled,
        deleted=moved.deleted,
        renumbered=moved.renumbered,
        session_ids=list(moved.sessions),
        error=error,
    )


def _reach(step: Callable[[], T], otherwise: T) -> tuple[T, str | None]:
    """What a network step returned, or `otherwise` and why the remote was not reached."""
    try:
        return step(), None
    except Exception as problem:  # the engine reports network trouble as DatabaseError
        log.info("sync: remote not reached: %s", problem)
        return otherwise, str(problem)


# -- store -> replica ---------------------------------------------------------------------


def copy_changes(store: Store, replica: Database) -> int:
    """Copy what changed in the store since the last copy; returns messages copied."""
    db = store.db
    cursor = synced_through(db)
    if cursor is None:
        return _copy_everything(store, replica)
    copied = 0
    while rows := db.execute(
        "SELECT seq, session_id, change, first_message_seq, last_message_seq FROM changes"
        " WHERE seq > ? ORDER BY seq LIMIT ?",
        (cursor, CHANGES_PER_BATCH),
    ):
        with replica.write():
            for _, session_id, change, first_seq, last_seq in rows:
                copied += _copy_change(db, replica, session_id, change, first_seq, last_seq)
            _copy_sessions(db, replica, {row[1]: None for row in rows})
        cursor = rows[-1][0]
        with db.write():
            set_synced_through(db, cursor)
    return copied


def _copy_everything(store: Store, replica: Database) -> int:
    """The first round on a store: all of it (the feed keeps only recent changes)."""
    db = store.db
    through = latest_change(db)
    session_ids = [row[0] for row in db.execute("SELECT id FROM sessions ORDER BY created_at, id")]
    copied = 0
    for start in range(0, len(session_ids), SESSIONS_PER_BATCH):
        batch = session_ids[start : start + SESSIONS_PER_BATCH]
        with replica.write():
            for session_id in batch:
                copied += _copy_messages(db, replica, session_id, "session_id = ?", (session_id,))
            _copy_sessions(db, replica, dict.fromkeys(batch))
    with db.write():
        set_synced_through(db, through)
    return copied


def _copy_change(
    db: Database, replica: Database, session_id: str, change: str, first: int | None, last: int | None
) -> int:
    if change == APPENDED:
        return _copy_messages(db, replica, session_id, APPENDED_ROWS, (first, last, session_id))
    if change == p.SessionChange.DELETED.value:
        replica.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
        replica.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        _tombstone(replica, session_id, SESSION_KIND, session_id)
    elif change == PURGED:
        here = {row[0] for row in db.execute("SELECT id FROM messages WHERE session_id = ?", (session_id,))}
        there = [row[0] for row in replica.execute("SELECT id FROM messages WHERE session_id = ?", (session_id,))]
        for message_id in (message_id for message_id in there if message_id not in here):
            replica.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            _tombstone(replica, message_id, MESSAGE_KIND, session_id)
    return 0


def _tombstone(replica: Database, record_id: str, kind: str, session_id: str) -> None:
    replica.execute(
        "INSERT OR IGNORE INTO deletions (id, kind, session_id, deleted_at) VALUES (?, ?, ?, ?)",
        (record_id, kind, session_id, now()),
    )


def _copy_messages(db: Database, replica: Database, session_id: str, where: str, params: tuple[Any, ...]) -> int:
    """Copy the session's messages that match `where` and the replica lacks, in index order."""
    messages = [
        message_from_row(row)
        for row in db.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {where} ORDER BY idx", params)
    ]
    if not messages:
        return 0
    known = _present(replica, "messages", [message.id for message in messages])
    known |= _present(replica, "deletions", [session_id, *(message.id for message in messages)])
    if session_id in known:
        return 0  # deleted on another machine: the merge deletes it here too
    last = replica.scalar("SELECT max(order_key) FROM messages WHERE session_id = ?", (session_id,))
    rows: list[tuple[str, str, str, str]] = []
    for message in messages:
        if message.id not in known:
            last = order_key(message.created_at, last)
            rows.append((message.id, session_id, last, message_record(message)))
    for start in range(0, len(rows), ROWS_PER_INSERT):  # one statement per batch: each costs a prepare
        batch = rows[start : start + ROWS_PER_INSERT]
        replica.execute(
            "INSERT OR IGNORE INTO messages (id, session_id, order_key, record) VALUES "
            + ", ".join(["(?, ?, ?, ?)"] * len(batch)),
            [value for row in batch for value in row],
        )
    return len(rows)


def _copy_sessions(db: Database, replica: Database, session_ids: dict[str, None]) -> None:
    """Write the sessions' records where they changed (a deleted one has none to write)."""
    ids = list(session_ids)
    gone = _present(replica, "deletions", ids)
    for row in db.by_ids(f"SELECT {SESSION_COLUMNS}, changed_at FROM sessions", [i for i in ids if i not in gone]):
        session = session_from_row(row)
        record = session_record(session, json.loads(row[-1]))
        if replica.scalar("SELECT record FROM sessions WHERE id = ?", (session.id,)) != record:
            replica.execute(
                "INSERT OR REPLACE INTO sessions (id, updated_at, record) VALUES (?, ?, ?)",
                (session.id, session.updated_at, record),
            )


def _present(replica: Database, table: str, ids: list[str]) -> set[str]:
    return {row[0] for row in replica.by_ids(f"SELECT id FROM {table}", ids)}


# -- replica -> store ---------------------------------------------------------------------


def merge_replica(store: Store, replica: Database) -> Moved:
    """Make the store hold what the replica holds: deletions, sessions, messages, order."""
    moved = Moved()
    _apply_deletions(store, replica, moved)
    here = {row[0]: row[1:] for row in store.db.execute(f"SELECT id, message_count, {STORED} FROM sessions")}
    there = replica.execute(
        "SELECT s.id, s.record, (SELECT count(*) FROM messages m WHERE m.session_id = s.id) FROM sessions s"
        " ORDER BY s.updated_at, s.id"
    )
    behind: dict[str, None] = {}  # sessions whose record in the replica lacks a change made here
    for session_id, record, count in there:
        local = here.get(session_id)
        if local is None or local[0] != count:
            _merge_messages(store, replica, session_id, record, moved)
        stored = (
            local[1:]
            if local is not None
            else store.db.one(f"SELECT {STORED} FROM sessions WHERE id = ?", (session_id,))
        )
        if stored is not None:
            _merge_fields(store, session_id, json.loads(record), stored, moved, behind)
    moved.rewritten = len(behind)
    if behind:
        # The engine keeps one machine's record per session, the last pushed: one that was
        # written before this machine's change was pulled. Push ours, merged, again.
        with replica.write():
            _copy_sessions(store.db, replica, behind)
    return moved


def _apply_deletions(store: Store, replica: Database, moved: Moved) -> None:
    rows = replica.execute("SELECT id, kind, session_id FROM deletions")
    sessions = [record_id for record_id, kind, _ in rows if kind == SESSION_KIND]
    messages = [record_id for record_id, kind, _ in rows if kind == MESSAGE_KIND]
    deleted, touched = delete_everywhere(store, sessions, messages)
    moved.deleted += deleted
    moved.sessions.update(dict.fromkeys(touched))


def _merge_messages(store: Store, replica: Database, session_id: str, record: str, moved: Moved) -> None:
    rows = replica.execute("SELECT id, record FROM messages WHERE session_id = ? ORDER BY order_key, id", (session_id,))
    here = {row[0] for row in store.db.execute("SELECT id FROM messages WHERE session_id = ?", (session_id,))}
    missing = [imported_message(text) for message_id, text in rows if message_id not in here]
    outcome = merge_session(store, imported_session(record, missing), [row[0] for row in rows])
    if outcome.added or outcome.renumbered:
        moved.pulled += outcome.added
        moved.renumbered += outcome.renumbered
        moved.sessions[session_id] = None


def _merge_fields(
    store: Store, session_id: str, record: dict[str, Any], stored: Sequence[Any], moved: Moved, behind: dict[str, None]
) -> None:
    """Field by field, the later change of the session's title, end and metadata wins."""
    ours, theirs = stored_fields(stored), record_fields(record)
    merged = latest(ours, theirs, stored[-1])
    if merged != ours and merge_fields(store, session_id, theirs, record["updatedAt"]):
        moved.sessions[session_id] = None
    if merged != theirs:
        behind[session_id] = None
