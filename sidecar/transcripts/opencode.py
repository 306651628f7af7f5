"""opencode sessions: its SQLite `opencode.db` (`session`, `message`, `part` tables), or
the older JSON tree `storage/session/<project id>/<session id>.json`,
`storage/message/<session id>/<message id>.json`, `storage/part/<message id>/<part id>.json`.

Both hold the same records (packages/opencode/src/session/message-v2.ts): a message's
info `{role, time: {created}, modelID, providerID, tokens, cost, error?, summary?}` and its
parts. What becomes what:
- a user message: its `text` parts (files as `[file name]`); a `compaction` part (the
  user asked to compact) in `metadata.compaction`, a `subtask` part in `metadata.subtask`.
- an assistant message: `text` parts as content, `reasoning` parts in `metadata.thinking`,
  `tool` parts as its tool calls (`state.input` as arguments); a tool's `completed` output
  or `error` becomes the tool message answering it (`error` is `metadata.isError`, a call
  still `pending` or `running` has none); `tokens` as usage (input, output, cache read,
  cache write, reasoning as thinking); `cost`, `providerID`, `agent`, `finish` and an
  API `error` in metadata; `modelID` as the session's model.
- an assistant message with `summary: true` is opencode's compaction summary: a
  compaction of everything before it.
- the session's `directory` is the projectId, its `title` the title; a session with a
  `parentID` (a `task` tool's sub-agent) is a `subagent` session of its parent.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import orjson

from .. import protocol as p
from ..store.imports import ImportedMessage, ImportedSession
from . import Compaction, Malformed, Transcript, json_document, stamp_millis, text_of, token_count
from .databases import snapshot

FORMAT = "opencode"
DATABASE = "opencode.db"
# (message info, its parts), None for a record that is not a JSON object
Entry = tuple[dict[str, Any] | None, list[dict[str, Any] | None]]


def wants(path: Path) -> bool:
    """A session file of the JSON tree: `storage/session/<project id>/<session id>.json`."""
    folders = path.parent.parent
    return path.suffix == ".json" and folders.name == "session" and folders.parent.name == "storage"


def looks_like(document: Any) -> bool:
    return (
        isinstance(document, dict)
        and str(document.get("id", "")).startswith("ses")
        and isinstance(document.get("time"), dict)
        and "directory" in document
    )


def is_subagent(path: Path) -> bool:
    """A sub-agent's session file of the JSON tree (a small file, read to tell)."""
    if not wants(path):
        return False
    info = json_document(path)
    return isinstance(info, dict) and bool(info.get("parentID"))


def read(path: Path) -> Transcript:
    if path.suffix == ".json":
        return of_document(path, json_document(path))
    try:
        with snapshot(path) as database:
            return _read_database(database)
    except (sqlite3.Error, OSError):  # not a database, or gone
        return Transcript(skipped_lines=1)


def of_document(path: Path, info: Any) -> Transcript:
    """A session of the JSON tree, its session file at `path` already parsed."""
    if not looks_like(info):
        return Transcript(skipped_lines=1)
    storage = path.parent.parent.parent
    messages = sorted((storage / "message" / str(info["id"])).glob("*.json"))
    entries = ((_object(found), _parts(storage / "part" / found.stem)) for found in messages)
    return _transcript([(info, entries)])


def _parts(folder: Path) -> list[dict[str, Any] | None]:
    return [_object(found) for found in sorted(folder.glob("*.json"))]


def _object(path: Path) -> dict[str, Any] | None:
    document = json_document(path)
    return document if isinstance(document, dict) else None


# -- the database -------------------------------------------------------------------------


def _read_database(database: sqlite3.Connection) -> Transcript:
    # Parents first, so a sub-agent finds the session it belongs to.
    rows = database.execute("SELECT * FROM session ORDER BY parent_id IS NOT NULL, time_created, id").fetchall()
    return _transcript((_session_info(row), _database_entries(database, row["id"])) for row in rows)


def _session_info(row: sqlite3.Row) -> dict[str, Any]:
    """A session row as the JSON tree writes a session."""
    info = {name: value for name, value in dict(row).items() if value is not None}
    info["parentID"] = info.pop("parent_id", None)
    info["projectID"] = info.pop("project_id", None)
    info["time"] = {"created": info.pop("time_created", None), "updated": info.pop("time_updated", None)}
    return info


def _database_entries(database: sqlite3.Connection, session_id: str) -> Iterator[Entry]:
    messages = database.execute(
        "SELECT id, data FROM message WHERE session_id = ? ORDER BY time_created, id", (session_id,)
    )
    parts = database.execute(
        "SELECT message_id, id, data FROM part WHERE session_id = ? ORDER BY message_id, id", (session_id,)
    )
    by_message = {
        message_id: [_row_object(row) for row in rows]
        for message_id, rows in itertools.groupby(parts, key=lambda row: row["message_id"])
    }
    for row in messages:
        yield _row_object(row), by_message.get(row["id"], [])


def _row_object(row: sqlite3.Row) -> dict[str, Any] | None:
    """A row's `data` JSON with its id, as the JSON tree keeps a record."""
    try:
        data = orjson.loads(row["data"])
    except (orjson.JSONDecodeError, TypeError):
        return None
    return {**data, "id": row["id"]} if isinstance(data, dict) else None


# -- sessions -----------------------------------------------------------------------------


@attrs.define
class _Session:
    messages: list[ImportedMessage] = attrs.Factory(list)
    compactions: list[Compaction] = attrs.Factory(list)
    model: str | None = None
    skipped: int = 0


def _transcript(sessions: Iterable[tuple[dict[str, Any], Iterable[Entry]]]) -> Transcript:
    transcript = Transcript()
    for info, entries in sessions:
        session = _Session()
        for message, parts in entries:
            try:
                _take(session, message, parts)
            except (Malformed, KeyError, TypeError, ValueError, AttributeError):
                session.skipped += 1
        transcript.skipped_lines += session.skipped
        if session.messages:
            transcript.sessions.append(_imported(info, session))
    return transcript


def _take(session: _Session, info: dict[str, Any] | None, parts: list[dict[str, Any] | None]) -> None:
    if info is None:
        raise Malformed("a message that is not a JSON object")
    session.skipped += sum(part is None for part in parts)
    found = [part for part in parts if part is not None]
    created_at = stamp_millis(info["time"]["created"])
    if info["role"] == "user":
        session.messages.append(ImportedMessage(_prompt(info, found), created_at))
    elif info["role"] == "assistant":
        session.model = info.get("modelID") or session.model
        if info.get("summary") is True:
            for earlier in session.messages:
                earlier.compacted = True
            session.compactions.append((_text(found), len(session.messages) - 1, created_at))
        tools = [part for part in found if part.get("type") == "tool"]
        session.messages.append(ImportedMessage(_answer(info, found, tools), created_at))
        session.messages += [
            _result(tool, created_at) for tool in tools if tool["state"]["status"] in ("completed", "error")
        ]
    else:
        raise Malformed(f"unknown role {info['role']!r}")


def _text(parts: list[dict[str, Any]]) -> str:
    texts = [part["text"] for part in parts if part.get("type") == "text" and not part.get("ignored")]
    files = [f"[file {part.get('filename') or part.get('url')}]" for part in parts if part.get("type") == "file"]
    return "\n\n".join([*texts, *files])


def _prompt(info: dict[str, Any], parts: list[dict[str, Any]]) -> p.MessageInput:
    metadata: dict[str, Any] = {}
    for part in parts:
        if part.get("type") == "compaction":
            metadata["compaction"] = {"auto": bool(part.get("auto"))}
        elif part.get("type") == "subtask":
            metadata["subtask"] = {name: part.get(name) for name in ("agent", "description", "prompt")}
    return p.MessageInput(
        role=p.Role.USER, content=_text(parts), metadata=metadata or None, client_message_id=str(info["id"])
    )


def _answer(info: dict[str, Any], parts: list[dict[str, Any]], tools: list[dict[str, Any]]) -> p.MessageInput:
    thinking = [part["text"] for part in parts if part.get("type") == "reasoning" and part.get("text")]
    metadata: dict[str, Any] = {"thinking": "\n\n".join(thinking)} if thinking else {}
    for source, name in (("cost", "cost"), ("providerID", "provider"), ("agent", "agent"), ("finish", "finish")):
        if info.get(source) is not None:
            metadata[name] = info[source]
    if isinstance(info.get("error"), dict):
        error = info["error"]
        metadata["error"] = {"name": error.get("name"), "message": (error.get("data") or {}).get("message")}
    calls = [p.ToolCall(id=str(t["callID"]), name=str(t["tool"]), arguments=t["state"].get("input")) for t in tools]
    return p.MessageInput(
        role=p.Role.ASSISTANT,
        content=_text(parts),
        tool_calls=calls or None,
        usage=_usage(info.get("tokens")),
        metadata=metadata or None,
        client_message_id=str(info["id"]),
    )


def _result(tool: dict[str, Any], answered_at: str) -> ImportedMessage:
    state = tool["state"]
    failed = state["status"] == "error"
    output = state.get("error") if failed else state.get("output")
    message = p.MessageInput(
        role=p.Role.TOOL,
        content=output if isinstance(output, str) else text_of(output),
        tool_call_id=str(tool["callID"]),
        metadata={"isError": True} if failed else None,
        client_message_id=f"{tool['callID']}:result",
    )
    ended = (state.get("time") or {}).get("end")
    return ImportedMessage(message, stamp_millis(ended) if isinstance(ended, int | float) else answered_at)


def _usage(tokens: Any) -> p.Usage | None:
    if not isinstance(tokens, dict):
        return None
    cache = tokens.get("cache") or {}
    return p.Usage(
        prompt_tokens=token_count(tokens.get("input")),
        completion_tokens=token_count(tokens.get("output")),
        cache_read_tokens=token_count(cache.get("read")),
        cache_creation_tokens=token_count(cache.get("write")),
        thinking_tokens=token_count(tokens.get("reasoning")),
    )


def _imported(info: dict[str, Any], session: _Session) -> ImportedSession:
    source_id = str(info["id"])
    parent = info.get("parentID")
    metadata: dict[str, Any] = {"source": FORMAT, "sourceSessionId": source_id}
    metadata.update((name, info[name]) for name in ("projectID", "version", "slug") if info.get(name))
    time = info["time"]
    return ImportedSession(
        key=f"{FORMAT}:{source_id}",
        kind="subagent" if parent else "agent",
        parent_key=f"{FORMAT}:{parent}" if parent else None,
        messages=session.messages,
        created_at=stamp_millis(time["created"]) if time.get("created") else session.messages[0].created_at,
        updated_at=stamp_millis(time["updated"]) if time.get("updated") else session.messages[-1].created_at,
        project_id=info.get("directory") or None,
        title=info.get("title") if isinstance(info.get("title"), str) else None,
        agent_name=FORMAT,
        model=session.model,
        metadata=metadata,
        compactions=session.compactions,
    )
