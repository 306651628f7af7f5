"""Rows to protocol records: the one place that knows both the columns and the contract."""

from __future__ import annotations

import functools
import json
import math
import os
from datetime import UTC, datetime
from typing import Any

from .. import protocol as p
from .database import Row

SESSION_COLUMNS = (
    "id, project_id, kind, title, agent_name, model, parent_session_id, forked_from_message_id, "
    "created_at, updated_at, ended_at, message_count, turn_count, tool_call_count, prompt_tokens, "
    "completion_tokens, cache_read_tokens, cache_creation_tokens, thinking_tokens, api_calls, metadata, "
    "preview, last_message_at"
)
MESSAGE_COLUMNS = (
    "id, session_id, idx, role, content, code_excerpt, tool_calls, tool_call_id, agent_name, "
    "prompt_tokens, completion_tokens, cache_read_tokens, cache_creation_tokens, thinking_tokens, "
    "metadata, client_message_id, compacted, created_at, model, cache_creation_1h_tokens"
)
EDIT_COLUMNS = "id, session_id, message_id, file_path, kind, diff, new_path, created_at"
USAGE_COLUMNS = ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_creation_tokens", "thinking_tokens")


class _BufferedRandomness:
    """Random bytes for ULIDs, drawn from the OS 40 KB at a time: one os.urandom call per
    id was ~10% of an import."""

    CHUNK = 10 * 4096

    def __init__(self) -> None:
        self.pool, self.offset = b"", 0
        os.register_at_fork(after_in_child=self.clear)  # a forked child must not repeat ours

    def clear(self) -> None:
        self.pool, self.offset = b"", 0

    def __call__(self, _timestamp: int) -> bytes:
        if self.offset + 10 > len(self.pool):
            self.pool, self.offset = os.urandom(self.CHUNK), 0
        self.offset += 10
        return self.pool[self.offset - 10 : self.offset]


@functools.cache
def _ids() -> Any:
    """The one generator, made at the first id: python-ulid (with the importlib.metadata it
    reads its version with) is 1.4 MB of a sidecar's memory, which one that only reads
    never needs."""
    from ulid import ULIDGenerator

    return ULIDGenerator(randomness=_BufferedRandomness())


def new_id(at: str | None = None) -> str:
    """A ULID; for a record made at an earlier time `at` (an import), one of that time."""
    if at is None:
        return str(_ids().generate())
    return str(_ids().generate(datetime.fromisoformat(at.replace("Z", "+00:00"))))


def now() -> str:
    """ISO 8601 UTC with milliseconds, as the contract writes times."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def session_from_row(row: Row) -> p.Session:
    return p.Session(
        id=row[0],
        project_id=row[1],
        kind=row[2],
        title=row[3],
        preview=row[21],
        agent_name=row[4],
        model=row[5],
        parent_session_id=row[6],
        forked_from_message_id=row[7],
        created_at=row[8],
        updated_at=row[9],
        ended_at=row[10],
        last_message_at=row[22],
        message_count=row[11],
        turn_count=row[12],
        tool_call_count=row[13],
        usage=session_usage(row[14:20]),
        metadata=json.loads(row[20]),
    )


def session_usage(values: Row) -> p.SessionUsage:
    """Summed usage from columns in USAGE_COLUMNS order, then the api-call count."""
    return p.SessionUsage(**dict(zip((*USAGE_COLUMNS, "api_calls"), values, strict=True)))


def usage_from_columns(values: Row, one_hour_writes: int | None) -> p.Usage | None:
    """A message's usage from its USAGE_COLUMNS and cache_creation_1h_tokens; none recorded
    when all are NULL."""
    if all(value is None for value in values):
        return None
    counts = dict(zip(USAGE_COLUMNS, (value or 0 for value in values), strict=True))
    return p.Usage(**counts, cache_creation1h_tokens=one_hour_writes or 0)


def tool_calls_from_json(text: str | None) -> list[p.ToolCall] | None:
    if text is None:
        return None
    return [p.ToolCall(id=c["id"], name=c["name"], arguments=c.get("arguments")) for c in json.loads(text)]


def tool_calls_to_json(calls: list[p.ToolCall] | None) -> str | None:
    if calls is None:
        return None
    return to_json([{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls])


def message_from_row(row: Row) -> p.Message:
    return p.Message(
        id=row[0],
        session_id=row[1],
        index=row[2],
        role=p.Role(row[3]),
        content=row[4],
        code_excerpt=row[5],
        tool_calls=tool_calls_from_json(row[6]),
        tool_call_id=row[7],
        agent_name=row[8],
        model=row[18],
        usage=usage_from_columns(row[9:14], row[19]),
        metadata=from_json(row[14]),
        client_message_id=row[15],
        compacted=bool(row[16]),
        created_at=row[17],
    )


def edit_from_row(row: Row) -> p.Edit:
    return p.Edit(
        id=row[0],
        session_id=row[1],
        message_id=row[2],
        file_path=row[3],
        kind=p.EditKind(row[4]),
        diff=row[5],
        new_path=row[6],
        created_at=row[7],
    )


def estimated_tokens(message: p.MessageInput, tool_calls_json: str | None) -> int:
    """A message's size in tokens: its recorded completionTokens, else ceil(chars / 4)
    (its tool calls counted as their JSON, which the caller has made already)."""
    if message.usage is not None and message.usage.completion_tokens > 0:
        return message.usage.completion_tokens
    chars = len(message.content or "") + len(message.code_excerpt or "") + len(tool_calls_json or "")
    return math.ceil(chars / 4)
