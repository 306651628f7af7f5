"""The sync replica: `<db>-sync`, a database Turso's sync engine pushes and pulls.

It holds a copy of the history in the one shape the engine merges without loss. Measured
on pyturso 0.8.3 with a `tursodb --sync-server` (tests/test_sync_engine_quirks.py): the
engine replays each machine's row changes onto the remote by primary key, so

- two machines' rows with the same rowid overwrite each other (our `messages.seq`),
- a replayed row that breaks a UNIQUE index fails the push, and the next pull drops the
  local row without a word (our `(session_id, idx)`),
- counters updated on both sides keep one side's value, and `user_version` is reset,
  and any row written on both keeps the version pushed last,
- a synced file is locked to one process (our history file is shared by many).

So the replica's rows are immutable facts keyed by ULIDs (messages, tombstones) or whole
records (sessions), with no other unique index; indexes, counters and the change feed are
derived on each machine by sidecar.sync.rounds. A session record carries when each of its
fields last changed and is merged field by field; a machine that finds the kept record
lacking one of its changes writes its merged record again. Every statement is idempotent.
"""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import turso.sync

from .. import protocol as p
from ..store.database import Database, restrict_permissions
from ..store.fields import Fields, fields_of
from ..store.imports import ImportedMessage, ImportedSession
from ..store.records import to_json
from ..wire import CONVERTER, unstructure
from .config import SyncConfig

REPLICA_SUFFIX = "-sync"
# The engine's own files beside the replica; the token may be kept in -info.
ENGINE_FILES = ("-wal", "-changes", "-info", "-wal-revert")
# CREATE … IF NOT EXISTS: each machine creates the schema, and the remote replays them all.
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, updated_at TEXT NOT NULL, record TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS messages ("
    " id TEXT PRIMARY KEY, session_id TEXT NOT NULL, order_key TEXT NOT NULL, record TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS messages_in_order ON messages (session_id, order_key, id)",
    "CREATE TABLE IF NOT EXISTS deletions ("
    " id TEXT PRIMARY KEY, kind TEXT NOT NULL, session_id TEXT NOT NULL, deleted_at TEXT NOT NULL)",
)
SESSION_KIND = "session"
MESSAGE_KIND = "message"
# What a session record carries: the fields a user sets, not counts each machine derives.
SESSION_FIELDS = (
    "id",
    "projectId",
    "kind",
    "title",
    "agentName",
    "model",
    "parentSessionId",
    "forkedFromMessageId",
    "createdAt",
    "updatedAt",
    "endedAt",
    "metadata",
)
# Fields of a stored message that a message as appended does not have.
STORED_ONLY = frozenset({"id", "createdAt", "compacted", "sessionId", "index"})


def replica_path(db_path: Path) -> Path:
    return Path(f"{db_path}{REPLICA_SUFFIX}")


def open_replica(db_path: Path, config: SyncConfig) -> Database:
    """Open (creating it offline if need be) the replica; one process at a time."""

    def connect(path: str) -> Any:
        return turso.sync.connect(
            path,
            config.url,
            auth_token=config.token,
            client_name=f"agent-history@{socket.gethostname()}",
            bootstrap_if_empty=False,  # else opening needs the network
            isolation_level=None,
        )

    # The engine's HTTP requests (turso.lib_sync) call urlopen with no timeout, so the
    # process's default is their only deadline: without it a remote that accepted and never
    # answered held the round, and the replica's lock, for good.
    socket.setdefaulttimeout(config.timeout_seconds)
    path = replica_path(db_path)
    replica = Database(path, migrations=None, connect=connect)
    with replica.write():
        for statement in SCHEMA:
            replica.execute(statement)
    for suffix in ENGINE_FILES:
        restrict_permissions(Path(f"{path}{suffix}"))
    return replica


def exchange(replica: Database, *, checkpoint: bool = False) -> bool:
    """Push the replica's local changes, then pull the remote's; True if any came in.
    Never inside a transaction. Network trouble raises turso's DatabaseError.

    `checkpoint` folds the WAL into the file after a push: copying 20,000 messages left a
    100 MB WAL for 23 MB of data (measured, tests/bench/sync.py).
    """
    push(replica)
    connection = cast(turso.sync.ConnectionSync, replica.connection)
    pulled = bool(connection.pull())
    if checkpoint or pulled:
        connection.checkpoint()
    return pulled


def push(replica: Database) -> None:
    """Push the replica's local changes; never inside a transaction."""
    cast(turso.sync.ConnectionSync, replica.connection).push()


# -- records ------------------------------------------------------------------------------


def session_record(session: p.Session, changed: dict[str, str]) -> str:
    """The session's record, with when each field last changed (sidecar.store.fields)."""
    value = unstructure(session)
    return to_json({name: value.get(name) for name in SESSION_FIELDS} | {"changedAt": changed})


def record_fields(value: dict[str, Any]) -> Fields:
    changed = value.get("changedAt")
    # A record written by a version without field times: every field as of its updatedAt.
    since = value["createdAt"] if changed is not None else value["updatedAt"]
    return fields_of(value.get("title"), value.get("endedAt"), value.get("metadata") or {}, changed or {}, since)


def message_record(message: p.Message) -> str:
    value = unstructure(message)
    return to_json({name: item for name, item in value.items() if name not in ("sessionId", "index")})


def imported_message(record: str) -> ImportedMessage:
    value = json.loads(record)
    message = CONVERTER.structure({k: v for k, v in value.items() if k not in STORED_ONLY}, p.MessageInput)
    return ImportedMessage(message, value["createdAt"], id=value["id"], compacted=bool(value.get("compacted")))


def imported_session(record: str, messages: list[ImportedMessage]) -> ImportedSession:
    value = json.loads(record)
    return ImportedSession(
        key=f"sync:{value['id']}",
        kind=value["kind"],
        messages=messages,
        created_at=value["createdAt"],
        updated_at=value["updatedAt"],
        id=value["id"],
        project_id=value.get("projectId"),
        title=value.get("title"),
        agent_name=value.get("agentName"),
        model=value.get("model"),
        parent_session_id=value.get("parentSessionId"),
        forked_from_message_id=value.get("forkedFromMessageId"),
        ended_at=value.get("endedAt"),
        metadata=value.get("metadata") or {},
        changed_at=value.get("changedAt") or {},
    )


def order_key(created_at: str, after: str | None) -> str:
    """A message's place in its session on every machine: its time, but always after the
    message before it here (clocks differ; a reply never sorts before what it answers)."""
    moment = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    if after is not None:
        moment = max(moment, datetime.fromisoformat(after.replace("Z", "+00:00")) + timedelta(microseconds=1))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
