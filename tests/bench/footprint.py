"""What the sidecar costs, per search engine: memory per process and per window, bytes on
disk, search latency, freshness, and how fast the index catches up after a bulk import (issue 21).

    python -m tests.bench.footprint [--messages 100000] [--db PATH] [--rounds 50] [--seconds 10]
                                    [--engines tantivy turso]

Seeds a corpus at --db (kept for reuse; each engine's search index is deleted before its
run, so the catch-up is measured from nothing, as after an import), then runs real sidecars
over stdio, with AGENT_HISTORY_SEARCH_ENGINE set to each engine in turn, and ends with the
engines side by side. Memory is read from /proc (Linux): VmRSS now, VmHWM the peak over the
process's life.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any, NamedTuple

from sidecar.search import index as search
from sidecar.search import tantivy_fts, turso_fts
from sidecar.store.database import Database

from .corpus import seed_store
from .latency import Sidecar
from .search import QUERIES, steady_appends

MB = 1024 * 1024
Figures = dict[str, Any]


class Memory(NamedTuple):
    """A process's memory, in bytes: RSS now, its peak, and what is its own (private pages:
    what the system gives up for it; RSS also counts the pages of shared libraries and of
    mapped index files that every process on the machine shares)."""

    rss: int
    peak: int
    private: int


NO_PROCESS = Memory(0, 0, 0)


def memory(pid: int) -> Memory:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    rollup = {name: int(value.split()[0]) * 1024 for name, value in (line.split(":", 1) for line in lines)}
    private = rollup["Private_Clean"] + rollup["Private_Dirty"]
    return Memory(int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024, private)


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def tree(pid: int) -> dict[str, Memory]:
    """Memory of a sidecar and each process it started, by role."""
    found = {"sidecar": memory(pid)}
    for child in children(pid):
        command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        role = "indexer" if b"index" in command else command[-2].decode() if len(command) > 1 else "child"
        found[role] = memory(child)
    return found


def shown(processes: dict[str, Memory]) -> str:
    return "  ".join(
        f"{role} {m.rss / MB:.0f} MB (peak {m.peak / MB:.0f}, own {m.private / MB:.0f})"
        for role, m in processes.items()
    )


def total(processes: dict[str, Memory]) -> Memory:
    return Memory(*(sum(values) for values in zip(*processes.values(), strict=True)))


def index_files(engine: str, db_path: Path) -> list[Path]:
    if engine == "tantivy":
        folder = tantivy_fts.index_path(db_path)
        return [path for path in folder.iterdir() if path.is_file()] if folder.exists() else []
    return [
        path
        for path in (turso_fts.search_path(db_path), Path(f"{turso_fts.search_path(db_path)}-wal"))
        if path.exists()
    ]


def remove_index(engine: str, db_path: Path) -> None:
    if engine == "tantivy":
        shutil.rmtree(tantivy_fts.index_path(db_path), ignore_errors=True)
    for path in db_path.parent.glob(f"{db_path.name}-search*"):
        path.unlink()


def start(db_path: Path, indexing: bool = True) -> Sidecar:
    sidecar = Sidecar(db_path)
    options = {"searchIndex": indexing}
    sidecar.call("initialize", {"processId": None, "capabilities": {}, "initializationOptions": options})
    return sidecar


def catch_up(engine: str, db_path: Path, sidecar: Sidecar) -> Figures:
    """Wait for the index to take in the whole history, as after a bulk import."""
    history = Database(db_path, read_only=True)
    last = int(history.scalar("SELECT max(seq) FROM messages"))
    count = int(history.scalar("SELECT count(*) FROM messages"))
    started = time.perf_counter()
    index: search.SearchIndex | None = None
    peak: dict[str, Memory] = {}
    while index is None or index.indexed_through() < last:
        peak = tree(sidecar.process.pid)
        time.sleep(0.25)
        try:
            index = index or search.open_index(db_path, read_only=True)
        except Exception:  # not made yet
            continue
    elapsed = time.perf_counter() - started
    print(f"catch-up after import: {count:,} messages in {elapsed:.1f} s = {count / elapsed:,.0f} msgs/s")
    print(f"  while catching up: {shown(peak)}")
    figures: Figures = {"catch-up": elapsed, "rate": count / elapsed, "peak": peak}
    if isinstance(index, turso_fts.TursoIndex):
        # Searchable now, but fast only once the fold has optimized the archive into one segment.
        while turso_fts.fold_due(index.db, turso_fts.LIMITS):
            peak = tree(sidecar.process.pid)
            time.sleep(0.25)
        print(f"  then folded, {time.perf_counter() - started:.1f} s after the start: {shown(peak)}")
        figures["peak"] = peak
    assert index is not None
    index.close()
    history.close()
    return figures


def windows(db_path: Path, first: Sidecar) -> tuple[list[Sidecar], Figures]:
    """1, 2 and 3 sidecars on one database, idle."""
    open_ = [first]
    before, added = NO_PROCESS, []
    for count in (1, 2, 3):
        if count > 1:
            open_.append(start(db_path))
        time.sleep(2)  # let each settle: the indexer's first round, the lock's first try
        trees = [tree(sidecar.process.pid) for sidecar in open_]
        all_ = total({str(number): total(processes) for number, processes in enumerate(trees)})
        more = Memory(*(now - then for now, then in zip(all_, before, strict=True)))
        print(
            f"{count} sidecar(s) idle: {all_.rss / MB:.0f} MB in all (+{more.rss / MB:.0f} MB),"
            f" own {all_.private / MB:.0f} MB (+{more.private / MB:.0f} MB)"
        )
        for number, processes in enumerate(trees, 1):
            print(f"  window {number}: {shown(processes)}")
        added.append(more)
        before = all_
    idle = tree(first.process.pid)
    return open_, {"one window": added[0], "2nd window": added[1], "3rd window": added[2], "idle": idle}


def search_latency(sidecar: Sidecar, rounds: int) -> Figures:
    samples: list[float] = []
    for _, params in QUERIES:
        for _ in range(3):
            sidecar.call("history/searchMessages", params)
        samples += [sidecar.call("history/searchMessages", params)[1] for _ in range(rounds)]
    ordered = sorted(samples)
    at = [ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.5, 0.95, 0.99)]
    print(f"search, {len(QUERIES)} shapes x {rounds}: p50 {at[0]:.2f} ms  p95 {at[1]:.2f} ms  p99 {at[2]:.2f} ms")
    after = tree(sidecar.process.pid)
    print(f"  after searching: {shown(after)}")
    return {"p50": at[0], "p95": at[1], "p99": at[2], "searching": after["sidecar"]}


def disk(engine: str, db_path: Path) -> Figures:
    history = Database(db_path, read_only=True)
    count = int(history.scalar("SELECT count(*) FROM messages"))
    history.close()
    stored = sum(path.stat().st_size for path in (db_path, Path(f"{db_path}-wal")) if path.exists())
    index = sum(path.stat().st_size for path in index_files(engine, db_path))
    per_message = (stored + index) / count
    print(
        f"on disk: history {stored / MB:.1f} MB  index {index / MB:.1f} MB  = {per_message:,.0f} bytes/message"
        f" (history {stored / count:,.0f}, index {index / count:,.0f})"
    )
    return {"history": stored / count, "index": index / count}


def measure(engine: str, db_path: Path, rounds: int, seconds: float) -> Figures:
    print(f"\n== {engine} ==")
    os.environ[search.ENGINE_ENV] = engine  # every sidecar started below, and its indexer
    remove_index(engine, db_path)
    first = start(db_path)
    figures = {"engine": engine, **catch_up(engine, db_path, first)}
    open_, figures["windows"] = windows(db_path, first)
    figures["search"] = search_latency(first, rounds)
    for sidecar in open_:
        sidecar.close()
    _, freshness = steady_appends(db_path, seconds, indexing=True)
    fresh = sorted(freshness)
    print(f"freshness at 100 appends/s: p50 {statistics.median(fresh) * 1000:.0f} ms  max {fresh[-1] * 1000:.0f} ms")
    figures["fresh"] = (statistics.median(fresh), fresh[-1])
    figures["disk"] = disk(engine, db_path)
    return figures


def table(count: int, runs: list[Figures]) -> None:
    def mb(value: int) -> str:
        return f"{value / MB:.0f} MB"

    def rss_own(value: Memory) -> str:
        return f"{value.rss / MB:.0f} ({value.private / MB:.0f}) MB"

    rows = [
        ("index build (catch-up)", lambda f: f"{f['catch-up']:.1f} s, {f['rate']:,.0f}/s"),
        ("  indexer peak RSS", lambda f: mb(f["peak"].get("indexer", NO_PROCESS).peak)),
        ("one window, idle: RSS (own)", lambda f: rss_own(f["windows"]["one window"])),
        (
            "  sidecar / indexer",
            lambda f: " / ".join(rss_own(f["windows"]["idle"].get(r, NO_PROCESS)) for r in ("sidecar", "indexer")),
        ),
        (
            "each further window",
            lambda f: f"{rss_own(f['windows']['2nd window'])}, {rss_own(f['windows']['3rd window'])}",
        ),
        (
            "sidecar RSS searching (peak)",
            lambda f: f"{mb(f['search']['searching'].rss)} ({mb(f['search']['searching'].peak)})",
        ),
        ("search p50/p95/p99", lambda f: "{p50:.2f}/{p95:.2f}/{p99:.2f} ms".format(**f["search"])),
        ("freshness p50/max", lambda f: f"{f['fresh'][0] * 1000:.0f}/{f['fresh'][1] * 1000:.0f} ms"),
        (
            "bytes/message history+index",
            lambda f: f"{f['disk']['history']:,.0f} + {f['disk']['index']:,.0f}",
        ),
    ]
    print(f"\n{count:,} messages")
    print(f"{'':30}" + "".join(f"{f['engine']:>26}" for f in runs))
    for label, cell in rows:
        print(f"{label:30}" + "".join(f"{cell(f):>26}" for f in runs))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/agent-history-bench/footprint.db"))
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--engines", nargs="+", choices=search.ENGINES, default=list(search.ENGINES))
    args = parser.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    seed_store(args.db, args.messages)
    runs = [measure(engine, args.db, args.rounds, args.seconds) for engine in args.engines]
    table(args.messages, runs)


if __name__ == "__main__":
    main()
