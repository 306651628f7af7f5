"""One capturing process per database (see filelock.py)."""

from __future__ import annotations

from pathlib import Path

from ..filelock import FileLock


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".capture.lock")


def capture_lock(db_path: Path) -> FileLock:
    return FileLock(lock_path(db_path))
