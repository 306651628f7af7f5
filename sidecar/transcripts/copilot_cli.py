"""GitHub Copilot CLI sessions: `~/.copilot/session-state/<session id>/events.jsonl` (older
CLIs: `~/.copilot/session-state/<session id>.jsonl`); VS Code's Copilot agent writes the
same events to `workspaceStorage/<hash>/GitHub.copilot-chat/transcripts/<session id>.jsonl`.

Each line is an event `{type, data, id, timestamp, parentId}`, appended as the session
runs, so the file is followed live as Claude Code's is. What becomes what:
- `session.start`: the session (`sessionId`, `startTime`, `context.cwd` as projectId; the
  CLI version, producer and the git facts of `context` in metadata).
- `user.message`: a user message (`content`).
- `assistant.message`: an assistant message: `content`, `toolRequests` as its tool calls
  (JSON arguments parsed), `reasoningText` in `metadata.thinking`, `outputTokens` as its
  completion tokens.
- `tool.execution_complete`: the tool message answering its `toolCallId`: the result's
  `content` (or `text_result_for_llm`), else the error's message; `success: false`, an
  `error` or a `result_type` other than success is `metadata.isError`.
- `session.start`'s `selectedModel`, `session.model_change` (`newModel`) and a completed
  tool's `model`: the model.
- Other events (turn starts and ends, deltas, tool starts already named by the request)
  are passed over.
- A VS Code transcript whose session VS Code also keeps in `chatSessions/` is left to the
  copilot-chat reader, which reads more of it, so that the session is imported once.
An event without the fields its type needs is counted as skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from .. import protocol as p
from ..store.imports import ImportedMessage, ImportedSession
from . import (
    Malformed,
    RowReader,
    Taken,
    Transcript,
    copilot_chat,
    folder_path,
    json_document,
    mapping,
    parsed_arguments,
    read_with,
    stamp,
    text_of,
    token_count,
)

FORMAT = "copilot-cli"
EVENTS = (
    "session.start",
    "session.model_change",
    "user.message",
    "assistant.message",
    "assistant.turn_start",
    "assistant.turn_end",
    "tool.execution_start",
    "tool.execution_complete",
)
GIT_FACTS = ("gitRoot", "branch", "headCommit", "repository")
VSCODE_EXTENSION = "GitHub.copilot-chat"  # its folder in a workspace's storage


def looks_like(row: dict[str, Any]) -> bool:
    return row.get("type") in EVENTS and isinstance(row.get("data"), dict)


@attrs.define
class _Events:
    source_id: str | None = None
    start: dict[str, Any] = attrs.Factory(dict)
    messages: list[ImportedMessage] = attrs.Factory(list)
    model: str | None = None
    first: str | None = None
    last: str | None = None
    taken: Taken = attrs.Factory(Taken)


class Reader(RowReader):
    """A session's events, one at a time (see transcripts.Reader)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.events = _Events()

    def read_row(self, row: dict[str, Any]) -> None:
        _take(self.events, row)

    def take(self, *, settled: bool) -> list[ImportedSession]:
        if _in_chat_sessions(self.path, self.events.source_id):
            return []
        # Every event is whole when written: nothing is kept back for later rows.
        messages, _ = self.events.taken.take(self.events.messages, [], len(self.events.messages))
        return [_imported(self.events, messages, self.path)] if messages else []


def read(path: Path) -> Transcript:
    return read_with(Reader(path), path)


def _take(events: _Events, row: dict[str, Any]) -> None:
    kind, data = row["type"], row["data"]
    if not isinstance(data, dict):
        raise Malformed("no data")
    created_at = stamp(row["timestamp"])
    events.first, events.last = events.first or created_at, created_at
    client_id = str(row.get("id") or f"{created_at}:{len(events.messages)}")
    if kind == "session.start":
        events.source_id = str(data["sessionId"])
        events.start = data
        events.model = data.get("selectedModel") or events.model
        events.first = stamp(data["startTime"]) if data.get("startTime") else events.first
    elif kind == "session.model_change":
        events.model = str(data["newModel"])
    elif kind == "user.message":
        message = p.MessageInput(role=p.Role.USER, content=text_of(data["content"]), client_message_id=client_id)
        events.messages.append(ImportedMessage(message, created_at))
    elif kind == "assistant.message":
        events.messages.append(ImportedMessage(_answer(data, client_id), created_at))
    elif kind == "tool.execution_complete":
        events.model = data.get("model") or events.model
        events.messages.append(ImportedMessage(_result(data, client_id), created_at))


def _answer(data: dict[str, Any], client_id: str) -> p.MessageInput:
    calls = [
        p.ToolCall(id=str(r["toolCallId"]), name=str(r["name"]), arguments=parsed_arguments(r.get("arguments")))
        for r in data.get("toolRequests") or []
    ]
    reasoning = data.get("reasoningText")
    usage = None
    if data.get("outputTokens") is not None:
        usage = p.Usage(
            prompt_tokens=0,
            completion_tokens=token_count(data["outputTokens"]),
            cache_read_tokens=0,
            cache_creation_tokens=0,
            thinking_tokens=0,
        )
    return p.MessageInput(
        role=p.Role.ASSISTANT,
        content=text_of(data.get("content")),
        tool_calls=calls or None,
        usage=usage,
        metadata={"thinking": reasoning} if isinstance(reasoning, str) and reasoning else None,
        client_message_id=client_id,
    )


def _result(data: dict[str, Any], client_id: str) -> p.MessageInput:
    result = mapping(data.get("result"))
    error = data.get("error")
    text = result.get("content", result.get("text_result_for_llm"))
    if text is None and isinstance(error, dict):
        text = error.get("message")
    failed = data.get("success") is False or bool(error) or result.get("result_type", "success") != "success"
    return p.MessageInput(
        role=p.Role.TOOL,
        content=text_of(text),
        tool_call_id=str(data["toolCallId"]),
        metadata={"isError": True} if failed else None,
        client_message_id=client_id,
    )


def _imported(events: _Events, messages: list[ImportedMessage], path: Path) -> ImportedSession:
    source_id = events.source_id or (path.parent.name if path.name == "events.jsonl" else path.stem)
    start = events.start
    context = mapping(start.get("context"))
    metadata: dict[str, Any] = {"source": FORMAT, "sourceSessionId": source_id}
    for name in ("producer", "copilotVersion", "vscodeVersion"):
        if start.get(name) is not None:
            metadata[name] = start[name]
    metadata.update((name, context[name]) for name in GIT_FACTS if context.get(name) is not None)
    assert events.first is not None and events.last is not None
    return ImportedSession(
        key=f"{FORMAT}:{source_id}",
        kind="agent",
        messages=messages,
        created_at=min(events.first, messages[0].created_at),
        updated_at=events.last,
        project_id=context.get("cwd") or _workspace_folder(path),
        agent_name="copilot-chat" if "vscodeVersion" in start else "copilot-cli",
        model=events.model,
        metadata=metadata,
    )


def _workspace(path: Path) -> Path | None:
    """The VS Code workspace storage folder holding a Copilot agent transcript, if it is one."""
    in_storage = path.parent.name == "transcripts" and path.parent.parent.name == VSCODE_EXTENSION
    return path.parents[2] if in_storage else None


def _in_chat_sessions(path: Path, source_id: str | None) -> bool:
    """Whether VS Code also keeps this session in its `chatSessions/`, which the
    copilot-chat reader reads with more (tool results, the model): imported once, from there."""
    workspace = _workspace(path)
    sessions = workspace / copilot_chat.FOLDERS[0] if workspace else None
    return sessions is not None and any((sessions / f"{source_id}{suffix}").is_file() for suffix in (".json", ".jsonl"))


def _workspace_folder(path: Path) -> str | None:
    """The folder of the VS Code workspace whose storage holds the transcript."""
    workspace_storage = _workspace(path)
    if workspace_storage is None:
        return None
    workspace = json_document(workspace_storage / "workspace.json")
    return folder_path(workspace.get("folder")) if isinstance(workspace, dict) else None
