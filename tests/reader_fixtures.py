"""The SQLite fixtures of opencode and Zed, built from the JSON records in tests/fixtures
with each program's own schema (so the rows are the fixture's, byte for byte in `data`)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import zstandard

FIXTURES = Path(__file__).parent / "fixtures"
OPENCODE_STORAGE = FIXTURES / "opencode" / "storage"
ZED_THREADS = FIXTURES / "zed" / "threads.json"

# packages/opencode/src/session/session.sql.ts (anomalyco/opencode @ 063e8306), the columns
# the reader sees; Timestamps are time_created, time_updated.
OPENCODE_SCHEMA = """
CREATE TABLE session (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, workspace_id TEXT, parent_id TEXT,
  slug TEXT NOT NULL, directory TEXT NOT NULL, path TEXT, title TEXT NOT NULL, version TEXT NOT NULL,
  share_url TEXT, summary_additions INTEGER, summary_deletions INTEGER, summary_files INTEGER,
  summary_diffs TEXT, cost REAL NOT NULL DEFAULT 0, tokens_input INTEGER NOT NULL DEFAULT 0,
  tokens_output INTEGER NOT NULL DEFAULT 0, tokens_reasoning INTEGER NOT NULL DEFAULT 0,
  tokens_cache_read INTEGER NOT NULL DEFAULT 0, tokens_cache_write INTEGER NOT NULL DEFAULT 0,
  revert TEXT, permission TEXT, goal TEXT, agent TEXT, model TEXT,
  time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, time_compacting INTEGER, time_archived INTEGER);
CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT NOT NULL REFERENCES session(id) ON DELETE CASCADE,
  time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX message_session_time_created_id_idx ON message (session_id, time_created, id);
CREATE TABLE part (id TEXT PRIMARY KEY, message_id TEXT NOT NULL REFERENCES message(id) ON DELETE CASCADE,
  session_id TEXT NOT NULL, time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX part_message_id_id_idx ON part (message_id, id);
CREATE INDEX part_session_idx ON part (session_id);
"""

# crates/agent/src/db.rs ThreadsDatabase::new (zed-industries/zed @ 0642ec7e): the table and
# the columns added since.
ZED_SCHEMA = """
CREATE TABLE threads (id TEXT PRIMARY KEY, summary TEXT NOT NULL, updated_at TEXT NOT NULL,
  data_type TEXT NOT NULL, data BLOB NOT NULL);
ALTER TABLE threads ADD COLUMN parent_id TEXT;
ALTER TABLE threads ADD COLUMN folder_paths TEXT;
ALTER TABLE threads ADD COLUMN folder_paths_order TEXT;
ALTER TABLE threads ADD COLUMN created_at TEXT;
"""


def opencode_records(
    storage: Path = OPENCODE_STORAGE,
) -> list[tuple[dict[str, Any], list[tuple[dict[str, Any], list[dict[str, Any]]]]]]:
    """Each session of the JSON tree with its messages and their parts, in order."""
    sessions = []
    for found in sorted((storage / "session").glob("*/*.json")):
        info = json.loads(found.read_text())
        messages = [
            (
                json.loads(m.read_text()),
                [json.loads(part.read_text()) for part in sorted((storage / "part" / m.stem).glob("*.json"))],
            )
            for m in sorted((storage / "message" / info["id"]).glob("*.json"))
        ]
        sessions.append((info, messages))
    return sessions


def build_opencode_db(path: Path, copies: int = 1) -> sqlite3.Connection:
    """opencode.db from the fixture's records (`copies` times, ids suffixed), in WAL mode as
    opencode keeps it; the connection is left open, as a running opencode's would be."""
    database = sqlite3.connect(path)
    database.execute("PRAGMA journal_mode = WAL")
    database.executescript(OPENCODE_SCHEMA)
    records = opencode_records()
    for copy in range(copies):
        suffix = f"{copy:06d}" if copies > 1 else ""
        for info, messages in records:
            parent = info.get("parentID")
            database.execute(
                "INSERT INTO session (id, project_id, parent_id, slug, directory, title, version, time_created,"
                " time_updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (info["id"] + suffix, info["projectID"], parent + suffix if parent else None, info["slug"],
                 info["directory"], info["title"], info["version"], info["time"]["created"], info["time"]["updated"]),
            )  # fmt: skip
            for message, parts in messages:
                data = {k: v for k, v in message.items() if k not in ("id", "sessionID")}
                created = message["time"]["created"]
                database.execute(
                    "INSERT INTO message VALUES (?, ?, ?, ?, ?)",
                    (message["id"] + suffix, info["id"] + suffix, created, created, json.dumps(data)),
                )
                database.executemany(
                    "INSERT INTO part VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (part["id"] + suffix, message["id"] + suffix, info["id"] + suffix, created, created,
                         json.dumps({k: v for k, v in part.items() if k not in ("id", "sessionID", "messageID")}))
                        for part in parts
                    ],
                )  # fmt: skip
    database.commit()
    return database


def zed_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(ZED_THREADS.read_text())
    return rows


def build_zed_db(path: Path, rows: list[dict[str, Any]] | None = None, copies: int = 1) -> None:
    """threads.db from the fixture's threads, each zstd-compressed at level 3 as Zed writes
    it (unless the row says `data_type: json`)."""
    with contextlib.closing(sqlite3.connect(path)) as database:
        database.executescript(ZED_SCHEMA)
        compressor = zstandard.ZstdCompressor(level=3)
        for copy in range(copies):
            suffix = f"-{copy:06d}" if copies > 1 else ""
            for row in zed_rows() if rows is None else rows:
                data_type = row.get("data_type", "zstd")
                data = json.dumps(row["thread"]).encode()
                parent = row["parent_id"]
                database.execute(
                    "INSERT INTO threads (id, parent_id, folder_paths, folder_paths_order, summary, updated_at,"
                    " data_type, data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (row["id"] + suffix, parent + suffix if parent else None, row["folder_paths"],
                     row["folder_paths_order"], row["summary"], row["updated_at"], data_type,
                     compressor.compress(data) if data_type == "zstd" else data, row["created_at"]),
                )  # fmt: skip
        database.commit()
