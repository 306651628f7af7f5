"""Rebuilding a prompt from history, and compacting history under a summary."""

from __future__ import annotations

from .. import protocol as p
from . import Store
from .changes import record_session_change
from .database import Database
from .records import MESSAGE_COLUMNS, message_from_row, now, tool_calls_from_json
from .redaction import Redactor
from .sessions import load_session


def _window_start(db: Database, session_id: str, max_messages: int | None, max_tokens: int | None) -> int | None:
    """The oldest index of the newest non-compacted run that fits both budgets (None: nothing fits)."""
    limit = -1 if max_messages is None else max_messages
    spent, start = 0, None
    # Streams (idx, tokens) newest first from a covering index and stops at the budget.
    with db.stream(
        "SELECT idx, tokens FROM messages WHERE session_id = ? AND compacted = 0 ORDER BY idx DESC LIMIT ?",
        (session_id, limit),
    ) as rows:
        for index, tokens in rows:
            spent += tokens
            if max_tokens is not None and spent > max_tokens:
                break
            start = index
    return start


def _drop_orphan_results(messages: list[p.Message]) -> list[p.Message]:
    """A tool result whose calling message fell outside the window would confuse a model."""
    called = {call.id for m in messages for call in (m.tool_calls or [])}
    return [m for m in messages if m.role is not p.Role.TOOL or m.tool_call_id in called]


def get_context(store: Store, params: p.GetContextParams) -> p.GetContextResult:
    db = store.db
    pending_json = db.scalar("SELECT pending_tool_calls FROM sessions WHERE id = ?", (params.session_id,))
    if pending_json is None:
        load_session(db, params.session_id)  # raises SessionNotFound
    summary = db.scalar(
        "SELECT summary FROM compactions WHERE session_id = ? ORDER BY seq DESC LIMIT 1", (params.session_id,)
    )
    if params.max_tokens is None:
        # No token budget: one query, newest first, no pre-scan.
        limit = -1 if params.max_messages is None else params.max_messages
        rows = db.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ? AND compacted = 0 ORDER BY idx DESC LIMIT ?",
            (params.session_id, limit),
        )
        rows.reverse()
    else:
        start = _window_start(db, params.session_id, params.max_messages, params.max_tokens)
        rows = []
        if start is not None:
            rows = db.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages"
                " WHERE session_id = ? AND compacted = 0 AND idx >= ? ORDER BY idx",
                (params.session_id, start),
            )
    return p.GetContextResult(
        summary=summary,
        messages=_drop_orphan_results([message_from_row(row) for row in rows]),
        pending_tool_calls=tool_calls_from_json(pending_json) or [],
    )


def compact_session(store: Store, params: p.CompactSessionParams) -> p.CompactSessionResult:
    db = store.db
    masker = Redactor(store.settings.redact)
    summary = masker.text(params.summary)
    with db.write():
        load_session(db, params.session_id)
        # The newest message to compact: the one just older than the preserved run.
        through = db.scalar(
            "SELECT idx FROM messages WHERE session_id = ? AND compacted = 0 ORDER BY idx DESC LIMIT 1 OFFSET ?",
            (params.session_id, params.preserve_count),
        )
        count = 0
        if through is not None:
            count = int(
                db.scalar(
                    "SELECT count(*) FROM messages WHERE session_id = ? AND compacted = 0 AND idx <= ?",
                    (params.session_id, through),
                )
            )
            db.execute(
                "UPDATE messages SET compacted = 1 WHERE session_id = ? AND compacted = 0 AND idx <= ?",
                (params.session_id, through),
            )
        else:
            through = db.scalar("SELECT max(through_index) FROM compactions WHERE session_id = ?", (params.session_id,))
        stamp = now()
        db.execute(
            "INSERT INTO compactions (session_id, summary, through_index, created_at) VALUES (?, ?, ?, ?)",
            (params.session_id, summary, -1 if through is None else through, stamp),
        )
        masker.record(db)
        db.execute(
            "UPDATE sessions SET compacted_count = compacted_count + ?, updated_at = ? WHERE id = ?",
            (count, stamp, params.session_id),
        )
        record_session_change(db, load_session(db, params.session_id), p.SessionChange.COMPACTED)
    return p.CompactSessionResult(compacted_count=count)
