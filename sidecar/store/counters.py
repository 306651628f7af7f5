"""Recounting a session's totals from its rows, after operations that copy or remove many."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

import attrs

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
# The sessions' columns recounted from their messages' rows, in Totals' order.
COUNTED_COLUMNS = (
    "message_count, turn_count, tool_call_count, prompt_tokens, completion_tokens, cache_read_tokens,"
    " cache_creation_tokens, thinking_tokens, api_calls, compacted_count, last_message_at"
)
TOTALS_COLUMNS = f"{COUNTED_COLUMNS}, pending_tool_calls, first_prompt, preview"


@attrs.frozen
class Totals:
    """A new session's counters, first prompt and preview: what refresh_counters reads
    from its rows once they are written, tallied from the messages before (where they are
    encoded, in a reader process), so that creating a session costs no recount."""

    message_count: int = 0
    turn_count: int = 0
    tool_call_count: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    thinking_tokens: int = 0
    api_calls: int = 0
    compacted_count: int = 0
    last_message_at: str | None = None
    pending_tool_calls: str = "[]"
    first_prompt: str | None = None
    preview: str | None = None

    def values(self) -> tuple[object, ...]:
        """In TOTALS_COLUMNS' order."""
        return attrs.astuple(self, recurse=False)


def totals_of(messages: Sequence[tuple[p.MessageInput, bool, str]]) -> Totals:
    """The Totals of a session made of `messages` (each as stored, whether it is
    compacted, when it was made), in index order; null usage counts are left out of sums
    and api_calls as SQL's sum and count leave them."""
    usages = [message.usage for message, _, _ in messages if message.usage is not None]
    prompts = [u.prompt_tokens for u in usages if u.prompt_tokens is not None]
    inputs = [message for message, _, _ in messages]
    return Totals(
        message_count=len(messages),
        turn_count=sum(1 for m in inputs if m.role is p.Role.ASSISTANT and m.content),
        tool_call_count=sum(len(m.tool_calls or []) for m in inputs),
        prompt_tokens=sum(prompts),
        completion_tokens=sum(u.completion_tokens or 0 for u in usages),
        cache_read_tokens=sum(u.cache_read_tokens or 0 for u in usages),
        cache_creation_tokens=sum(u.cache_creation_tokens or 0 for u in usages),
        thinking_tokens=sum(u.thinking_tokens or 0 for u in usages),
        api_calls=len(prompts),
        compacted_count=sum(compacted for _, compacted, _ in messages),
        last_message_at=max((at for _, _, at in messages), default=None),
        pending_tool_calls=tool_calls_to_json(pending_after([], inputs)) or "[]",
        first_prompt=next((text[:FIRST_PROMPT_CHARS] for text in _contents(inputs, p.Role.USER)), None),
        preview=_preview(inputs),
    )


def _contents(messages: Iterable[p.MessageInput], role: p.Role) -> Iterator[str]:
    """The contents of the messages of `role`, as FIRST_OF_ROLE reads them."""
    return (m.content for m in messages if m.role is role and m.content is not None)


def _preview(messages: Sequence[p.MessageInput]) -> str | None:
    """fill_preview's choice, from the messages themselves."""
    preview = preview_of(itertools.islice(_contents(messages, p.Role.USER), PREVIEW_MESSAGES))
    if preview is None and not any(m.role is p.Role.USER for m in messages):
        preview = preview_of(itertools.islice(_contents(messages, p.Role.ASSISTANT), PREVIEW_MESSAGES))
    return preview


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
        f"UPDATE sessions SET ({COUNTED_COLUMNS}) = ("
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
