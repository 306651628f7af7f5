"""Gemini CLI chats: `~/.gemini/tmp/<project hash>/chats/session-<time>-<id>.json`, and
since the CLI's JSONL recording `session-<time>-<id>.jsonl` (a sub-agent's
`chats/<parent session id>/<session id>.jsonl`).

The JSON file is one document per session, rewritten as it grows: `{sessionId,
projectHash, startTime, lastUpdated, summary?, messages: [...]}`. The JSONL file is
appended to (packages/core/src/services/chatRecordingService.ts `loadConversationRecord`):
a first line of those metadata fields, then the messages, a later line of a message's `id`
replacing it, `{"$set": {...}}` updating the metadata and `{"$rewindTo": id}` dropping
that message and all after it; it is replayed into the same document. What becomes what:
- `user` messages: a user message (content a string or a list of `{text}` parts).
- `gemini` messages: an assistant message: content, `toolCalls` as its tool calls (`args`
  as arguments), `thoughts` (`subject: description`) in `metadata.thinking`, `tokens` as
  usage (`input` counts the cached tokens too, so prompt is input minus cached, plus the
  tool-use prompt; `thoughts` are thinking tokens), `model` as the session's model.
- Each tool call's `result` (its `functionResponse.response` output or error) becomes the
  tool message answering it; `status: error` is `metadata.isError`, any status other than
  success (`cancelled`) is kept as `metadata.status`.
- `info`, `warning` and `error` messages (the CLI's own notices) are system messages with
  `metadata.type`.
- `summary` is the title; the folder's `.project_root` (newer CLIs write it) the
  projectId; the other top-level fields go to the session's metadata; `kind: subagent`
  makes a `subagent` session, of the session its folder is named after.
A message without the fields its type needs is counted as skipped, as is a JSONL line that
is not a JSON object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import protocol as p
from ..store.imports import ImportedMessage, ImportedSession
from . import Malformed, Transcript, json_lines, read_document_or_log, stamp, take_each, text_of, token_count

FORMAT = "gemini-cli"
NOTICES = ("info", "warning", "error")
SESSION_FIELDS = ("sessionId", "startTime", "lastUpdated", "messages", "summary")
CHATS = "chats"


def wants(path: Path) -> bool:
    """The JSON files of this format a folder holds."""
    return path.suffix == ".json" and path.parent.name == CHATS and path.name.startswith("session-")


def looks_like(document: Any) -> bool:
    return isinstance(document, dict) and "projectHash" in document and isinstance(document.get("messages"), list)


def looks_like_row(row: dict[str, Any]) -> bool:
    """The first line of a JSONL chat: its metadata."""
    return "projectHash" in row and isinstance(row.get("sessionId"), str)


def is_subagent(path: Path) -> bool:
    """A sub-agent's chat, in a folder of its parent's below `chats/`."""
    return path.suffix == ".jsonl" and path.parent.parent.name == CHATS


def read(path: Path) -> Transcript:
    return read_document_or_log(path, _replayed, of_document)


def _replayed(path: Path) -> tuple[dict[str, Any], int]:
    """A JSONL chat as the JSON document it records, and the lines that are not objects."""
    metadata: dict[str, Any] = {}
    messages: dict[str, Any] = {}  # by id, in the order first written
    skipped = 0
    for row in json_lines(path):
        if row is None:
            skipped += 1
        elif isinstance(row.get("$rewindTo"), str):
            ids = list(messages)
            kept = ids[: ids.index(row["$rewindTo"])] if row["$rewindTo"] in messages else []
            messages = {key: messages[key] for key in kept}
        elif isinstance(row.get("id"), str):
            messages[row["id"]] = row
        elif isinstance(row.get("$set"), dict):
            metadata.update(row["$set"])
        elif looks_like_row(row):
            metadata.update(row)
        else:
            skipped += 1
    return {**metadata, "messages": list(messages.values())}, skipped


def of_document(path: Path, document: Any) -> Transcript:
    """The transcript in `document`, the file at `path` already parsed."""
    if not looks_like(document):
        return Transcript(skipped_lines=1)
    transcript = Transcript()
    messages: list[ImportedMessage] = []
    model = None

    def take(number: int, entry: dict[str, Any]) -> None:
        nonlocal model
        messages.extend(_messages(entry, number))
        model = entry.get("model") or model

    transcript.skipped_lines += take_each(enumerate(document["messages"]), lambda item: take(*item))
    if messages:
        transcript.sessions.append(_session(document, messages, model, path))
    return transcript


def _messages(entry: dict[str, Any], number: int) -> list[ImportedMessage]:
    kind, created_at = entry["type"], stamp(entry["timestamp"])
    client_id = str(entry.get("id") or number)
    content = text_of(entry.get("content"))
    if kind == "user":
        return [
            ImportedMessage(p.MessageInput(role=p.Role.USER, content=content, client_message_id=client_id), created_at)
        ]
    if kind in NOTICES:
        notice = p.MessageInput(
            role=p.Role.SYSTEM, content=content, metadata={"type": kind}, client_message_id=client_id
        )
        return [ImportedMessage(notice, created_at)]
    if kind != "gemini":
        raise Malformed(f"unknown message type {kind!r}")
    calls = entry.get("toolCalls") or []
    answer = p.MessageInput(
        role=p.Role.ASSISTANT,
        content=content,
        tool_calls=[p.ToolCall(id=str(c["id"]), name=str(c["name"]), arguments=c.get("args")) for c in calls] or None,
        usage=_usage(entry.get("tokens")),
        metadata=_thinking(entry.get("thoughts")),
        client_message_id=client_id,
    )
    return [ImportedMessage(answer, created_at), *(_result(call, created_at) for call in calls)]


def _result(call: dict[str, Any], answered_at: str) -> ImportedMessage:
    status = call.get("status")
    metadata: dict[str, Any] = {}
    if status == "error":
        metadata["isError"] = True
    if status not in (None, "success"):
        metadata["status"] = status
    message = p.MessageInput(
        role=p.Role.TOOL,
        content=_result_text(call),
        tool_call_id=str(call["id"]),
        metadata=metadata or None,
        client_message_id=f"{call['id']}:result",
    )
    return ImportedMessage(message, stamp(call["timestamp"]) if call.get("timestamp") else answered_at)


def _result_text(call: dict[str, Any]) -> str:
    """The tool's answer as the model saw it: each functionResponse's output or error."""
    parts = []
    for part in call.get("result") or []:
        response = (part.get("functionResponse") or {}).get("response") if isinstance(part, dict) else None
        if isinstance(response, dict):
            value = response.get("output", response.get("error", response))
            parts.append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
    if parts:
        return "\n".join(parts)
    display = call.get("resultDisplay")
    return display if isinstance(display, str) else ""


def _usage(tokens: Any) -> p.Usage | None:
    if not isinstance(tokens, dict):
        return None
    cached, prompt = token_count(tokens.get("cached")), token_count(tokens.get("input"))
    return p.Usage(
        prompt_tokens=token_count(max(0, prompt - cached) + token_count(tokens.get("tool"))),
        completion_tokens=token_count(tokens.get("output")),
        cache_read_tokens=cached,
        cache_creation_tokens=0,
        thinking_tokens=token_count(tokens.get("thoughts")),
    )


def _thinking(thoughts: Any) -> dict[str, Any] | None:
    texts = [
        ": ".join(part for part in (t.get("subject"), t.get("description")) if part)
        for t in thoughts or []
        if isinstance(t, dict)
    ]
    return {"thinking": "\n\n".join(texts)} if any(texts) else None


def _session(
    document: dict[str, Any], messages: list[ImportedMessage], model: str | None, path: Path
) -> ImportedSession:
    source_id = str(document.get("sessionId") or path.stem)
    metadata: dict[str, Any] = {"source": FORMAT, "sourceSessionId": source_id}
    metadata.update((name, value) for name, value in document.items() if name not in (*SESSION_FIELDS, "source"))
    if "source" in document:
        metadata["sourceField"] = document["source"]
    summary = document.get("summary")
    parent = path.parent.name if document.get("kind") == "subagent" and is_subagent(path) else None
    return ImportedSession(
        key=f"{FORMAT}:{source_id}",
        kind="subagent" if document.get("kind") == "subagent" else "agent",
        parent_key=f"{FORMAT}:{parent}" if parent else None,
        messages=messages,
        created_at=stamp(document.get("startTime") or messages[0].created_at),
        updated_at=stamp(document.get("lastUpdated") or messages[-1].created_at),
        project_id=_project_root(path),
        title=summary if isinstance(summary, str) else None,
        agent_name="gemini-cli",
        model=model,
        metadata=metadata,
    )


def _project_root(path: Path) -> str | None:
    """The working directory, where the CLI wrote it beside the chats folder."""
    chats = path.parent.parent if is_subagent(path) else path.parent
    marker = chats.parent / ".project_root"
    try:
        return marker.read_text().strip() or None if marker.is_file() else None
    except OSError:
        return None
