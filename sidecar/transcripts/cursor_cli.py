"""Cursor's agent transcripts (the Cursor CLI, `cursor-agent`, and the editor's agent):
`~/.cursor/projects/<project slug>/agent-transcripts/<session id>.jsonl`.

Each line is one message as the model saw it, `{role, message: {content: [blocks]}}`,
Anthropic-style blocks: `text` (a user's wrapped in `<user_query>`, unwrapped here) and
`tool_use` (`name`, `input`). What becomes what:
- `user` rows: user messages; `assistant` rows: assistant messages whose `tool_use` blocks
  are their tool calls (ids made of the line and block numbers, as the file has none).
- The file keeps no times, no results, no usage and no model: every message takes the
  file's modification time; the project slug (the folder's path with `-` for `/`) is kept
  in `metadata.projectSlug`.
A row without a role or content is counted as skipped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .. import protocol as p
from ..store.imports import ImportedMessage, ImportedSession
from . import Malformed, Transcript, json_lines, stamp_millis, take_each, text_of

FORMAT = "cursor-cli"
ROLES = {"user": p.Role.USER, "assistant": p.Role.ASSISTANT}
_QUERY = re.compile(r"^\s*<user_query>\s*(?P<query>.*?)\s*</user_query>\s*$", re.DOTALL)


def looks_like(row: dict[str, Any]) -> bool:
    return row.get("role") in ROLES and isinstance(row.get("message"), dict) and "type" not in row


def read(path: Path) -> Transcript:
    written = stamp_millis(path.stat().st_mtime * 1000)
    transcript = Transcript()
    messages: list[ImportedMessage] = []

    def take(line: int, row: dict[str, Any] | None) -> None:
        if row is None:
            raise Malformed("not an object")
        messages.append(ImportedMessage(_message(line, row), written))

    transcript.skipped_lines += take_each(enumerate(json_lines(path)), lambda item: take(*item))
    if messages:
        transcript.sessions.append(_session(path, messages, written))
    return transcript


def _message(line: int, row: dict[str, Any]) -> p.MessageInput:
    role = ROLES[row["role"]]
    blocks = row["message"]["content"]
    blocks = blocks if isinstance(blocks, list) else [{"type": "text", "text": blocks}]
    text = text_of([b for b in blocks if isinstance(b, dict) and b.get("type") == "text"])
    if role is p.Role.USER and (query := _QUERY.match(text)):
        text = query.group("query")
    calls = [
        p.ToolCall(id=f"{line}:{number}", name=str(b["name"]), arguments=b.get("input"))
        for number, b in enumerate(blocks)
        if isinstance(b, dict) and b.get("type") == "tool_use"
    ]
    return p.MessageInput(role=role, content=text, tool_calls=calls or None, client_message_id=str(line))


def _session(path: Path, messages: list[ImportedMessage], written: str) -> ImportedSession:
    source_id = path.stem
    metadata: dict[str, Any] = {"source": FORMAT, "sourceSessionId": source_id}
    project = path.parent.parent if path.parent.name == "agent-transcripts" else None
    if project is not None:
        metadata["projectSlug"] = project.name
    return ImportedSession(
        key=f"{FORMAT}:{source_id}",
        kind="agent",
        messages=messages,
        created_at=written,
        updated_at=written,
        agent_name="cursor",
        metadata=metadata,
    )
