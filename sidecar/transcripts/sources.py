"""Which of the paths a user named exist, and whether their files are of the format the
user asked for."""

from __future__ import annotations

from pathlib import Path

from .. import protocol as p
from ..errors import invalid
from .importer import detect, transcript_files


def existing(named: list[Path]) -> tuple[list[Path], list[Path]]:
    """The named paths that exist, and those that do not. None to import is an error
    naming `path`."""
    candidates = [path.expanduser() for path in named]
    found = [path for path in candidates if path.exists()]
    if not found:
        raise invalid("path", f"nothing to import: {' or '.join(str(path) for path in candidates)} does not exist")
    return found, [path for path in candidates if not path.exists()]


def format_mismatch(paths: list[Path], wanted: p.TranscriptFormat) -> str | None:
    """Why `--format wanted` does not fit the files at `paths`, when some are of another known
    format (read as `wanted`, they would import nothing, silently)."""
    if wanted is p.TranscriptFormat.AUTO:
        return None
    others = [
        (found, actual)
        for path in paths
        for found in transcript_files(path)
        if (actual := detect(found)) is not None and actual != wanted.value
    ]
    if not others:
        return None
    found, actual = others[0]
    more = f" (and {len(others) - 1} more files of other formats)" if len(others) > 1 else ""
    return f"{found} is a {actual} transcript, not {wanted.value}{more}: leave out --format, or give --format {actual}"
