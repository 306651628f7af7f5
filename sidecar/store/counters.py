"""Recounting a session's totals from its rows, after operations that copy or remove many."""

from __future__ import annotations

from collections.abc import Iterable

from .. import protocol as p
from .database import Database
from .preview import PREVIEW_MESSAGES, preview_of
from .records import tool_calls_from_json, tool_calls_to_json

# What listSessions' query matches besides the title: the start of the first user prompt.
FIRST_PROMPT_CHARS = 500
# A session's first messages of a role. `+role`: on `role = ?` the engine's planner ANDs
# messages_by_role into the plan, which walks every message of that role in the database
# (an import's cost per session grew with the archive); the session's own rows in idx
# order are what is wanted.
FIRST_OF_ROLE = (
    "SELECT content FROM messages WHERE session_id = ? AND +role = ? AND content IS NOT NULL ORDER BY idx LIMIT ?"
)
HAS_ROLE = "SELECT 1 FROM messages WHERE session_id = ? AND +role = ? LIMIT 1"


def pending_after(pending: list[p.ToolCall], messages: Iterable[p.MessageInput]) -> list[p.ToolCall]:
    """The session's unanswered tool calls once `messages` are appended."""
    calls = {call.id: call for call in pending}
    for message in messages:
        if message.tool_call_id is not None:
            calls.pop(message.tool_call_id, None)
        calls.update((call.id, call) for call in message.tool_calls or [])
    return list(calls.values())


def refresh_counters(db: Database, session_id: str) -> None:
    """Recount a session's totals from its messages (after a fork or a purge)."""
    db.execute(
        "UPDATE sessions SET (message_count, turn_count, tool_call_count, prompt_tokens, completion_tokens,"
        " cache_read_tokens, cache_creation_tokens, thinking_tokens, api_calls, compacted_count, last_message_at) = ("
        " SELECT count(*), coalesce(sum(role = 'assistant' AND coalesce(content, '') <> ''), 0),"
        " coalesce(sum(coalesce(json_array_length(tool_calls), 0)), 0), coalesce(sum(prompt_tokens), 0),"
        " coalesce(sum(completion_tokens), 0), coalesce(sum(cache_read_tokens), 0),"
        " coalesce(sum(cache_creation_tokens), 0), coalesce(sum(thinking_tokens), 0), count(prompt_tokens),"
        " coalesce(sum(compacted), 0), max(created_at)"
        " FROM messages WHERE session_id = ?) WHERE id = ?",
        (session_id, session_id),
    )
    answered: list[p.MessageInput] = []
    for role, calls_json, tool_call_id in db.execute(
        "SELECT role, tool_calls, tool_call_id FROM messages WHERE session_id = ?"
        " AND (tool_calls IS NOT NULL OR tool_call_id IS NOT NULL) ORDER BY idx",
        (session_id,),
    ):
        calls = tool_calls_from_json(calls_json)
        answered.append(p.MessageInput(role=p.Role(role), tool_calls=calls, tool_call_id=tool_call_id))
    db.execute(
        "UPDATE sessions SET pending_tool_calls = ?, first_prompt = coalesce(first_prompt,"
        f" (SELECT substr(content, 1, ?) FROM ({FIRST_OF_ROLE}))) WHERE id = ?",
        (tool_calls_to_json(pending_after([], answered)), FIRST_PROMPT_CHARS, session_id, "user", 1, session_id),
    )
    fill_preview(db, session_id)


def fill_preview(db: Database, session_id: str) -> None:
    """Set a session's preview from its first user messages, unless it has one already; a
    session with no user message at all (a sub-agent started without a prompt) is named by
    its first assistant text instead, which says what it set out to do."""
    if db.scalar("SELECT preview FROM sessions WHERE id = ?", (session_id,)) is not None:
        return
    preview = _first_preview(db, session_id, "user")
    if preview is None and db.scalar(HAS_ROLE, (session_id, "user")) is None:
        preview = _first_preview(db, session_id, "assistant")
    if preview is not None:
        db.execute("UPDATE sessions SET preview = ? WHERE id = ?", (preview, session_id))


def _first_preview(db: Database, session_id: str, role: str) -> str | None:
    rows = db.execute(FIRST_OF_ROLE, (session_id, role, PREVIEW_MESSAGES))
    return preview_of(row[0] for row in rows)
