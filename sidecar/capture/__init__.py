"""Live capture: the agents' transcript folders (folders.py) followed as they are written
(watcher.py), a log read incrementally (tail.py), a document again whole once quiet
(documents.py; follow.py tells which), one capturing process per database (lock.py)."""

from __future__ import annotations

from .watcher import Capture, CaptureConfig

__all__ = ["Capture", "CaptureConfig"]
