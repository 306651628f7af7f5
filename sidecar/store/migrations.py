"""Numbered schema migrations keyed on PRAGMA user_version (as in Simon Willison's llm).

Migration N brings a database from version N-1 to N inside one transaction: a script of
SQL statements, or a function for what SQL alone cannot compute. Never edit a migration
that has shipped: add the next one. The store stays readable by any SQLite tool:
plain tables, JSON as text, ISO 8601 times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..errors import StorageError
from . import buckets

if TYPE_CHECKING:
    from .database import Database

Migration = str | Callable[["Database"], None]


def _add_preview_and_last_message(db: Database) -> None:
    """7: sessions.preview (their first real request, sidecar.store.preview) and
    sessions.last_message_at, computed for the sessions already stored."""
    from .counters import fill_preview  # here: counters imports database, which imports this module

    db.execute("ALTER TABLE sessions ADD COLUMN preview TEXT")
    db.execute("ALTER TABLE sessions ADD COLUMN last_message_at TEXT")
    db.execute(
        "UPDATE sessions SET last_message_at = (SELECT max(created_at) FROM messages WHERE session_id = sessions.id)"
    )
    for (session_id,) in db.execute("SELECT id FROM sessions"):
        fill_preview(db, session_id)


MIGRATIONS: list[Migration] = [
    # 1: sessions, messages, edits, compactions and the change feed.
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        project_id TEXT,
        kind TEXT NOT NULL,
        title TEXT,
        agent_name TEXT,
        model TEXT,
        parent_session_id TEXT,
        forked_from_message_id TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        ended_at TEXT,
        next_index INTEGER NOT NULL DEFAULT 0,
        message_count INTEGER NOT NULL DEFAULT 0,
        turn_count INTEGER NOT NULL DEFAULT 0,
        tool_call_count INTEGER NOT NULL DEFAULT 0,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens INTEGER NOT NULL DEFAULT 0,
        cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
        thinking_tokens INTEGER NOT NULL DEFAULT 0,
        api_calls INTEGER NOT NULL DEFAULT 0,
        compacted_count INTEGER NOT NULL DEFAULT 0,
        first_prompt TEXT,
        pending_tool_calls TEXT NOT NULL DEFAULT '[]',
        metadata TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX sessions_by_update ON sessions (updated_at, id);
    CREATE INDEX sessions_by_project ON sessions (project_id, updated_at);

    -- Small fixed columns first: a scan that reads `tokens` never walks a long content's
    -- overflow pages.
    -- AUTOINCREMENT: a seq is never reused after a delete, so "everything after seq N"
    -- (the search indexer, the change feed) can never skip a row.
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        role TEXT NOT NULL,
        compacted INTEGER NOT NULL DEFAULT 0,
        tokens INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cache_read_tokens INTEGER,
        cache_creation_tokens INTEGER,
        thinking_tokens INTEGER,
        client_message_id TEXT,
        tool_call_id TEXT,
        agent_name TEXT,
        tool_calls TEXT,
        metadata TEXT,
        code_excerpt TEXT,
        content TEXT
    );
    CREATE UNIQUE INDEX messages_by_index ON messages (session_id, idx);
    CREATE UNIQUE INDEX messages_by_client_id ON messages (session_id, client_message_id);
    CREATE INDEX messages_by_role ON messages (role, seq);
    -- Covers getContext's budget scan: never touches the rows themselves.
    CREATE INDEX messages_live ON messages (session_id, compacted, idx, tokens);

    CREATE TABLE compactions (
        seq INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        summary TEXT NOT NULL,
        through_index INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX compactions_by_session ON compactions (session_id, seq);

    CREATE TABLE edits (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        message_id TEXT,
        file_path TEXT NOT NULL,
        kind TEXT NOT NULL,
        diff TEXT NOT NULL,
        new_path TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX edits_by_session ON edits (session_id, seq);
    CREATE INDEX edits_by_file ON edits (file_path, seq);
    CREATE INDEX edits_by_new_path ON edits (new_path, seq);

    -- What changed, in commit order: every process tails it to notify its client, so a
    -- write by any process on this file reaches every editor.
    CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL,
        project_id TEXT,
        change TEXT NOT NULL,
        first_message_seq INTEGER,
        last_message_seq INTEGER,
        snapshot TEXT,
        created_at TEXT NOT NULL
    );
    """,
    # 2: where an imported session came from, so importing it again adds nothing.
    """
    ALTER TABLE sessions ADD COLUMN import_key TEXT;
    CREATE UNIQUE INDEX sessions_by_import_key ON sessions (import_key);
    """,
    # 3: how many secrets of each kind were redacted at ingest.
    """
    CREATE TABLE redactions (kind TEXT PRIMARY KEY, count INTEGER NOT NULL);
    """,
    # 4: how far the change feed has been copied to the sync replica (sidecar.sync); the
    # feed keeps every change past this point until it is.
    """
    CREATE TABLE sync_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """,
    # 5: a clientMessageId deduplicates one machine's retries, never two machines' messages:
    # each numbers its own (`u-1`, `u-2`, …). `client_scope` is '' for a message written
    # here and the message's own id for one pulled from another machine (sidecar.sync).
    """
    ALTER TABLE messages ADD COLUMN client_scope TEXT NOT NULL DEFAULT '';
    DROP INDEX messages_by_client_id;
    CREATE UNIQUE INDEX messages_by_client_id_here ON messages (session_id, client_message_id, client_scope);
    """,
    # 6: when each field a user sets last changed, so sync merges sessions field by field
    # (sidecar.store.fields).
    """
    ALTER TABLE sessions ADD COLUMN changed_at TEXT NOT NULL DEFAULT '{}';
    """,
    # 7: previews and newest-message times (a function: it reads messages to fill them).
    _add_preview_and_last_message,
    # 8: the transcript files live capture has read (sidecar.capture): their size and mtime
    # when last read whole, to catch up at start with only what changed, and the lines of
    # each that could not be read.
    """
    CREATE TABLE capture_files (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        skipped_lines INTEGER NOT NULL,
        captured_at TEXT NOT NULL
    );
    """,
    # 9: each message's own model and its 1-hour cache writes, and usage summed per session,
    # quarter hour, model, agent and long-context band, kept by triggers (sidecar.store.buckets).
    buckets.create,
    # 10: inserted messages' calls summed once per statement by the code that inserts them,
    # not by a trigger per row (buckets.add).
    buckets.drop_insert_trigger,
    # 11: the indexes only some messages need are partial, so an insert of the others
    # (~2/3 of an import) skips them (an index entry cost ~22,000 instructions a message):
    # recent prompts read user messages by seq, usage reports read calls by time, and
    # retention reads compacted messages by time.
    """
    DROP INDEX messages_by_role;
    CREATE INDEX messages_prompts ON messages (seq) WHERE role = 'user' AND content IS NOT NULL;
    DROP INDEX messages_by_time;
    CREATE INDEX messages_calls_by_time ON messages (created_at) WHERE prompt_tokens IS NOT NULL;
    CREATE INDEX messages_compacted_by_time ON messages (created_at) WHERE compacted = 1;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    code = "\n".join(line for line in script.splitlines() if not line.strip().startswith("--"))
    return [statement.strip() for statement in code.split(";") if statement.strip()]


def _run(db: Database, migration: Migration) -> None:
    if callable(migration):
        migration(db)
        return
    for statement in _statements(migration):
        db.execute(statement)


def _schema_state(db: Database) -> tuple[int, int]:
    """user_version and how many tables, in one consistent view."""
    with db.snapshot():
        version = int(db.scalar("PRAGMA user_version") or 0)
        tables = int(db.scalar("SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'"))
    return version, tables


def migrate(db: Database, migrations: Sequence[Migration], *, read_only: bool) -> int:
    """Bring the schema to len(migrations); refuse files that are not ours or are newer."""
    latest = len(migrations)
    version, tables = _schema_state(db)
    if version > latest:
        raise StorageError(
            f"{db.path} has schema version {version}, newer than this agent-history ({latest}); upgrade it"
        )
    if version == 0 and tables:
        raise StorageError(f"{db.path} is a database of some other program; refusing to touch it")
    if version == latest:
        return version
    if read_only:
        raise StorageError(f"{db.path} needs a schema upgrade, which read-only mode cannot do")
    for number in range(version + 1, latest + 1):
        with db.write():
            # Read again under the write lock: a process of an older version, which takes no
            # turn at opening (store.locks), may have migrated since we looked.
            if int(db.scalar("PRAGMA user_version") or 0) >= number:
                continue
            _run(db, migrations[number - 1])
            db.execute(f"PRAGMA user_version = {number}")
    return latest
