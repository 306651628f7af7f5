"""Continue sessions: `~/.continue/sessions/<session id>.json` (`$CONTINUE_GLOBAL_DIR`
moves `~/.continue`), beside the `sessions.json` index.

One JSON document per session (core/index.d.ts `Session`): `{sessionId, title,
workspaceDirectory, history: [{message, contextItems, toolCallStates?, reasoning?,
promptLogs?, conversationSummary?}], mode?, chatModelTitle?, usage?}`. What becomes what:
- `user`, `assistant`, `system` and `tool` messages: messages of those roles (image parts
  as `[image]`); an assistant's `toolCalls` as its tool calls (JSON arguments parsed), its
  `usage` as usage (prompt, completion, cached as cache read, cache writes as cache
  creation, reasoning as thinking tokens, as Continue reports them); a tool message
  answers its `toolCallId`, and the call's `toolCallStates` status `errored` is
  `metadata.isError` (any status but done is kept as `metadata.status`).
- `thinking` messages and an item's `reasoning.text`: `metadata.thinking` of the next
  assistant message.
- An item's `conversationSummary` is a compaction of everything up to it; `contextItems`
  are named in `metadata.contextItems`.
- Continue keeps no time per message: a message takes its item's `reasoning.startAt`
  when there is one, else the time of the one before; the session starts at its
  `dateCreated` in `sessions.json` (else the file's modification time) and was last
  updated when the file was written.
- `workspaceDirectory` (a path or a `file://` URI) is the projectId; the model is the last
  prompt log's `modelTitle`, else `chatModelTitle`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from .. import protocol as p
from ..store.imports import ImportedMessage, ImportedSession
from . import (
    Compaction,
    Transcript,
    folder_path,
    json_document,
    parsed_arguments,
    stamp_millis,
    take_each,
    text_of,
    token_count,
)

FORMAT = "continue"
INDEX = "sessions.json"
ROLES = {"user": p.Role.USER, "assistant": p.Role.ASSISTANT, "system": p.Role.SYSTEM, "tool": p.Role.TOOL}


def wants(path: Path) -> bool:
    return path.parent.name == "sessions" and path.suffix == ".json" and path.name != INDEX


def looks_like(document: Any) -> bool:
    return isinstance(document, dict) and "sessionId" in document and isinstance(document.get("history"), list)


@attrs.define
class _Session:
    at: str
    messages: list[ImportedMessage] = attrs.Factory(list)
    compactions: list[Compaction] = attrs.Factory(list)
    thinking: list[str] = attrs.Factory(list)
    statuses: dict[str, str] = attrs.Factory(dict)  # each tool call's status
    model: str | None = None
    skipped: int = 0


def read(path: Path) -> Transcript:
    return of_document(path, json_document(path))


def of_document(path: Path, document: Any) -> Transcript:
    """The transcript in `document`, the file at `path` already parsed."""
    if not looks_like(document):
        return Transcript(skipped_lines=1)
    session = _Session(_created(path, str(document["sessionId"])))
    session.skipped += take_each(enumerate(document["history"]), lambda item: _take(session, *item))
    sessions = [_imported(document, session, path)] if session.messages else []
    return Transcript(sessions, session.skipped)


def _created(path: Path, session_id: str) -> str:
    """When the session began, as the index says (milliseconds since the epoch)."""
    index = json_document(path.with_name(INDEX))
    entries = index if isinstance(index, list) else []
    started = next(
        (e.get("dateCreated") for e in entries if isinstance(e, dict) and e.get("sessionId") == session_id), None
    )
    try:
        millis = float(started) if started is not None else path.stat().st_mtime * 1000
    except (TypeError, ValueError, OSError):
        millis = path.stat().st_mtime * 1000
    return stamp_millis(millis)


def _take(session: _Session, number: int, item: dict[str, Any]) -> None:
    message = item["message"]
    role = message["role"]
    reasoning = item.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("startAt"), int | float):
        session.at = max(session.at, stamp_millis(reasoning["startAt"]))
    if isinstance(reasoning, dict) and reasoning.get("text"):
        session.thinking.append(str(reasoning["text"]))
    for log in item.get("promptLogs") or []:
        session.model = log.get("modelTitle") or session.model
    if role == "thinking":
        session.thinking.append(_text(message.get("content")))
        return
    imported = p.MessageInput(role=ROLES[role], content=_text(message.get("content")), client_message_id=str(number))
    for state in item.get("toolCallStates") or []:
        session.statuses[str(state["toolCallId"])] = str(state.get("status"))
    if role == "assistant":
        _answer(session, imported, message)
    elif role == "tool":
        imported.tool_call_id = str(message["toolCallId"])
        imported.metadata = _status(session.statuses.get(imported.tool_call_id))
    contexts = [{"name": c.get("name"), "description": c.get("description")} for c in item.get("contextItems") or []]
    if contexts:
        imported.metadata = {**(imported.metadata or {}), "contextItems": contexts}
    session.messages.append(ImportedMessage(imported, session.at))
    if item.get("conversationSummary"):
        for earlier in session.messages:
            earlier.compacted = True
        session.compactions.append((str(item["conversationSummary"]), len(session.messages) - 1, session.at))


def _answer(session: _Session, imported: p.MessageInput, message: dict[str, Any]) -> None:
    calls = [
        p.ToolCall(
            id=str(c["id"]), name=str(c["function"]["name"]), arguments=parsed_arguments(c["function"].get("arguments"))
        )
        for c in message.get("toolCalls") or []
    ]
    imported.tool_calls = calls or None
    imported.usage = _usage(message.get("usage"))
    if session.thinking:
        imported.metadata = {"thinking": "\n\n".join(session.thinking)}
        session.thinking = []


def _status(status: str | None) -> dict[str, Any] | None:
    if status in (None, "done"):
        return None
    return {"isError": True, "status": status} if status == "errored" else {"status": status}


def _text(content: Any) -> str:
    if isinstance(content, list):
        return text_of(
            [
                {"type": "image"} if isinstance(part, dict) and part.get("type") == "imageUrl" else part
                for part in content
            ]
        )
    return text_of(content)


def _usage(usage: Any) -> p.Usage | None:
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("promptTokensDetails") or {}
    completion = usage.get("completionTokensDetails") or {}
    return p.Usage(
        prompt_tokens=token_count(usage.get("promptTokens")),
        completion_tokens=token_count(usage.get("completionTokens")),
        cache_read_tokens=token_count(prompt.get("cachedTokens")),
        cache_creation_tokens=token_count(prompt.get("cacheWriteTokens")),
        thinking_tokens=token_count(completion.get("reasoningTokens")),
    )


def _imported(document: dict[str, Any], session: _Session, path: Path) -> ImportedSession:
    source_id = str(document["sessionId"])
    metadata: dict[str, Any] = {"source": FORMAT, "sourceSessionId": source_id}
    if document.get("mode"):
        metadata["mode"] = document["mode"]
    if isinstance(document.get("usage"), dict) and "totalCost" in document["usage"]:
        metadata["totalCost"] = document["usage"]["totalCost"]
    written = stamp_millis(path.stat().st_mtime * 1000)
    return ImportedSession(
        key=f"{FORMAT}:{source_id}",
        kind="agent",
        messages=session.messages,
        created_at=session.messages[0].created_at,
        updated_at=max(written, session.messages[-1].created_at),
        project_id=folder_path(document.get("workspaceDirectory")),
        title=document.get("title") if isinstance(document.get("title"), str) else None,
        agent_name="continue",
        model=session.model or document.get("chatModelTitle"),
        metadata=metadata,
        compactions=session.compactions,
    )
