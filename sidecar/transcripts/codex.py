"""OpenAI Codex CLI rollouts: `~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`.

Each line is `{timestamp, type, payload}`. What becomes what:
- `session_meta`: the session (its id, `cwd` as projectId, CLI version, git facts).
- `response_item` `message`: a message (`developer` is our `system`); `function_call` and
  `custom_tool_call`: an assistant message with that tool call (JSON arguments parsed);
  `function_call_output` and `custom_tool_call_output`: the tool message answering it
  (the shell's `{output, metadata: {exit_code}}` unwrapped; a failure, as a non-zero exit
  code in the metadata or in the text's header, or a patch or call that failed, is
  `metadata.isError`); `reasoning` summaries: `metadata.thinking` of the next assistant
  message.
- `event_msg` `token_count`: the growth of `total_token_usage` since the last count is the
  usage of the latest assistant message (counts are repeated, so only growth is taken);
  input is split into prompt and cache-read tokens, reasoning output into thinking tokens.
- `turn_context`: the model. `compacted`: a compaction with its summary.
- Everything else (event copies of messages, ghost snapshots) is passed over.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs

from .. import protocol as p
from ..store.imports import ImportedMessage, ImportedSession
from . import Compaction, Malformed, RowReader, Taken, Transcript, read_with, stamp, text_of, token_count

FORMAT = "codex"
ROLES = {"user": p.Role.USER, "assistant": p.Role.ASSISTANT, "developer": p.Role.SYSTEM, "system": p.Role.SYSTEM}
USAGE_KEYS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")


def looks_like(row: dict[str, Any]) -> bool:
    return isinstance(row.get("payload"), dict) and row.get("type") in (
        "session_meta",
        "response_item",
        "event_msg",
        "turn_context",
        "compacted",
    )


@attrs.define
class _Rollout:
    source_id: str | None = None
    meta: dict[str, Any] = attrs.Factory(dict)
    messages: list[ImportedMessage] = attrs.Factory(list)
    compactions: list[Compaction] = attrs.Factory(list)
    model: str | None = None
    thinking: list[str] = attrs.Factory(list)
    totals: dict[str, int] = attrs.Factory(lambda: dict.fromkeys(USAGE_KEYS, 0))
    # Counted before any assistant message existed to carry it (a reasoning-only first reply).
    unassigned: dict[str, int] = attrs.Factory(lambda: dict.fromkeys(USAGE_KEYS, 0))
    first: str | None = None
    last: str | None = None
    # The latest assistant message: token counts that follow are its usage, so it (and
    # what comes after it) is kept back until a newer one starts.
    open_at: int | None = None
    taken: Taken = attrs.Factory(Taken)


class Reader(RowReader):
    """A rollout's rows, one at a time (see transcripts.Reader)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.rollout = _Rollout()

    def read_row(self, row: dict[str, Any]) -> None:
        _take(self.rollout, row)

    def take(self, *, settled: bool) -> list[ImportedSession]:
        rollout = self.rollout
        end = len(rollout.messages) if settled or rollout.open_at is None else rollout.open_at
        messages, compactions = rollout.taken.take(rollout.messages, rollout.compactions, end)
        return [_imported(rollout, messages, compactions, self.path)] if messages or compactions else []


def read(path: Path) -> Transcript:
    return read_with(Reader(path), path)


def _take(rollout: _Rollout, row: dict[str, Any]) -> None:
    kind, payload = row["type"], row["payload"]
    if not isinstance(payload, dict):
        raise Malformed("no payload")
    created_at = stamp(row["timestamp"])
    rollout.first, rollout.last = rollout.first or created_at, created_at
    if kind == "session_meta":
        rollout.source_id = str(payload["id"])
        rollout.meta = payload
    elif kind == "turn_context":
        rollout.model = payload.get("model") or rollout.model
    elif kind == "compacted":
        if rollout.messages:
            for earlier in rollout.messages:
                earlier.compacted = True
            rollout.compactions.append((str(payload["message"]), len(rollout.messages) - 1, created_at))
    elif kind == "event_msg" and payload.get("type") == "token_count":
        _take_usage(rollout, payload)
    elif kind == "response_item":
        _take_item(rollout, payload, created_at)


def _take_item(rollout: _Rollout, item: dict[str, Any], created_at: str) -> None:
    kind = item.get("type")
    if kind == "reasoning":
        rollout.thinking += [text_of([s]) for s in item.get("summary") or [] if isinstance(s, dict)]
        return
    if kind == "message":
        role = ROLES[item["role"]]
        message = p.MessageInput(role=role, content=text_of(item["content"]))
    elif kind in ("function_call", "custom_tool_call"):
        arguments = _parsed(item["arguments"]) if kind == "function_call" else item["input"]
        call = p.ToolCall(id=str(item["call_id"]), name=str(item["name"]), arguments=arguments)
        message = p.MessageInput(role=p.Role.ASSISTANT, tool_calls=[call])
    elif kind in ("function_call_output", "custom_tool_call_output"):
        output, failed = _output(item["output"])
        message = p.MessageInput(
            role=p.Role.TOOL,
            content=output,
            tool_call_id=str(item["call_id"]),
            metadata={"isError": True} if failed else None,
        )
    else:
        return
    if message.role is p.Role.ASSISTANT and rollout.thinking:
        message.metadata = {"thinking": "\n\n".join(rollout.thinking)}
        rollout.thinking = []
    message.client_message_id = f"{created_at}:{len(rollout.messages)}"
    if message.role is p.Role.ASSISTANT:
        rollout.open_at = len(rollout.messages)
    rollout.messages.append(ImportedMessage(message, created_at))
    _assign_usage(rollout)


def _parsed(arguments: Any) -> Any:
    if not isinstance(arguments, str):
        return arguments
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


def _output(output: Any) -> tuple[str, bool]:
    """A tool's output text and whether it failed."""
    parsed = _parsed(output)
    if isinstance(parsed, dict) and "output" in parsed:
        exit_code = (parsed.get("metadata") or {}).get("exit_code")
        text = text_of(parsed["output"])
        return text, exit_code not in (None, 0) or parsed.get("success") is False or failed_in_text(text)
    text = text_of(output)
    return text, failed_in_text(text)


# How Codex reports a failure in a tool output's text: a shell's non-zero exit in its
# header (`Exit code: 1` of exec, `Process exited with code 1` of unified exec), a patch
# that did not apply, a call that could not run at all.
_FAILED_HEADER = re.compile(r"^(?:Exit code: |Process exited with code )(-?\d+)\s*$", re.MULTILINE)
_FAILED_CALL = (
    "apply_patch verification failed",
    "execution error:",
    "failed to parse function arguments",
)


def failed_in_text(text: str) -> bool:
    if text.startswith(_FAILED_CALL):
        return True
    header = text.partition("\nOutput:")[0]  # the command's own output may say anything
    return any(int(code.group(1)) != 0 for code in _FAILED_HEADER.finditer(header))


def _take_usage(rollout: _Rollout, payload: dict[str, Any]) -> None:
    info = payload.get("info")
    if not isinstance(info, dict) or not isinstance(info.get("total_token_usage"), dict):
        return  # rate limits only
    total = {key: token_count(info["total_token_usage"].get(key)) for key in USAGE_KEYS}
    for key in USAGE_KEYS:
        rollout.unassigned[key] += max(0, total[key] - rollout.totals[key])
    rollout.totals = total
    _assign_usage(rollout)


def _assign_usage(rollout: _Rollout) -> None:
    """Add the usage counted so far to the latest assistant message, if there is one."""
    growth = rollout.unassigned
    latest = next((m for m in reversed(rollout.messages) if m.message.role is p.Role.ASSISTANT), None)
    # Already written (live capture, after a long tool run): it waits for the next message.
    if latest is None or latest.written or not any(growth.values()):
        return
    target = latest.message
    rollout.unassigned = dict.fromkeys(USAGE_KEYS, 0)
    usage = target.usage or p.Usage(
        prompt_tokens=0, completion_tokens=0, cache_read_tokens=0, cache_creation_tokens=0, thinking_tokens=0
    )
    target.usage = p.Usage(
        prompt_tokens=usage.prompt_tokens + max(0, growth["input_tokens"] - growth["cached_input_tokens"]),
        completion_tokens=usage.completion_tokens + growth["output_tokens"],
        cache_read_tokens=usage.cache_read_tokens + growth["cached_input_tokens"],
        cache_creation_tokens=usage.cache_creation_tokens,
        thinking_tokens=usage.thinking_tokens + growth["reasoning_output_tokens"],
    )


def _imported(
    rollout: _Rollout, messages: list[ImportedMessage], compactions: list[Compaction], path: Path
) -> ImportedSession:
    source_id = rollout.source_id or path.stem
    meta = rollout.meta
    metadata: dict[str, Any] = {"source": FORMAT, "sourceSessionId": source_id}
    for name in ("cli_version", "originator", "model_provider", "git"):
        if meta.get(name) is not None:
            metadata[name] = meta[name]
    assert rollout.first is not None and rollout.last is not None
    return ImportedSession(
        key=f"{FORMAT}:{source_id}",
        kind="agent",
        messages=messages,
        created_at=rollout.first,
        updated_at=rollout.last,
        project_id=meta.get("cwd"),
        agent_name="codex",
        model=rollout.model,
        metadata=metadata,
        compactions=compactions,
    )
