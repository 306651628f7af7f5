"""The change feed: every write records what changed in the same transaction.

Each process tails this table to notify its own client, so a commit made by any process
on the file reaches every editor, and a notification is never sent for an uncommitted
write. Old rows are pruned as new ones arrive.
"""

from __future__ import annotations

import json

import attrs

from .. import protocol as p
from ..wire import CONVERTER, unstructure
from .database import Database
from .records import MESSAGE_COLUMNS, SESSION_COLUMNS, message_from_row, now, session_from_row, to_json

KEEP_CHANGES = 10_000
KEEP_UNSYNCED = 1_000_000
SYNCED_THROUGH = "synced_through"  # sync_state: the last change copied to the sync replica
APPENDED = "appended"
# Recorded for the search indexer only: compacted messages of a session were purged.
PURGED = "purged"
# The messages of an `appended` change: a seq range of one session. The `+` keeps the
# planner on the seq range; on the session's index it would walk all of its messages.
APPENDED_ROWS = "seq BETWEEN ? AND ? AND +session_id = ?"


@attrs.frozen
class MessagesAppended:
    session_id: str
    project_id: str | None
    messages: list[p.Message]


@attrs.frozen
class SessionChanged:
    session_id: str
    project_id: str | None
    change: p.SessionChange
    session: p.Session


Change = MessagesAppended | SessionChanged


def _record(
    db: Database,
    session_id: str,
    project_id: str | None,
    change: str,
    message_seqs: tuple[int, int] | tuple[None, None] = (None, None),
    snapshot: str | None = None,
) -> None:
    """Add one row to the feed, inside the caller's write transaction; prune now and then."""
    seq = db.insert(
        "INSERT INTO changes (session_id, project_id, change, first_message_seq, last_message_seq, snapshot,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (session_id, project_id, change, *message_seqs, snapshot, now()),
    )
    _prune_now_and_then(db, seq, seq)


def _prune_now_and_then(db: Database, first_seq: int, last_seq: int) -> None:
    """Prune old rows when the seqs just added passed a thousand."""
    if last_seq // 1000 == (first_seq - 1) // 1000:
        return
    # Changes not yet copied to the sync replica are kept, up to KEEP_UNSYNCED (sync
    # switched off for good must not grow the feed forever; past it, the next round
    # copies everything again).
    db.execute(
        "DELETE FROM changes WHERE seq <= min(?, max(?, coalesce((SELECT value FROM sync_state WHERE name = ?), ?)))",
        (last_seq - KEEP_CHANGES, last_seq - KEEP_UNSYNCED, SYNCED_THROUGH, last_seq),
    )


@attrs.frozen
class Recorded:
    """One row of the feed to add: a session's appended messages (their seqs) or its change."""

    session_id: str
    project_id: str | None
    change: str
    first_message_seq: int | None = None
    last_message_seq: int | None = None


# Rows per INSERT: 6 parameters each, well under the engine's bound-parameter limit.
RECORD_BATCH = 1000


def record_changes(db: Database, changes: list[Recorded]) -> None:
    """Add rows to the feed, in order, a statement for many (an import's sessions)."""
    if not changes:
        return
    stamp = now()
    rows = [(*attrs.astuple(change), stamp) for change in changes]
    into = "changes (session_id, project_id, change, first_message_seq, last_message_seq, created_at)"
    last = db.insert_rows(into, rows, RECORD_BATCH)
    _prune_now_and_then(db, last - len(rows) + 1, last)


def record_appended(db: Database, session_id: str, project_id: str | None, first_seq: int, last_seq: int) -> None:
    _record(db, session_id, project_id, APPENDED, (first_seq, last_seq))


def record_session_change(db: Database, session: p.Session, change: p.SessionChange) -> None:
    # A deleted session can no longer be read back, so its last state travels with the row.
    snapshot = to_json(unstructure(session)) if change is p.SessionChange.DELETED else None
    _record(db, session.id, session.project_id, change.value, snapshot=snapshot)


def record_purged(db: Database, session_id: str, project_id: str | None) -> None:
    _record(db, session_id, project_id, PURGED)


def latest_change(db: Database) -> int:
    return int(db.scalar("SELECT coalesce(max(seq), 0) FROM changes"))


def changes_since(db: Database, after_seq: int, limit: int = 500) -> tuple[int, list[Change]]:
    """The changes committed after `after_seq`, and the seq to ask from next time."""
    rows = db.execute(
        "SELECT seq, session_id, project_id, change, first_message_seq, last_message_seq, snapshot"
        " FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
        (after_seq, limit),
    )
    events: list[Change] = []
    for seq, session_id, project_id, change, first_seq, last_seq, snapshot in rows:
        after_seq = seq
        event = _load_event(db, session_id, project_id, change, first_seq, last_seq, snapshot)
        if event is not None:
            events.append(event)
    return after_seq, events


def _load_event(
    db: Database,
    session_id: str,
    project_id: str | None,
    change: str,
    first_seq: int | None,
    last_seq: int | None,
    snapshot: str | None,
) -> Change | None:
    if change == APPENDED:
        rows = db.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {APPENDED_ROWS} ORDER BY idx",
            (first_seq, last_seq, session_id),
        )
        # Deleted or purged since: nothing left to announce.
        return MessagesAppended(session_id, project_id, [message_from_row(r) for r in rows]) if rows else None
    if change == PURGED:
        return None  # not for clients: the session's own "updated" change follows
    if snapshot is not None:
        session = CONVERTER.structure(json.loads(snapshot), p.Session)
    else:
        row = db.one(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,))
        if row is None:
            return None
        session = session_from_row(row)
    return SessionChanged(session_id, project_id, p.SessionChange(change), session)


def synced_through(db: Database) -> int | None:
    """The last change copied to the sync replica; None if never, or if the feed has since
    been pruned past it (then everything must be copied again)."""
    value = db.scalar("SELECT value FROM sync_state WHERE name = ?", (SYNCED_THROUGH,))
    if value is None:
        return None
    oldest = db.scalar("SELECT min(seq) FROM changes")
    return None if oldest is not None and oldest > int(value) + 1 else int(value)


def set_synced_through(db: Database, seq: int) -> None:
    db.execute(
        "INSERT INTO sync_state (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (SYNCED_THROUGH, seq),
    )
