"""Cursor's chats (composers): `<Cursor User>/globalStorage/state.vscdb`, a SQLite file Cursor
keeps open while it runs.

Its `cursorDiskKV` table holds `composerData:<composer id>` rows (`{composerId, name,
createdAt, lastUpdatedAt, status, modelConfig {modelName}, fullConversationHeadersOnly:
[{bubbleId, type}]}`; older ones inline `conversation: [bubble…]`) and one
`bubbleId:<composer id>:<bubble id>` row per message (`{type, bubbleId, text, createdAt,
thinking {text}, tokenCount {inputTokens, outputTokens}, modelInfo {modelName},
toolFormerData {name, toolCallId, status, rawArgs | params, result, error}}`). What becomes
what:
- `type: 1` bubbles: user messages; `type: 2`: assistant messages, with `thinking` in
  `metadata.thinking`, `tokenCount` as usage (input as prompt, output as completion) and
  `modelInfo.modelName` as the model (else the composer's `modelConfig`).
- `toolFormerData`: the bubble's tool call (JSON arguments parsed), answered by a tool
  message with its `result` (or `error`) once it has one; `status: error` or an `error`
  is `metadata.isError`, another status than completed is kept as `metadata.status`.
- A bubble without `createdAt` takes the time of the one before (the composer's
  `createdAt` for the first); bubbles with no text, thinking or tool are passed over (the
  panel's placeholders, and reasoning Cursor keeps only encrypted in `thinking.signature`),
  a thinking-only bubble is an assistant message of its own with `metadata.thinking`.
- `name` is the title; the workspace whose `workspaceStorage/<hash>/state.vscdb` lists the
  composer in `composer.composerData` gives the projectId (its `workspace.json` folder).
- A composer named in another's `subComposerIds` is a sub-agent session of that one (in
  its project).

The database is only ever read, as `databases.in_place` opens it: `immutable` when it is in
WAL mode and no one has it open, `mode=ro` where it lies while Cursor runs (no write lock, no
file made), a copy when a `-wal` lies beside it without its `-shm`. A row that is not JSON
of its kind is counted as skipped.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import attrs

from .. import protocol as p
from ..store.imports import ImportedMessage, ImportedSession
from . import (
    Malformed,
    Transcript,
    folder_path,
    json_document,
    mapping,
    parsed_arguments,
    stamp,
    stamp_millis,
    take_each,
    text_of,
    token_count,
)
from .databases import in_place

FORMAT = "cursor"
DATABASE = "state.vscdb"
USER, ASSISTANT = 1, 2


def wants(path: Path) -> bool:
    return path.name == DATABASE and path.parent.name == "globalStorage"


def looks_like(path: Path) -> bool:
    try:
        with in_place(path) as db:
            return bool(db.execute("SELECT 1 FROM sqlite_master WHERE name = 'cursorDiskKV'").fetchone())
    except (OSError, sqlite3.Error):
        return False


@attrs.define
class _Composer:
    composer_id: str
    data: dict[str, Any]
    at: str
    messages: list[ImportedMessage] = attrs.Factory(list)
    model: str | None = None
    skipped: int = 0


def read(path: Path) -> Transcript:
    transcript = Transcript()
    try:
        with in_place(path) as db:
            projects = _projects(path)
            composers = []
            for key, value in db.execute("SELECT key, value FROM cursorDiskKV WHERE key LIKE 'composerData:%'"):
                data = _json(value)
                if isinstance(data, dict) and isinstance(data.get("createdAt"), int | float):
                    composers.append(_Composer(str(key).partition(":")[2], data, stamp_millis(data["createdAt"])))
                else:
                    transcript.skipped_lines += 1
            parents = {str(child): c.composer_id for c in composers for child in c.data.get("subComposerIds") or []}
            for composer in composers:
                _read_composer(db, composer, projects, parents.get(composer.composer_id), transcript)
    except sqlite3.Error:
        transcript.skipped_lines += 1
    # A sub-agent after the session it belongs to, so that its parent is already written.
    transcript.sessions.sort(key=lambda session: session.parent_key is not None)
    return transcript


def _read_composer(
    db: sqlite3.Connection, composer: _Composer, projects: dict[str, str], parent: str | None, transcript: Transcript
) -> None:
    composer.skipped += take_each(_bubbles(db, composer), lambda bubble: _take(composer, bubble))
    transcript.skipped_lines += composer.skipped
    if composer.messages:
        project = projects.get(composer.composer_id) or projects.get(parent or "")
        transcript.sessions.append(_session(composer, project, parent))


def _bubbles(db: sqlite3.Connection, composer: _Composer) -> list[Any]:
    """The composer's bubbles in conversation order (a missing row is a skipped one)."""
    inline = composer.data.get("conversation")
    if isinstance(inline, list) and inline:
        return inline
    prefix = f"bubbleId:{composer.composer_id}:"
    rows = dict(
        db.execute("SELECT key, value FROM cursorDiskKV WHERE key > ? AND key < ?", (prefix, prefix + "\uffff"))
    )
    bubbles = []
    for header in composer.data.get("fullConversationHeadersOnly") or []:
        found = rows.get(prefix + str(header.get("bubbleId"))) if isinstance(header, dict) else None
        bubbles.append(_json(found) if found is not None else None)
    return bubbles


def _json(value: Any) -> Any:
    try:
        return json.loads(value) if isinstance(value, str | bytes) else None
    except ValueError:
        return None


def _take(composer: _Composer, bubble: dict[str, Any]) -> None:
    kind, bubble_id = bubble["type"], str(bubble["bubbleId"])
    created = bubble.get("createdAt")
    if isinstance(created, str) and created:
        composer.at = stamp(created)
    elif isinstance(created, int | float):
        composer.at = stamp_millis(created)
    text = text_of(bubble.get("text"))
    if kind == USER:
        message = p.MessageInput(role=p.Role.USER, content=text, client_message_id=bubble_id)
        composer.messages.append(ImportedMessage(message, composer.at))
        return
    if kind != ASSISTANT:
        raise Malformed(f"unknown bubble type {kind!r}")
    model = mapping(bubble.get("modelInfo")).get("modelName")
    composer.model = model if isinstance(model, str) and model not in ("", "default") else composer.model
    thinking = text_of(mapping(bubble.get("thinking")).get("text"))
    tool = bubble.get("toolFormerData")
    if not (text or thinking or isinstance(tool, dict)):
        return  # a placeholder the panel drew while waiting, or reasoning kept encrypted
    call = _call(bubble_id, tool) if isinstance(tool, dict) else None
    answer = p.MessageInput(
        role=p.Role.ASSISTANT,
        content=text,
        tool_calls=[call] if call else None,
        usage=_usage(bubble.get("tokenCount")),
        metadata={"thinking": thinking} if thinking else None,
        client_message_id=bubble_id,
    )
    composer.messages.append(ImportedMessage(answer, composer.at))
    result = _result(bubble_id, call, tool) if call and isinstance(tool, dict) else None
    if result is not None:
        composer.messages.append(ImportedMessage(result, composer.at))


def _call(bubble_id: str, tool: dict[str, Any]) -> p.ToolCall:
    arguments = tool.get("rawArgs") if tool.get("rawArgs") is not None else tool.get("params")
    return p.ToolCall(
        id=str(tool.get("toolCallId") or bubble_id), name=str(tool["name"]), arguments=parsed_arguments(arguments)
    )


def _result(bubble_id: str, call: p.ToolCall, tool: dict[str, Any]) -> p.MessageInput | None:
    status, error, output = tool.get("status"), tool.get("error"), tool.get("result")
    if output is None and not error:
        return None  # still running, or never run
    metadata: dict[str, Any] = {}
    if status == "error" or error:
        metadata["isError"] = True
    if status not in (None, "completed"):
        metadata["status"] = status
    text = output if isinstance(output, str) else json.dumps(output if output is not None else error)
    return p.MessageInput(
        role=p.Role.TOOL,
        content=text,
        tool_call_id=call.id,
        metadata=metadata or None,
        client_message_id=f"{bubble_id}:result",
    )


def _usage(tokens: Any) -> p.Usage | None:
    if not isinstance(tokens, dict) or not (tokens.get("inputTokens") or tokens.get("outputTokens")):
        return None
    return p.Usage(
        prompt_tokens=token_count(tokens.get("inputTokens")),
        completion_tokens=token_count(tokens.get("outputTokens")),
        cache_read_tokens=0,
        cache_creation_tokens=0,
        thinking_tokens=0,
    )


def _projects(global_db: Path) -> dict[str, str]:
    """Each composer's workspace folder, from the workspace databases beside the global one."""
    found: dict[str, str] = {}
    workspaces = global_db.parent.parent / "workspaceStorage"
    for database in sorted(workspaces.glob(f"*/{DATABASE}")) if workspaces.is_dir() else []:
        workspace = json_document(database.with_name("workspace.json"))
        folder = folder_path(workspace.get("folder")) if isinstance(workspace, dict) else None
        if folder is None:
            continue
        try:
            with in_place(database) as db:
                row = db.execute("SELECT value FROM ItemTable WHERE key = 'composer.composerData'").fetchone()
        except (OSError, sqlite3.Error):
            continue
        for entry in mapping(_json(row[0]) if row else None).get("allComposers") or []:
            if isinstance(entry, dict) and entry.get("composerId"):
                found[str(entry["composerId"])] = folder
    return found


def _session(composer: _Composer, project: str | None, parent: str | None) -> ImportedSession:
    data = composer.data
    metadata: dict[str, Any] = {"source": FORMAT, "sourceSessionId": composer.composer_id}
    for field in ("status", "unifiedMode", "forceMode", "isAgentic", "createdOnBranch"):
        if data.get(field) is not None:
            metadata[field] = data[field]
    config_model = mapping(data.get("modelConfig")).get("modelName")
    updated = data.get("lastUpdatedAt")
    name = data.get("name")
    return ImportedSession(
        key=f"{FORMAT}:{composer.composer_id}",
        kind="subagent" if parent else "agent",
        parent_key=f"{FORMAT}:{parent}" if parent else None,
        messages=composer.messages,
        created_at=stamp_millis(data["createdAt"]),
        updated_at=max(
            stamp_millis(updated) if isinstance(updated, int | float) else "", composer.messages[-1].created_at
        ),
        project_id=project,
        title=name if isinstance(name, str) and name else None,
        agent_name="cursor",
        model=composer.model or (config_model if config_model not in (None, "default") else None),
        metadata=metadata,
    )
