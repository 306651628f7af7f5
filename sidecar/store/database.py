"""One pyturso connection, opened the one way every process on a file must open it.

Every write runs inside `BEGIN IMMEDIATE` (read-then-write is safe across processes),
commits are fsynced (`synchronous=FULL`), and engine errors become the contract's
StorageBusy / StorageError so callers never see a half-done write.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import turso

from ..errors import StorageBusy, StorageError
from .encryption import CIPHER
from .locks import turn
from .migrations import MIGRATIONS, Migration, migrate
from .ownership import ENGINE_MAP, is_encrypted, refuse_foreign_file, stamp

log = logging.getLogger(__name__)

# Every process on one file must use the same flags, or commits are silently lost.
ENGINE_FEATURES = "multiprocess_wal,index_method"
BUSY_TIMEOUT_MS = 5000
OPEN_WAIT_SECONDS = 60.0  # a migration of a large file may hold the turn for seconds
SIDE_FILE_SUFFIXES = ("-wal", "-tshm", "-shm")
CANNOT_ALLOCATE = {errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}
ENGINE_MAP_BYTES = 86016  # the engine's map size in pyturso 0.8.3 (a test checks it against the engine)
Row = tuple[Any, ...]


def _is_engine_error(error: BaseException) -> bool:
    """pyturso raises DB-API errors (turso.Error) and, unmapped, native ones of its own
    module that are not (IoError, Readonly, BusySnapshot…)."""
    return isinstance(error, turso.Error) or type(error).__module__.partition(".")[0] == "turso"


def _is_busy(error: BaseException) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text or type(error).__name__ == "BusySnapshot"


def _storage_error(error: BaseException) -> StorageError | StorageBusy:
    if _is_busy(error):
        return StorageBusy("the database stayed locked past the busy timeout; retrying is safe")
    return StorageError(f"storage error: {error}")


def prepare_file(path: Path) -> None:
    """Create the database's directory (0700) and file (0600) before the engine opens it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest of `path`'s ancestors that exists, when it is a file, not a directory."""
    ancestor = next((ancestor for ancestor in path.parents if ancestor.exists()), None)
    return ancestor if ancestor is not None and not ancestor.is_dir() else None


def missing_reason(path: Path) -> str | None:
    """Why `path` cannot be created as it stands: a file where a directory should be, or a
    directory that does not exist; None when its directory is there."""
    if (blocker := _file_in_the_way(path)) is not None:
        return f"{blocker} is a file, not a directory"
    return None if path.parent.is_dir() else f"the directory {path.parent} does not exist"


def _why_not(path: Path, error: OSError) -> str:
    """The OSError said the way a person would: `File exists` for a/b.db where a is a file
    reads as that a is a file; `No such file` for a directory that refuses new files (/proc)."""
    if (blocker := _file_in_the_way(path)) is not None:
        return f"{blocker} is a file, not a directory"
    if error.errno == errno.ENOENT and path.parent.is_dir() and not path.exists():
        return f"{path.parent} does not accept new files"
    return error.strerror or str(error)


def reserve_engine_map(path: Path) -> None:
    """Allocate every block of the engine's shared-WAL map (`-tshm`) before it is mapped.

    The engine sizes the map with ftruncate, which allocates nothing, and then writes it
    through mmap: on a full disk the first write to a page that has no block is SIGBUS,
    killing the process. Allocated here, a full disk is an OSError instead (ENOSPC), and
    the map's contents are kept: posix_fallocate only fills holes, so a map that processes
    already use (or one left sparse by a crash) is safe to reserve again."""
    allocate = getattr(os, "posix_fallocate", None)  # not on macOS
    if allocate is None:
        return
    map_path = Path(f"{path}{ENGINE_MAP}")
    created = not map_path.exists()  # no race: the caller holds the opening turn
    descriptor = os.open(map_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        allocate(descriptor, 0, max(ENGINE_MAP_BYTES, os.fstat(descriptor).st_size))
    except OSError as error:
        if error.errno in CANNOT_ALLOCATE:
            return  # a file system that cannot reserve: the engine maps the file as before
        if created:
            map_path.unlink()  # leave nothing behind
        raise
    finally:
        os.close(descriptor)


def restrict_permissions(path: Path) -> None:
    for candidate in [path, *(Path(f"{path}{suffix}") for suffix in SIDE_FILE_SUFFIXES)]:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_IMODE(candidate.stat().st_mode) != 0o600:
                candidate.chmod(0o600)


def _flat(rows: Sequence[Sequence[Any]]) -> list[Any]:
    return [value for row in rows for value in row]


class Database:
    """The store's single connection. Not thread-safe: one thread uses it at a time."""

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool = False,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        migrations: Sequence[Migration] | None = MIGRATIONS,
        durable: bool = True,
        encryption_key: str | None = None,
        connect: Callable[[str], Any] | None = None,
    ) -> None:
        """`migrations=None` for a file whose schema its owner keeps (the sync replica, whose
        user_version the sync engine resets); `connect` opens it some other way than
        `turso.connect` with this store's flags."""
        self.path = path
        self.read_only = read_only
        try:
            self._check_file(path, read_only=read_only)
            prepare_file(path)
            # One process at a time opens and migrates: the first connection to a file creates
            # the engine's shared-WAL map (`-tshm`), and another connecting meanwhile reads it
            # half made ("shared WAL coordination map magic mismatch"); a migration changes the
            # schema under another's first reads ("Database schema changed"); a file being
            # made looks like nobody's. The directory, not the file, is locked: a lock file
            # would be one more file beside every database.
            with turn(path.parent, wait_seconds=OPEN_WAIT_SECONDS, busy=f"another process kept opening {path}; retry"):
                self._check_contents(path, migrations, encryption_key)
                if connect is None:
                    reserve_engine_map(path)
                self._open(path, busy_timeout_ms, durable, encryption_key, connect)
                self.schema_version = 0 if migrations is None else self._migrate(migrations)
        except OSError as error:  # a directory that cannot be made, a file that cannot be read
            raise StorageError(f"cannot open {path}: {_why_not(path, error)}") from error
        restrict_permissions(path)

    @staticmethod
    def _check_file(path: Path, *, read_only: bool) -> None:
        """Refuse, before touching anything, a path this store cannot open."""
        if path.exists() and not path.is_file():
            raise StorageError(f"{path} is not a regular file; refusing to touch it (choose another --db)")
        if read_only and not path.exists():
            raise StorageError(f"{path} does not exist: read-only mode opens an existing database and creates nothing")

    @staticmethod
    def _check_contents(path: Path, migrations: Sequence[Migration] | None, encryption_key: str | None) -> None:
        """Refuse, before the engine opens it, a file that is not ours or needs a key."""
        refuse_foreign_file(path, migrations)
        if encryption_key is None and is_encrypted(path):
            raise StorageError(
                f"{path} is encrypted: give its key ($AGENT_HISTORY_KEY, $AGENT_HISTORY_KEY_FILE"
                " or the encryptionKeyFile initialization option)"
            )

    def _open(
        self,
        path: Path,
        busy_timeout_ms: int,
        durable: bool,
        encryption_key: str | None,
        connect: Callable[[str], Any] | None,
    ) -> None:
        """Connect with this store's flags and settings."""
        try:
            self.connection = (
                connect(str(path))
                if connect
                else turso.connect(
                    str(path),
                    experimental_features=ENGINE_FEATURES + (",encryption" if encryption_key else ""),
                    encryption=turso.EncryptionOpts(cipher=CIPHER, hexkey=encryption_key) if encryption_key else None,
                    isolation_level=None,
                )
            )
            self.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            # FULL: every commit is on disk when it returns. A derived file (the search index)
            # may choose NORMAL: still consistent after a crash, the last commits redone.
            self.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            self.execute("PRAGMA foreign_keys = ON")
        except Exception as error:  # whatever the engine raises, and however it says it
            raise StorageError(f"cannot open {path} as an agent-history database: {error}") from error

    def _migrate(self, migrations: Sequence[Migration]) -> int:
        """Stamp the file as ours first (a new file gets the mark before anything else is
        written), then bring its schema up to date."""
        if not self.read_only:
            stamp(self)
        return migrate(self, migrations, read_only=self.read_only)

    @contextlib.contextmanager
    def _engine_errors(self) -> Iterator[None]:
        """Engine errors as the contract's StorageBusy / StorageError."""
        try:
            yield
        except Exception as error:
            if _is_engine_error(error):
                raise _storage_error(error) from error
            raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement and fetch all its rows (an unfetched RETURNING never runs)."""
        with self._engine_errors():
            return self.connection.execute(sql, tuple(params)).fetchall()

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an INSERT; the rowid of its last row.

        Cheaper than `RETURNING`, which costs ~0.2 ms a statement in this engine (a single
        row insert is ~0.02 ms without it). Rows of one multi-row INSERT into an
        AUTOINCREMENT table get consecutive rowids, so the last one names them all.
        """
        with self._engine_errors():
            rowid = self.connection.execute(sql, tuple(params)).lastrowid
        if rowid is None:
            raise StorageError("storage error: the engine did not report the inserted row")
        return int(rowid)

    def insert_rows(self, into: str, rows: Sequence[Sequence[Any]], per_statement: int) -> int:
        """INSERT `rows` (at least one) `into` a table ("table (columns)"), `per_statement`
        rows to a multi-row statement (statements, not rows, are what cost); the rowid of the
        last. In one write transaction an AUTOINCREMENT table's rows get consecutive rowids,
        in order."""
        placeholders = "(" + ", ".join(["?"] * len(rows[0])) + ")"
        *whole, last = [rows[start : start + per_statement] for start in range(0, len(rows), per_statement)]
        if whole:
            # One statement prepared for every whole part before the last (the engine keeps
            # no prepared statement: preparing one of hundreds of rows was a quarter of
            # writing them); the last part runs alone for its rowid, which executemany does
            # not report.
            with self._engine_errors():
                self.connection.executemany(
                    f"INSERT INTO {into} VALUES {', '.join([placeholders] * per_statement)}", list(map(_flat, whole))
                )
        return self.insert(f"INSERT INTO {into} VALUES {', '.join([placeholders] * len(last))}", _flat(last))

    @contextlib.contextmanager
    def stream(self, sql: str, params: Sequence[Any] = ()) -> Iterator[Iterator[Row]]:
        """Rows one at a time, for a caller that may stop early (fetchall steps through all)."""
        with self._engine_errors():
            cursor = self.connection.execute(sql, tuple(params))
        try:
            with self._engine_errors():  # rows are stepped while the caller iterates
                yield iter(cursor)
        finally:
            cursor.close()

    def by_ids(self, select: str, ids: Sequence[str], chunk: int = 500, column: str = "id") -> list[Row]:
        """`select` (no WHERE) for rows whose `column` is in `ids`, a bounded number of
        parameters a statement."""
        rows: list[Row] = []
        for start in range(0, len(ids), chunk):
            part = list(ids[start : start + chunk])
            rows += self.execute(f"{select} WHERE {column} IN ({', '.join('?' * len(part))})", part)
        return rows

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return row[0] if row else None

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """A write transaction: all of it commits, or none of it does."""
        if self.read_only:
            raise StorageError("the store was opened read-only; writes are refused")
        self.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self.connection.execute("ROLLBACK")
            raise
        try:
            self.connection.execute("COMMIT")
        except Exception as error:
            with contextlib.suppress(Exception):
                self.connection.execute("ROLLBACK")
            raise _storage_error(error) from error

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: every statement inside sees the same committed state."""
        self.execute("BEGIN")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                self.connection.execute("COMMIT")

    def file_bytes(self) -> int:
        return sum(
            Path(f"{self.path}{suffix}").stat().st_size
            for suffix in ("", "-wal")
            if Path(f"{self.path}{suffix}").exists()
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.close()
