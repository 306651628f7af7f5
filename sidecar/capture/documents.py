"""One transcript the agent keeps whole, read again whole once it is quiet.

Gemini CLI's chats, Cline's (Roo Code's, Kilo Code's) tasks, Continue's sessions and
Copilot Chat's are JSON documents rewritten as the session grows; Gemini CLI's and Copilot
Chat's newer `.jsonl` logs, and Cursor's agent transcripts, are read as a whole too (a log
is replayed into the document it records, a later line may replace an earlier one). None
can be read a line at a time as a tail reads (tail.py): a changed file is read again
through the importer's reader once it has been quiet for the hold (a document rewritten
in bursts is read once), and the import keys keep only the messages the stored session
lacks. A document that does not parse (half-written) is not an error: nothing of it is
written or recorded, and it is read again at its next change.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..store.captures import CapturedFile
from ..store.imports import ImportedSession
from ..transcripts import cline, continue_dev, copilot_chat, cursor_cli, gemini_cli, json_document
from ..transcripts.importer import DOCUMENTS, read_transcript

FORMATS = (gemini_cli.FORMAT, cline.FORMAT, continue_dev.FORMAT, copilot_chat.FORMAT, cursor_cli.FORMAT)
# Files read with a document (what its reader reads beside it), by the document's name.
COMPANIONS = {cline.HISTORY: cline.UI}
Stamp = tuple[int, int]  # size and mtime


def document_of(path: Path) -> Path | None:
    """The document a changed `.json` file belongs to: itself when it is one (opencode's JSON
    tree is not followed: a session's messages are files of their own), the task's history
    for a Cline task's UI messages (their times and usage are read with it)."""
    companion_of = {companion: document for document, companion in COMPANIONS.items()}
    if path.name in companion_of:
        return path.with_name(companion_of[path.name])
    return path if any(wants(path) for name, wants, _ in DOCUMENTS if name in FORMATS) else None


class Document:
    """A document followed: told it changed, read whole when asked once it is quiet."""

    not_ours = False  # a file of these formats is always read

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen = (0, 0)  # size and mtime when last looked at
        self.stamps: list[Stamp | None] = []  # of the document and its companions, when last looked at
        self.last_read: CapturedFile | None = None  # the version read whole, if it parsed and held still

    def read_new(self) -> bool:
        """Whether the document (or a file read with it) changed since it was last looked
        at; it is read once quiet (take). FileNotFoundError when it is gone."""
        info = os.stat(self.path)
        self.seen = (info.st_size, info.st_mtime_ns)
        stamps = [_stamp(path) for path in self._files()]
        changed, self.stamps = stamps != self.stamps, stamps
        return changed

    def take(self, *, settled: bool) -> list[ImportedSession]:
        """Once quiet (`settled`), every session the document holds now (the import adds
        what the store lacks); nothing while it may still be being written."""
        if not settled:
            return []
        self.last_read = None
        before = _stamp(self.path)
        if before is None:  # gone
            return []
        _, transcript = read_transcript(self.path, None)
        if transcript is None or not self._companions_whole():  # half-written: read at its next change
            return []
        if _stamp(self.path) == before:  # else written again meanwhile: its next event reads that
            self.last_read = CapturedFile(str(self.path), *before, transcript.skipped_lines)
        return transcript.sessions

    def record(self) -> CapturedFile | None:
        """The document as read, if it parsed and has not changed since."""
        read = self.last_read
        return read if read is not None and _stamp(self.path) == (read.size, read.mtime_ns) else None

    def _companions_whole(self) -> bool:
        """Whether the files read with the document parse where they exist (a Cline task's UI
        messages half-written would give its new messages the wrong times, for good)."""
        return all(json_document(path) is not None for path in self._files()[1:] if path.exists())

    def _files(self) -> list[Path]:
        companion = COMPANIONS.get(self.path.name)
        return [self.path, self.path.with_name(companion)] if companion else [self.path]


def _stamp(path: Path) -> Stamp | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns
