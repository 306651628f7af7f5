"""Exporting a session as markdown that reads well, as one JSON document, or as lossless JSONL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from .. import protocol as p
from ..figures import dollars, tokens
from ..wire import unstructure
from . import NO_WORK, Store, Work, usage
from .database import Database
from .records import EDIT_COLUMNS, MESSAGE_COLUMNS, edit_from_row, message_from_row
from .sessions import load_session

PAGE = 500
# Outputs longer than this are folded in <details> so the transcript stays skimmable.
FOLD_LINES, FOLD_CHARS = 12, 1200


def _messages(db: Database, session_id: str, work: Work, total: int) -> Iterator[p.Message]:
    after, done = -1, 0
    while True:
        rows = db.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE session_id = ? AND idx > ? ORDER BY idx LIMIT ?",
            (session_id, after, PAGE),
        )
        if not rows:
            return
        for row in rows:
            yield message_from_row(row)
        after, done = rows[-1][2], done + len(rows)
        work.checkpoint(done, total)


def _compactions(db: Database, session_id: str) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT summary, through_index, created_at FROM compactions WHERE session_id = ? ORDER BY seq", (session_id,)
    )
    return [{"summary": r[0], "throughIndex": r[1], "createdAt": r[2]} for r in rows]


def _edits(db: Database, session_id: str) -> list[p.Edit]:
    return [
        edit_from_row(r)
        for r in db.execute(f"SELECT {EDIT_COLUMNS} FROM edits WHERE session_id = ? ORDER BY seq", (session_id,))
    ]


def _fence(text: str, language: str = "") -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def _folded(summary: str, body: str, always: bool = False) -> str:
    if always or body.count("\n") >= FOLD_LINES or len(body) > FOLD_CHARS:
        return f"<details><summary>{summary}</summary>\n\n{body}\n\n</details>"
    return f"**{summary}**\n\n{body}"


def _message_markdown(message: p.Message) -> str:
    heading = f"### {message.index}. {message.role.value.capitalize()}"
    if message.agent_name:
        heading += f" ({message.agent_name})"
    parts = [f"{heading} · {message.created_at}" + (" · compacted" if message.compacted else "")]
    if message.role is p.Role.TOOL:
        parts.append(_folded(f"Result of {message.tool_call_id}", _fence(message.content or "")))
    elif message.content:
        parts.append(message.content)
    if message.code_excerpt:
        parts.append(_fence(message.code_excerpt))
    for call in message.tool_calls or []:
        arguments = json.dumps(call.arguments, indent=2, ensure_ascii=False)
        parts.append(_folded(f"Tool call: {call.name} ({call.id})", _fence(arguments, "json"), always=True))
    return "\n\n".join(parts)


def _cost(store: Store, session: p.Session) -> str:
    """What the session's calls cost, as the usage reports price them ("" without calls)."""
    if session.usage.api_calls == 0:
        return ""
    spent = usage.get_usage(store, p.GetUsageParams(session_id=session.id))
    if not spent.unpriced_models:
        return f"; cost {dollars(spent.cost)}"
    amount = dollars(spent.cost, unknown=True) if spent.cost else "unknown"
    unpriced = ", ".join(spent.unpriced_models)
    return f"; cost {amount} ({unpriced} {'is' if len(spent.unpriced_models) == 1 else 'are'} not in the price data)"


def _markdown(
    session: p.Session,
    cost: str,
    messages: Iterator[p.Message],
    compactions: list[dict[str, Any]],
    edits: list[p.Edit],
) -> str:
    counts = session.usage
    facts = [f"- Session `{session.id}` ({session.kind}), created {session.created_at}, updated {session.updated_at}"]
    for label, value in (
        ("Project", session.project_id),
        ("Agent", session.agent_name),
        ("Model", session.model),
        ("Sub-agent of" if session.kind == "subagent" else "Forked from", session.parent_session_id),
        ("Ended", session.ended_at),
    ):
        if value:
            facts.append(f"- {label}: {value}")
    facts.append(
        f"- {session.message_count} messages, {session.turn_count} turns, {session.tool_call_count} tool calls;"
        f" tokens: {tokens(counts.prompt_tokens)} prompt, {tokens(counts.completion_tokens)} completion,"
        f" {tokens(counts.cache_read_tokens)} cache read, {tokens(counts.cache_creation_tokens)} cache creation,"
        f" {tokens(counts.thinking_tokens)} thinking, over {counts.api_calls} calls{cost}"
    )
    parts = [f"# {session.title or session.preview or 'Session ' + session.id}", "\n".join(facts)]
    for compaction in compactions:
        parts.append(
            _folded(
                f"Compaction summary through message {compaction['throughIndex']}", compaction["summary"], always=True
            )
        )
    parts += [_message_markdown(m) for m in messages]
    if edits:
        parts.append("## Edits")
        parts += [
            _folded(
                f"{e.kind.value} {e.file_path}" + (f" → {e.new_path}" if e.new_path else ""),
                _fence(e.diff, "diff"),
                always=True,
            )
            for e in edits
        ]
    return "\n\n".join(parts) + "\n"


def export_session(store: Store, params: p.ExportSessionParams, work: Work = NO_WORK) -> p.ExportSessionResult:
    db = store.db
    session = load_session(db, params.session_id)
    messages = _messages(db, session.id, work, session.message_count)
    compactions, edits = _compactions(db, session.id), _edits(db, session.id)
    if params.format is p.ExportFormat.MARKDOWN:
        return p.ExportSessionResult(content=_markdown(session, _cost(store, session), messages, compactions, edits))
    if params.format is p.ExportFormat.JSON:
        document = {
            "session": unstructure(session),
            "messages": [unstructure(m) for m in messages],
            "compactions": compactions,
            "edits": [unstructure(e) for e in edits],
        }
        return p.ExportSessionResult(content=json.dumps(document, ensure_ascii=False, indent=2))
    lines = [{"type": "session", **unstructure(session)}]
    lines += [{"type": "message", **unstructure(m)} for m in messages]
    lines += [{"type": "compaction", **c} for c in compactions]
    lines += [{"type": "edit", **unstructure(e)} for e in edits]
    return p.ExportSessionResult(content="".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
