"""The search index as Tantivy segments (tantivy-py): memory-mapped files beside the history.

Why not Turso's FTS (turso_fts), measured at a million messages (issue 21): it keeps every
segment of an index in each process's heap (a sidecar held ~450 MB more while searching, and
every window as much again), stores every message's text a second time (1.14 GB beside a
1.06 GB history), and its two tiers need a fold that stops indexing for seconds. Tantivy,
the engine that FTS is built on, maps its segment files instead: the OS page cache holds
them once for every process on the file. This index stores no text at all: `body` is
indexed with positions (for phrases) but not stored, a hit's seq is read from a fast field,
and its snippet is cut from the history row the search reads anyway to check the hit. Its
writer merges segments on background threads, so new messages never wait for a merge.

Progress (the last message seq and change seq taken in) is a document of its own, replaced
in every commit, so it always describes exactly what that commit holds: after a crash or a
kill, whoever indexes next carries on from it. The directory is derived data: deleting it
rebuilds it, from the first message.

Its files are plain, so an encrypted history keeps turso_fts, encrypted with its key.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import tantivy

from .. import protocol as p
from ..errors import HistoryError, StorageBusy, StorageError
from ..store.changes import PURGED
from ..store.database import Database
from .documents import INDEX_BATCH, messages_after, millis, session_tag
from .query import MAX_EXPANSIONS, pieces

PROGRESS_TAG = "xprogress"  # no session, role or project tag starts with x
# The writer's budget for documents not yet written into a segment; 15 MB is Tantivy's least.
WRITER_HEAP = 32 * 1024 * 1024
# A catch-up commits at least this often, so a long backlog becomes searchable as it goes.
# Not at every INDEX_BATCH: a commit syncs every new file, 70-180 ms measured here.
COMMIT_DOCUMENTS = 100_000
COMMIT_SECONDS = 5.0
# Seqs compared at a time when the change feed was pruned past this index's place.
SWEEP_SEQS = 50_000
# Prefix expansions read from the term dictionary (in term order), of which the shortest win.
EXPANSION_CANDIDATES = 1024
P = ParamSpec("P")
T = TypeVar("T")


WHOLE_WORDS = "whole_words"  # the default tokenizer without its limit on a token's length


def index_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-tantivy")


def schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("seq", indexed=True, fast=True)  # indexed: purges delete by seq
    builder.add_integer_field("created", indexed=True, fast=True)  # ms since the epoch: since/until
    builder.add_text_field("body", stored=False, index_option="position")
    # Words of 40 bytes or more, whole: `body` holds them as pieces (query.split_long_words), so
    # without these a prefix would expand to a piece, which no snippet can mark.
    builder.add_text_field("words", stored=False, tokenizer_name=WHOLE_WORDS, index_option="basic")
    # Filters need postings, not a column: a tag is a term, asked for with `+tags:"…"`.
    builder.add_text_field("tags", stored=False, index_option="basic")
    builder.add_unsigned_field("progress_messages", stored=True)
    builder.add_unsigned_field("progress_changes", stored=True)
    return builder.build()


SCHEMA = schema()


def _engine_errors(method: Callable[P, T]) -> Callable[P, T]:
    """The engine's failures as the contract's StorageError: tantivy-py raises ValueError for
    an I/O error (a full disk) and a Rust panic as pyo3's PanicException, a BaseException.
    What was added but not committed is dropped with the writer, to be read again."""

    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        self = args[0]
        assert isinstance(self, TantivyIndex)
        try:
            return method(*args, **kwargs)
        except HistoryError:
            raise
        except BaseException as error:
            if not isinstance(error, (ValueError, OSError)) and type(error).__name__ != "PanicException":
                raise
            self.abandon()
            raise StorageError(f"search index {self.path}: {error}") from None

    return guarded


def _seqs_where(history: Database, where: str, params: tuple[object, ...]) -> set[int]:
    return {row[0] for row in history.execute(f"SELECT seq FROM messages WHERE {where}", params)}


class TantivyIndex:
    """The search index's engine interface (index.SearchIndex) over a Tantivy directory.

    `keeps_writer`: the indexer process holds the writer (and with it Tantivy's writer lock)
    for its life, which lets merges finish in the background; a terminal or MCP server that
    catches up on its own lets go of it after each catch-up.
    """

    def __init__(self, db_path: Path, *, read_only: bool = False, keeps_writer: bool = False) -> None:
        self.path = index_path(db_path)
        self.read_only = read_only
        self.keeps_writer = keeps_writer
        self.writer: tantivy.IndexWriter | None = None
        self.pending: tuple[int, int] | None = None  # progress of documents added, not committed
        self.pending_documents = 0
        self.pending_since = 0.0
        self.index, self.inode = self._open()

    @_engine_errors
    def _open(self) -> tuple[tantivy.Index, int]:
        if self.read_only and not (self.path / "meta.json").exists():
            raise StorageError(
                f"{self.path} holds no search index yet, and a read-only sidecar builds none:"
                " open it once without readOnly"
            )
        self.path.mkdir(mode=0o700, exist_ok=True)
        try:
            index = tantivy.Index(SCHEMA, path=str(self.path), reuse=True)
        except ValueError:
            if self.read_only:
                raise StorageError(f"{self.path} is not a search index this version can read") from None
            # Another version's schema, or damage: it is derived data, so it is built again.
            shutil.rmtree(self.path, ignore_errors=True)
            self.path.mkdir(mode=0o700)
            index = tantivy.Index(SCHEMA, path=str(self.path), reuse=True)
        analyzer = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.lowercase()).build()
        index.register_tokenizer(WHOLE_WORDS, analyzer)
        return index, self.path.stat().st_ino

    def _current(self) -> tantivy.Index:
        """The index, opened again when its directory was deleted or replaced (a rebuild)."""
        try:
            inode = self.path.stat().st_ino
        except FileNotFoundError:
            inode = -1
        if inode != self.inode:
            self.abandon()
            self.index, self.inode = self._open()
        return self.index

    def _searcher(self) -> tantivy.Searcher:
        index = self._current()
        index.reload()  # what the last commit holds, by whichever process made it
        return index.searcher()

    # -- progress ------------------------------------------------------------------------

    @staticmethod
    def _progress_document(searcher: tantivy.Searcher) -> list[tuple[float, tantivy.DocAddress]]:
        """The progress document, when a commit has made one."""
        return searcher.search(tantivy.Query.term_query(SCHEMA, "tags", PROGRESS_TAG), 1, count=False).hits

    def _committed(self, searcher: tantivy.Searcher) -> tuple[int, int]:
        hits = self._progress_document(searcher)
        if not hits:
            return 0, 0
        stored = searcher.doc(hits[0][1]).to_dict()
        return int(stored["progress_messages"][0]), int(stored["progress_changes"][0])

    def _position(self) -> tuple[int, int]:
        """Where indexing stands, counting what is added but not yet committed."""
        return self.pending if self.pending is not None else self._committed(self._searcher())

    @_engine_errors
    def indexed_through(self) -> int:
        """The seq of the last message searches can find (committed)."""
        return self._committed(self._searcher())[0]

    @_engine_errors
    def documents(self) -> int:
        searcher = self._searcher()
        return int(searcher.num_docs) - len(self._progress_document(searcher))

    # -- writing -------------------------------------------------------------------------

    def _writer(self) -> tantivy.IndexWriter:
        if self.writer is None:
            try:
                self.writer = self._current().writer(heap_size=WRITER_HEAP, num_threads=1)
            except ValueError as error:
                if "LockBusy" in str(error):
                    raise StorageBusy("another process is writing the search index") from None
                raise StorageError(f"cannot write the search index {self.path}: {error}") from None
        return self.writer

    def _note(self, messages: int, changes: int, documents: int) -> None:
        if self.pending is None:
            self.pending_since = time.monotonic()
        self.pending = (messages, changes)
        self.pending_documents += documents

    @_engine_errors
    def commit(self) -> None:
        """Make what was added and deleted searchable, with the progress that describes it."""
        if self.pending is None:
            return
        writer = self._writer()
        messages, changes = self.pending
        writer.delete_documents_by_term("tags", PROGRESS_TAG)
        progress = tantivy.Document()
        progress.add_text("tags", PROGRESS_TAG)
        progress.add_unsigned("progress_messages", messages)
        progress.add_unsigned("progress_changes", changes)
        writer.add_document(progress)
        writer.commit()
        self.pending, self.pending_documents = None, 0

    @_engine_errors
    def index_new_messages(self, history: Database, batch: int = INDEX_BATCH) -> int:
        """Add the next batch of committed messages; how many were read. Committed at
        COMMIT_DOCUMENTS or COMMIT_SECONDS, and at the end of each catch-up."""
        after, changes = self._position()
        documents = messages_after(history, after, batch)
        if not documents:
            return 0
        writer = self._writer()
        for found in documents:
            document = tantivy.Document()  # keyword arguments would make `seq` signed, and kill the writer
            document.add_unsigned("seq", found.seq)
            document.add_integer("created", millis("createdAt", found.created_at))
            document.add_text("body", found.body)
            document.add_text("tags", found.tags)
            if found.long_words:
                document.add_text("words", " ".join(found.long_words))
            writer.add_document(document)
        self._note(documents[-1].seq, changes, len(documents))
        if self.pending_documents >= COMMIT_DOCUMENTS or time.monotonic() - self.pending_since >= COMMIT_SECONDS:
            self.commit()
        return len(documents)

    @_engine_errors
    def forget_removed_messages(self, history: Database) -> None:
        """Drop the documents of deleted sessions and purged messages, as the change feed
        tells; committed with the documents added, at the end of the catch-up (one commit a
        round: a commit costs 20-100 ms, and every append is a change of the feed too)."""
        messages, after = self._position()
        oldest = history.scalar("SELECT min(seq) FROM changes")
        if oldest is not None and oldest > after + 1:
            self.commit()  # compared with what the index holds: all of it committed
            self._sweep(history)  # the feed was pruned past us: compare every seq
        rows = history.execute(
            "SELECT seq, session_id, change FROM changes WHERE seq > ? ORDER BY seq LIMIT 1000", (after,)
        )
        if not rows:
            return
        if any(change == PURGED for _, _, change in rows):
            self.commit()  # a purge too is found by comparing what the index holds
        writer = self._writer()
        for _, session_id, change in rows:
            if change == "deleted":  # a term's deletion reaches documents not yet committed too
                writer.delete_documents_by_term("tags", session_tag(session_id))
            elif change == PURGED:
                kept = _seqs_where(history, "session_id = ?", (session_id,))
                query = tantivy.Query.term_query(SCHEMA, "tags", session_tag(session_id))
                self._delete([seq for seq in self._seqs(query) if seq not in kept])
        self._note(messages, rows[-1][0], 0)

    def _seqs(self, query: tantivy.Query) -> list[int]:
        """The seqs of every committed document `query` matches."""
        searcher = self._searcher()
        # The stubs know no `count`; a limit of 0 panics.
        count: int = getattr(searcher.search(query, 1, count=True), "count", 0) or 0
        if not count:
            return []
        hits = searcher.search(query, count, count=False).hits
        return [int(seq) for seq in searcher.fast_field_values("seq", [address for _, address in hits]) if seq]

    def _delete(self, seqs: list[int]) -> None:
        if seqs:
            self._writer().delete_documents_by_query(tantivy.Query.term_set_query(SCHEMA, "seq", seqs))

    def _sweep(self, history: Database) -> None:
        """Delete every document whose message the history no longer holds, SWEEP_SEQS at a time."""
        last = self._position()[0]
        for start in range(0, last + 1, SWEEP_SEQS):
            end = start + SWEEP_SEQS
            query = tantivy.Query.range_query(
                SCHEMA, "seq", tantivy.FieldType.Unsigned, start, end, include_lower=True, include_upper=False
            )
            stored = _seqs_where(history, "seq >= ? AND seq < ?", (start, end))
            self._delete([seq for seq in self._seqs(query) if seq not in stored])

    @_engine_errors
    def catch_up(self, history: Database, deadline: float | None = None) -> bool:
        """Index everything committed so far (or until `deadline`, a monotonic time), forget
        everything removed so far, and commit; whether a backlog was taken in (its working
        set, the writer's buffers, freed but kept by the C heap until trimmed)."""
        taken = 0
        while (batch := self.index_new_messages(history)) == INDEX_BATCH:
            taken += batch
            if deadline is not None and time.monotonic() >= deadline:
                break
        self.forget_removed_messages(history)
        self.commit()
        if not self.keeps_writer:
            self.release()
        return taken > 0

    def abandon(self) -> None:
        """Forget the writer and what it held uncommitted (after a failure: it may be unusable)."""
        self.writer, self.pending, self.pending_documents = None, None, 0

    def release(self) -> None:
        """Let go of the writer (and Tantivy's writer lock), once its merges are done."""
        writer, self.writer = self.writer, None
        if writer is not None:
            with contextlib.suppress(ValueError):
                writer.wait_merging_threads()

    # -- searching -----------------------------------------------------------------------

    @_engine_errors
    def expand(self, stem: str) -> list[str]:
        """The indexed words that start with `stem`, shortest first."""
        searcher = self._searcher()
        whole = [term for term, _ in searcher.terms_with_prefix("words", stem, limit=EXPANSION_CANDIDATES)]
        first_pieces = {pieces(word)[0] for word in whole}
        found = [term for term, _ in searcher.terms_with_prefix("body", stem, limit=EXPANSION_CANDIDATES)]
        candidates = {*whole, *(term for term in found if term not in first_pieces)}
        return sorted(candidates, key=lambda term: (len(term), term))[:MAX_EXPANSIONS]

    @_engine_errors
    def ranked(self, engine: str, params: p.SearchMessagesParams, fetch: int) -> list[tuple[int, float]]:
        searcher = self._searcher()
        query = self.index.parse_query(engine, ["body"])
        if params.since is not None or params.until is not None:
            since = millis("since", params.since) if params.since is not None else -(2**62)
            until = millis("until", params.until) if params.until is not None else 2**62
            period = tantivy.Query.range_query(
                SCHEMA, "created", tantivy.FieldType.Integer, since, until, include_lower=True, include_upper=False
            )
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, query), (tantivy.Occur.Must, period)])
        hits = searcher.search(query, fetch, count=False).hits
        seqs = searcher.fast_field_values("seq", [address for _, address in hits])
        return [(int(seq), float(score)) for (score, _), seq in zip(hits, seqs, strict=True) if seq]

    def close(self) -> None:
        with contextlib.suppress(HistoryError):  # a full disk: the next indexer reads them again
            self.commit()
        if self.keeps_writer:
            self.abandon()  # an indexer exiting: a merge under way is the next one's to do
        else:
            self.release()
