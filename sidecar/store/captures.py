"""What live capture (sidecar.capture) has read of each transcript file.

A file is recorded, in the transaction that writes its messages, once everything it held
was written; at start, a file whose size and mtime still match needs no reading.
"""

from __future__ import annotations

import attrs

from .database import Database
from .records import now


@attrs.frozen
class CapturedFile:
    path: str
    size: int
    mtime_ns: int
    skipped_lines: int


def captured_files(db: Database) -> dict[str, CapturedFile]:
    rows = db.execute("SELECT path, size, mtime_ns, skipped_lines FROM capture_files")
    return {row[0]: CapturedFile(*row) for row in rows}


def record_captured(db: Database, file: CapturedFile) -> None:
    """Inside the caller's write transaction."""
    db.execute(
        "INSERT INTO capture_files (path, size, mtime_ns, skipped_lines, captured_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,"
        " skipped_lines = excluded.skipped_lines, captured_at = excluded.captured_at",
        (file.path, file.size, file.mtime_ns, file.skipped_lines, now()),
    )


def capture_totals(db: Database) -> tuple[int, int]:
    """How many files capture has read, and how many of their lines it skipped."""
    row = db.one("SELECT count(*), coalesce(sum(skipped_lines), 0) FROM capture_files")
    assert row is not None
    return int(row[0]), int(row[1])
