"""Reading other programs' SQLite databases (opencode's, Zed's) while they may be running.

Their owners write them in WAL mode. Opening one normally, even `mode=ro`, may create its
`-shm` file beside it, and a reader holds a lock its owner can trip over; so nothing here
ever opens the owner's file but with `immutable=1` (no locks, no files made), and only when
no `-wal` file says changes may still sit outside it. Otherwise the database and its
`-wal` are copied into a temporary folder of our own and the copy is read: a consistent
snapshot with the owner's latest commits, that no one else writes.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

WAL_SUFFIX = "-wal"


@contextlib.contextmanager
def snapshot(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the database at `path` as it is now (sqlite3.Error when
    it is not a database)."""
    wal = path.with_name(path.name + WAL_SUFFIX)
    if not wal.exists():
        with contextlib.closing(_connect(path, "mode=ro&immutable=1")) as connection:
            yield connection
        return
    with tempfile.TemporaryDirectory(prefix="agent-history-") as scratch:
        copy = Path(scratch) / path.name
        shutil.copyfile(path, copy)
        with contextlib.suppress(FileNotFoundError):  # checkpointed and removed meanwhile
            shutil.copyfile(wal, copy.with_name(copy.name + WAL_SUFFIX))
        with contextlib.closing(_connect(copy, "mode=rw")) as connection:  # ours: may make its -shm
            yield connection


def _connect(path: Path, flags: str) -> sqlite3.Connection:
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?{flags}", uri=True)
    connection.row_factory = sqlite3.Row
    return connection
