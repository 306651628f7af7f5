"""GitHub Copilot Chat in VS Code (and its forks): `<User>/workspaceStorage/<hash>/chatSessions/`
and, for windows without a folder, `<User>/globalStorage/emptyWindowChatSessions/`.

A session is `<session id>.json`, VS Code's `ISerializableChatData` (chatModel.ts: `{version,
sessionId, creationDate, lastMessageDate?, customTitle?, requesterUsername,
responderUsername, requests: [...]}`), or, in newer VS Code, `<session id>.jsonl`: an
append-only log of that same object (objectMutationLog.ts: a line `{kind: 0, v}` is the
whole object, `{kind: 1, k: path, v}` sets the value at a path, `{kind: 2, k, v?, i?}`
cuts the array at `i` and pushes `v`, `{kind: 3, k}` deletes), replayed here to the same
object. What becomes what, per request:
- `message.text` is the user message, at the request's `timestamp` (older sessions have
  none: the time before, from the session's `creationDate`); the answer at
  `modelState.completedAt`, else the timestamp plus `result.timings.totalElapsed`.
- The answer: Copilot's `result.metadata.toolCallRounds` when it kept them (each round an
  assistant message with the round's `response` text, its `toolCalls` with their JSON
  arguments and `thinking`), each call answered by a tool message with its
  `toolCallResults` text (a result that says `ERROR while calling tool` is
  `metadata.isError`); otherwise the `response` parts' markdown as one assistant message,
  with a tool call per `toolInvocationSerialized` part (`resultDetails.isError` kept as
  `metadata.isError`), whose past-tense message is its result.
- `usage` (chatService.ts `IChatUsage`: `promptTokens`, `completionTokens`,
  `copilotCredits`), else `result.metadata` `promptTokens` / `outputTokens`, is the usage of
  the request's last answer (credits in its metadata); `result.errorDetails` is kept as
  `metadata.error` of the answer.
- The model that served the request (`usage.actualModelId`, `resolvedModel`), else
  `modelId` without its vendor prefix, is the model; the agent's id goes to the answer's
  metadata.
- `result.metadata.summary` (`{toolCallRoundId, text}`, copilot-chat's conversation
  summary) is a compaction of everything up to that round.
- `customTitle` is the title; the workspace's `workspace.json` `folder` beside
  `chatSessions/` the projectId.
A request without a message, or a log line that is not an object, is counted as skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from .. import protocol as p
from ..store.imports import ImportedMessage, ImportedSession
from . import (
    Compaction,
    Malformed,
    Transcript,
    folder_path,
    json_document,
    json_lines,
    mapping,
    parsed_arguments,
    read_document_or_log,
    stamp_millis,
    take_each,
    text_of,
    token_count,
)

FORMAT = "copilot-chat"
FOLDERS = ("chatSessions", "emptyWindowChatSessions")
TOOL_ERROR = "ERROR while calling tool"  # copilot-chat's text for a call that raised
SESSION_FIELDS = ("requests", "sessionId", "creationDate", "lastMessageDate", "customTitle", "inputState")
# Log entry kinds (objectMutationLog.ts EntryKind).
INITIAL, SET, PUSH, DELETE = 0, 1, 2, 3


def wants(path: Path) -> bool:
    return path.suffix == ".json" and path.parent.name in FOLDERS


def looks_like(document: Any) -> bool:
    return isinstance(document, dict) and "responderUsername" in document and isinstance(document.get("requests"), list)


def looks_like_row(row: dict[str, Any]) -> bool:
    """The first line of a `.jsonl` session log: the whole session object."""
    return row.get("kind") == INITIAL and isinstance(row.get("v"), dict) and "requests" in row["v"]


def read(path: Path) -> Transcript:
    return read_document_or_log(path, replay, of_document)


def replay(path: Path) -> tuple[Any, int]:
    """The object a session log describes, and how many of its lines could not be applied."""
    state: Any = None

    def apply(row: dict[str, Any] | None) -> None:
        nonlocal state
        if row is None:
            raise Malformed("not an object")
        state = _apply(state, row)

    skipped = take_each(json_lines(path), apply)
    return state, skipped


def _apply(state: Any, entry: dict[str, Any]) -> Any:
    kind = entry["kind"]
    if kind == INITIAL:
        return entry["v"]
    if state is None:
        raise Malformed("no initial entry")
    *parents, last = entry["k"]
    target = state
    for step in parents:
        target = target[step]
    if kind == SET:
        target[last] = entry.get("v")
    elif kind == DELETE:
        target.pop(last, None)
    elif kind == PUSH:
        items = (target.get(last) or []) if isinstance(target, dict) else target[last]
        if isinstance(entry.get("i"), int):
            del items[entry["i"] :]
        items += entry.get("v") or []
        target[last] = items
    else:
        raise Malformed(f"unknown entry kind {kind!r}")
    return state


@attrs.define
class _Chat:
    at: str  # the latest time read: that of a request that has none (older sessions)
    messages: list[ImportedMessage] = attrs.Factory(list)
    compactions: list[Compaction] = attrs.Factory(list)
    model: str | None = None
    skipped: int = 0


def of_document(path: Path, document: Any) -> Transcript:
    """The transcript in `document`, the file at `path` already parsed."""
    if not looks_like(document):
        return Transcript(skipped_lines=1)
    created = document.get("creationDate")
    chat = _Chat(stamp_millis(created if isinstance(created, int | float) else path.stat().st_mtime * 1000))
    chat.skipped += take_each(enumerate(document["requests"]), lambda item: _take(chat, *item))
    sessions = [_session(document, chat, path)] if chat.messages else []
    return Transcript(sessions, chat.skipped)


def _take(chat: _Chat, number: int, request: dict[str, Any]) -> None:
    request_id = str(request.get("requestId") or number)
    message = request["message"]
    text = message if isinstance(message, str) else message["text"]
    if not isinstance(text, str):
        raise Malformed("no message text")
    asked = request.get("timestamp")
    asked_at = chat.at = stamp_millis(asked) if isinstance(asked, int | float) else chat.at
    result = mapping(request.get("result"))
    metadata = mapping(result.get("metadata"))
    chat.model = _model(request, metadata) or chat.model
    prompt = p.MessageInput(role=p.Role.USER, content=text, client_message_id=request_id)
    answered_at = chat.at = _answered_at(request, result, asked) or asked_at
    rounds = metadata.get("toolCallRounds")
    if isinstance(rounds, list) and rounds:
        replies = _rounds(request_id, rounds, metadata.get("toolCallResults") or {})
    else:
        replies = _response(request_id, request.get("response") or [])
    answers = [reply for reply in replies if reply.role is p.Role.ASSISTANT]
    if answers:
        answers[-1].usage = _usage(request.get("usage"), metadata)
        answers[-1].metadata = {**(answers[-1].metadata or {}), **_answer_facts(request, result)} or None
    chat.messages.append(ImportedMessage(prompt, asked_at))
    chat.messages += [ImportedMessage(reply, answered_at) for reply in replies]
    summary = mapping(metadata.get("summary"))
    if isinstance(summary.get("text"), str) and summary["text"]:
        _compact(chat, summary, request_id, rounds if isinstance(rounds, list) else [])


def _compact(chat: _Chat, summary: dict[str, Any], request_id: str, rounds: list[Any]) -> None:
    """Copilot summarised the conversation at one of this request's rounds: everything up to
    that round (its answer and results included) is compacted under the summary."""
    through = len(chat.messages) - 1
    for number, round_ in enumerate(rounds):
        if isinstance(round_, dict) and round_.get("id") == summary.get("toolCallRoundId"):
            ours = {f"{request_id}:{number}"} | {f"{c.get('id')}:result" for c in round_.get("toolCalls") or []}
            through = max(n for n, m in enumerate(chat.messages) if m.message.client_message_id in ours)
    for earlier in chat.messages[: through + 1]:
        earlier.compacted = True
    chat.compactions.append((summary["text"], through, chat.messages[through].created_at))


def _rounds(request_id: str, rounds: list[Any], results: dict[str, Any]) -> list[p.MessageInput]:
    replies = []
    for index, round_ in enumerate(rounds):
        calls = [
            p.ToolCall(id=str(c["id"]), name=str(c["name"]), arguments=parsed_arguments(c.get("arguments")))
            for c in round_.get("toolCalls") or []
        ]
        thinking = _thinking(round_.get("thinking"))
        replies.append(
            p.MessageInput(
                role=p.Role.ASSISTANT,
                content=str(round_.get("response") or ""),
                tool_calls=calls or None,
                metadata={"thinking": thinking} if thinking else None,
                client_message_id=f"{request_id}:{index}",
            )
        )
        for call in calls:
            if call.id in results:
                output = _result_text(results[call.id])
                replies.append(
                    p.MessageInput(
                        role=p.Role.TOOL,
                        content=output,
                        tool_call_id=call.id,
                        metadata={"isError": True} if output.startswith(TOOL_ERROR) else None,
                        client_message_id=f"{call.id}:result",
                    )
                )
    return replies


def _response(request_id: str, parts: list[Any]) -> list[p.MessageInput]:
    """The answer from the parts the chat panel showed (no rounds were kept)."""
    texts: list[str] = []
    calls: list[p.ToolCall] = []
    results: list[p.MessageInput] = []
    thinking: list[str] = []
    for part in parts:
        kind = part.get("kind")
        if kind in (None, "markdownContent"):
            texts.append(_markdown(part.get("content", part)))
        elif kind == "inlineReference":
            texts.append(_reference_name(part.get("inlineReference")))
        elif kind == "thinking":
            thinking.append(text_of(part.get("value")))
        elif kind == "toolInvocationSerialized":
            call_id = str(part.get("toolCallId") or f"{request_id}:{len(calls)}")
            calls.append(p.ToolCall(id=call_id, name=str(part.get("toolId") or "tool"), arguments=None))
            details = part.get("resultDetails")
            failed = isinstance(details, dict) and bool(details.get("isError"))
            results.append(
                p.MessageInput(
                    role=p.Role.TOOL,
                    content=_markdown(part.get("pastTenseMessage") or part.get("invocationMessage")),
                    tool_call_id=call_id,
                    metadata={"isError": True} if failed else None,
                    client_message_id=f"{call_id}:result",
                )
            )
    answer = p.MessageInput(
        role=p.Role.ASSISTANT,
        content="".join(texts),
        tool_calls=calls or None,
        metadata={"thinking": "\n\n".join(t for t in thinking if t)} if any(thinking) else None,
        client_message_id=f"{request_id}:answer",
    )
    return [answer, *results]


def _markdown(value: Any) -> str:
    """A markdown string as VS Code keeps it: text, or `{value}`."""
    if isinstance(value, dict):
        value = value.get("value")
    return value if isinstance(value, str) else ""


def _reference_name(reference: Any) -> str:
    if not isinstance(reference, dict):
        return ""
    target = reference.get("path") or reference.get("name") or (reference.get("uri") or {}).get("path") or ""
    return f"`{str(target).rsplit('/', 1)[-1]}`" if target else ""


def _result_text(result: Any) -> str:
    """A tool result's text: each content part's `value`, a string or a rendered prompt tree."""
    if not isinstance(result, dict):
        return ""
    return "".join(_node_text(part.get("value")) for part in result.get("content") or [] if isinstance(part, dict))


def _node_text(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "".join(_node_text(child) for child in node)
    if not isinstance(node, dict):
        return ""
    if isinstance(node.get("text"), str):
        return str(node["text"])
    return _node_text(node.get("node") or node.get("children") or [])


def _thinking(thinking: Any) -> str:
    if isinstance(thinking, dict):
        return text_of(thinking.get("text"))
    return thinking if isinstance(thinking, str) else ""


def _model(request: dict[str, Any], metadata: dict[str, Any]) -> str | None:
    resolved = mapping(request.get("usage")).get("actualModelId") or metadata.get("resolvedModel")
    if isinstance(resolved, str) and resolved:
        return resolved
    model = request.get("modelId")
    return model.split("/", 1)[-1] if isinstance(model, str) and model else None


def _answered_at(request: dict[str, Any], result: dict[str, Any], asked: Any) -> str | None:
    state = request.get("modelState")
    if isinstance(state, dict) and isinstance(state.get("completedAt"), int | float):
        return stamp_millis(state["completedAt"])
    elapsed = (result.get("timings") or {}).get("totalElapsed")
    timed = isinstance(elapsed, int | float) and isinstance(asked, int | float)
    return stamp_millis(asked + elapsed) if timed else None


def _usage(usage: Any, metadata: dict[str, Any]) -> p.Usage | None:
    if isinstance(usage, dict):
        prompt, completion = usage.get("promptTokens"), usage.get("completionTokens")
    else:
        prompt, completion = metadata.get("promptTokens"), metadata.get("outputTokens")
    if prompt is None and completion is None:
        return None
    return p.Usage(
        prompt_tokens=token_count(prompt),
        completion_tokens=token_count(completion),
        cache_read_tokens=0,
        cache_creation_tokens=0,
        thinking_tokens=0,
    )


def _answer_facts(request: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    agent = request.get("agent")
    if isinstance(agent, dict) and agent.get("id"):
        facts["agent"] = agent["id"]
    errors = result.get("errorDetails")
    if isinstance(errors, dict) and errors.get("message"):
        facts["error"] = errors["message"]
    if request.get("isCanceled"):
        facts["canceled"] = True
    credits = mapping(request.get("usage")).get("copilotCredits")
    if isinstance(credits, int | float):
        facts["copilotCredits"] = credits
    return facts


def _session(document: dict[str, Any], chat: _Chat, path: Path) -> ImportedSession:
    source_id = str(document.get("sessionId") or path.stem)
    metadata: dict[str, Any] = {"source": FORMAT, "sourceSessionId": source_id}
    metadata.update(
        (name, value)
        for name, value in document.items()
        if name not in SESSION_FIELDS and isinstance(value, str | int | float | bool)
    )
    created = document.get("creationDate")
    updated = document.get("lastMessageDate")
    title = document.get("customTitle")
    return ImportedSession(
        key=f"{FORMAT}:{source_id}",
        kind="agent",
        messages=chat.messages,
        created_at=stamp_millis(created) if isinstance(created, int | float) else chat.messages[0].created_at,
        updated_at=max(stamp_millis(updated) if isinstance(updated, int | float) else "", chat.messages[-1].created_at),
        project_id=_workspace_folder(path),
        title=title if isinstance(title, str) else None,
        agent_name="copilot-chat",
        model=chat.model,
        metadata=metadata,
        compactions=chat.compactions,
    )


def _workspace_folder(path: Path) -> str | None:
    """The folder of the workspace whose storage holds the session (none for empty windows)."""
    workspace = json_document(path.parent.parent / "workspace.json") if path.parent.name == FOLDERS[0] else None
    return folder_path(workspace.get("folder")) if isinstance(workspace, dict) else None
