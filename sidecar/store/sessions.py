"""Sessions: create, read, list, update, end, delete, fork; and their metadata."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from .. import protocol as p
from ..errors import MessageNotFound, SessionNotFound, invalid
from . import NO_WORK, Store, Work, buckets
from .changes import record_session_change
from .counters import refresh_counters
from .database import Database
from .fields import ENDED_AT, TITLE, metadata_fields, note_changes
from .records import SESSION_COLUMNS, new_id, now, session_from_row, to_json
from .redaction import Redactor
from .usage import prepare_bands


def load_session(db: Database, session_id: str) -> p.Session:
    row = db.one(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,))
    if row is None:
        raise SessionNotFound(session_id)
    return session_from_row(row)


def create_session(store: Store, params: p.CreateSessionParams) -> p.Session:
    stamp, session_id = now(), new_id()
    masker = Redactor(store.settings.redact)
    model = masker.optional(params.model)
    with store.db.write():
        if model is not None:
            # Its calls will be priced at its model's tiers: split the buckets there before any
            # is written (a read-only store, as the MCP server's, cannot split them later).
            prepare_bands(store.db, {model})
        store.db.execute(
            "INSERT INTO sessions (id, project_id, kind, title, agent_name, model, created_at, updated_at, metadata)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                params.project_id or store.settings.default_project_id,
                masker.text(params.kind),
                masker.optional(params.title),
                masker.optional(params.agent_name),
                model,
                stamp,
                stamp,
                to_json(masker.value(_without_nulls(params.metadata or {}))),
            ),
        )
        masker.record(store.db)
        session = load_session(store.db, session_id)  # read back: RETURNING is slow in this engine
        record_session_change(store.db, session, p.SessionChange.CREATED)
    return session


def get_session(store: Store, params: p.SessionParams) -> p.Session:
    return load_session(store.db, params.session_id)


def _encode_cursor(session: p.Session) -> str:
    return base64.urlsafe_b64encode(json.dumps([session.updated_at, session.id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        updated_at, session_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if isinstance(updated_at, str) and isinstance(session_id, str):
            return updated_at, session_id
    except (ValueError, TypeError, binascii.Error):
        pass
    raise invalid("cursor", "expected the nextCursor of a previous page")


def list_sessions(store: Store, params: p.ListSessionsParams) -> p.ListSessionsResult:
    where, args = ["1"], []
    for column, value in (("project_id", params.project_id), ("kind", params.kind), ("agent_name", params.agent_name)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if params.query:
        # The title, the preview or the start of the first user prompt, case-insensitively.
        where.append(
            "instr(lower(coalesce(title, '') || char(10) || coalesce(preview, '') || char(10)"
            " || coalesce(first_prompt, '')), lower(?)) > 0"
        )
        args.append(params.query)
    if not params.include_ended:
        where.append("ended_at IS NULL")
    if params.cursor is not None:
        updated_at, session_id = _decode_cursor(params.cursor)
        where.append("(updated_at < ? OR (updated_at = ? AND id < ?))")
        args += [updated_at, updated_at, session_id]
    rows = store.db.execute(
        f"SELECT {SESSION_COLUMNS} FROM sessions WHERE {' AND '.join(where)} ORDER BY updated_at DESC, id DESC LIMIT ?",
        (*args, params.limit + 1),
    )
    sessions = [session_from_row(row) for row in rows[: params.limit]]
    more = len(rows) > params.limit
    return p.ListSessionsResult(sessions=sessions, next_cursor=_encode_cursor(sessions[-1]) if more else None)


def _without_nulls(metadata: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in metadata.items() if value is not None}


def merge_metadata(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Key by key: a value replaces the stored one, null deletes the key. Not recursive."""
    return _without_nulls({**current, **update})


def update_session(store: Store, params: p.UpdateSessionParams) -> p.Session:
    if params.title is None and params.metadata is None:
        return load_session(store.db, params.session_id)
    masker = Redactor(store.settings.redact)
    title, update = masker.optional(params.title), masker.value(params.metadata or {})
    with store.db.write():
        session = load_session(store.db, params.session_id)
        metadata = merge_metadata(session.metadata, update)
        stamp = now()
        store.db.execute(
            "UPDATE sessions SET title = coalesce(?, title), metadata = ?, updated_at = ? WHERE id = ?",
            (title, to_json(metadata), stamp, params.session_id),
        )
        masker.record(store.db)
        changed = [TITLE] if params.title is not None else []
        note_changes(store.db, params.session_id, changed + metadata_fields(update), stamp)
        session = load_session(store.db, params.session_id)
        record_session_change(store.db, session, p.SessionChange.UPDATED)
    return session


def end_session(store: Store, params: p.SessionParams) -> p.Session:
    with store.db.write():
        session = load_session(store.db, params.session_id)
        if session.ended_at is not None:
            return session
        stamp = now()
        store.db.execute(
            "UPDATE sessions SET ended_at = ?, updated_at = ? WHERE id = ?", (stamp, stamp, params.session_id)
        )
        note_changes(store.db, params.session_id, [ENDED_AT], stamp)
        session = load_session(store.db, params.session_id)
        record_session_change(store.db, session, p.SessionChange.ENDED)
    return session


def delete_sessions(db: Database, session_ids: list[str]) -> None:
    """Delete sessions with everything they own; the caller holds the write transaction."""
    for session_id in session_ids:
        row = db.one(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,))
        if row is None:
            continue
        db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
        record_session_change(db, session_from_row(row), p.SessionChange.DELETED)


def delete_session(store: Store, params: p.DeleteSessionParams, work: Work = NO_WORK) -> p.DeleteSessionResult:
    with store.db.write():
        exists = store.db.scalar("SELECT 1 FROM sessions WHERE id = ?", (params.session_id,)) is not None
        delete_sessions(store.db, [params.session_id])
    return p.DeleteSessionResult(deleted=exists)


def get_metadata(store: Store, params: p.GetMetadataParams) -> p.GetMetadataResult:
    return p.GetMetadataResult(value=load_session(store.db, params.session_id).metadata.get(params.key))


def set_metadata(store: Store, params: p.SetMetadataParams) -> p.EmptyResult:
    update_session(store, p.UpdateSessionParams(session_id=params.session_id, metadata={params.key: params.value}))
    return p.EmptyResult()


FORK_BATCH = 500
# Every message column but seq, id and session_id, which a copy gets afresh.
COPIED_MESSAGE_COLUMNS = (
    "idx, role, compacted, tokens, created_at, prompt_tokens, completion_tokens, cache_read_tokens, "
    "cache_creation_tokens, thinking_tokens, client_message_id, tool_call_id, agent_name, tool_calls, "
    "metadata, code_excerpt, content, client_scope, model, cache_creation_1h_tokens"
)


def _fork_point(db: Database, session_id: str, at_message_id: str | None) -> tuple[int, str | None]:
    if at_message_id is None:
        row = db.one("SELECT idx, id FROM messages WHERE session_id = ? ORDER BY idx DESC LIMIT 1", (session_id,))
        return (row[0], row[1]) if row else (-1, None)
    index = db.scalar("SELECT idx FROM messages WHERE session_id = ? AND id = ?", (session_id, at_message_id))
    if index is None:
        raise MessageNotFound(at_message_id, session_id)
    return index, at_message_id


def fork_session(store: Store, params: p.ForkSessionParams, work: Work = NO_WORK) -> p.Session:
    db = store.db
    with db.write():
        source = load_session(db, params.session_id)
        last_index, at_message_id = _fork_point(db, source.id, params.at_message_id)
        fork_id, stamp = new_id(), now()
        db.execute(
            "INSERT INTO sessions (id, project_id, kind, title, agent_name, model, parent_session_id,"
            " forked_from_message_id, created_at, updated_at, next_index, metadata)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                fork_id,
                source.project_id,
                source.kind,
                source.title,
                source.agent_name,
                source.model,
                source.id,
                at_message_id,
                stamp,
                stamp,
                last_index + 1,
                to_json(source.metadata),
            ),
        )
        _copy_messages(db, source.id, fork_id, last_index, work)
        buckets.add(db, "m.session_id = ?", (fork_id,))
        db.execute(
            "INSERT INTO compactions (session_id, summary, through_index, created_at)"
            " SELECT ?, summary, through_index, created_at FROM compactions"
            " WHERE session_id = ? AND through_index <= ? ORDER BY seq",
            (fork_id, source.id, last_index),
        )
        refresh_counters(db, fork_id)
        fork = load_session(db, fork_id)
        record_session_change(db, fork, p.SessionChange.FORKED)
    return fork


def _copy_messages(db: Database, source_id: str, fork_id: str, last_index: int, work: Work) -> None:
    total = int(db.scalar("SELECT count(*) FROM messages WHERE session_id = ? AND idx <= ?", (source_id, last_index)))
    copied, after = 0, -1
    while copied < total:
        rows = db.execute(
            f"SELECT {COPIED_MESSAGE_COLUMNS} FROM messages WHERE session_id = ? AND idx > ? AND idx <= ?"
            " ORDER BY idx LIMIT ?",
            (source_id, after, last_index, FORK_BATCH),
        )
        if not rows:
            break
        width = len(rows[0]) + 2
        placeholders = ", ".join(["(" + ", ".join(["?"] * width) + ")"] * len(rows))
        values = [value for row in rows for value in (new_id(), fork_id, *row)]
        db.execute(f"INSERT INTO messages (id, session_id, {COPIED_MESSAGE_COLUMNS}) VALUES {placeholders}", values)
        copied, after = copied + len(rows), rows[-1][0]
        work.checkpoint(copied, total)
