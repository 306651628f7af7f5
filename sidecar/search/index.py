"""The search index: derived data beside the history file, filled in the background by one
indexer process per database, searched by every process on the file.

Why beside it, not in it: each INSERT into an FTS-indexed table costs the engine 6-9 ms,
and that write would hold the history file's lock, stalling every append of every process.
The indexer reads committed messages (readers never block writers) and writes the index;
appends never wait for it.

Two engines behind one interface (SearchIndex): Tantivy's memory-mapped segments
(tantivy_fts) for a plain history, Turso's own FTS (turso_fts) for an encrypted one, whose
index must be encrypted with it. `AGENT_HISTORY_SEARCH_ENGINE` (turso, tantivy) overrides
the choice for measurements; every process on a file must make the same one.

Every hit is checked against the history before it is returned, so a deleted or purged
message is never found, even before the indexer has removed it; and a snippet is cut from
the history's row, not from the index.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO, Protocol

from .. import protocol as p
from ..errors import HistoryError, StorageBusy, invalid
from ..filelock import FileLock
from ..lifetime import child_environment, exit_with_spawner
from ..memory import return_freed_memory
from ..store import Store
from ..store.database import BUSY_TIMEOUT_MS, SIDE_FILE_SUFFIXES, Database, Row
from ..store.encryption import KEY_ENV, load_key
from .documents import document_body, filters, millis
from .query import compile_query
from .snippets import Words, snippet

log = logging.getLogger(__name__)

ENGINE_ENV = "AGENT_HISTORY_SEARCH_ENGINE"
ENGINES = ("tantivy", "turso")
POLL_SECONDS = 0.25
ROUND_SECONDS = 0.1
RESTART_SECONDS = 2.0
# How long a search without an indexer of its own waits for an editor's to take new messages in.
BUSY_WAIT_SECONDS = 2.0
BUSY_POLL_SECONDS = 0.05
TRIM_SECONDS = 30.0
# Hits fetched beyond the limit, to make up for any that are stale.
SLACK = 10
MAX_FETCH = 5000


class SearchIndex(Protocol):
    def indexed_through(self) -> int:
        """The seq of the last message searches can find."""
        ...

    def documents(self) -> int:
        """How many messages searches can find (stale ones included, until forgotten)."""
        ...

    def catch_up(self, history: Database, deadline: float | None = None) -> bool:
        """Index what is committed, forget what was removed; whether memory was freed."""
        ...

    def expand(self, stem: str) -> list[str]:
        """Indexed words that start with `stem`, shortest first."""
        ...

    def ranked(self, engine: str, params: p.SearchMessagesParams, fetch: int) -> list[tuple[int, float]]:
        """The best `fetch` (seq, score) hits of an engine query."""
        ...

    def close(self) -> None: ...


def engine_for(encryption_key: str | None) -> str:
    chosen = os.environ.get(ENGINE_ENV) or ("turso" if encryption_key else "tantivy")
    if chosen not in ENGINES:
        raise invalid(ENGINE_ENV, f"{chosen!r} is not one of {', '.join(ENGINES)}")
    if chosen == "tantivy" and encryption_key:
        raise invalid(ENGINE_ENV, "an encrypted history needs an encrypted index: turso")
    return chosen


def index_exists(db_path: Path, encryption_key: str | None) -> bool:
    if engine_for(encryption_key) == "tantivy":
        from .tantivy_fts import index_path

        return (index_path(db_path) / "meta.json").exists()
    from .turso_fts import search_path

    return search_path(db_path).exists()


def open_index(
    db_path: Path,
    *,
    read_only: bool = False,
    encryption_key: str | None = None,
    keeps_writer: bool = False,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
) -> SearchIndex:
    """The database's search index, in the engine its encryption calls for. Each engine is
    imported only when used: Tantivy's bindings cost a sidecar that never searches. (A busy
    Tantivy writer is reported at once; `busy_timeout_ms` is how long Turso's waits.)"""
    if engine_for(encryption_key) == "tantivy":
        from .tantivy_fts import TantivyIndex

        return TantivyIndex(db_path, read_only=read_only, keeps_writer=keeps_writer)
    from .turso_fts import TursoIndex

    return TursoIndex(db_path, read_only=read_only, encryption_key=encryption_key, busy_timeout_ms=busy_timeout_ms)


def remove_other_engines(db_path: Path, engine: str) -> None:
    """Delete the index another engine left beside the history, once this one can answer
    every search: a Turso index from before holds every message's text a second time (a GB
    at a million messages), and a Tantivy index beside a history encrypted since would be a
    plain copy of its words."""
    from .tantivy_fts import index_path
    from .turso_fts import search_path

    if engine != "tantivy":
        shutil.rmtree(index_path(db_path), ignore_errors=True)
    if engine != "turso":
        for suffix in ("", *SIDE_FILE_SUFFIXES):
            Path(f"{search_path(db_path)}{suffix}").unlink(missing_ok=True)


def messages_behind(history: Database, index: SearchIndex) -> int:
    """How many committed messages searches cannot find yet."""
    return int(history.scalar("SELECT count(*) FROM messages WHERE seq > ?", (index.indexed_through(),)))


def catch_up_or_wait(history: Database, index: SearchIndex, seconds: float | None = None) -> int:
    """Bring the index up to date (within `seconds`, when given) for a process without an
    indexer of its own (the terminal, the MCP server); when an editor's indexer holds it
    (Tantivy's one writer, a Turso fold), wait as long for that one to. How many messages
    searches still cannot find."""
    deadline = time.monotonic() + (BUSY_WAIT_SECONDS if seconds is None else seconds)
    try:
        index.catch_up(history, deadline=None if seconds is None else deadline)
    except StorageBusy:
        while messages_behind(history, index) and time.monotonic() < deadline:
            time.sleep(BUSY_POLL_SECONDS)
    return messages_behind(history, index)


def run_indexer(db_path: Path, wakeups: BinaryIO) -> None:
    """The indexer process's loop: catch up, then wait for a wake-up byte or POLL_SECONDS.

    It runs in a process of its own because indexing is CPU work in Python (tokenizing,
    building rows) and, in the sidecar's process, the GIL would stall the request path.
    It exits when `wakeups` reaches end of file, that is, when its sidecar closed it, and at
    once, even mid-round, when its sidecar is gone.
    """
    exit_with_spawner()
    with contextlib.suppress(OSError):
        os.nice(10)  # background work: the sidecars' request paths come first
    key = load_key()  # handed over by the sidecar in the environment, never on the command line
    history: Database | None = None
    index: SearchIndex | None = None
    retired = False
    trimmed = time.monotonic()
    try:
        while True:
            try:
                # Opened in the loop: on a full disk the index cannot be created, and the
                # indexer waits for space rather than dying and being restarted over and over.
                history = history or Database(db_path, read_only=True, encryption_key=key)
                index = index or open_index(db_path, encryption_key=key, keeps_writer=True)
                # A fold's or a backlog's working set, hundreds of MB, is freed but kept by the
                # C heap; so are Tantivy's merges, which end on their own threads: trim now and then.
                if index.catch_up(history) or time.monotonic() - trimmed > TRIM_SECONDS:
                    return_freed_memory()
                    trimmed = time.monotonic()
                if not retired and not messages_behind(history, index):
                    remove_other_engines(db_path, engine_for(key))
                    retired = True
            except HistoryError as error:  # busy or full: try again on the next round
                log.warning("search indexing deferred: %s", error.message)
            # Rounds at most every ROUND_SECONDS: a busy writer's appends are indexed in batches.
            time.sleep(ROUND_SECONDS)
            ready, _, _ = select.select([wakeups], [], [], POLL_SECONDS - ROUND_SECONDS)
            if ready and not os.read(wakeups.fileno(), 4096):
                return
    finally:
        for opened in (history, index):
            if opened is not None:
                opened.close()


def index_lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".index.lock")


class Indexer:
    """The database's one indexer process, run by whichever sidecar holds its index lock.

    One per database, not per sidecar: each process holds ~60-170 MB, and only one ever
    has work (they would take turns under the index's write lock). The holder wakes it
    after its own writes; other processes' writes are picked up every POLL_SECONDS. The
    lock is inherited by the indexer process, so it stays taken until both the sidecar
    and its indexer are gone; the other sidecars try to take it every RESTART_SECONDS
    and the first to succeed starts the next indexer, which carries on from the index's
    progress marker. A holder whose indexer died (a bug, the OOM killer) starts a new
    one, as often.
    """

    def __init__(self, db_path: Path, encryption_key: str | None = None) -> None:
        self.db_path = db_path
        self.environment = child_environment({**os.environ, **({KEY_ENV: encryption_key} if encryption_key else {})})
        self.lock = FileLock(index_lock_path(db_path))
        self.process: subprocess.Popen[bytes] | None = None
        self.tried = -RESTART_SECONDS
        self.stopped = False
        self.keep_running()

    def keep_running(self) -> None:
        """Start the indexer if none runs for this database and it is this process's turn."""
        if self.stopped or (self.process is not None and self.process.poll() is None):
            return
        if time.monotonic() - self.tried < RESTART_SECONDS:
            return
        self.tried = time.monotonic()
        try:
            if not self.lock.try_acquire():
                return  # another process's indexer is running
        except OSError as error:
            log.warning("search indexing is off: cannot open %s: %s", self.lock.path, error.strerror or error)
            return
        if self.process is not None:
            log.warning("the search indexer exited (%s); starting a new one", self.process.returncode)
            self._close_pipe()
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        assert self.lock.descriptor is not None
        process = subprocess.Popen(
            [sys.executable, "-m", "sidecar", "index", "--db", str(self.db_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env=self.environment,
            pass_fds=(self.lock.descriptor,),  # the lock stays taken while it runs
        )
        assert process.stdin is not None
        os.set_blocking(process.stdin.fileno(), False)
        return process

    def wake(self) -> None:
        self.keep_running()
        if self.process is None or self.process.stdin is None:
            return  # another process's indexer will find the new messages within POLL_SECONDS
        with contextlib.suppress(BlockingIOError, BrokenPipeError, ValueError):
            os.write(self.process.stdin.fileno(), b"\n")  # a full pipe means a wake-up is already pending

    def _close_pipe(self) -> None:
        with contextlib.suppress(OSError):
            if self.process is not None and self.process.stdin is not None:
                self.process.stdin.close()  # end of file: the indexer finishes its round and exits

    def stop(self) -> None:
        """For good: a write answered after this (between shutdown and exit) starts none."""
        self.stopped = True
        self._close_pipe()
        self.lock.release()  # the indexer holds it until it has exited

    def wait(self, seconds: float) -> None:
        """Until the indexer has finished its round and exited, for at most `seconds` (deep in
        a catch-up it goes on until it sees its sidecar gone)."""
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(seconds)


# -- searching -------------------------------------------------------------------------


def search_index(store: Store) -> SearchIndex:
    """The store's search index (used on the store's own thread)."""
    if store.search is None:
        store.search = open_index(
            store.path, read_only=store.db.read_only, encryption_key=store.settings.encryption_key
        )
    return store.search


def _rows(history: Database, seqs: list[int]) -> dict[int, Row]:
    """The history's rows of the hits that still exist, with their sessions, in one query
    (which is also the check that no hit is stale)."""
    if not seqs:
        return {}
    rows = history.execute(
        "SELECT m.seq, m.session_id, m.id, m.idx, m.role, m.created_at, m.content, m.code_excerpt, m.tool_calls,"
        " s.title, s.preview, s.project_id FROM messages m JOIN sessions s ON s.id = m.session_id"
        f" WHERE m.seq IN ({', '.join('?' * len(seqs))})",
        seqs,
    )
    return {row[0]: row[1:] for row in rows}


def search_messages(store: Store, params: p.SearchMessagesParams) -> p.SearchMessagesResult:
    for field, moment in (("since", params.since), ("until", params.until)):
        if moment is not None:
            millis(field, moment)  # a time the engines can compare, or an error naming the field
    index = search_index(store)
    compiled = compile_query(params.query, index.expand)
    if compiled.matches_nothing:
        return p.SearchMessagesResult(hits=[])
    engine = f"{compiled.engine} {filters(params)}".strip()
    fetch = params.limit + SLACK
    while True:
        ranked = index.ranked(engine, params, fetch)
        rows = _rows(store.db, [seq for seq, _ in ranked])
        live = [(seq, score) for seq, score in ranked if seq in rows][: params.limit]
        # Short of a page only because stale hits (not yet forgotten) took places: fetch more.
        if len(live) == params.limit or len(ranked) < fetch or fetch >= MAX_FETCH:
            break
        fetch *= 4
    words = Words.of(compiled.highlight)
    return p.SearchMessagesResult(hits=[_hit(rows[seq], score, words) for seq, score in live])


def _hit(row: Row, score: float, words: Words | None) -> p.SearchHit:
    """A hit, its snippet made from the stored text: the index holds long words as pieces."""
    session_id, message_id, index, role, created_at, content, code, calls, title, preview, project = row
    text, highlights = snippet(document_body(content, code, calls), words)
    return p.SearchHit(
        session_id=session_id,
        session_title=title,
        session_preview=preview,
        project_id=project,
        message_id=message_id,
        index=index,
        role=p.Role(role),
        created_at=created_at,
        snippet=text,
        highlights=highlights,
        score=float(score),
    )
