"""Claude Code transcripts: `~/.claude/projects/<dir>/<session uuid>.jsonl`.

One JSON row per line. What becomes what:
- `user` rows: text (a string or text blocks; images as `[image]`) becomes a user message;
  each `tool_result` block becomes a tool message (`toolCallId` = its `tool_use_id`,
  `metadata.isError` when the tool failed).
- `assistant` rows: Claude Code writes one row per content block, all with the same
  `message.id`; they become one assistant message: text as content, `tool_use` blocks as
  tool calls, thinking in `metadata.thinking`, the API call's token usage once.
- A user row with `isCompactSummary` is a compaction: everything before it is compacted
  under that summary.
- `isSidechain` rows (a sub-agent's work) carry `agentName`; a sub-agent's own file
  (`agent-<id>.jsonl`) becomes a session of kind `subagent` whose parent is its session.
- `summary` rows naming a message of the file give the title; `cwd` gives `projectId`.
- Other rows (progress, snapshots, hooks, permission modes, queue operations) are not
  messages and are passed over; rows of a known kind lacking its fields are counted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from .. import protocol as p
from ..store.imports import ImportedMessage, ImportedSession
from . import Compaction, Malformed, RowReader, Taken, Transcript, read_with, stamp, text_of, token_count

FORMAT = "claude-code"
MESSAGE_ROWS = ("user", "assistant")


def looks_like(row: dict[str, Any]) -> bool:
    return "sessionId" in row or row.get("type") in ("summary", "file-history-snapshot", *MESSAGE_ROWS)


@attrs.define
class _Session:
    """One session's rows as they are read."""

    source_id: str
    messages: list[ImportedMessage] = attrs.Factory(list)
    by_api_id: dict[str, ImportedMessage] = attrs.Factory(dict)
    uuids: set[str] = attrs.Factory(set)
    summaries: dict[str, str] = attrs.Factory(dict)
    compactions: list[Compaction] = attrs.Factory(list)
    cwd: str | None = None
    model: str | None = None
    version: str | None = None
    git_branch: str | None = None
    first: str | None = None
    last: str | None = None
    # Where the assistant message that later rows may still add to sits (None: a prompt
    # came after it): Claude Code writes one row per content block, and the results of
    # an answer's first tool calls may come before its last blocks.
    open_at: int | None = None
    taken: Taken = attrs.Factory(Taken)


class Reader(RowReader):
    """A Claude Code file's rows, one at a time (see transcripts.Reader)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.meta = _agent_meta(path)
        self.sessions: dict[str, _Session] = {}
        self.summaries: dict[str, str] = {}

    def read_row(self, row: dict[str, Any]) -> None:
        if row.get("type") == "summary":
            self.summaries[str(row["leafUuid"])] = str(row["summary"])
        elif row.get("type") in MESSAGE_ROWS:
            source_id = str(row["sessionId"])
            session = self.sessions.setdefault(source_id, _Session(source_id))
            _take(session, row, self.meta)

    def take(self, *, settled: bool) -> list[ImportedSession]:
        taken = []
        for session in self.sessions.values():
            end = len(session.messages) if settled or session.open_at is None else session.open_at
            messages, compactions = session.taken.take(session.messages, session.compactions, end)
            if messages or compactions:
                taken.append(_imported(session, messages, compactions, self.summaries, self.path, self.meta))
        return taken


def read(path: Path) -> Transcript:
    return read_with(Reader(path), path)


def _agent_meta(path: Path) -> dict[str, Any]:
    """A sub-agent file's `<name>.meta.json` (agentType, description), if there is one."""
    meta_path = path.with_name(path.stem + ".meta.json")
    try:
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _take(session: _Session, row: dict[str, Any], meta: dict[str, Any]) -> None:
    created_at = stamp(row["timestamp"])
    message = row["message"]
    if not isinstance(message, dict):
        raise Malformed("no message")
    session.first = session.first or created_at
    session.last = created_at
    session.cwd = session.cwd or row.get("cwd")
    session.version = row.get("version") or session.version
    session.git_branch = row.get("gitBranch") or session.git_branch
    session.uuids.add(str(row.get("uuid")))
    agent = _agent_name(row, meta)
    if row["type"] == "assistant":
        _take_assistant(session, row, message, created_at, agent)
    elif row.get("isCompactSummary"):
        session.open_at = None
        if session.messages:
            for earlier in session.messages:
                earlier.compacted = True
            session.compactions.append((text_of(message["content"]), len(session.messages) - 1, created_at))
    else:
        _take_user(session, row, message, created_at, agent)


def _agent_name(row: dict[str, Any], meta: dict[str, Any]) -> str | None:
    if not row.get("isSidechain"):
        return None
    if meta.get("agentType"):
        return str(meta["agentType"])
    return f"agent-{row['agentId']}" if row.get("agentId") else "sidechain"


def _take_user(
    session: _Session, row: dict[str, Any], message: dict[str, Any], created_at: str, agent: str | None
) -> None:
    content, uuid = message["content"], str(row["uuid"])
    blocks = content if isinstance(content, list) else [content]
    results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
    text = text_of([b for b in blocks if not (isinstance(b, dict) and b.get("type") == "tool_result")])
    metadata = {"isMeta": True} if row.get("isMeta") else None
    if text:
        # A prompt ends the answer before it; tool results do not: the answer's later
        # blocks (parallel calls) may come after the results of its first ones.
        session.open_at = None
        client_id = uuid if not results else uuid + ":text"
        session.messages.append(
            ImportedMessage(
                p.MessageInput(
                    role=p.Role.USER, content=text, agent_name=agent, metadata=metadata, client_message_id=client_id
                ),
                created_at,
            )
        )
    for number, result in enumerate(results):
        session.messages.append(
            ImportedMessage(
                p.MessageInput(
                    role=p.Role.TOOL,
                    content=text_of(result.get("content")),
                    tool_call_id=str(result["tool_use_id"]),
                    agent_name=agent,
                    metadata={"isError": True} if result.get("is_error") else None,
                    client_message_id=uuid if number == 0 else f"{uuid}:{number}",
                ),
                created_at,
            )
        )


def _take_assistant(
    session: _Session, row: dict[str, Any], message: dict[str, Any], created_at: str, agent: str | None
) -> None:
    api_id = str(message.get("id") or row["uuid"])
    imported = session.by_api_id.get(api_id)
    # A block that comes after its message was already written (live capture, after a long
    # pause) starts a message of its own: the written one cannot change.
    continued = imported is not None and imported.written
    if imported is None or continued:
        imported = ImportedMessage(
            p.MessageInput(role=p.Role.ASSISTANT, agent_name=agent, client_message_id=str(row["uuid"])), created_at
        )
        session.by_api_id[api_id] = imported
        session.open_at = len(session.messages)
        session.messages.append(imported)
    target = imported.message
    model = message.get("model")
    if model and model != "<synthetic>":
        session.model = target.model = model
    content = message["content"]
    for block in content if isinstance(content, list) else [{"type": "text", "text": content}]:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            target.content = block["text"] if not target.content else target.content + "\n\n" + block["text"]
        elif kind == "tool_use":
            call = p.ToolCall(id=str(block["id"]), name=str(block["name"]), arguments=block.get("input"))
            target.tool_calls = [*(target.tool_calls or []), call]
        elif kind == "thinking" and block.get("thinking"):
            _add_metadata(target, "thinking", block["thinking"])
    if row.get("isApiErrorMessage"):
        target.metadata = {**(target.metadata or {}), "isApiErrorMessage": True}
    usage = message.get("usage")
    # Every row of one API call repeats it; the last is final. A continuation leaves it to
    # the part written first, so the call is counted once.
    if isinstance(usage, dict) and not continued:
        # cache_creation_input_tokens is every cache write; cache_creation splits it into
        # 5-minute and 1-hour writes, which cost differently.
        split = usage.get("cache_creation")
        one_hour = split.get("ephemeral_1h_input_tokens") if isinstance(split, dict) else 0
        writes = token_count(usage.get("cache_creation_input_tokens"))
        target.usage = p.Usage(
            prompt_tokens=token_count(usage.get("input_tokens")),
            completion_tokens=token_count(usage.get("output_tokens")),
            cache_read_tokens=token_count(usage.get("cache_read_input_tokens")),
            cache_creation_tokens=writes,
            # A split that claims more than all the writes is not believed (the contract
            # refuses it, and the whole file with it): those writes are priced as 5-minute.
            cache_creation1h_tokens=min(token_count(one_hour), writes),
            thinking_tokens=0,
        )


def _add_metadata(message: p.MessageInput, key: str, text: str) -> None:
    metadata = dict(message.metadata or {})
    metadata[key] = text if key not in metadata else metadata[key] + "\n\n" + text
    message.metadata = metadata


def _imported(
    session: _Session,
    messages: list[ImportedMessage],
    compactions: list[Compaction],
    summaries: dict[str, str],
    path: Path,
    meta: dict[str, Any],
) -> ImportedSession:
    titles = [summary for leaf, summary in summaries.items() if leaf in session.uuids]
    is_agent_file = all(m.message.agent_name for m in session.messages)  # only a sub-agent's rows
    key = f"{FORMAT}:{session.source_id}"
    metadata: dict[str, Any] = {"source": FORMAT, "sourceSessionId": session.source_id}
    metadata.update(
        (name, value)
        for name, value in (("version", session.version), ("gitBranch", session.git_branch))
        if value is not None
    )
    if meta.get("description"):
        metadata["description"] = meta["description"]
    assert session.first is not None and session.last is not None
    return ImportedSession(
        key=f"{key}:{path.stem}" if is_agent_file else key,
        kind="subagent" if is_agent_file else "agent",
        messages=messages,
        created_at=session.first,
        updated_at=session.last,
        project_id=session.cwd,
        title=titles[-1] if titles else None,
        agent_name=session.messages[0].message.agent_name if is_agent_file else None,
        model=session.model,
        parent_key=key if is_agent_file else None,
        metadata=metadata,
        compactions=compactions,
    )
