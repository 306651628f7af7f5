"""One transcript file followed as it grows: only complete new lines are read.

The reader state (a format's `Reader`) lives as long as the tail, so a message whose rows
straddle two reads is put together as a whole-file import would. A file that shrank, was
replaced (another inode) or whose last read bytes changed was rewritten: it is read again
from the start, and the import keys make what was already written count once.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path
from typing import Any

import zstandard

from ..store.captures import CapturedFile
from ..store.imports import ImportedSession
from ..transcripts import Reader, claude_code, codex, copilot_cli, json_row
from ..transcripts.importer import DETECT_LINES, DETECTORS

READERS: dict[str, type[claude_code.Reader] | type[codex.Reader] | type[copilot_cli.Reader]] = {
    claude_code.FORMAT: claude_code.Reader,
    codex.FORMAT: codex.Reader,
    copilot_cli.FORMAT: copilot_cli.Reader,
}
CHUNK = 8 * 1024 * 1024
FINGERPRINT = 256  # the last bytes read, compared before reading on


def is_transcript(path: Path) -> bool:
    return path.name.endswith((".jsonl", ".jsonl.zst"))


class FileTail:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.reader: Reader | None = None
        self.not_ours = False  # a file of a format we do not capture
        self.seen = (0, 0)  # size and mtime when last read
        self._reset(None)

    def _reset(self, inode: int | None) -> None:
        self.inode = inode
        self.offset = 0
        self.fingerprint = b""
        self.early: list[dict[str, Any] | None] = []  # rows read before the format was told
        self.reader = None

    @property
    def skipped_lines(self) -> int:
        return self.reader.skipped_lines if self.reader is not None else 0

    def read_new(self) -> bool:
        """Read the complete lines added since the last call; whether there were any.
        FileNotFoundError when the file is gone."""
        info = os.stat(self.path)
        self.seen = (info.st_size, info.st_mtime_ns)
        shrank = not self.compressed and info.st_size < self.offset
        if info.st_ino != self.inode or shrank or not self._same_so_far():
            self._reset(info.st_ino)
        grew, size = False, CHUNK
        while True:
            data = self._bytes_from(self.offset, size)
            end = data.rfind(b"\n") + 1  # a half-written last line waits for its newline
            if end:
                self.offset += end
                self.fingerprint = (self.fingerprint + data[:end])[-FINGERPRINT:]
                self._feed(data[:end].split(b"\n"))
                grew = True
            if len(data) < size:
                return grew
            if not end:
                size *= 2  # one line longer than a chunk (a huge tool result)

    def take(self, *, settled: bool) -> list[ImportedSession]:
        """The messages read since the last take; once the file is quiet (`settled`), the
        last one too, and a last line without its newline."""
        if settled:
            with contextlib.suppress(OSError):
                self._read_last_line()
        return [] if self.reader is None else self.reader.take(settled=settled)

    def _read_last_line(self) -> None:
        """A last line without its newline, if it is a whole JSON object (no prefix of one
        is): a whole-file import reads it too."""
        data = self._bytes_from(self.offset)
        if data.strip() and b"\n" not in data and json_row(data) is not None:
            self.offset += len(data)
            self.fingerprint = (self.fingerprint + data)[-FINGERPRINT:]
            self._feed([data])

    def record(self) -> CapturedFile | None:
        """The file as read, if everything in it was read (nothing half-written after)."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        complete = self.compressed or info.st_size == self.offset
        if info.st_ino != self.inode or (info.st_size, info.st_mtime_ns) != self.seen or not complete:
            return None
        return CapturedFile(str(self.path), info.st_size, info.st_mtime_ns, self.skipped_lines)

    @property
    def compressed(self) -> bool:
        return self.path.suffix == ".zst"

    def _same_so_far(self) -> bool:
        if not self.fingerprint:
            return True
        start = self.offset - len(self.fingerprint)
        return self._bytes_from(start, len(self.fingerprint)) == self.fingerprint

    def _bytes_from(self, start: int, size: int = -1) -> bytes:
        """Bytes of the file's text from `start`: what is there now of a compressed file,
        b"" while its frame is incomplete (being written)."""
        with self.path.open("rb") as file:
            if not self.compressed:
                file.seek(start)
                return file.read(size)
            try:
                with zstandard.ZstdDecompressor().stream_reader(file, read_across_frames=True) as text:
                    text.seek(start)
                    return text.read(size)
            except zstandard.ZstdError:
                return b""

    def _feed(self, lines: list[bytes]) -> None:
        rows = [json_row(line) for line in lines if line.strip()]
        if self.reader is None:
            self.early += rows
            if not self._tell_format():
                return
            rows, self.early = self.early, []
        assert self.reader is not None
        for row in rows:
            self.reader.feed(row)

    def _tell_format(self) -> bool:
        """Start the reader once the first rows say which format this is."""
        for row in itertools.islice(self.early, DETECT_LINES):
            for name, looks_like in DETECTORS:
                if row is not None and looks_like(row):
                    if name not in READERS:
                        self.not_ours = True
                        return False
                    self.reader = READERS[name](self.path)
                    return True
        self.not_ours = len(self.early) >= DETECT_LINES
        return False
