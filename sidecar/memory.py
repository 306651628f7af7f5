"""Handing memory that a process has freed back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any


@functools.cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def return_freed_memory() -> None:
    """Give the C heap's free pages back (glibc's malloc_trim; elsewhere nothing happens).

    glibc keeps what was freed for reuse, in the process: after a fold the engine had freed
    its working set, yet the indexer stayed at 450 MB instead of 130 MB (100k messages),
    for good."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
