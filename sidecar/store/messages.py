"""Appending and reading messages.

The dense per-session `index` is assigned inside the write transaction from the session's
`next_index`, so two processes appending at once still get 0, 1, 2, … with no gaps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from .. import protocol as p
from ..errors import PayloadTooLarge, SessionNotFound, invalid
from . import Settings, Store, buckets
from .changes import record_appended, record_session_change
from .counters import FIRST_PROMPT_CHARS, pending_after
from .database import Database, Row
from .fields import ENDED_AT, note_changes
from .preview import preview_of
from .records import (
    MESSAGE_COLUMNS,
    estimated_tokens,
    message_from_row,
    new_id,
    now,
    to_json,
    tool_calls_from_json,
    tool_calls_to_json,
)
from .redaction import Redactor, may_hold_secrets, record_redactions, strings_in
from .sessions import load_session
from .usage import prepare_bands

INSERT_COLUMNS = (
    "id, session_id, idx, role, compacted, tokens, created_at, prompt_tokens, completion_tokens, cache_read_tokens,"
    " cache_creation_tokens, thinking_tokens, client_message_id, tool_call_id, agent_name, tool_calls,"
    " metadata, code_excerpt, content, client_scope, model, cache_creation_1h_tokens"
)
_INSERTED = [name.strip() for name in INSERT_COLUMNS.split(",")]
# Positions in a row of INSERT_COLUMNS that callers fill in or read.
ROW_ID, ROW_SESSION, ROW_INDEX, ROW_COMPACTED, ROW_CREATED_AT, ROW_CLIENT_ID, ROW_CLIENT_SCOPE, ROW_MODEL = (
    _INSERTED.index(name)
    for name in ("id", "session_id", "idx", "compacted", "created_at", "client_message_id", "client_scope", "model")
)
ROW_PROMPT_TOKENS = _INSERTED.index("prompt_tokens")  # a call's: the usage buckets sum it
HERE = ""  # the client_scope of messages written on this machine
# Rows per INSERT statement: well under the engine's bound-parameter limit.
INSERT_BATCH = 500


def _message_bytes(message: p.MessageInput, tool_calls_json: str | None, metadata_json: str | None) -> int:
    texts = (message.content, message.code_excerpt, tool_calls_json, metadata_json)
    return sum(len(text.encode()) for text in texts if text is not None)


@attrs.define
class Prepared:
    """A message ready to insert: its row, the message as stored (redacted), what was masked."""

    row: list[Any]
    message: p.MessageInput
    redactions: Counter[str]


def _redacted(message: p.MessageInput) -> tuple[p.MessageInput, Counter[str]]:
    """The message with its credentials masked in every text a reader sees (the same
    object when it had none), and how many of each kind were masked."""
    if not may_hold_secrets(_texts_of(message)):
        return message, Counter[str]()
    masker = Redactor()
    content, code = masker.optional(message.content), masker.optional(message.code_excerpt)
    agent_name, metadata = masker.optional(message.agent_name), masker.value(message.metadata)
    model = masker.optional(message.model)  # a model name is text a reader sees, as the session's is
    masked_calls = [(masker.text(call.name), masker.value(call.arguments)) for call in message.tool_calls or []]
    if not masker.counts:
        return message, masker.counts  # the calls too are copied only when something was masked
    calls = message.tool_calls
    if calls is not None:
        calls = [
            attrs.evolve(call, name=name, arguments=arguments)
            for call, (name, arguments) in zip(calls, masked_calls, strict=True)
        ]
    masked = attrs.evolve(
        message,
        content=content,
        code_excerpt=code,
        agent_name=agent_name,
        model=model,
        metadata=metadata,
        tool_calls=calls,
    )
    return masked, masker.counts


def _texts_of(message: p.MessageInput) -> Iterator[str]:
    """Every text of the message that _redacted masks."""
    for text in (message.content, message.code_excerpt, message.agent_name, message.model):
        if text is not None:
            yield text
    yield from strings_in(message.metadata)
    for call in message.tool_calls or []:
        yield call.name
        yield from strings_in(call.arguments)


def _too_large(position: int, size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"messages[{position}]: {size} bytes, over the limit of {limit} bytes",
        {"field": f"messages[{position}]", "bytes": size, "limit": limit},
    )


def prepare_rows(
    settings: Settings,
    session_id: str,
    messages: list[p.MessageInput],
    stamps: Sequence[str],
    ids: Sequence[str] = (),
) -> list[Prepared]:
    """Validate, redact and encode each message outside the transaction, so the lock is
    held briefly.

    `stamps` are the messages' creation times; `ids` their ids (default: new ones). Rows
    have no index yet.
    """
    limit = settings.max_message_bytes
    prepared = []
    for position, (original, stamp) in enumerate(zip(messages, stamps, strict=True)):
        if original.role is p.Role.TOOL and original.tool_call_id is None:
            raise invalid(f"messages[{position}].toolCallId", "required for role tool")
        # Content already over the limit before masking is refused before the scan, which
        # holds the interpreter ~30 ms per MB (a 12.8 MB tool result stalled every other
        # request of a capturing sidecar for 0.4 s); masking only ever shortens secrets.
        if original.content is not None and len(original.content) > limit:
            raise _too_large(position, len(original.content.encode()), limit)
        message, redactions = _redacted(original) if settings.redact else (original, Counter[str]())
        calls_json = tool_calls_to_json(message.tool_calls)
        metadata_json = None if message.metadata is None else to_json(message.metadata)
        size = _message_bytes(message, calls_json, metadata_json)
        if size > limit:
            raise _too_large(position, size, limit)
        usage = message.usage
        if usage is not None and usage.cache_creation1h_tokens > usage.cache_creation_tokens:
            raise invalid(f"messages[{position}].usage.cacheCreation1hTokens", "more than cacheCreationTokens")
        row = [
            ids[position] if ids else new_id(),
            session_id,
            None,
            message.role.value,
            0,
            estimated_tokens(message, calls_json),
            stamp,
            *(
                (
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    usage.cache_read_tokens,
                    usage.cache_creation_tokens,
                    usage.thinking_tokens,
                )
                if usage
                else (None,) * 5
            ),
            message.client_message_id,
            message.tool_call_id,
            message.agent_name,
            calls_json,
            metadata_json,
            message.code_excerpt,
            message.content,
            HERE,
            message.model,
            usage and usage.cache_creation1h_tokens,
        ]
        prepared.append(Prepared(row, message, redactions))
    return prepared


def _known_client_ids(db: Database, session_id: str, messages: list[p.MessageInput]) -> dict[str, p.AppendedMessage]:
    client_ids = sorted({m.client_message_id for m in messages if m.client_message_id is not None})
    if not client_ids:
        return {}
    rows = db.execute(
        "SELECT client_message_id, id, idx, created_at FROM messages WHERE session_id = ? AND client_scope = ?"
        f" AND client_message_id IN ({', '.join('?' * len(client_ids))})",
        (session_id, HERE, *client_ids),
    )
    return {row[0]: p.AppendedMessage(id=row[1], index=row[2], created_at=row[3]) for row in rows}


def insert_rows(db: Database, rows: list[list[Any]]) -> tuple[int, int]:
    """Insert prepared rows (at least one), in statements of INSERT_BATCH, their calls
    added to the usage buckets; the first and last seq they got. Inside one write
    transaction their seqs are consecutive."""
    last = db.insert_rows(f"messages ({INSERT_COLUMNS})", rows, INSERT_BATCH)
    first = last - len(rows) + 1
    if any(row[ROW_PROMPT_TOKENS] is not None for row in rows):
        buckets.add(db, "m.seq BETWEEN ? AND ?", (first, last))
    return first, last


def _prepare_bands(db: Database, batch: list[p.MessageInput], session_model: str | None) -> None:
    """The buckets split at the long-context tiers of the models these calls are priced at,
    before they are written: a read-only store (the MCP server's) cannot split them later."""
    models = {message.model or session_model or "unknown" for message in batch if message.usage is not None}
    if models:
        prepare_bands(db, models)


def append_messages(store: Store, params: p.AppendMessagesParams) -> p.AppendMessagesResult:
    db, stamp = store.db, now()
    prepared = prepare_rows(store.settings, params.session_id, params.messages, [stamp] * len(params.messages))
    with db.write():
        state = db.one(
            "SELECT next_index, project_id, ended_at, pending_tool_calls, preview IS NULL, model"
            " FROM sessions WHERE id = ?",
            (params.session_id,),
        )
        if state is None:
            raise SessionNotFound(params.session_id)
        next_index, project_id, ended_at, pending_json, unnamed, session_model = state
        results = _known_client_ids(db, params.session_id, params.messages)
        appended: list[p.AppendedMessage] = []
        new_rows, new_messages, redactions = [], [], Counter[str]()
        for message, row, found in ((x.message, x.row, x.redactions) for x in prepared):
            key = message.client_message_id
            if key is not None and key in results:
                appended.append(results[key])
                continue
            row[ROW_INDEX] = next_index
            result = p.AppendedMessage(id=row[0], index=next_index, created_at=stamp)
            if key is not None:
                results[key] = result
            appended.append(result)
            new_rows.append(row)
            new_messages.append(message)
            redactions.update(found)
            next_index += 1
        if new_rows:
            _prepare_bands(db, new_messages, session_model)
            first_seq, last_seq = insert_rows(db, new_rows)
            _count_appended(
                db,
                params.session_id,
                new_messages,
                next_index,
                stamp,
                pending_after(tool_calls_from_json(pending_json) or [], new_messages),
                # Only until the session has one: in the usual case, its first append.
                preview_of(m.content for m in new_messages if m.role is p.Role.USER) if unnamed else None,
            )
            record_appended(db, params.session_id, project_id, first_seq, last_seq)
            record_redactions(db, redactions)
            if ended_at is not None:  # appending reopens an ended session
                note_changes(db, params.session_id, [ENDED_AT], stamp)
                record_session_change(db, load_session(db, params.session_id), p.SessionChange.UPDATED)
    return p.AppendMessagesResult(messages=appended)


def _count_appended(
    db: Database,
    session_id: str,
    messages: list[p.MessageInput],
    next_index: int,
    stamp: str,
    pending: list[p.ToolCall],
    preview: str | None,
) -> None:
    usages = [m.usage for m in messages if m.usage is not None]
    db.execute(
        "UPDATE sessions SET next_index = ?, message_count = message_count + ?, turn_count = turn_count + ?,"
        " tool_call_count = tool_call_count + ?, prompt_tokens = prompt_tokens + ?,"
        " completion_tokens = completion_tokens + ?, cache_read_tokens = cache_read_tokens + ?,"
        " cache_creation_tokens = cache_creation_tokens + ?, thinking_tokens = thinking_tokens + ?,"
        " api_calls = api_calls + ?, pending_tool_calls = ?, updated_at = ?, last_message_at = ?, ended_at = NULL,"
        " first_prompt = coalesce(first_prompt, ?), preview = coalesce(preview, ?) WHERE id = ?",
        (
            next_index,
            len(messages),
            sum(1 for m in messages if m.role is p.Role.ASSISTANT and m.content),
            sum(len(m.tool_calls or []) for m in messages),
            sum(u.prompt_tokens for u in usages),
            sum(u.completion_tokens for u in usages),
            sum(u.cache_read_tokens for u in usages),
            sum(u.cache_creation_tokens for u in usages),
            sum(u.thinking_tokens for u in usages),
            len(usages),
            tool_calls_to_json(pending),
            stamp,
            stamp,
            next((m.content[:FIRST_PROMPT_CHARS] for m in messages if m.role is p.Role.USER and m.content), None),
            preview,
            session_id,
        ),
    )


def _page(rows: list[Row]) -> list[p.Message]:
    return [message_from_row(row) for row in rows]


def get_messages(store: Store, params: p.GetMessagesParams) -> p.GetMessagesResult:
    db = store.db
    load_session(db, params.session_id)
    where, args = ["session_id = ?"], list[Any]([params.session_id])
    if params.after_index is not None:
        where.append("idx > ?")
        args.append(params.after_index)
    if params.before_index is not None:
        where.append("idx < ?")
        args.append(params.before_index)
    if params.roles:
        where.append(f"role IN ({', '.join('?' * len(params.roles))})")
        args += [role.value for role in params.roles]
    # Given only beforeIndex, page backwards: the messages just before it.
    backwards = params.before_index is not None and params.after_index is None
    rows = db.execute(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(where)}"
        f" ORDER BY idx {'DESC' if backwards else 'ASC'} LIMIT ?",
        (*args, params.limit + 1),
    )
    page = rows[: params.limit]
    if backwards:
        page.reverse()
    return p.GetMessagesResult(messages=_page(page), has_more=len(rows) > params.limit)


def recent_prompts(store: Store, params: p.RecentPromptsParams) -> p.RecentPromptsResult:
    if params.project_id is None:
        sql = (
            "SELECT session_id, id, content, created_at FROM messages"
            " WHERE role = 'user' AND content IS NOT NULL ORDER BY seq DESC LIMIT ?"
        )
        args: tuple[Any, ...] = (params.limit,)
    else:
        sql = (
            "SELECT m.session_id, m.id, m.content, m.created_at FROM messages m"
            " JOIN sessions s ON s.id = m.session_id"
            " WHERE m.role = 'user' AND m.content IS NOT NULL AND s.project_id = ? ORDER BY m.seq DESC LIMIT ?"
        )
        args = (params.project_id, params.limit)
    return p.RecentPromptsResult(
        prompts=[
            p.RecentPrompt(session_id=row[0], message_id=row[1], content=row[2], created_at=row[3])
            for row in store.db.execute(sql, args)
        ]
    )
