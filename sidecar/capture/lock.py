"""One capturing process per database: a flock on a file beside it.

Whichever sidecar holds it captures; the others try again every few seconds, so when the
holder exits or dies (the kernel drops its flock with it) another takes over.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".capture.lock")


class CaptureLock:
    def __init__(self, db_path: Path) -> None:
        self.path = lock_path(db_path)
        self.descriptor: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if no other process holds it; never waits."""
        if self.descriptor is not None:
            return True
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self.descriptor = descriptor
        return True

    def release(self) -> None:
        if self.descriptor is not None:
            with contextlib.suppress(OSError):
                os.close(self.descriptor)  # closing the only descriptor lets go of the lock
            self.descriptor = None
