"""A Tantivy index (tantivy-py, memory-mapped segments) beside today's Turso FTS index (issue 21).

    python -m tests.bench.tantivy_probe [--messages 100000 300000] [--dir PATH] [--rounds 30] [--appends 50]

A measurement, not a switch. The Tantivy index holds no message text: `body` is indexed
(with positions, for phrases) but not stored, `seq` is a fast field (read back per hit
without a document store), and the session/role/project filters are the same single-token
tags as today's `tags` column. Queries go through today's compiler (sidecar.search.query),
whose output is already Tantivy query syntax (Turso's FTS is Tantivy); prefixes are expanded
from Tantivy's own term dictionary. Every hit is checked against the history and its
snippet cut from the history row, exactly as today.

Each step runs in a child process of its own, so its memory is its own: building (peak
RSS), searching the eight shapes of tests.bench.search (latency, RSS, and how much of it is
file pages that another process shares), a second process searching while the first still
holds the index, and commit-to-searchable latency for appends of one message.
Needs the `bench` extra (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tantivy

from sidecar import protocol as p
from sidecar.search import index as search
from sidecar.search.query import MAX_EXPANSIONS, compile_query, indexed_text
from sidecar.search.snippets import Words
from sidecar.store import Store, messages, sessions
from sidecar.store.database import Database
from sidecar.wire import structure_params

from .corpus import seed_store
from .search import QUERIES

MB = 1024 * 1024
ENGINES = ("turso", "tantivy")
BUILD_BATCH = 5000
WRITER_HEAP = 64 * MB


def tantivy_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-tantivy")


def schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field("seq", indexed=True, fast=True)  # indexed: purges delete by seq
    builder.add_text_field("body", stored=False, index_option="position")
    # Filters need postings, not a column: a tag is a term, asked for with `+tags:"…"`.
    builder.add_text_field("tags", stored=False, index_option="basic")
    return builder.build()


def open_tantivy(db_path: Path) -> tantivy.Index:
    path = tantivy_path(db_path)
    path.mkdir(exist_ok=True)
    return tantivy.Index(schema(), path=str(path), reuse=True)


def history_documents(history: Database, after: int = 0) -> Iterator[list[tuple[int, str, str]]]:
    """(seq, indexed body, tags) of every message after `after`, in batches: the rows
    today's indexer reads, made into the same text and tags."""
    while True:
        rows = history.execute(
            "SELECT m.seq, m.session_id, m.role, m.content, m.code_excerpt, m.tool_calls, s.project_id"
            " FROM messages m JOIN sessions s ON s.id = m.session_id WHERE m.seq > ? ORDER BY m.seq LIMIT ?",
            (after, BUILD_BATCH),
        )
        if not rows:
            return
        yield [
            (seq, indexed_text(search.document_body(content, code, calls)), search._tags(session, role, project))
            for seq, session, role, content, code, calls, project in rows
        ]
        after = rows[-1][0]


def add_documents(writer: tantivy.IndexWriter, documents: list[tuple[int, str, str]]) -> None:
    for seq, body, tags in documents:
        document = tantivy.Document()  # keyword arguments would make `seq` signed, and kill the writer
        document.add_unsigned("seq", seq)
        document.add_text("body", body)
        document.add_text("tags", tags)
        writer.add_document(document)


# -- the steps, each run in a child process ----------------------------------------------


def _mb(field: str) -> float:
    """A /proc field's value ("1234 kB") in MB."""
    return int(field.split()[0]) / 1024


def mapped_index(db_path: Path) -> tuple[float, float]:
    """RSS and PSS, in MB, of this process's mappings of the index's own files (Tantivy maps
    its segments; Turso reads its pages into its heap, so it maps none)."""
    rss = pss = 0.0
    in_index = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and ":" not in head[0]:  # a mapping's header line: range perms offset dev inode [path]
            in_index = len(head) > 5 and head[5].startswith(str(tantivy_path(db_path)))
        elif in_index and head[0] == "Rss:":
            rss += _mb(head[1] + " kB")
        elif in_index and head[0] == "Pss:":
            pss += _mb(head[1] + " kB")
    return rss, pss


def memory(db_path: Path) -> dict[str, float]:
    """This process's RSS now and at its peak, its proportional share (PSS) of anonymous
    memory and of file pages (a page mapped by two processes counts half in each), and
    how much of it is the index's files."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    rollup = dict(
        line.split(":", 1) for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:] if ":" in line
    )
    index_rss, index_pss = mapped_index(db_path)
    return {
        "rss": _mb(status["VmRSS"]),
        "peak": _mb(status["VmHWM"]),
        "rss_file": _mb(status["RssFile"]),
        "pss_anon": _mb(rollup["Pss_Anon"]),
        "pss_file": _mb(rollup["Pss_File"]),
        "index_rss": index_rss,
        "index_pss": index_pss,
    }


def build(engine: str, db_path: Path, _: int = 0) -> None:
    history = Database(db_path, read_only=True)
    started = time.perf_counter()
    if engine == "turso":
        index = search.open_index(db_path)
        search.catch_up(history, index)
        index.close()
    else:
        writer = open_tantivy(db_path).writer(heap_size=WRITER_HEAP, num_threads=1)
        for documents in history_documents(history):
            add_documents(writer, documents)
        writer.commit()
        writer.wait_merging_threads()
    seconds = time.perf_counter() - started
    history.close()
    report({"seconds": seconds, **memory(db_path)})


class TantivySearch:
    """search_messages over the Tantivy index: same compiler, same stale-hit check, same hits."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.index = open_tantivy(store.path)

    def expand(self, stem: str) -> list[str]:
        terms = self.index.searcher().terms_with_prefix("body", stem, limit=MAX_EXPANSIONS)
        return [term for term, _ in terms]

    def __call__(self, params: p.SearchMessagesParams) -> p.SearchMessagesResult:
        compiled = compile_query(params.query, self.expand)
        if compiled.matches_nothing:
            return p.SearchMessagesResult(hits=[])
        query = self.index.parse_query(f"{compiled.engine} {search._filters(params)}".strip(), ["body"])
        searcher = self.index.searcher()
        found = searcher.search(query, params.limit + search.SLACK, count=False).hits
        seqs = searcher.fast_field_values("seq", [address for _, address in found])
        stored = search._stored(self.store.db, seqs)
        live = [(seq, score) for (score, _), seq in zip(found, seqs, strict=True) if seq in stored][: params.limit]
        return p.SearchMessagesResult(hits=search._hits(self.store.db, live, Words.of(compiled.highlight)))


def searcher_for(engine: str, store: Store) -> Any:
    if engine == "turso":
        return lambda params: search.search_messages(store, params)
    return TantivySearch(store)


def run_queries(engine: str, db_path: Path, rounds: int) -> None:
    store = Store(db_path, read_only=True)
    run = searcher_for(engine, store)
    samples: list[float] = []
    hits: dict[str, int] = {}
    for name, raw in QUERIES:
        params = structure_params(raw, p.SearchMessagesParams)
        hits[name] = len(run(params).hits)
        for _ in range(rounds):
            started = time.perf_counter()
            run(params)
            samples.append((time.perf_counter() - started) * 1000)
    ordered = sorted(samples)
    at = {f"p{q}": ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] for q in (50, 95, 99)}
    report({**at, "hits": hits, **memory(db_path)})  # the index still open, for a second searcher to share


def freshness(engine: str, db_path: Path, appends: int) -> None:
    """Append one message at a time to the history, index it, and time from the index's
    commit until a separate reader finds it (Tantivy: a second Index on the same files,
    reloaded; Turso: a second connection)."""
    store = Store(db_path)
    session = sessions.create_session(store, structure_params({"kind": "agent"}, p.CreateSessionParams))
    reader = Store(db_path, read_only=True)
    find = searcher_for(engine, reader)
    history = Database(db_path, read_only=True)
    index: Any = search.open_index(db_path) if engine == "turso" else None
    writer = open_tantivy(db_path).writer(heap_size=WRITER_HEAP, num_threads=1) if engine == "tantivy" else None
    commits: list[float] = []
    visible: list[float] = []
    for n in range(appends):
        token = f"probe{time.time_ns()}x{n}"
        batch = {"sessionId": session.id, "messages": [{"role": "user", "content": f"{token} steady"}]}
        messages.append_messages(store, structure_params(batch, p.AppendMessagesParams))
        started = time.perf_counter()
        if writer is not None:
            last = int(history.scalar("SELECT max(seq) FROM messages"))
            for documents in history_documents(history, last - 1):
                add_documents(writer, documents)
            writer.commit()
        else:
            search.index_new_messages(history, index)
        committed = time.perf_counter()
        params = structure_params({"query": token, "sessionId": session.id}, p.SearchMessagesParams)
        while not find(params).hits:
            if time.perf_counter() - committed > 10:
                raise SystemExit(f"{token} not found 10 s after its commit")
            if writer is not None:
                find.index.reload()
        commits.append((committed - started) * 1000)
        visible.append((time.perf_counter() - committed) * 1000)
    if writer is not None:
        writer.wait_merging_threads()
    report(
        {
            "commit_p50": sorted(commits)[len(commits) // 2],
            "commit_max": max(commits),
            "visible_p50": sorted(visible)[len(visible) // 2],
            "visible_max": max(visible),
        }
    )


# -- the orchestration -----------------------------------------------------------------


def child(step: str, engine: str, db_path: Path, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.bench.tantivy_probe", step, engine, str(db_path), *extra]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def result(process: subprocess.Popen[str]) -> dict[str, Any]:
    """The JSON line a child printed; it then waits for its stdin to close."""
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise SystemExit(f"{process.args} failed")
    found: dict[str, Any] = json.loads(line)
    return found


def finish(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    process.wait()


def disk_bytes(engine: str, db_path: Path) -> int:
    if engine == "turso":
        return sum(path.stat().st_size for path in db_path.parent.glob(f"{db_path.name}-search*"))
    return sum(path.stat().st_size for path in tantivy_path(db_path).iterdir())


def free_bytes(engine: str, db_path: Path) -> int:
    """Bytes of the index's files that hold nothing: the Turso index's free pages, which its
    fold leaves behind and nothing vacuums. Tantivy deletes the files of merged segments."""
    if engine == "tantivy":
        return 0
    index = search.open_index(db_path, read_only=True)
    free = int(index.scalar("PRAGMA freelist_count")) * int(index.scalar("PRAGMA page_size"))
    index.close()
    return free


def remove_index(engine: str, db_path: Path) -> None:
    if engine == "turso":
        for path in db_path.parent.glob(f"{db_path.name}-search*"):
            path.unlink()
    else:
        shutil.rmtree(tantivy_path(db_path), ignore_errors=True)


def measure(engine: str, db_path: Path, count: int, rounds: int, appends: int) -> dict[str, Any]:
    remove_index(engine, db_path)
    builder = child("build", engine, db_path)
    built = result(builder)
    finish(builder)
    first = child("search", engine, db_path, str(rounds))
    searched = result(first)
    second = child("search", engine, db_path, str(rounds))  # while the first still holds the index
    beside = result(second)
    finish(second)
    finish(first)
    fresher = child("fresh", engine, db_path, str(appends))
    fresh = result(fresher)
    finish(fresher)
    return {
        "build": built,
        "bytes_per_message": disk_bytes(engine, db_path) / count,
        "free_per_message": free_bytes(engine, db_path) / count,
        "search": searched,
        "second": beside,
        "fresh": fresh,
    }


def table(count: int, history_bytes: int, figures: dict[str, dict[str, Any]]) -> None:
    rows = [
        ("build time", lambda f: f"{f['build']['seconds']:.1f} s"),
        ("build rate", lambda f: f"{count / f['build']['seconds']:,.0f} msgs/s"),
        ("builder peak RSS", lambda f: f"{f['build']['peak']:.0f} MB"),
        ("index bytes/message", lambda f: f"{f['bytes_per_message']:,.0f}"),
        ("  of which free pages", lambda f: f"{f['free_per_message']:,.0f}"),
        ("history+index bytes/msg", lambda f: f"{history_bytes / count + f['bytes_per_message']:,.0f}"),
        ("search p50/p95/p99", lambda f: "{p50:.2f}/{p95:.2f}/{p99:.2f} ms".format(**f["search"])),
        ("searcher RSS (peak)", lambda f: "{rss:.0f} MB ({peak:.0f})".format(**f["search"])),
        ("  file pages / index maps", lambda f: "{rss_file:.0f} / {index_rss:.0f} MB".format(**f["search"])),
        ("2nd searcher RSS (peak)", lambda f: "{rss:.0f} MB ({peak:.0f})".format(**f["second"])),
        ("2nd: PSS anon + file", lambda f: "{pss_anon:.0f} + {pss_file:.0f} MB".format(**f["second"])),
        ("2nd: index maps RSS/PSS", lambda f: "{index_rss:.0f} / {index_pss:.0f} MB".format(**f["second"])),
        ("commit 1 msg p50/max", lambda f: "{commit_p50:.1f}/{commit_max:.1f} ms".format(**f["fresh"])),
        ("commit->found p50/max", lambda f: "{visible_p50:.1f}/{visible_max:.1f} ms".format(**f["fresh"])),
    ]
    print(f"\n{count:,} messages (history {history_bytes / count:,.0f} bytes/message)")
    print(f"{'':26}" + "".join(f"{engine:>24}" for engine in figures))
    for label, shown in rows:
        print(f"{label:26}" + "".join(f"{shown(f):>24}" for f in figures.values()))
    hits = {engine: f["search"]["hits"] for engine, f in figures.items()}
    per_shape = (f"{name} {'/'.join(str(h[name]) for h in hits.values())}" for name, _ in QUERIES)
    print("hits per shape: " + "  ".join(per_shape))


def report(figures: dict[str, Any]) -> None:
    """Hand a step's figures to the parent, then hold everything open until it is done with
    this process."""
    print(json.dumps(figures), flush=True)
    sys.stdin.read()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("build", "search", "fresh"):
        step, engine, db_path, *number = sys.argv[1:]
        steps = {"build": build, "search": run_queries, "fresh": freshness}
        steps[step](engine, Path(db_path), int(number[0]) if number else 0)
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/agent-history-bench"))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--appends", type=int, default=50)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    for count in args.messages:
        db_path = args.dir / f"probe-{count}.db"
        seed_store(db_path, count)
        history_bytes = sum(db_path.with_name(db_path.name + suffix).stat().st_size for suffix in ("", "-wal"))
        figures = {engine: measure(engine, db_path, count, args.rounds, args.appends) for engine in ENGINES}
        table(count, history_bytes, figures)


if __name__ == "__main__":
    main()
