"""Files that are not ours are refused before the engine opens them, and left exactly as
they were with nothing created beside them; ours, old or new, open (and get our mark)."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import turso

from sidecar.errors import StorageError
from sidecar.store import Store
from sidecar.store.database import ENGINE_FEATURES
from sidecar.store.migrations import SCHEMA_VERSION
from sidecar.store.ownership import APPLICATION_ID

from .helpers import RawServer


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _header_int(path: Path, offset: int) -> int:
    return int.from_bytes(path.read_bytes()[offset : offset + 4], "big")


def _wal_database(path: Path, user_version: int, tables: list[str], application_id: int = 0) -> None:
    """Another program's WAL-mode database, closed cleanly (SQLite removes its -wal and -shm)."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode = wal")
    for table in tables:
        connection.execute(f"CREATE TABLE {table} (body TEXT)")
        connection.execute(f"INSERT INTO {table} VALUES ('theirs')")
    connection.execute(f"PRAGMA user_version = {user_version}")
    connection.execute(f"PRAGMA application_id = {application_id}")
    connection.commit()
    connection.close()


FOREIGN = {
    "user_version 2": (2, ["notes"], 0, "user_version 2, tables: notes"),
    "user_version 4": (4, ["notes", "tags"], 0, "user_version 4, tables: notes, tags"),
    "an empty schema": (0, [], 0, "user_version 0, tables: none"),
    "our first tables, no mark": (0, ["sessions", "messages", "compactions", "edits", "changes"], 0, "user_version 0"),
    "another application_id": (3, ["sessions"], 0x12345678, "application_id 0x12345678"),
}


@pytest.mark.parametrize("kind", FOREIGN)
def test_another_programs_wal_database_is_refused_and_untouched(tmp_path: Path, kind: str) -> None:
    # Before: user_version 2 was migrated to ours, 4 and the empty schema adopted, with our
    # -wal and -tshm left beside each.
    user_version, tables, application_id, found = FOREIGN[kind]
    path = tmp_path / "theirs.db"
    _wal_database(path, user_version, tables, application_id)
    before, listing = _digest(path), sorted(os.listdir(tmp_path))
    with pytest.raises(StorageError) as refused:
        Store(path)
    assert str(path) in str(refused.value) and "some other program" in str(refused.value)
    assert found in str(refused.value)
    assert _digest(path) == before and sorted(os.listdir(tmp_path)) == listing == ["theirs.db"]


def test_over_stdio_the_refusal_is_a_storage_error_naming_the_path_and_what_was_found(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    _wal_database(path, 2, ["notes"])
    before = _digest(path)
    server = RawServer(path)
    try:
        response = server.initialize()
        assert response["error"]["code"] == -32005
        message = response["error"]["message"]
        assert str(path) in message and "WAL-mode SQLite database of some other program (user_version 2" in message
        assert server.request("history/stats", None)["error"]["code"] == -32600  # still serving
    finally:
        server.close()
    assert _digest(path) == before and os.listdir(tmp_path) == ["theirs.db"]


def _keep_writing(path: str, started: Any, stop: Any) -> None:
    """Another program, writing to its WAL-mode database until told to stop."""
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode = wal")
    connection.execute("PRAGMA user_version = 2")
    connection.execute("CREATE TABLE IF NOT EXISTS log (n INTEGER)")
    connection.commit()
    count = 0
    while not stop.is_set():
        count += 1
        connection.execute("INSERT INTO log VALUES (?)", (count,))
        connection.commit()
        started.set()
        time.sleep(0.001)
    connection.close()


def test_a_database_another_program_is_writing_is_refused_and_its_writes_survive(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    context = multiprocessing.get_context("spawn")
    started, stop = context.Event(), context.Event()
    writer = context.Process(target=_keep_writing, args=(str(path), started, stop))
    writer.start()
    try:
        assert started.wait(60)
        for _ in range(5):
            with pytest.raises(StorageError, match="some other program"):
                Store(path)
        assert sorted(os.listdir(tmp_path)) == ["busy.db", "busy.db-shm", "busy.db-wal"]  # SQLite's own only
    finally:
        stop.set()
        writer.join(60)
    assert writer.exitcode == 0
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        count, last = connection.execute("SELECT count(*), max(n) FROM log").fetchone()
    connection.close()
    assert count == last > 0  # every write it made is there


def test_our_database_from_before_the_mark_opens_and_is_stamped(db_path: Path) -> None:
    store = Store(db_path)
    store.db.execute("PRAGMA application_id = 0")  # as every version before the mark wrote it
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    assert _header_int(db_path, 68) == 0 and _header_int(db_path, 60) == SCHEMA_VERSION
    Store(db_path, read_only=True).close()  # read-only: recognised by its schema, not stamped
    assert _header_int(db_path, 68) == 0
    reopened = Store(db_path)
    assert reopened.db.schema_version == SCHEMA_VERSION
    reopened.close()
    assert _header_int(db_path, 68) == APPLICATION_ID


def test_a_new_database_carries_the_mark_in_its_header_while_open(db_path: Path) -> None:
    store = Store(db_path)
    try:
        assert _header_int(db_path, 68) == APPLICATION_ID  # the next process to open it looks here
        Store(db_path).close()
    finally:
        store.close()


def _begin_and_die(path: str) -> None:
    connection = turso.connect(path, experimental_features=ENGINE_FEATURES, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")  # the engine writes the header page here
    os._exit(9)


def test_a_file_our_engine_began_and_never_finished_opens(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    context = multiprocessing.get_context("spawn")
    dying = context.Process(target=_begin_and_die, args=(str(db_path),))
    dying.start()
    dying.join(60)
    assert dying.exitcode == 9 and db_path.stat().st_size > 0
    store = Store(db_path)
    assert store.db.schema_version == SCHEMA_VERSION
    store.close()
