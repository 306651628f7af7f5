"""Which files live capture follows, and how: a tail for the formats appended line by line
(tail.py), a document re-read whole for those kept whole (documents.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..store.captures import CapturedFile
from ..store.imports import ImportedSession
from ..transcripts.importer import detect
from .documents import FORMATS, Document, document_of
from .tail import FileTail, is_transcript


class Follower(Protocol):
    """One file followed: told it changed (read_new), asked for its new messages (take),
    and, once quiet and everything in it written, for its record (capture_files)."""

    path: Path
    seen: tuple[int, int]  # size and mtime when last looked at

    @property
    def not_ours(self) -> bool:
        """A file of a format not followed, found once it was read."""

    def read_new(self) -> bool:
        """Whether the file changed since; FileNotFoundError when it is gone."""

    def take(self, *, settled: bool) -> list[ImportedSession]: ...

    def record(self) -> CapturedFile | None: ...


def followed(path: Path) -> Path | None:
    """The file to follow when `path` changed (itself, or the document it belongs to), None
    when no follower reads it."""
    return path if is_transcript(path) else document_of(path)


def follower(path: Path) -> Follower | None:
    """What follows a file seen for the first time: a document is told by its name, a log
    by its first lines; None while those do not say yet (asked again at its next change)."""
    if path.suffix == ".json":
        return Document(path)
    if path.suffix == ".zst":  # only Codex's rollouts are compressed
        return FileTail(path)
    name = detect(path)
    if name is None:
        return None
    return Document(path) if name in FORMATS else FileTail(path)
