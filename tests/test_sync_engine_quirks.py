"""What Turso's sync engine (pyturso 0.8.3, tursodb 0.7.0 server) does to tables shaped like
our history, one test each: why sidecar/sync/replica.py keeps a replica of immutable
records instead of syncing the history file itself.

Each test asserts the behaviour is still there. When one starts failing, the engine has
changed: revisit the replica's design (its docstring lists these), then this test.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import turso.sync

from .sync_server import SyncServer, needs_npm, sync_server

pytestmark = needs_npm


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SyncServer]:
    with sync_server(tmp_path) as running:
        yield running


def replica(server: SyncServer, path: Path) -> Any:
    return turso.sync.connect(str(path), server.url, bootstrap_if_empty=False, isolation_level=None)


def pair(server: SyncServer, tmp_path: Path, *schema: str) -> tuple[Any, Any]:
    """Two machines that share a schema and have pulled it."""
    first = replica(server, tmp_path / "first.db")
    for statement in schema:
        first.execute(statement)
    first.push()
    second = replica(server, tmp_path / "second.db")
    second.pull()
    return first, second


def push_both_then_pull(first: Any, second: Any) -> None:
    first.push()
    second.push()
    first.pull()
    second.pull()


def test_rows_with_the_same_rowid_on_two_machines_overwrite_each_other(server: SyncServer, tmp_path: Path) -> None:
    first, second = pair(server, tmp_path, "CREATE TABLE m (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT)")
    first.execute("INSERT INTO m (body) VALUES ('from the first')")
    second.execute("INSERT INTO m (body) VALUES ('from the second')")
    push_both_then_pull(first, second)
    assert first.execute("SELECT seq, body FROM m").fetchall() == [(1, "from the second")]  # one is gone


def test_a_row_breaking_a_unique_index_fails_the_push_and_the_next_pull_drops_it(
    server: SyncServer, tmp_path: Path
) -> None:
    first, second = pair(
        server,
        tmp_path,
        "CREATE TABLE m (id TEXT PRIMARY KEY, session TEXT, idx INTEGER)",
        "CREATE UNIQUE INDEX m_by_index ON m (session, idx)",
    )
    first.execute("INSERT INTO m VALUES ('a', 's', 0)")
    second.execute("INSERT INTO m VALUES ('b', 's', 0)")
    second.execute("INSERT INTO m VALUES ('c', 's', 1)")
    first.push()
    with pytest.raises(turso.sync.DatabaseError, match="UNIQUE constraint failed"):
        second.push()
    second.pull()
    assert second.execute("SELECT id FROM m ORDER BY id").fetchall() == [("a",), ("c",)]  # 'b' lost, silently


def test_rows_keyed_by_distinct_text_ids_all_survive(server: SyncServer, tmp_path: Path) -> None:
    """The shape the replica uses."""
    first, second = pair(server, tmp_path, "CREATE TABLE m (id TEXT PRIMARY KEY, session TEXT, body TEXT)")
    first.execute("INSERT INTO m VALUES ('01A', 's', 'a')")
    second.execute("INSERT INTO m VALUES ('01B', 's', 'b')")
    push_both_then_pull(first, second)
    for machine in (first, second):
        assert machine.execute("SELECT id FROM m ORDER BY id").fetchall() == [("01A",), ("01B",)]


def test_a_counter_updated_on_both_machines_keeps_one_sides_value(server: SyncServer, tmp_path: Path) -> None:
    first, second = pair(server, tmp_path, "CREATE TABLE c (id TEXT PRIMARY KEY, n INTEGER)")
    first.execute("INSERT INTO c VALUES ('x', 0)")
    first.push()
    second.pull()
    first.execute("UPDATE c SET n = n + 1")
    second.execute("UPDATE c SET n = n + 1")
    push_both_then_pull(first, second)
    assert first.execute("SELECT n FROM c").fetchall() == [(1,)]  # not 2


def test_a_pull_resets_user_version(server: SyncServer, tmp_path: Path) -> None:
    first, second = pair(server, tmp_path, "CREATE TABLE t (id TEXT PRIMARY KEY)")
    first.execute("PRAGMA user_version = 4")
    second.execute("INSERT INTO t VALUES ('x')")
    second.push()
    first.pull()
    assert first.execute("PRAGMA user_version").fetchall() == [(0,)]


def test_a_synced_file_is_locked_to_one_process(server: SyncServer, tmp_path: Path) -> None:
    path = tmp_path / "one.db"
    held = replica(server, path)
    other = subprocess.run(
        [sys.executable, "-c", f"import turso.sync; turso.sync.connect({str(path)!r}, {server.url!r})"],
        capture_output=True,
        text=True,
    )
    assert other.returncode != 0 and "locked by another process" in other.stderr
    held.close()
