"""`history/importTranscript`: find transcript files, tell their formats apart, import them.

Only the path the user named is read (a file, or the `.jsonl` files below a directory).
Sessions are written whole, several to a transaction (about WRITE_BATCH messages: one
fsync for many small sessions), so a cancelled or failed import keeps the sessions
already written and never half of one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

from .. import protocol as p
from ..errors import invalid
from ..store import NO_WORK, Store, Work
from ..store.imports import ImportedSession, import_sessions
from . import Transcript, agent_history, claude_code, codex, json_lines

READERS: dict[str, Callable[[Path], Transcript]] = {
    claude_code.FORMAT: claude_code.read,
    codex.FORMAT: codex.read,
    agent_history.FORMAT: agent_history.read,
}
# Most specific first: our export's lines would also pass for Claude Code's.
DETECTORS = [
    (agent_history.FORMAT, agent_history.looks_like),
    (codex.FORMAT, codex.looks_like),
    (claude_code.FORMAT, claude_code.looks_like),
]
DETECT_LINES = 20
WRITE_BATCH = 5000


def detect(path: Path) -> str | None:
    """The format of a transcript from its first lines; None when it is none we know."""
    for row in itertools.islice(json_lines(path), DETECT_LINES):
        for name, looks_like in DETECTORS:
            if row is not None and looks_like(row):
                return name
    return None


def transcript_files(path: Path) -> list[Path]:
    """The file itself, or every .jsonl below the directory; sub-agent files after the
    sessions they belong to, so their parent is already imported."""
    if path.is_file():
        return [path]
    files = [found for found in path.rglob("*.jsonl") if found.is_file()]
    return sorted(files, key=lambda found: ("agent-" in found.name, str(found)))


def import_transcript(store: Store, params: p.ImportTranscriptParams, work: Work = NO_WORK) -> p.ImportTranscriptResult:
    path = Path(params.path).expanduser()
    if not path.exists():
        raise invalid("path", f"{params.path!r} does not exist")
    files = [(found, found.stat().st_size) for found in transcript_files(path)]
    total_bytes, done_bytes = sum(size for _, size in files), 0
    result = p.ImportTranscriptResult(sessions=[], files=0, messages=0, skipped_lines=0, skipped_files=0)
    pending: list[ImportedSession] = []
    pending_messages = 0
    for number, (found, size) in enumerate(files):
        name = detect(found) if params.format is p.TranscriptFormat.AUTO else params.format.value
        if name is None:
            result.skipped_files += 1
        else:
            sessions = _read(found, name, params.project_id, result)
            pending += sessions
            pending_messages += sum(len(session.messages) for session in sessions)
        done_bytes += size
        if pending_messages >= WRITE_BATCH or number == len(files) - 1:
            _write(store, pending, result)
            pending, pending_messages = [], 0
            work.checkpoint(done_bytes, total_bytes)
    return result


def _read(path: Path, name: str, project_id: str | None, result: p.ImportTranscriptResult) -> list[ImportedSession]:
    transcript = READERS[name](path)
    result.files += 1
    result.skipped_lines += transcript.skipped_lines
    for session in transcript.sessions:
        session.project_id = project_id or session.project_id
    return transcript.sessions


def _write(store: Store, sessions: list[ImportedSession], result: p.ImportTranscriptResult) -> None:
    for outcome in import_sessions(store, sessions) if sessions else []:
        result.skipped_lines += outcome.skipped
        result.messages += outcome.added
        if outcome.added:
            result.sessions.append(outcome.session)
