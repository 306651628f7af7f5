"""`history/importTranscript`: find transcript files, tell their formats apart, import them.

Only the path the user named is read (without one, the agents' default locations: see
`locations`), a file or the transcripts below a directory (every
`.jsonl`, the `.json` files a whole-document format names as its own, the databases of
opencode and Zed, and Aider's chat histories).
Sessions are written whole, several to a transaction (about WRITE_BATCH messages: one
fsync for many small sessions), so a cancelled or failed import keeps the sessions
already written and never half of one.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import itertools
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from .. import protocol as p
from ..errors import invalid
from ..lifetime import exit_with_parent
from ..store import NO_WORK, Settings, Store, Work
from ..store.imports import EncodedSession, encode_session, import_sessions
from . import (
    Malformed,
    Transcript,
    agent_history,
    aider,
    claude_code,
    cline,
    codex,
    continue_dev,
    copilot_chat,
    copilot_cli,
    cursor,
    cursor_cli,
    gemini_cli,
    json_document,
    json_lines,
    opencode,
    zed,
)
from .locations import default_locations, format_of

log = logging.getLogger(__name__)

READERS: dict[str, Callable[[Path], Transcript]] = {
    claude_code.FORMAT: claude_code.read,
    codex.FORMAT: codex.read,
    agent_history.FORMAT: agent_history.read,
    gemini_cli.FORMAT: gemini_cli.read,
    cline.FORMAT: cline.read,
    continue_dev.FORMAT: continue_dev.read,
    copilot_chat.FORMAT: copilot_chat.read,
    copilot_cli.FORMAT: copilot_cli.read,
    cursor.FORMAT: cursor.read,
    cursor_cli.FORMAT: cursor_cli.read,
    opencode.FORMAT: opencode.read,
    zed.FORMAT: zed.read,
    aider.FORMAT: aider.read,
}
# Most specific first: our export's lines would also pass for Claude Code's.
DETECTORS = [
    (agent_history.FORMAT, agent_history.looks_like),
    (codex.FORMAT, codex.looks_like),
    (gemini_cli.FORMAT, gemini_cli.looks_like_row),
    (claude_code.FORMAT, claude_code.looks_like),
    (copilot_chat.FORMAT, copilot_chat.looks_like_row),
    (copilot_cli.FORMAT, copilot_cli.looks_like),
    (cursor_cli.FORMAT, cursor_cli.looks_like),
]
# The formats that keep a session as one JSON document: which files are theirs, and how
# their document looks.
DOCUMENT_READERS: dict[str, Callable[[Path, Any], Transcript]] = {
    gemini_cli.FORMAT: gemini_cli.of_document,
    cline.FORMAT: cline.of_document,
    continue_dev.FORMAT: continue_dev.of_document,
    copilot_chat.FORMAT: copilot_chat.of_document,
    opencode.FORMAT: opencode.of_document,
}
DOCUMENTS = [
    (gemini_cli.FORMAT, gemini_cli.wants, gemini_cli.looks_like),
    (cline.FORMAT, cline.wants, cline.looks_like),
    (continue_dev.FORMAT, continue_dev.wants, continue_dev.looks_like),
    (copilot_chat.FORMAT, copilot_chat.wants, copilot_chat.looks_like),
    (opencode.FORMAT, opencode.wants, opencode.looks_like),
]
# The formats that keep their sessions in another program's database, read in place
# and told apart by their tables.
DATABASES = [(cursor.FORMAT, cursor.wants, cursor.looks_like)]
# The formats found by their file's name: other programs' databases, Aider's history.
NAMED = {opencode.DATABASE: opencode.FORMAT, zed.DATABASE: zed.FORMAT, aider.HISTORY: aider.FORMAT}
DETECT_LINES = 20
WRITE_BATCH = 5000


def detect(path: Path) -> str | None:
    """The format of a transcript from its first lines (a whole-document format: from its
    document, a database or Aider's history: from its name); None when it is none we know."""
    if path.name in NAMED:
        return NAMED[path.name]
    if path.suffix == ".json":
        return _document_format(json_document(path))
    if path.suffix == ".vscdb":
        return next((name for name, _, looks_like in DATABASES if looks_like(path)), None)
    for row in itertools.islice(json_lines(path), DETECT_LINES):
        for name, looks_like in DETECTORS:
            if row is not None and looks_like(row):
                return name
    return None


def _document_format(document: Any) -> str | None:
    return next((name for name, _, looks_like in DOCUMENTS if looks_like(document)), None)


def transcript_files(path: Path) -> list[Path]:
    """The file itself, or the transcripts below the directory; sub-agent files after the
    sessions they belong to, so their parent is already imported."""
    if path.is_file():
        return [path]
    files = [found for found in path.rglob("*") if _is_transcript(found) and found.is_file()]  # one walk
    return sorted(files, key=lambda found: (is_subagent(found), str(found)))


def _is_transcript(path: Path) -> bool:
    if path.suffix == ".json":
        return any(wants(path) for _, wants, _ in DOCUMENTS)
    if path.suffix == ".vscdb":
        return any(wants(path) for _, wants, _ in DATABASES)
    return path.suffix == ".jsonl" or path.name in NAMED


def is_subagent(path: Path) -> bool:
    return "agent-" in path.name or gemini_cli.is_subagent(path) or opencode.is_subagent(path)


def import_transcript(
    store: Store,
    params: p.ImportTranscriptParams,
    work: Work = NO_WORK,
    on_unknown: Callable[[Path], None] | None = None,
) -> p.ImportTranscriptResult:
    """Import the file or directory, or without a path every default location on this
    machine (`format`'s only, when it names one); `on_unknown` hears of each file of no
    known format."""
    places = _places(params)
    files = _files(places)
    total_bytes, done_bytes = sum(size for _, _, size in files), 0
    result = p.ImportTranscriptResult(sessions=[], files=0, messages=0, skipped_lines=0, skipped_files=0)
    if params.path is None:
        result.sources = [source for source, _ in places if source is not None]
    # Without a path, the format chose the locations; their files are told apart.
    name = None if params.format is p.TranscriptFormat.AUTO or params.path is None else params.format.value
    # Encoding needs no secrets: a reader process never gets the encryption key.
    settings = attrs.evolve(store.settings, encryption_key=None)
    read = functools.partial(read_file, name=name, project_id=params.project_id, settings=settings)
    pending: list[EncodedSession] = []
    pending_messages = 0
    with readers(read, [(found, size) for _, found, size in files]) as reads:
        for number, ((source, found, size), file) in enumerate(zip(files, reads, strict=True)):
            _count_file(file, _tallies(result, source))
            if file.format is None and on_unknown is not None:
                on_unknown(found)
            pending += file.sessions
            pending_messages += sum(len(encoded.rows) for encoded in file.sessions)
            done_bytes += size
            # A batch holds one location's sessions, so each location's counts are its own.
            if pending_messages >= WRITE_BATCH or number == len(files) - 1 or files[number + 1][0] is not source:
                work.on_database(functools.partial(_write, store, pending, result, source))
                pending, pending_messages = [], 0
                work.checkpoint(done_bytes, total_bytes)
    return result


def _places(params: p.ImportTranscriptParams) -> list[tuple[p.ImportSource | None, Path]]:
    """The path named, or each default location of the agents `format` names, with what
    will be counted of it."""
    if params.path is not None:
        path = Path(params.path).expanduser()
        if not path.exists():
            raise invalid("path", f"{params.path!r} does not exist")
        return [(None, path)]
    wanted = params.format.value
    places: list[tuple[p.ImportSource | None, Path]] = [
        (_source(agent, path), path)
        for agent, path in default_locations().items()
        if params.format is p.TranscriptFormat.AUTO or format_of(agent) == wanted
    ]
    if not places:
        raise invalid("format", f"{wanted} has no default location: give a path")
    return places


def _files(places: list[tuple[p.ImportSource | None, Path]]) -> list[tuple[p.ImportSource | None, Path, int]]:
    """Each transcript file of the places that exist, with its place and size."""
    return [
        (source, found, found.stat().st_size)
        for source, path in places
        if source is None or source.found
        for found in transcript_files(path)
    ]


def _tallies(
    result: p.ImportTranscriptResult, source: p.ImportSource | None
) -> list[p.ImportTranscriptResult | p.ImportSource]:
    """What counts a file's outcome: the whole import, and its location when it has one."""
    return [result] if source is None else [result, source]


def _source(agent: str, path: Path) -> p.ImportSource:
    return p.ImportSource(
        agent=agent,
        format=p.TranscriptFormat(format_of(agent)),
        path=str(path),
        found=path.exists(),
        files=0,
        sessions=0,
        messages=0,
        skipped_lines=0,
        skipped_files=0,
    )


def _count_file(file: FileRead, tallies: list[p.ImportTranscriptResult | p.ImportSource]) -> None:
    for tally in tallies:
        if file.format is None:
            tally.skipped_files += 1
        else:
            tally.files += 1
            tally.skipped_lines += file.skipped_lines


@attrs.define
class FileRead:
    """One transcript file, read and encoded."""

    format: str | None  # None: not a transcript we know
    sessions: list[EncodedSession]
    skipped_lines: int


def read_transcript(path: Path, name: str | None) -> tuple[str | None, Transcript | None]:
    """The file's format (unless `name` says it) and its transcript (None when it is of no
    format we know, or a JSON document that does not parse); a JSON document is parsed once
    for both."""
    if name is None and path.suffix == ".json":
        document = json_document(path)
        name = _document_format(document)
        return name, _whole(path, functools.partial(DOCUMENT_READERS[name], path, document)) if name else None
    name = name or detect(path)
    return name, _whole(path, functools.partial(READERS[name], path)) if name else None


def _whole(path: Path, read: Callable[[], Transcript]) -> Transcript:
    """What a reader reads, or, when it cannot make sense of the file as a whole (a field
    every session needs, malformed), one skipped line: the import's other files go on."""
    try:
        return read()
    except (Malformed, KeyError, TypeError, ValueError, AttributeError) as error:
        log.warning("skipped %s: %s", path, error)
        return Transcript([], 1)


def read_file(path: Path, *, name: str | None, project_id: str | None, settings: Settings) -> FileRead:
    """Tell the file's format (unless `name` says it), read it and encode its sessions.
    Touches no database, so it can run in a reader process."""
    name, transcript = read_transcript(path, name)
    if transcript is None:
        return FileRead(None, [], 0)
    for session in transcript.sessions:
        session.project_id = project_id or session.project_id
    return FileRead(
        name, [encode_session(settings, session) for session in transcript.sessions], transcript.skipped_lines
    )


def _write(
    store: Store, sessions: list[EncodedSession], result: p.ImportTranscriptResult, source: p.ImportSource | None
) -> None:
    for outcome in import_sessions(store, sessions) if sessions else []:
        for tally in _tallies(result, source):
            tally.skipped_lines += outcome.skipped
            tally.messages += outcome.added
        if outcome.added:
            result.sessions.append(outcome.session)
            if source is not None:
                source.sessions += 1


# -- reader processes ---------------------------------------------------------------------
# Reading and encoding a message costs about as much as writing it, so a large import reads
# in other processes while this one writes (one writer: the database has one write lock).
# Results come back in file order: sub-agent files must follow their parents.
PARALLEL_BYTES = 16 * 1024 * 1024  # below this, starting processes costs more than it saves
# Source bytes read ahead of the writer: enough to keep readers busy while a batch is
# written, few enough to bound what is held in memory (~1.3 bytes held per source byte).
AHEAD_BYTES = 64 * 1024 * 1024


def usable_cores() -> int:
    """The cores this process may run on (all of the machine's where that cannot be told)."""
    if hasattr(os, "sched_getaffinity"):  # not on macOS
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def readers(read: Callable[[Path], FileRead], files: list[tuple[Path, int]]) -> Iterator[Iterator[FileRead]]:
    """`read` applied to each (path, size), in order; in reader processes when the import
    is large and this machine has a core to spare."""
    count = min(4, usable_cores() - 1, len(files))
    if sum(size for _, size in files) < PARALLEL_BYTES or count < 1:
        yield (read(path) for path, _ in files)
        return
    pool = ProcessPoolExecutor(
        max_workers=count,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=exit_with_parent,  # a reader would wait for work for ever
        initargs=(os.getpid(),),
    )
    try:
        yield _in_order(pool, read, files)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _in_order(
    pool: ProcessPoolExecutor, read: Callable[[Path], FileRead], files: list[tuple[Path, int]]
) -> Iterator[FileRead]:
    waiting: collections.deque[tuple[Future[FileRead], int]] = collections.deque()
    ahead = 0
    for path, size in files:
        waiting.append((pool.submit(read, path), size))
        ahead += size
        while ahead > AHEAD_BYTES:
            done, size = waiting.popleft()
            ahead -= size
            yield done.result()
    for done, _ in waiting:
        yield done.result()
