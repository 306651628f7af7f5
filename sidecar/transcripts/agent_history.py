"""Our own lossless export (`history/exportSession` format `jsonl`), read back exactly.

One `{"type": "session", …Session}` line, then `message`, `compaction` and `edit` lines.
Ids, indexes, times, compaction and edits are kept, so exporting, deleting and importing
gives back the same session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from .. import protocol as p
from ..errors import HistoryError
from ..store.imports import ImportedMessage, ImportedSession
from ..wire import structure_params
from . import Malformed, Transcript, json_lines

FORMAT = "agent-history"
INPUT_FIELDS = [field.name for field in attrs.fields(p.MessageInput)]


def looks_like(row: dict[str, Any]) -> bool:
    return row.get("type") == "session" and "kind" in row and "messageCount" in row


def read(path: Path) -> Transcript:
    transcript = Transcript()
    current: ImportedSession | None = None
    for row in json_lines(path):
        try:
            if row is None:
                raise Malformed("not a JSON object")
            kind = row.pop("type", None)
            if kind == "session":
                current = _session(structure_params(row, p.Session))
                transcript.sessions.append(current)
            elif current is None:
                raise Malformed("no session line before it")
            elif kind == "message":
                _add_message(current, structure_params(row, p.Message))
            elif kind == "compaction":
                current.compactions.append((str(row["summary"]), int(row["throughIndex"]), str(row["createdAt"])))
            elif kind == "edit":
                current.edits.append(structure_params(row, p.Edit))
            else:
                raise Malformed(f"unknown line type {kind!r}")
        except (HistoryError, Malformed, KeyError, TypeError, ValueError):
            transcript.skipped_lines += 1
    return transcript


def _session(session: p.Session) -> ImportedSession:
    return ImportedSession(
        key=f"{FORMAT}:{session.id}",
        id=session.id,
        kind=session.kind,
        messages=[],
        created_at=session.created_at,
        updated_at=session.updated_at,
        ended_at=session.ended_at,
        project_id=session.project_id,
        title=session.title,
        agent_name=session.agent_name,
        model=session.model,
        parent_session_id=session.parent_session_id,
        forked_from_message_id=session.forked_from_message_id,
        metadata=session.metadata,
    )


def _add_message(session: ImportedSession, message: p.Message) -> None:
    fields = {name: getattr(message, name) for name in INPUT_FIELDS}
    session.messages.append(
        ImportedMessage(p.MessageInput(**fields), message.created_at, id=message.id, compacted=message.compacted)
    )
