"""Zed's agent threads: `threads.db` in Zed's data folder (`threads/threads.db`).

One row per thread (crates/agent/src/db.rs): `threads(id, parent_id, folder_paths,
summary, updated_at, created_at, data_type, data)`, `data` the thread as JSON, compressed
with zstd when `data_type` is `zstd`. The thread (`DbThread`, version 0.3.0): `{title,
messages, updated_at, detailed_summary, initial_project_snapshot, cumulative_token_usage,
request_token_usage, model: {provider, model}, profile, subagent_context}`; each message
`{"User": {id, content}}`, `{"Agent": {content, tool_results}}` or `"Resume"`. What becomes
what:
- User content `Text` as the user message (a `Mention` as `[uri]`, an `Image` as
  `[image]`).
- Agent content `Text` as the answer, `Thinking` in `metadata.thinking`, `ToolUse` as its
  tool calls (`input` as arguments); each `tool_results` entry as the tool message
  answering its call, `is_error` as `metadata.isError`.
- `request_token_usage` (by user message id, as Zed keeps it for each prompt) as the usage
  of the last answer to that prompt; the thread's `cumulative_token_usage` in
  `metadata.cumulativeTokenUsage`; `model` as the model (its provider in metadata).
- Zed keeps no time per message: every message takes the thread's `created_at` (else its
  `updated_at`); the session was last updated at `updated_at`.
- The first of `folder_paths` (else the project snapshot's first worktree) is the
  projectId; a thread with a `parent_id` (or `subagent_context`) is a `subagent` session
  of its parent; `detailed_summary` and `profile` go to metadata.
Threads of Zed's first agent (versions before 0.3.0: `{role, segments, tool_uses, tool_results}`
messages) are read the way Zed upgrades them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import attrs
import orjson
import zstandard

from .. import protocol as p
from ..store.imports import ImportedMessage, ImportedSession
from . import Malformed, Transcript, stamp, text_of, token_count
from .databases import snapshot

FORMAT = "zed"
DATABASE = "threads.db"
CURRENT = "0.3.0"  # DbThread::VERSION; any other is a first-agent thread


def read(path: Path) -> Transcript:
    transcript = Transcript()
    try:
        with snapshot(path) as database:
            columns = {column["name"] for column in database.execute("PRAGMA table_info(threads)")}
            # Parents first, so a sub-agent finds the thread it belongs to (older databases
            # have no parent_id).
            order = "parent_id IS NOT NULL, updated_at" if "parent_id" in columns else "updated_at"
            rows = database.execute(f"SELECT * FROM threads ORDER BY {order}").fetchall()
    except (sqlite3.Error, OSError):  # not a database, or gone
        return Transcript(skipped_lines=1)
    for row in rows:
        _read_thread(transcript, row)
    return transcript


def _read_thread(transcript: Transcript, row: sqlite3.Row) -> None:
    """One row's thread into `transcript` (a row that cannot be read counts one line)."""
    try:
        thread = _thread(row)
        session = _Thread(stamp(_column(row, "created_at") or row["updated_at"]))
    except (Malformed, zstandard.ZstdError, ValueError, TypeError, KeyError):
        transcript.skipped_lines += 1
        return
    for index, message in enumerate(thread["messages"]):
        try:
            _take(session, index, message)
        except (Malformed, KeyError, TypeError, ValueError, AttributeError):
            session.skipped += 1
    _add_usage(session, thread.get("request_token_usage"))
    transcript.skipped_lines += session.skipped
    if session.messages:
        transcript.sessions.append(_imported(row, thread, session))


def _column(row: sqlite3.Row, name: str) -> Any:
    """A column older databases may lack."""
    return dict(row).get(name)


def _thread(row: sqlite3.Row) -> dict[str, Any]:
    data = row["data"]
    if row["data_type"] == "zstd":
        data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    thread = orjson.loads(data)
    if not isinstance(thread, dict) or not isinstance(thread.get("messages"), list):
        raise Malformed("not a thread")
    return thread if thread.get("version") == CURRENT else _upgraded(thread)


def _upgraded(thread: dict[str, Any]) -> dict[str, Any]:
    """A first-agent thread in the current shape, as Zed's `upgrade_from_agent_1` does."""
    messages: list[Any] = []
    usage: dict[str, Any] = {}
    requests = thread.get("request_token_usage") or []
    user = None
    for index, message in enumerate(thread["messages"]):
        segments = message.get("segments") or []
        if message.get("role") == "user":
            user = str(message.get("id", index))
            texts = [{"Text": s["text"]} for s in segments if s.get("type") in ("text", "thinking")]
            messages.append({"User": {"id": user, "content": texts or [{"Text": message.get("context", "")}]}})
        elif message.get("role") == "assistant":
            content: list[Any] = [
                {"Text": s["text"]} if s.get("type") == "text" else {"Thinking": {"text": s.get("text", "")}}
                for s in segments
                if s.get("type") in ("text", "thinking")
            ]
            content += [{"ToolUse": use} for use in message.get("tool_uses") or []]
            results = {str(r["tool_use_id"]): r for r in message.get("tool_results") or []}
            messages.append({"Agent": {"content": content, "tool_results": results}})
            if user is not None and index < len(requests):
                usage[user] = requests[index]
    return {**thread, "title": thread.get("summary"), "messages": messages, "request_token_usage": usage}


@attrs.define
class _Thread:
    at: str
    messages: list[ImportedMessage] = attrs.Factory(list)
    answers: dict[str, ImportedMessage] = attrs.Factory(dict)  # each prompt's last answer
    prompt: str | None = None
    skipped: int = 0


def _take(session: _Thread, index: int, message: Any) -> None:
    if message == "Resume":  # Zed's marker that an interrupted turn went on
        return
    if "User" in message:
        user = message["User"]
        session.prompt = str(user["id"])
        content = "\n\n".join(_user_text(item) for item in user["content"])
        prompt = p.MessageInput(role=p.Role.USER, content=content, client_message_id=session.prompt)
        session.messages.append(ImportedMessage(prompt, session.at))
        return
    agent = message["Agent"]
    texts, thinking, calls = [], [], []
    for item in agent["content"]:
        if "Text" in item:
            texts.append(item["Text"])
        elif "Thinking" in item:
            thinking.append(item["Thinking"]["text"])
        elif "ToolUse" in item:
            use = item["ToolUse"]
            calls.append(p.ToolCall(id=str(use["id"]), name=str(use["name"]), arguments=use.get("input")))
    answer = ImportedMessage(
        p.MessageInput(
            role=p.Role.ASSISTANT,
            content="\n\n".join(texts),
            tool_calls=calls or None,
            metadata={"thinking": "\n\n".join(thinking)} if thinking else None,
            client_message_id=str(index),
        ),
        session.at,
    )
    session.messages.append(answer)
    if session.prompt is not None:
        session.answers[session.prompt] = answer
    results = agent.get("tool_results") or {}
    session.messages += [_result(results[call.id], session.at) for call in calls if call.id in results]


def _user_text(item: dict[str, Any]) -> str:
    if "Text" in item:
        return str(item["Text"])
    if "Mention" in item:
        return f"[{_named(item['Mention'].get('uri'))}]"
    return "[image]" if "Image" in item else ""


def _named(uri: Any) -> str:
    """What a mention's `MentionUri` names (`{"File": {"abs_path": …}}`): its first string."""
    while isinstance(uri, dict) and uri:
        uri = next(iter(uri.values()))
    return str(uri)


def _result(result: dict[str, Any], at: str) -> ImportedMessage:
    content = result.get("content")
    message = p.MessageInput(
        role=p.Role.TOOL,
        content=_result_text(content),
        tool_call_id=str(result["tool_use_id"]),
        metadata={"isError": True} if result.get("is_error") else None,
        client_message_id=f"{result['tool_use_id']}:result",
    )
    return ImportedMessage(message, at)


def _result_text(content: Any) -> str:
    """LanguageModelToolResultContent: a string, `{"Text": …}`, `{"Image": …}`, or a list."""
    if isinstance(content, list):
        return "\n".join(_result_text(item) for item in content)
    if isinstance(content, dict):
        if "Text" in content:
            return str(content["Text"])
        return "[image]" if "Image" in content else text_of([content])
    return text_of(content)


def _add_usage(session: _Thread, usage: Any) -> None:
    for prompt, tokens in (usage or {}).items() if isinstance(usage, dict) else []:
        if prompt in session.answers and isinstance(tokens, dict):
            session.answers[prompt].message.usage = p.Usage(
                prompt_tokens=token_count(tokens.get("input_tokens")),
                completion_tokens=token_count(tokens.get("output_tokens")),
                cache_read_tokens=token_count(tokens.get("cache_read_input_tokens")),
                cache_creation_tokens=token_count(tokens.get("cache_creation_input_tokens")),
                thinking_tokens=0,
            )


def _project(row: sqlite3.Row, thread: dict[str, Any]) -> str | None:
    folders = _column(row, "folder_paths")
    if isinstance(folders, str) and folders.strip():
        return folders.splitlines()[0]
    project = thread.get("initial_project_snapshot")
    worktrees = (project.get("worktree_snapshots") or []) if isinstance(project, dict) else []
    first = worktrees[0] if worktrees and isinstance(worktrees[0], dict) else {}
    return first.get("worktree_path") or None


def _imported(row: sqlite3.Row, thread: dict[str, Any], session: _Thread) -> ImportedSession:
    source_id = str(row["id"])
    context = thread.get("subagent_context")
    parent = _column(row, "parent_id") or (context.get("parent_thread_id") if isinstance(context, dict) else None)
    model: dict[str, Any] = thread["model"] if isinstance(thread.get("model"), dict) else {}
    metadata: dict[str, Any] = {"source": FORMAT, "sourceSessionId": source_id}
    if model.get("provider"):
        metadata["provider"] = model["provider"]
    named = (
        ("detailed_summary", "detailedSummary"),
        ("profile", "profile"),
        ("version", "version"),
        ("cumulative_token_usage", "cumulativeTokenUsage"),
    )
    for source, name in named:
        if thread.get(source):
            metadata[name] = thread[source]
    title = thread.get("title") or row["summary"]
    return ImportedSession(
        key=f"{FORMAT}:{source_id}",
        kind="subagent" if parent else "agent",
        parent_key=f"{FORMAT}:{parent}" if parent else None,
        messages=session.messages,
        created_at=session.at,
        updated_at=max(session.at, stamp(row["updated_at"])),
        project_id=_project(row, thread),
        title=title if isinstance(title, str) else None,
        agent_name=FORMAT,
        model=model.get("model"),
        metadata=metadata,
    )
