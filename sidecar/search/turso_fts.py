"""The search index in Turso's own FTS: a derived database beside the history file.

The engine of encrypted histories (tantivy_fts writes plain files; this one is encrypted
with the history's key) and of `AGENT_HISTORY_SEARCH_ENGINE=turso`.

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
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .. import protocol as p
from ..errors import HistoryError
from ..store.database import BUSY_TIMEOUT_MS, Database, Row
from .documents import INDEX_BATCH, messages_after
from .query import MAX_EXPANSIONS, vocabulary

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
ROWS_PER_INSERT = 500
WAL_LIMIT_BYTES = 16 * 1024 * 1024


def search_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-search")


def open_index(
    db_path: Path, *, read_only: bool = False, encryption_key: str | None = None, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> Database:
    # Not fsynced: the index and its progress marker commit together, so after a power
    # cut it is consistent and at worst re-indexes its last rounds; and appends to the
    # history file never queue behind an index fsync.
    # Encrypted with the history's key: it holds the same text.
    return Database(
        search_path(db_path),
        migrations=SEARCH_MIGRATIONS,
        read_only=read_only,
        busy_timeout_ms=busy_timeout_ms,
        durable=False,
        encryption_key=encryption_key,
    )


# -- filling the index -----------------------------------------------------------------


def _progress(index: Database, name: str) -> int:
    return int(index.scalar("SELECT seq FROM progress WHERE name = ?", (name,)))


def indexed_through(index: Database) -> int:
    """The seq of the last message the index has taken in."""
    return _progress(index, "messages")


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
    documents = messages_after(history, after, batch)
    if not documents:
        return 0
    words = sorted(vocabulary(document.text for document in documents))
    rows = [(d.seq, d.session_id, d.created_at, d.body, d.tags) for d in documents]
    with index.write():
        current = _progress(index, "messages")  # another process may have indexed these meanwhile
        rows = [row for row in rows if row[0] > current]
        for start in range(0, len(rows), ROWS_PER_INSERT):
            chunk = rows[start : start + ROWS_PER_INSERT]
            index.execute(
                f"INSERT INTO {table} (seq, session_id, created_at, body, tags) VALUES "
                + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk)),
                [value for row in chunk for value in row],
            )
        _count(index, counter, len(rows))
        for start in range(0, len(words), ROWS_PER_INSERT * 4):
            new_words = words[start : start + ROWS_PER_INSERT * 4]
            index.execute(f"INSERT OR IGNORE INTO terms (term) VALUES {', '.join(['(?)'] * len(new_words))}", new_words)
        index.execute("UPDATE progress SET seq = max(seq, ?) WHERE name = 'messages'", (documents[-1].seq,))
    return len(documents)


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


def catch_up(history: Database, index: Database, limits: Limits = LIMITS, deadline: float | None = None) -> bool:
    """Index everything committed so far, forget everything removed so far, fold if due;
    whether it folded. With a `deadline` (a search waiting on it), index until then and fold
    not: a fold takes seconds, and the indexer's round will do it."""
    while index_new_messages(history, index, limits=limits) == INDEX_BATCH:
        if deadline is not None and time.monotonic() >= deadline:
            break
    forget_removed_messages(history, index)
    if deadline is not None:
        return False
    folded = fold(index, limits)
    trim_wal(index)
    return folded


# -- searching -------------------------------------------------------------------------


def expand(index: Database, stem: str) -> list[str]:
    """The indexed words that start with `stem`, shortest first."""
    rows = index.execute(
        "SELECT term FROM terms WHERE term >= ? AND term < ? ORDER BY length(term), term LIMIT ?",
        (stem, stem + "\U0010ffff", MAX_EXPANSIONS),
    )
    return [row[0] for row in rows]


def ranked(index: Database, engine: str, params: p.SearchMessagesParams, fetch: int) -> list[Row]:
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


class TursoIndex:
    """The search index's engine interface (index.SearchIndex) over a Turso FTS index."""

    def __init__(
        self,
        db_path: Path,
        *,
        read_only: bool = False,
        encryption_key: str | None = None,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        self.db = open_index(
            db_path, read_only=read_only, encryption_key=encryption_key, busy_timeout_ms=busy_timeout_ms
        )

    def indexed_through(self) -> int:
        return indexed_through(self.db)

    def documents(self) -> int:
        return int(self.db.scalar("SELECT (SELECT count(*) FROM docs) + (SELECT count(*) FROM archive)"))

    def index_new_messages(self, history: Database, batch: int = INDEX_BATCH) -> int:
        return index_new_messages(history, self.db, batch)

    def forget_removed_messages(self, history: Database) -> None:
        forget_removed_messages(history, self.db)

    def catch_up(self, history: Database, deadline: float | None = None) -> bool:
        return catch_up(history, self.db, deadline=deadline)

    def expand(self, stem: str) -> list[str]:
        return expand(self.db, stem)

    def ranked(self, engine: str, params: p.SearchMessagesParams, fetch: int) -> list[tuple[int, float]]:
        return [(seq, score) for seq, score in ranked(self.db, engine, params, fetch)]

    def close(self) -> None:
        self.db.close()
