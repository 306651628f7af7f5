"""The search index: a derived database beside the history file, filled in the background.

Why a file of its own: each INSERT into an FTS-indexed table costs the engine 6-9 ms, and
that write would hold the history file's lock, stalling every append of every process.
Here the indexer reads committed messages (readers never block writers) and writes to
`<db>-search` under that file's own lock; appends never wait for it.

Two tiers, because of how the engine caches: a query keeps every segment of an FTS index
resident, and only 192 MiB of segments stay cached between queries, per index. One big
index written a little at a time has many segments and, past a few hundred thousand
messages, reloads them on every query (~500 ms at a million). So new documents go to
`docs`, a small index that takes many small writes; once it holds RECENT_LIMIT documents
they are folded, in one transaction, into `archive`, which is then optimized into a single
segment that stays cached (2-5 ms queries at a million). Queries ask both and merge.

It is derived data: deleting the file rebuilds it. Progress is recorded in the index
itself (the last message seq and change seq it has taken in), so after a crash or a kill
any process simply carries on from there. Every hit is checked against the history
database before it is returned, so a deleted or purged message is never found, even
before the indexer has removed it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from .. import protocol as p
from ..errors import HistoryError, StorageError
from ..filelock import FileLock
from ..lifetime import child_environment, exit_with_spawner
from ..memory import return_freed_memory
from ..store import Store
from ..store.database import Database, Row
from ..store.encryption import KEY_ENV, load_key
from .query import compile_query, indexed_text, vocabulary
from .snippets import Words, snippet

log = logging.getLogger(__name__)

SEARCH_MIGRATIONS = [
    """
    CREATE TABLE docs (
        seq INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        body TEXT NOT NULL,
        tags TEXT NOT NULL
    );
    CREATE INDEX docs_by_session ON docs (session_id);
    CREATE INDEX docs_fts ON docs USING fts (body, tags);
    -- Every word the index holds: the engine ignores prefix queries, so `data*` is
    -- expanded here into the indexed words that start with "data".
    CREATE TABLE terms (term TEXT PRIMARY KEY);
    CREATE TABLE progress (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
    INSERT INTO progress (name, seq) VALUES ('messages', 0), ('changes', 0);
    """,
    """
    CREATE TABLE archive (
        seq INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        body TEXT NOT NULL,
        tags TEXT NOT NULL
    );
    CREATE INDEX archive_by_session ON archive (session_id);
    CREATE INDEX archive_fts ON archive USING fts (body, tags);
    -- Counters that decide when to fold: documents added to `docs` since the last fold,
    -- and documents added to or removed from `archive` since it was last optimized.
    INSERT INTO progress (name, seq) VALUES ('recent', 0), ('archive_changes', 0);
    """,
    # Index everything again: session tags are now exact (a hash of the id) and long words
    # are indexed as pieces (query.pieces), neither of which the documents indexed so far have.
    """
    UPDATE progress SET seq = seq + (SELECT count(*) FROM archive) WHERE name = 'archive_changes';
    DELETE FROM docs;
    DELETE FROM archive;
    DELETE FROM terms;
    UPDATE progress SET seq = 0 WHERE name IN ('messages', 'changes', 'recent');
    """,
]
TABLES = ("docs", "archive")


class Limits(NamedTuple):
    """When to fold `docs` into `archive`."""

    # `docs` is folded at this size: small enough to query fast with many segments
    # (~1 ms at 100k), large enough that folds (seconds) are rare.
    recent: int = 100_000
    # Documents added straight to `archive` or removed from it since it was optimized:
    # removals leave tombstones that slow its queries (35 ms after 50k of 100k).
    archive_changes: int = 5_000


LIMITS = Limits()
INDEX_BATCH = 2000
ROWS_PER_INSERT = 500
POLL_SECONDS = 0.25
ROUND_SECONDS = 0.1
RESTART_SECONDS = 2.0
WAL_LIMIT_BYTES = 16 * 1024 * 1024
# Hits fetched beyond the limit, to make up for any that are stale.
SLACK = 10
MAX_FETCH = 5000


def search_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-search")


def open_index(db_path: Path, *, read_only: bool = False, encryption_key: str | None = None) -> Database:
    # Not fsynced: the index and its progress marker commit together, so after a power
    # cut it is consistent and at worst re-indexes its last rounds; and appends to the
    # history file never queue behind an index fsync.
    # Encrypted with the history's key: it holds the same text.
    return Database(
        search_path(db_path),
        migrations=SEARCH_MIGRATIONS,
        read_only=read_only,
        durable=False,
        encryption_key=encryption_key,
    )


# Filters are single-token tags in the index's `tags` column, written at indexing and
# asked for at query time by these same functions, so the two can never disagree.
def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def session_tag(session_id: str) -> str:
    """A hash, so an id matches itself only: by its tokens, `ABC-1` would match `abc1`."""
    return "s" + _digest(session_id)


def role_tag(role: str) -> str:
    return "r" + role


def project_tag(project_id: str) -> str:
    """A hash: a project path would tokenize into words ("/a/b" would match "/a/b/c")."""
    return "p" + _digest(project_id)


def _tags(session_id: str, role: str, project_id: str | None) -> str:
    tags = [session_tag(session_id), role_tag(role)]
    if project_id is not None:
        tags.append(project_tag(project_id))
    return " ".join(tags)


def document_body(content: str | None, code: str | None, tool_calls: str | None) -> str:
    """What a message is found by: its text, code, and its tool calls' names and arguments."""
    parts = [content or "", code or ""]
    for call in json.loads(tool_calls or "[]"):
        parts += [call["name"], json.dumps(call.get("arguments"), ensure_ascii=False)]
    return "\n".join(part for part in parts if part)


# -- filling the index -----------------------------------------------------------------


def _progress(index: Database, name: str) -> int:
    return int(index.scalar("SELECT seq FROM progress WHERE name = ?", (name,)))


def indexed_through(index: Database) -> int:
    """The seq of the last message the index has taken in."""
    return _progress(index, "messages")


def messages_behind(history: Database, index: Database) -> int:
    """How many committed messages the index has not taken in yet."""
    return int(history.scalar("SELECT count(*) FROM messages WHERE seq > ?", (indexed_through(index),)))


def _count(index: Database, name: str, change: int) -> None:
    index.execute("UPDATE progress SET seq = seq + ? WHERE name = ?", (change, name))


def index_new_messages(history: Database, index: Database, batch: int = INDEX_BATCH, limits: Limits = LIMITS) -> int:
    """Take in the next batch of committed messages; how many were read.

    A backlog larger than `docs` may hold (a first run over an old history, a big import)
    goes straight to `archive`, to be optimized once when it is all in.
    """
    after = _progress(index, "messages")
    backlog = (history.scalar("SELECT max(seq) FROM messages") or 0) - after
    table, counter = ("archive", "archive_changes") if backlog > limits.recent else ("docs", "recent")
    rows = history.execute(
        "SELECT m.seq, m.session_id, m.role, m.created_at, m.content, m.code_excerpt, m.tool_calls, s.project_id"
        " FROM messages m JOIN sessions s ON s.id = m.session_id WHERE m.seq > ? ORDER BY m.seq LIMIT ?",
        (after, batch),
    )
    if not rows:
        return 0
    bodies = [document_body(content, code, calls) for _, _, _, _, content, code, calls, _ in rows]
    docs = [
        (seq, session_id, created_at, indexed_text(body), _tags(session_id, role, project))
        for (seq, session_id, role, created_at, *_, project), body in zip(rows, bodies, strict=True)
    ]
    words = sorted(vocabulary(bodies))
    with index.write():
        current = _progress(index, "messages")  # another process may have indexed these meanwhile
        docs = [doc for doc in docs if doc[0] > current]
        for start in range(0, len(docs), ROWS_PER_INSERT):
            chunk = docs[start : start + ROWS_PER_INSERT]
            index.execute(
                f"INSERT INTO {table} (seq, session_id, created_at, body, tags) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk)),
                [value for doc in chunk for value in doc],
            )
        _count(index, counter, len(docs))
        for start in range(0, len(words), ROWS_PER_INSERT * 4):
            new_words = words[start : start + ROWS_PER_INSERT * 4]
            index.execute(f"INSERT OR IGNORE INTO terms (term) VALUES {', '.join(['(?)'] * len(new_words))}", new_words)
        index.execute("UPDATE progress SET seq = max(seq, ?) WHERE name = 'messages'", (rows[-1][0],))
    return len(rows)


def forget_removed_messages(history: Database, index: Database) -> None:
    """Drop the documents of deleted sessions and purged messages, as the change feed tells."""
    after = _progress(index, "changes")
    oldest = history.scalar("SELECT min(seq) FROM changes")
    if oldest is not None and oldest > after + 1:
        _forget_missing_sessions(history, index)  # the feed was pruned past us: compare whole sessions
    rows = history.execute(
        "SELECT seq, session_id, change FROM changes WHERE seq > ? ORDER BY seq LIMIT 1000", (after,)
    )
    if not rows:
        return
    with index.write():
        for _, session_id, change in rows:
            if change == "deleted":
                _delete(index, "session_id = ?", [session_id])
            elif change == "purged":
                _forget_purged(history, index, session_id)
        index.execute("UPDATE progress SET seq = max(seq, ?) WHERE name = 'changes'", (rows[-1][0],))


def _delete(index: Database, where: str, params: list[Any]) -> None:
    """Delete matching documents from both tiers, counting what the archive loses."""
    index.execute(f"DELETE FROM docs WHERE {where}", params)
    removed = index.execute(f"DELETE FROM archive WHERE {where} RETURNING seq", params)
    _count(index, "archive_changes", len(removed))


def _indexed(index: Database, column: str, where: str = "1", params: Sequence[Any] = ()) -> list[Any]:
    return [
        row[0]
        for row in index.execute(
            f"SELECT {column} FROM docs WHERE {where} UNION SELECT {column} FROM archive WHERE {where}",
            [*params, *params],
        )
    ]


def _forget_purged(history: Database, index: Database, session_id: str) -> None:
    kept = {row[0] for row in history.execute("SELECT seq FROM messages WHERE session_id = ?", (session_id,))}
    gone = [seq for seq in _indexed(index, "seq", "session_id = ?", [session_id]) if seq not in kept]
    for start in range(0, len(gone), ROWS_PER_INSERT):
        chunk = gone[start : start + ROWS_PER_INSERT]
        _delete(index, f"seq IN ({', '.join('?' * len(chunk))})", chunk)


def _forget_missing_sessions(history: Database, index: Database) -> None:
    indexed = _indexed(index, "session_id")
    for start in range(0, len(indexed), ROWS_PER_INSERT):
        chunk = indexed[start : start + ROWS_PER_INSERT]
        present = {
            row[0]
            for row in history.execute(f"SELECT id FROM sessions WHERE id IN ({', '.join('?' * len(chunk))})", chunk)
        }
        with index.write():
            for session_id in set(chunk) - present:
                _delete(index, "session_id = ?", [session_id])


def fold_due(index: Database, limits: Limits) -> bool:
    return _progress(index, "recent") >= limits.recent or _progress(index, "archive_changes") >= limits.archive_changes


def fold(index: Database, limits: Limits = LIMITS) -> bool:
    """Move `docs` into `archive` and optimize both, once either needs it; whether it did.

    One transaction: searches see the old tiers, still cached, until the folded ones are
    complete. It holds the index's lock for a few seconds (about 20 s at a million
    messages, mostly optimizing the archive), the one time new messages wait to be indexed.
    """
    if not fold_due(index, limits):
        return False
    with index.write():
        if not fold_due(index, limits):
            return False  # another process folded meanwhile
        index.execute("INSERT INTO archive (seq, session_id, created_at, body, tags) SELECT * FROM docs")
        index.execute("DELETE FROM docs")
        index.execute("OPTIMIZE INDEX archive_fts")
        index.execute("OPTIMIZE INDEX docs_fts")
        index.execute("UPDATE progress SET seq = 0 WHERE name IN ('recent', 'archive_changes')")
    return True


def trim_wal(index: Database) -> None:
    """Copy the index's WAL into its file and empty it, once it has grown past WAL_LIMIT_BYTES.

    The engine's automatic checkpoints copy frames back but never shrink the file, and a
    fold writes the whole recent tier and a rewritten archive in one transaction: a WAL as
    large as the index itself (92 MB beside a 78 MB index at 100k messages) stayed on disk
    for good. A checkpoint waits for no reader; one that is busy is tried again next round.
    """
    wal = Path(f"{index.path}-wal")
    with contextlib.suppress(FileNotFoundError, HistoryError):
        if wal.stat().st_size > WAL_LIMIT_BYTES:
            index.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def catch_up(history: Database, index: Database, limits: Limits = LIMITS) -> bool:
    """Index everything committed so far, forget everything removed so far, fold if due;
    whether it folded."""
    while index_new_messages(history, index, limits=limits) == INDEX_BATCH:
        pass
    forget_removed_messages(history, index)
    folded = fold(index, limits)
    trim_wal(index)
    return folded


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
    index: Database | None = None
    try:
        while True:
            try:
                # Opened in the loop: on a full disk the index cannot be created, and the
                # indexer waits for space rather than dying and being restarted over and over.
                history = history or Database(db_path, read_only=True, encryption_key=key)
                index = index or open_index(db_path, encryption_key=key)
                if catch_up(history, index):
                    return_freed_memory()  # a fold's working set, hundreds of MB, freed but kept
            except HistoryError as error:  # busy or full: try again on the next round
                log.warning("search indexing deferred: %s", error.message)
            # Rounds at most every ROUND_SECONDS: a busy writer's appends are indexed in batches.
            time.sleep(ROUND_SECONDS)
            ready, _, _ = select.select([wakeups], [], [], POLL_SECONDS - ROUND_SECONDS)
            if ready and not os.read(wakeups.fileno(), 4096):
                return
    finally:
        for database in (history, index):
            if database is not None:
                database.close()


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


# -- searching -------------------------------------------------------------------------


def search_index(store: Store) -> Database:
    """The store's connection to its search index (same thread as the store's own)."""
    if store.search is None:
        if store.db.read_only and not search_path(store.path).exists():
            raise StorageError(
                f"{store.path} has no search index yet, and a read-only sidecar builds none:"
                " open it once without readOnly"
            )
        store.search = open_index(
            store.path, read_only=store.db.read_only, encryption_key=store.settings.encryption_key
        )
    return store.search


def _expander(index: Database) -> Any:
    def expand(stem: str) -> list[str]:
        rows = index.execute(
            "SELECT term FROM terms WHERE term >= ? AND term < ? ORDER BY length(term), term LIMIT 64",
            (stem, stem + "\U0010ffff"),
        )
        return [row[0] for row in rows]

    return expand


def _filters(params: p.SearchMessagesParams) -> str:
    filters = []
    if params.session_id is not None:
        filters.append(f'+tags:"{session_tag(params.session_id)}"')
    if params.project_id is not None:
        filters.append(f'+tags:"{project_tag(params.project_id)}"')
    if params.roles:
        filters.append("+(" + " ".join(f'tags:"{role_tag(role.value)}"' for role in params.roles) + ")")
    return " ".join(filters)


def _ranked(index: Database, engine: str, params: p.SearchMessagesParams, fetch: int) -> list[Row]:
    """The best `fetch` hits of both tiers. Each tier scores by its own statistics, which
    differ little: the recent tier is a sample of the same kind of text."""
    ranked: list[Row] = []
    for table in TABLES:
        ranked += _ranked_in(index, table, engine, params, fetch)
    return sorted(ranked, key=lambda row: row[1], reverse=True)[:fetch]


def _ranked_in(index: Database, table: str, engine: str, params: p.SearchMessagesParams, fetch: int) -> list[Row]:
    # One numbered parameter for both fts_match and fts_score: with two separate
    # parameters the engine scores every hit 0.
    if params.since is None and params.until is None:
        return index.execute(
            f"SELECT seq, fts_score(body, tags, ?1) AS score FROM {table}"
            " WHERE fts_match(body, tags, ?1) ORDER BY score DESC LIMIT ?2",
            (engine, fetch),
        )
    # A time range cannot be part of the engine's query: filter the matches around it.
    return index.execute(
        f"SELECT seq, score FROM (SELECT seq, created_at, fts_score(body, tags, ?1) AS score FROM {table}"
        " WHERE fts_match(body, tags, ?1)) WHERE created_at >= ?3 AND created_at < ?4"
        " ORDER BY score DESC LIMIT ?2",
        (engine, fetch, params.since or "", params.until or "\uffff"),
    )


def _stored(history: Database, seqs: list[int]) -> set[int]:
    """The hits that still exist in the history."""
    if not seqs:
        return set()
    rows = history.execute(f"SELECT seq FROM messages WHERE seq IN ({', '.join('?' * len(seqs))})", seqs)
    return {row[0] for row in rows}


def search_messages(store: Store, params: p.SearchMessagesParams) -> p.SearchMessagesResult:
    index = search_index(store)
    compiled = compile_query(params.query, _expander(index))
    if compiled.matches_nothing:
        return p.SearchMessagesResult(hits=[])
    engine = f"{compiled.engine} {_filters(params)}".strip()
    fetch = params.limit + SLACK
    while True:
        ranked = _ranked(index, engine, params, fetch)
        stored = _stored(store.db, [row[0] for row in ranked])
        live = [(seq, score) for seq, score in ranked if seq in stored][: params.limit]
        # Short of a page only because stale hits (not yet forgotten) took places: fetch more.
        if len(live) == params.limit or len(ranked) < fetch or fetch >= MAX_FETCH:
            break
        fetch *= 4
    return p.SearchMessagesResult(hits=_hits(store.db, live, Words.of(compiled.highlight)))


def _hits(history: Database, live: list[tuple[int, float]], words: Words | None) -> list[p.SearchHit]:
    """The hits, with their snippets and sessions, read in one query. Snippets are made from
    the stored text: the index holds long words as pieces."""
    if not live:
        return []
    rows = history.execute(
        "SELECT m.seq, m.session_id, m.id, m.idx, m.role, m.created_at, m.content, m.code_excerpt, m.tool_calls,"
        " s.title, s.preview, s.project_id FROM messages m JOIN sessions s ON s.id = m.session_id"
        f" WHERE m.seq IN ({', '.join('?' * len(live))})",
        [seq for seq, _ in live],
    )
    by_seq = {row[0]: row[1:] for row in rows}
    hits = []
    for seq, score in live:
        if seq not in by_seq:
            continue  # deleted since it was checked
        session_id, message_id, index, role, created_at, content, code, calls, title, preview, project = by_seq[seq]
        text, highlights = snippet(document_body(content, code, calls), words)
        hits.append(
            p.SearchHit(
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
        )
    return hits
