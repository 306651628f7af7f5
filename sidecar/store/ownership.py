"""Which files are ours: recognised before the engine opens them, stamped once they are.

The engine rewrites whatever it opens (a rollback-journal database becomes WAL, a WAL
database of another program gets our migrations, its files `-wal`/`-tshm` beside it), so a
file is judged by its first 100 bytes, read here, before any connection is made. Ours
carries `PRAGMA application_id` = APPLICATION_ID in its header; files written before that
stamp existed are recognised by their schema (read by Python's sqlite3 with `immutable=1`,
which takes no lock and creates no file) and stamped when next opened for writing.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StorageError

if TYPE_CHECKING:
    from .database import Database
    from .migrations import Migration

APPLICATION_ID = int.from_bytes(b"AgHi", "big")  # "agent history", in the header at offset 68
SQLITE_MAGIC = b"SQLite format 3\x00"
ENCRYPTED_MAGIC = b"Turso\x00"  # an encrypted file's header: nothing more can be read without the key
HEADER_BYTES = 100
USER_VERSION_AT, APPLICATION_ID_AT = 60, 68
ENGINE_MAP = "-tshm"  # the engine's shared-WAL map, mapped by every process on the file (SQLite makes `-shm`)


def is_encrypted(path: Path) -> bool:
    with contextlib.suppress(OSError), path.open("rb") as file:
        return file.read(len(ENCRYPTED_MAGIC)) == ENCRYPTED_MAGIC
    return False


def _header_int(header: bytes, offset: int) -> int:
    return int.from_bytes(header[offset : offset + 4], "big", signed=True)


def _tables(path: Path) -> list[str]:
    """The tables in the main file's schema, read without a lock or a file of SQLite's own.
    `writable_schema` lets it list a schema it cannot parse (the engine's `USING fts`)."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        connection.execute("PRAGMA writable_schema = ON")
        return [row[0] for row in connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
    finally:
        connection.close()


def first_tables(migrations: Sequence[Migration]) -> set[str]:
    """The tables our first migration (SQL text, like every early one) creates: what an
    earlier version of ours always has."""
    first = migrations[0]
    return set(re.findall(r"CREATE TABLE (\w+)", first)) if isinstance(first, str) else set()


def _unstamped_is_ours(path: Path, header: bytes, migrations: Sequence[Migration]) -> str | None:
    """None if a WAL-mode file without our application_id is ours; else what it holds."""
    version = _header_int(header, USER_VERSION_AT)
    try:
        tables = _tables(path)
    except sqlite3.Error as error:
        return f"a SQLite database whose schema cannot be read ({error})"
    if 1 <= version <= len(migrations) and first_tables(migrations) <= set(tables):
        return None  # written by an earlier version of ours, before the stamp
    if version == 0 and not tables and Path(f"{path}{ENGINE_MAP}").exists():
        return None  # our engine began it and was stopped before its first migration
    listed = ", ".join(sorted(tables)[:8]) or "none"
    return f"a WAL-mode SQLite database of some other program (user_version {version}, tables: {listed})"


def _foreign(path: Path, migrations: Sequence[Migration] | None) -> str | None:
    """None if the file at `path` is ours or new; else what was found there.
    `migrations=None`: a file whose owner keeps its schema (the sync replica); only its
    format is checked."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    with path.open("rb") as file:
        header = file.read(HEADER_BYTES)
    if header.startswith(ENCRYPTED_MAGIC):
        return None  # ours only can be: the key is asked for next
    if len(header) < HEADER_BYTES or not header.startswith(SQLITE_MAGIC):
        return "not a database file"
    if header[18] != 2 or header[19] != 2:  # the engine would convert it to WAL
        return "a rollback-journal SQLite database of some other program"
    application_id = _header_int(header, APPLICATION_ID_AT)
    if application_id == APPLICATION_ID:
        return None
    if application_id != 0:
        return f"a SQLite database of some other program (application_id {application_id:#x})"
    return None if migrations is None else _unstamped_is_ours(path, header, migrations)


def refuse_foreign_file(path: Path, migrations: Sequence[Migration] | None) -> None:
    """Refuse, before the engine opens (and so rewrites) it, a file that is not ours."""
    found = _foreign(path, migrations)
    if found is not None:
        raise StorageError(f"{path} is {found}; refusing to touch it (move it away or choose another --db)")


def stamp(db: Database) -> None:
    """Mark a database as ours, and checkpoint so that the mark reaches the main file's
    header, where the next process to open it looks before connecting."""
    if int(db.scalar("PRAGMA application_id") or 0) == APPLICATION_ID:
        return
    with db.write():
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
