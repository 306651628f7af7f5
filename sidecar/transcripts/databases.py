"""Reading other programs' SQLite databases (opencode's, Zed's, Cursor's) while they may be running.

Their owners write them in WAL mode. Opening one normally, even `mode=ro`, may create its
`-shm` file beside it, and a reader holds a lock its owner can trip over; so nothing here
ever opens the owner's file but with `immutable=1` (no locks, no files made), and only when
no `-wal` file says changes may still sit outside it. Otherwise the database and its
`-wal` are copied into a temporary folder of our own and the copy is read: a consistent
snapshot with the owner's latest commits, that no one else writes (copied again when
either file changed during the copy: `_copy_pair`).

Cursor's `state.vscdb` can hold hundreds of MB, most of it not ours to read, so `in_place`
copies only when it must: a file whose -wal and -shm both lie beside it (Cursor running) is
read where it is, `mode=ro`, under SQLite's own WAL protocol (a read mark in the -shm, no
write lock, nothing created); a -wal with no -shm (a profile copied or restored while
Cursor ran), which `mode=ro` cannot open and `immutable=1` would read without its commits,
is read from a snapshot.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

WAL_SUFFIX = "-wal"
SHM_SUFFIX = "-shm"
WAL_MODE = 2  # the file format's read/write version byte for WAL
BUSY_SECONDS = 5.0
ATTEMPTS = 5  # copies of a database and its -wal before giving up on one unchanged pair
_copy = shutil.copyfile  # the one copy step (a test runs a real writer between two copies)


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
        _copy_pair(path, wal, copy)
        with contextlib.closing(_connect(copy, "mode=rw")) as connection:  # ours: may make its -shm
            yield connection


@contextlib.contextmanager
def in_place(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the database at `path` as it is now, read where it lies
    unless only a copy can be read whole."""
    wal = path.with_name(path.name + WAL_SUFFIX)
    if not wal.exists() and _in_wal_mode(path):  # closed: everything is in the file
        with contextlib.closing(_connect(path, "mode=ro&immutable=1")) as connection:
            yield connection
    elif not wal.exists() or path.with_name(path.name + SHM_SUFFIX).exists():
        # A rollback journal's shared lock, or the WAL protocol's read mark: the owner goes on.
        with contextlib.closing(_connect(path, "mode=ro")) as connection:
            yield connection
    else:
        with snapshot(path) as connection:
            yield connection


def _in_wal_mode(path: Path) -> bool:
    with path.open("rb") as file:
        header = file.read(100)
    return len(header) == 100 and header[18] == WAL_MODE


def _copy_pair(path: Path, wal: Path, copy: Path) -> None:
    """Copy the database and its -wal as one generation. A checkpoint between the two
    copies would pair the database as it was with a -wal started afresh after it: the
    commits the checkpoint moved into the file would be in neither copy (a snapshot
    silently short of them). So both files' size and mtime are compared before and after,
    and the pair copied again when either changed (bounded: an error, not a bad pair)."""
    copied_wal = copy.with_name(copy.name + WAL_SUFFIX)
    for _ in range(ATTEMPTS):
        before = _stats(path, wal)
        _copy(path, copy)
        copied_wal.unlink(missing_ok=True)  # an earlier attempt's
        with contextlib.suppress(FileNotFoundError):  # checkpointed and removed meanwhile
            _copy(wal, copied_wal)
        if _stats(path, wal) == before:
            return
    raise sqlite3.OperationalError(f"{path} kept changing while it was copied ({ATTEMPTS} tries)")


def _stats(*paths: Path) -> list[tuple[int, int] | None]:
    """Each file's size and modification time (None: not there)."""
    found: list[tuple[int, int] | None] = []
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            found.append(None)
        else:
            found.append((stat.st_size, stat.st_mtime_ns))
    return found


def _connect(path: Path, flags: str) -> sqlite3.Connection:
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?{flags}", uri=True, timeout=BUSY_SECONDS)
    connection.row_factory = sqlite3.Row
    return connection
