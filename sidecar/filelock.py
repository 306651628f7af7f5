"""One process per database for a job (live capture, search indexing): a flock on a file
beside the database.

Whichever process holds it does the job; the others try again every few seconds, so when
the holder exits or dies (the kernel drops its flock with it) another takes over.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
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
        """Let go of the lock, unless a child process inherited it (then it holds it until it exits)."""
        if self.descriptor is not None:
            with contextlib.suppress(OSError):
                os.close(self.descriptor)  # closing the last descriptor lets go of the lock
            self.descriptor = None
