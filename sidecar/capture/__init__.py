"""Live capture: the agents' transcript folders followed as they are written (watcher.py),
each file read incrementally (tail.py), one capturing process per database (lock.py)."""

from __future__ import annotations

from .watcher import Capture, CaptureConfig

__all__ = ["Capture", "CaptureConfig"]
