"""Writing whole sessions read from elsewhere: other agents' transcripts, or our own export.

A session is written in one transaction, so an import never leaves half a session. Each
carries the key that identifies it in its source (`claude-code:<session uuid>`, …), kept
in `sessions.import_key`: importing the same source again finds the session and adds only
the messages it lacks (a transcript that grew since), matched by `clientMessageId`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import attrs

from .. import protocol as p
from ..errors import PayloadTooLarge
from . import Settings, Store
from .changes import record_appended, record_session_change
from .counters import refresh_counters
from .database import Database
from .messages import (
    HERE,
    ROW_CLIENT_ID,
    ROW_CLIENT_SCOPE,
    ROW_COMPACTED,
    ROW_CREATED_AT,
    ROW_ID,
    ROW_INDEX,
    ROW_MODEL,
    ROW_SESSION,
    insert_rows,
    prepare_rows,
)
from .records import new_id, to_json
from .redaction import Redactor, record_redactions
from .sessions import load_session
from .usage import prepare_bands


@attrs.define
class ImportedMessage:
    message: p.MessageInput
    created_at: str
    # Kept when the source is our own export or another machine (sync). Such a message is
    # identified by its id: its clientMessageId deduplicated retries where it was written and
    # says nothing of this machine's, which may number theirs alike (`u-1`, `u-2`, …).
    id: str | None = None
    compacted: bool = False
    # Handed out to be written (live capture): a reader no longer changes it.
    written: bool = False


@attrs.define
class ImportedSession:
    key: str
    kind: str
    messages: list[ImportedMessage]
    created_at: str
    updated_at: str
    id: str | None = None
    project_id: str | None = None
    title: str | None = None
    agent_name: str | None = None
    model: str | None = None
    parent_session_id: str | None = None
    parent_key: str | None = None  # resolved to parent_session_id when that source was imported
    forked_from_message_id: str | None = None
    ended_at: str | None = None
    metadata: dict[str, Any] = attrs.Factory(dict)
    changed_at: dict[str, str] = attrs.Factory(dict)  # when each field changed (store.fields)
    # (summary, through_index, created_at), in order
    compactions: list[tuple[str, int, str]] = attrs.Factory(list)
    edits: list[p.Edit] = attrs.Factory(list)


@attrs.define
class ImportOutcome:
    session: p.Session
    added: int  # messages written; 0 when everything was already there
    skipped: int  # messages over the size limit, left out


@attrs.define
class EncodedSession:
    """A session whose messages are encoded as rows, outside the lock (or in a reader
    process: everything here is plain enough to pickle cheaply)."""

    session: ImportedSession  # its messages dropped: the rows hold them
    rows: list[list[Any]]
    redactions: dict[int, Counter[str]]  # by row position, for the rows where something was masked
    skipped: int  # messages over the size limit, left out
    # What was masked in the session's own fields, compactions and edits (written only
    # when the session is created).
    session_redactions: Counter[str] = attrs.Factory(Counter)


def encode_session(settings: Settings, session: ImportedSession) -> EncodedSession:
    rows: list[list[Any]] = []
    redactions: dict[int, Counter[str]] = {}
    skipped = 0
    for imported in session.messages:
        try:
            message_id = imported.id or new_id(imported.created_at)
            [prepared] = prepare_rows(settings, "", [imported.message], [imported.created_at], [message_id])
        except PayloadTooLarge:
            skipped += 1
            continue
        prepared.row[ROW_COMPACTED] = int(imported.compacted)
        if imported.id is not None:
            prepared.row[ROW_CLIENT_SCOPE] = message_id
        if prepared.redactions:
            redactions[len(rows)] = prepared.redactions
        rows.append(prepared.row)
    masker = Redactor(settings.redact)
    return EncodedSession(_masked(session, masker), rows, redactions, skipped, masker.counts)


def _masked(session: ImportedSession, masker: Redactor) -> ImportedSession:
    """The session without its messages (the rows hold them), its texts masked."""
    return attrs.evolve(
        session,
        messages=[],
        kind=masker.text(session.kind),
        title=masker.optional(session.title),
        agent_name=masker.optional(session.agent_name),
        model=masker.optional(session.model),
        metadata=masker.value(session.metadata),
        compactions=[(masker.text(summary), through, at) for summary, through, at in session.compactions],
        edits=[
            attrs.evolve(
                edit,
                file_path=masker.text(edit.file_path),
                new_path=masker.optional(edit.new_path),
                diff=masker.diff(edit.diff),
            )
            for edit in session.edits
        ],
    )


def _existing(db: Database, session: ImportedSession) -> str | None:
    found = db.scalar("SELECT id FROM sessions WHERE import_key = ?", (session.key,))
    if found is None and session.id is not None:
        found = db.scalar("SELECT id FROM sessions WHERE id = ?", (session.id,))
    return None if found is None else str(found)


def import_sessions(store: Store, sessions: list[EncodedSession]) -> list[ImportOutcome]:
    """Write whole sessions, all in one transaction: one fsync for many small sessions."""
    with store.db.write():
        prepare_bands_for(store.db, sessions)
        return [write_session(store, encoded) for encoded in sessions]


def prepare_bands_for(db: Database, sessions: Sequence[EncodedSession]) -> None:
    """Before writing `sessions` (inside that write): usage buckets split at their models'
    long-context tiers (sidecar.store.usage.prepare_bands)."""
    prepare_bands(db, {model for encoded in sessions for model in _models(encoded)})


def _models(encoded: EncodedSession) -> set[str]:
    """The models the session's calls may be priced at: their own and the session's."""
    own = {row[ROW_MODEL] for row in encoded.rows if row[ROW_MODEL] is not None}
    return {*own, encoded.session.model or "unknown"} if encoded.rows else set()


def write_session(store: Store, encoded: EncodedSession) -> ImportOutcome:
    db, session = store.db, encoded.session
    session_id = _existing(db, session)
    if session_id is None:
        session_id = _create(db, session, store.settings.default_project_id)
        change = p.SessionChange.CREATED
        known: set[tuple[str, str]] = set()
    else:
        change = p.SessionChange.UPDATED
        known = _known_messages(db, session_id)
    new = [position for position, row in enumerate(encoded.rows) if not _is_known(row, known)]
    if new:
        _insert(db, session_id, [encoded.rows[position] for position in new])
    found = [encoded.redactions[position] for position in new if position in encoded.redactions]
    if change is p.SessionChange.CREATED:
        _insert_compactions_and_edits(db, session_id, session)
        found.append(encoded.session_redactions)
    elif _add_compactions(db, session_id, session.compactions):
        change = p.SessionChange.COMPACTED
    record_redactions(db, sum(found, Counter[str]()))
    if new or change is not p.SessionChange.UPDATED:  # else nothing changed: no recount, no notice
        refresh_counters(db, session_id)
        written = load_session(db, session_id)
        record_session_change(db, written, change)
    else:
        written = load_session(db, session_id)
    return ImportOutcome(written, len(new), encoded.skipped)


def _create(db: Database, session: ImportedSession, default_project_id: str | None) -> str:
    session_id = session.id or new_id(session.created_at)
    parent = session.parent_session_id
    if parent is None and session.parent_key is not None:
        parent = db.scalar("SELECT id FROM sessions WHERE import_key = ?", (session.parent_key,))
    db.execute(
        "INSERT INTO sessions (id, project_id, kind, title, agent_name, model, parent_session_id,"
        " forked_from_message_id, created_at, updated_at, ended_at, metadata, import_key, changed_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session_id,
            session.project_id or default_project_id,
            session.kind,
            session.title,
            session.agent_name,
            session.model,
            parent,
            session.forked_from_message_id,
            session.created_at,
            session.updated_at,
            session.ended_at,
            to_json(session.metadata),
            session.key,
            to_json(session.changed_at),
        ),
    )
    return session_id


def _known_messages(db: Database, session_id: str) -> set[tuple[str, str]]:
    """The session's messages as ("id", id) and, for those written here, ("client", clientMessageId)."""
    rows = db.execute("SELECT id, client_message_id, client_scope FROM messages WHERE session_id = ?", (session_id,))
    ids = {("id", message_id) for message_id, _, _ in rows}
    return ids | {("client", key) for _, key, scope in rows if key is not None and scope == HERE}


def _is_known(row: list[Any], known: set[tuple[str, str]]) -> bool:
    key = row[ROW_CLIENT_ID]
    here = key is not None and row[ROW_CLIENT_SCOPE] == HERE
    return (here and ("client", key) in known) or ("id", row[ROW_ID]) in known


def _insert(db: Database, session_id: str, rows: list[list[Any]]) -> None:
    state = db.one("SELECT next_index, project_id FROM sessions WHERE id = ?", (session_id,))
    assert state is not None  # created or found in this transaction
    next_index, project_id = state
    for position, row in enumerate(rows):
        row[ROW_SESSION] = session_id
        row[ROW_INDEX] = next_index + position
    first_seq, last_seq = insert_rows(db, rows)
    updated_at = max(row[ROW_CREATED_AT] for row in rows)
    db.execute(
        "UPDATE sessions SET next_index = ?, updated_at = max(updated_at, ?) WHERE id = ?",
        (next_index + len(rows), updated_at, session_id),
    )
    record_appended(db, session_id, project_id, first_seq, last_seq)


def _add_compactions(db: Database, session_id: str, compactions: list[tuple[str, int, str]]) -> bool:
    """Compactions of a source that grew since it was imported: the ones not recorded yet
    are, and the messages they cover become compacted. Whether there was any."""
    added = False
    for summary, through_index, created_at in compactions:
        if db.one(
            "SELECT 1 FROM compactions WHERE session_id = ? AND through_index = ? AND created_at = ?",
            (session_id, through_index, created_at),
        ):
            continue
        db.execute(
            "INSERT INTO compactions (session_id, summary, through_index, created_at) VALUES (?, ?, ?, ?)",
            (session_id, summary, through_index, created_at),
        )
        db.execute(
            "UPDATE messages SET compacted = 1 WHERE session_id = ? AND compacted = 0 AND idx <= ?",
            (session_id, through_index),
        )
        added = True
    return added


def _insert_compactions_and_edits(db: Database, session_id: str, session: ImportedSession) -> None:
    for summary, through_index, created_at in session.compactions:
        db.execute(
            "INSERT INTO compactions (session_id, summary, through_index, created_at) VALUES (?, ?, ?, ?)",
            (session_id, summary, through_index, created_at),
        )
    for edit in session.edits:
        db.execute(
            "INSERT INTO edits (id, session_id, message_id, file_path, kind, diff, new_path, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                edit.id,
                session_id,
                edit.message_id,
                edit.file_path,
                edit.kind.value,
                edit.diff,
                edit.new_path,
                edit.created_at,
            ),
        )
