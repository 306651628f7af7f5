"""Snapshots of another program's SQLite database while its owner writes and checkpoints
(sidecar/transcripts/databases.py), with a real sqlite3 writer."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.transcripts import databases

ROWS_PER_COMMIT = 400  # rows of ~100 bytes: each commit spans several pages


@contextlib.contextmanager
def owner(path: Path) -> Iterator[sqlite3.Connection]:
    """The database's owner: WAL mode, checkpointing only when asked, as a test needs."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, text TEXT NOT NULL)")
    try:
        yield connection
    finally:
        connection.close()


def commit(connection: sqlite3.Connection, generation: int) -> None:
    start = generation * ROWS_PER_COMMIT
    rows = [(n, f"generation {generation} " + "x" * 80) for n in range(start, start + ROWS_PER_COMMIT)]
    connection.executemany("INSERT INTO t VALUES (?, ?)", rows)


def test_a_checkpoint_between_copying_the_database_and_its_wal_is_not_a_mismatched_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner checkpoints (and starts its -wal afresh) right after the database file is
    copied, before its -wal is: the copy pairs an old database with a newer log unless the
    snapshot notices the files changed and copies them again."""
    path = tmp_path / "threads.db"
    with owner(path) as writer:
        commit(writer, 0)
        writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # generation 0 in the database file
        commit(writer, 1)  # generation 1 in the -wal only
        copied: list[Path] = []

        def copy_then_checkpoint(source: Path, target: Path) -> object:
            done = shutil_copy(source, target)
            copied.append(Path(source))
            if Path(source) == path and len(copied) == 1:  # between the two copies, once
                commit(writer, 2)
                writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the database file now holds 0-2
                writer.execute("UPDATE t SET text = 'changed' WHERE n = ?", (2 * ROWS_PER_COMMIT,))  # a new -wal
            return done

        shutil_copy = databases._copy
        monkeypatch.setattr(databases, "_copy", copy_then_checkpoint)
        with databases.snapshot(path) as database:
            assert database.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            count = database.execute("SELECT count(*) FROM t").fetchone()[0]
            changed = database.execute("SELECT text FROM t WHERE n = ?", (2 * ROWS_PER_COMMIT,)).fetchone()
    assert (count, changed and changed[0]) == (3 * ROWS_PER_COMMIT, "changed")  # the owner's latest commit, whole
    assert len(copied) > 2  # copied again once the files were seen to change


def test_a_database_that_keeps_changing_while_copied_is_an_error_not_a_mismatched_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "opencode.db"
    with owner(path) as writer:
        commit(writer, 0)
        generation = [0]

        def copy_then_write(source: Path, target: Path) -> object:
            done = shutil_copy(source, target)
            if Path(source) == path:
                generation[0] += 1
                commit(writer, generation[0])
                writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return done

        shutil_copy = databases._copy
        monkeypatch.setattr(databases, "_copy", copy_then_write)
        with pytest.raises(sqlite3.OperationalError, match="kept changing"), databases.snapshot(path):
            pass
    assert generation[0] == databases.ATTEMPTS
