"""Which transcripts to import: the agents' own directories on this machine, and whether a
file is of the format a user asked for."""

from __future__ import annotations

import os
from pathlib import Path

from .. import protocol as p
from ..errors import invalid
from .importer import detect, transcript_files

# (environment variable that moves the agent's home, its default home, the transcripts below it)
DEFAULT_SOURCES = (("CLAUDE_CONFIG_DIR", "~/.claude", "projects"), ("CODEX_HOME", "~/.codex", "sessions"))


def default_sources() -> list[Path]:
    """Where Claude Code and Codex keep their transcripts on this machine (whether or not there)."""
    return [Path(os.environ.get(variable) or home).expanduser() / below for variable, home, below in DEFAULT_SOURCES]


def existing(named: list[Path]) -> tuple[list[Path], list[Path]]:
    """The paths to import (the named ones, else the default sources) that exist, and the
    named ones that do not. Nothing at all to import is an error naming `path`."""
    candidates = [path.expanduser() for path in named] or default_sources()
    found = [path for path in candidates if path.exists()]
    if not found:
        wanted = " or ".join(str(path) for path in candidates)
        where = f"{wanted} does not exist" if named else f"neither {wanted} is on this machine (name a path)"
        raise invalid("path", f"nothing to import: {where}")
    return found, [path for path in candidates if named and not path.exists()]


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
