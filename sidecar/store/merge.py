"""Bringing in what another machine wrote: messages placed in an agreed order, deletions.

The sync layer (sidecar.sync) decides the order of a session's messages; the store writes
the missing ones and renumbers the session so every machine shows the same indexes.
Each function is one transaction, with the change feed told, so clients hear of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from .. import protocol as p
from . import Store
from .changes import record_purged, record_session_change
from .counters import refresh_counters
from .database import Database
from .fields import SHOWN, STORED, Fields, columns, latest, stored_fields
from .imports import ImportedSession, encode_session, prepare_bands_for, write_session
from .sessions import delete_sessions, load_session


@attrs.frozen
class Merged:
    added: int
    renumbered: int


def merge_session(store: Store, session: ImportedSession, order: Sequence[str]) -> Merged:
    """Add the session's messages this store lacks, then number all of them in `order`.

    Messages of the session that `order` does not name (written here since the order was
    taken) keep their place after those it does.
    """
    encoded = encode_session(store.settings, session)
    db = store.db
    with db.write():
        prepare_bands_for(db, [encoded])
        outcome = write_session(store, encoded)
        moved = renumber(db, outcome.session.id, order)
        if moved and not outcome.added:  # else write_session has announced the session already
            record_session_change(db, load_session(db, outcome.session.id), p.SessionChange.UPDATED)
    return Merged(outcome.added, moved)


def renumber(db: Database, session_id: str, order: Sequence[str]) -> int:
    """Give the session's messages the indexes they already use, reassigned in `order`.

    Returns how many messages moved. Inside the caller's transaction.
    """
    current = db.execute("SELECT id, idx FROM messages WHERE session_id = ? ORDER BY idx", (session_id,))
    present = {message_id for message_id, _ in current}
    ordered = [message_id for message_id in order if message_id in present]
    named = set(ordered)
    desired = ordered + [message_id for message_id, _ in current if message_id not in named]
    moves = [(wanted, idx) for (held, idx), wanted in zip(current, desired, strict=True) if wanted != held]
    # Two steps, so no two rows ever share an index: the unique index checks row by row.
    for position, (message_id, _) in enumerate(moves):
        db.execute("UPDATE messages SET idx = ? WHERE id = ?", (-1 - position, message_id))
    for message_id, idx in moves:
        db.execute("UPDATE messages SET idx = ? WHERE id = ?", (idx, message_id))
    return len(moves)


def merge_fields(store: Store, session_id: str, theirs: Fields, updated_at: str) -> bool:
    """Take, field by field, another machine's later changes to a session's title, end and
    metadata (`updated_at`: its record's); False if none changed a value."""
    db = store.db
    with db.write():  # compared again under the lock: a process here may have changed one since
        row = db.one(f"SELECT {STORED} FROM sessions WHERE id = ?", (session_id,))
        if row is None:
            return False
        ours, created_at = stored_fields(row), row[-1]
        merged = latest(ours, theirs, created_at)
        if merged == ours:
            return False
        value, before = columns(merged, created_at), columns(ours, created_at)
        db.execute("UPDATE sessions SET changed_at = ? WHERE id = ?", (value["changed_at"], session_id))
        if all(value[name] == before[name] for name in SHOWN):
            return False  # only when a value was set changed: no one is told
        db.execute(
            "UPDATE sessions SET title = ?, ended_at = ?, metadata = ?, updated_at = max(updated_at, ?) WHERE id = ?",
            (value["title"], value["ended_at"], value["metadata"], updated_at, session_id),
        )
        record_session_change(db, load_session(db, session_id), p.SessionChange.UPDATED)
    return True


def delete_everywhere(store: Store, session_ids: Sequence[str], message_ids: Sequence[str]) -> tuple[int, list[str]]:
    """Delete sessions and single messages another machine deleted: how many of them were
    here, and the sessions that changed."""
    db = store.db
    with db.write():
        sessions = [row[0] for row in db.by_ids("SELECT id FROM sessions", session_ids)]
        delete_sessions(db, sessions)
        messages = db.by_ids("SELECT id, session_id FROM messages", message_ids)
        touched = {session_id: None for _, session_id in messages}
        for message_id, _ in messages:
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        for session_id in touched:
            refresh_counters(db, session_id)
            session = load_session(db, session_id)
            record_purged(db, session_id, session.project_id)
            record_session_change(db, session, p.SessionChange.UPDATED)
    return len(sessions) + len(messages), [*sessions, *touched]
