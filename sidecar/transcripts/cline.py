"""Cline, Roo Code and Kilo Code tasks: `<VS Code globalStorage>/<extension>/tasks/<task id>/`.

Each task folder holds `api_conversation_history.json`, the Anthropic-style messages sent
to the model (`{role, content: string | blocks}`), and `ui_messages.json`, what the chat
panel showed (`{ts, type, say | ask, text, conversationHistoryIndex, modelInfo}`). What
becomes what:
- user messages: text blocks as a user message, except Cline's `<environment_details>`
  (kept in `metadata.environmentDetails`); a text block `[tool …] Result:` answers the
  previous assistant message's next unanswered `tool_use` and becomes that tool message,
  as does a `tool_result` block (Roo Code, Kilo Code); a result whose text says the tool
  failed (`The tool execution failed with the following error`, `[ERROR]`) or was denied
  by the user is `metadata.isError`, as `is_error` is.
- assistant messages: text as content, `tool_use` blocks as tool calls, `thinking` in
  `metadata.thinking`, `modelInfo.modelId` (the answer's, else its request's) as the model.
- Usage: the `api_req_started` UI message of the request that produced the answer
  (`tokensIn`, `tokensOut`, `cacheReads`, `cacheWrites`, `cost` into metadata); without
  one, the answer's own `metrics.tokens`.
- Times: the API history has none, so message i takes the time of the first UI message
  whose `conversationHistoryIndex` is at least i - 1 (the panel's row written as it was
  sent or received); without UI messages, the task id (milliseconds since the epoch).
- The working directory named in the first `<environment_details>` is the projectId; the
  extension folder says which agent (`cline`, `roo-code`, `kilo-code`).
"""

from __future__ import annotations

import bisect
import json
import re
from pathlib import Path
from typing import Any

import attrs

from .. import protocol as p
from ..store.imports import ImportedMessage, ImportedSession
from . import Malformed, Transcript, json_document, stamp_millis, take_each, text_of, token_count

FORMAT = "cline"
HISTORY = "api_conversation_history.json"
UI = "ui_messages.json"
AGENTS = {
    "saoudrizwan.claude-dev": "cline",
    "rooveterinaryinc.roo-cline": "roo-code",
    "kilocode.kilo-code": "kilo-code",
}
EXTENSIONS = {agent: extension for extension, agent in AGENTS.items()}
_RESULT = re.compile(r"^\[(?P<tool>[^\]\s]+)(?: for [^\]]*)?\] Result:\s*", re.DOTALL)
_CWD = re.compile(r"# Current Working Directory \((?P<cwd>[^)\n]+)\) Files")
_FAILED = ("The tool execution failed with the following error", "[ERROR]", "The user denied this operation")


def wants(path: Path) -> bool:
    return path.name == HISTORY


def looks_like(document: Any) -> bool:
    """A list of Anthropic-style messages (one malformed among them still leaves it one)."""
    return isinstance(document, list) and any(
        isinstance(m, dict) and m.get("role") in ("user", "assistant") and "content" in m for m in document[:5]
    )


@attrs.define
class _Task:
    task_id: str
    times: list[tuple[int, int]]  # (conversationHistoryIndex, ts) of the UI messages, in order
    requests: dict[int, dict[str, Any]]  # api_req_started by conversationHistoryIndex
    messages: list[ImportedMessage] = attrs.Factory(list)
    pending: list[p.ToolCall] = attrs.Factory(list)  # the last answer's calls not yet answered
    cwd: str | None = None
    model: str | None = None
    skipped: int = 0


def read(path: Path) -> Transcript:
    return of_document(path, json_document(path))


def of_document(path: Path, history: Any) -> Transcript:
    """The transcript in `history`, the file at `path` already parsed."""
    if not looks_like(history):
        return Transcript(skipped_lines=1)
    task = _task(path)
    task.skipped += take_each(enumerate(history), lambda item: _take(task, *item))
    sessions = [_session(task, path)] if task.messages else []
    return Transcript(sessions, task.skipped)


def _task(path: Path) -> _Task:
    ui = json_document(path.with_name(UI))
    rows = [row for row in ui if isinstance(row, dict)] if isinstance(ui, list) else []
    times = sorted(
        (row["conversationHistoryIndex"], row["ts"])
        for row in rows
        if isinstance(row.get("conversationHistoryIndex"), int) and isinstance(row.get("ts"), int)
    )
    requests = {
        row["conversationHistoryIndex"]: row
        for row in rows
        if row.get("say") == "api_req_started" and isinstance(row.get("conversationHistoryIndex"), int)
    }
    return _Task(path.parent.name, times, requests)


def _when(task: _Task, index: int) -> str:
    at = bisect.bisect_left(task.times, (index - 1, -1))
    if at < len(task.times):
        millis = task.times[at][1]
    elif task.times:
        millis = task.times[-1][1]
    elif task.task_id.isdigit():
        millis = int(task.task_id)
    else:
        raise Malformed("no time for the message")
    return stamp_millis(millis)


def _take(task: _Task, index: int, entry: dict[str, Any]) -> None:
    created_at = _when(task, index)
    content = entry["content"]
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    if entry["role"] == "assistant":
        _take_answer(task, index, entry, blocks, created_at)
    else:
        _take_prompt(task, index, blocks, created_at)


def _take_answer(task: _Task, index: int, entry: dict[str, Any], blocks: list[Any], created_at: str) -> None:
    texts = [b["text"] for b in blocks if b.get("type") == "text" and b.get("text", "").strip()]
    calls = [
        p.ToolCall(id=str(b["id"]), name=str(b["name"]), arguments=b.get("input"))
        for b in blocks
        if b.get("type") == "tool_use"
    ]
    thinking = [b["thinking"] for b in blocks if b.get("type") == "thinking" and b.get("thinking")]
    request = task.requests.get(index - 2)
    for info in (entry.get("modelInfo"), (request or {}).get("modelInfo")):
        task.model = (info or {}).get("modelId") or task.model
    usage, cost = _usage(request, entry.get("metrics"))
    metadata: dict[str, Any] = {"thinking": "\n\n".join(thinking)} if thinking else {}
    if cost is not None:
        metadata["cost"] = cost
    message = p.MessageInput(
        role=p.Role.ASSISTANT,
        content="\n\n".join(t.strip() for t in texts),
        tool_calls=calls or None,
        usage=usage,
        metadata=metadata or None,
        client_message_id=str(index),
    )
    task.pending = list(calls)
    task.messages.append(ImportedMessage(message, created_at))


def _take_prompt(task: _Task, index: int, blocks: list[Any], created_at: str) -> None:
    texts: list[str] = []
    environment: list[str] = []
    results = 0
    for block in blocks:
        result = _result(task, block)
        if result is not None:
            result.client_message_id = f"{index}:{results}"
            results += 1
            task.messages.append(ImportedMessage(result, created_at))
        elif block.get("type") == "text" and block["text"].lstrip().startswith("<environment_details>"):
            environment.append(block["text"])
            found = _CWD.search(block["text"])
            task.cwd = task.cwd or (found.group("cwd") if found else None)
        elif block.get("type") in ("text", "image"):
            texts.append(text_of([block]))
    if texts or not results:
        metadata = {"environmentDetails": "\n".join(environment)} if environment else None
        text = p.MessageInput(
            role=p.Role.USER, content="\n\n".join(texts), metadata=metadata, client_message_id=str(index)
        )
        task.messages.append(ImportedMessage(text, created_at))


def _result(task: _Task, block: dict[str, Any]) -> p.MessageInput | None:
    """The tool message a block is, if it answers a call; the call is then answered."""
    if block.get("type") == "tool_result":
        call_id = str(block["tool_use_id"])
        task.pending = [call for call in task.pending if call.id != call_id]
        text = text_of(block.get("content"))
        failed = bool(block.get("is_error")) or text.startswith(_FAILED)
    elif block.get("type") == "text" and task.pending and (header := _RESULT.match(block["text"])):
        call_id = task.pending.pop(0).id
        text = block["text"][header.end() :]
        failed = text.startswith(_FAILED)
    else:
        return None
    return p.MessageInput(
        role=p.Role.TOOL, content=text, tool_call_id=call_id, metadata={"isError": True} if failed else None
    )


def _usage(request: dict[str, Any] | None, metrics: Any) -> tuple[p.Usage | None, float | None]:
    """The answer's usage and cost: from its request's UI row, else its own metrics."""
    try:
        info = json.loads(request["text"]) if request else None
    except (TypeError, ValueError):
        info = None
    if isinstance(info, dict) and "tokensIn" in info:
        usage = p.Usage(
            prompt_tokens=token_count(info.get("tokensIn")),
            completion_tokens=token_count(info.get("tokensOut")),
            cache_read_tokens=token_count(info.get("cacheReads")),
            cache_creation_tokens=token_count(info.get("cacheWrites")),
            thinking_tokens=0,
        )
        cost = info.get("cost")
        return usage, float(cost) if isinstance(cost, int | float) else None
    tokens = metrics.get("tokens") if isinstance(metrics, dict) else None
    if not isinstance(tokens, dict):
        return None, None
    usage = p.Usage(
        prompt_tokens=token_count(tokens.get("prompt")),
        completion_tokens=token_count(tokens.get("completion")),
        cache_read_tokens=token_count(tokens.get("cached")),
        cache_creation_tokens=0,
        thinking_tokens=0,
    )
    return usage, None


def agent_of(path: Path) -> str:
    """Which extension's storage the task is in (Cline's own layout when none says)."""
    return next((AGENTS[part] for part in reversed(path.parts) if part in AGENTS), "cline")


def _session(task: _Task, path: Path) -> ImportedSession:
    agent = agent_of(path)
    return ImportedSession(
        key=f"{FORMAT}:{agent}:{task.task_id}",
        kind="agent",
        messages=task.messages,
        created_at=task.messages[0].created_at,
        updated_at=task.messages[-1].created_at,
        project_id=task.cwd,
        agent_name=agent,
        model=task.model,
        metadata={"source": agent, "sourceSessionId": task.task_id},
    )
