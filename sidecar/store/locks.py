"""Turns between processes, by flock: held while a descriptor is open, gone if its holder dies.

flock, not fcntl's record locks: closing any descriptor of a file drops every record lock
the process holds on it, and the engine keeps record locks of its own on some files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import StorageBusy

POLL_SECONDS = 0.01


@contextlib.contextmanager
def turn(path: Path, *, wait_seconds: float, busy: str) -> Iterator[None]:
    """An exclusive flock of `path` (a lock file, created if missing, or a directory) for the
    block; StorageBusy(`busy`) when another process keeps it past `wait_seconds`."""
    flags = os.O_RDONLY if path.is_dir() else os.O_RDWR | os.O_CREAT
    descriptor = os.open(path, flags, 0o600)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StorageBusy(busy) from None
                time.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(descriptor)  # closing the only descriptor lets go of the lock
