"""What the search index holds of a message, whichever engine holds it: the text it is found
by, and the single-token tags its filters ask for.

Tags are written at indexing and asked for at query time by these same functions, so the
two can never disagree.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC

import attrs

from .. import protocol as p
from ..store.database import Database
from ..store.usage import moment_of
from .query import split_long_words

# Messages read from the history at a time.
INDEX_BATCH = 2000


@attrs.frozen
class Document:
    seq: int
    session_id: str
    created_at: str
    body: str  # as the engine indexes it: long words as pieces (query.split_long_words)
    tags: str
    text: str  # as the message says it
    long_words: list[str]  # those of 40 bytes or more, whole and lowercased


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def session_tag(session_id: str) -> str:
    """A hash, so an id matches itself only: by its tokens, `ABC-1` would match `abc1`."""
    return "s" + _digest(session_id)


def role_tag(role: str) -> str:
    return "r" + role


def project_tag(project_id: str) -> str:
    """A hash: a project path would tokenize into words ("/a/b" would match "/a/b/c")."""
    return "p" + _digest(project_id)


def tags(session_id: str, role: str, project_id: str | None) -> str:
    found = [session_tag(session_id), role_tag(role)]
    if project_id is not None:
        found.append(project_tag(project_id))
    return " ".join(found)


def document_body(content: str | None, code: str | None, tool_calls: str | None) -> str:
    """What a message is found by: its text, code, and its tool calls' names and arguments."""
    parts = [content or "", code or ""]
    for call in json.loads(tool_calls or "[]"):
        parts += [call["name"], json.dumps(call.get("arguments"), ensure_ascii=False)]
    return "\n".join(part for part in parts if part)


def messages_after(history: Database, after: int, batch: int) -> list[Document]:
    """The next `batch` committed messages after seq `after`, as documents, in seq order."""
    rows = history.execute(
        "SELECT m.seq, m.session_id, m.role, m.created_at, m.content, m.code_excerpt, m.tool_calls, s.project_id"
        " FROM messages m JOIN sessions s ON s.id = m.session_id WHERE m.seq > ? ORDER BY m.seq LIMIT ?",
        (after, batch),
    )
    documents = []
    for seq, session_id, role, created_at, content, code, calls, project in rows:
        text = document_body(content, code, calls)
        tagged = tags(session_id, role, project)
        indexed, long_words = split_long_words(text)
        documents.append(Document(seq, session_id, created_at, indexed, tagged, text, long_words))
    return documents


def filters(params: p.SearchMessagesParams) -> str:
    """The search's filters in the engine's query syntax: each a required tag."""
    found = []
    if params.session_id is not None:
        found.append(f'+tags:"{session_tag(params.session_id)}"')
    if params.project_id is not None:
        found.append(f'+tags:"{project_tag(params.project_id)}"')
    if params.roles:
        found.append("+(" + " ".join(f'tags:"{role_tag(role.value)}"' for role in params.roles) + ")")
    return " ".join(found)


def millis(field: str, moment: str) -> int:
    """A contract time (ISO 8601; without a zone, UTC) as milliseconds since the epoch."""
    return int(moment_of(moment, UTC, field).timestamp() * 1000)
