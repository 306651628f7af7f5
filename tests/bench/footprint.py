"""What the sidecar costs: memory per process and per window, bytes on disk, search latency,
freshness, and how fast the index catches up after a bulk import (issue 21).

    python -m tests.bench.footprint [--messages 100000] [--db PATH] [--rounds 50] [--seconds 10]

Seeds a corpus at --db (kept for reuse; its search index is deleted at every run, so the
catch-up is measured from nothing, as after an import), then runs real sidecars over stdio.
Memory is read from /proc (Linux): VmRSS now, VmHWM the peak over the process's life.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from sidecar.search import index as search
from sidecar.store.database import Database

from .corpus import seed_store
from .latency import Sidecar
from .search import QUERIES, steady_appends

MB = 1024 * 1024
INDEX_FILES = ("-search", "-search-wal")


def memory(pid: int) -> tuple[int, int]:
    """RSS now and its peak, in bytes."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def tree(pid: int) -> dict[str, tuple[int, int]]:
    """Memory of a sidecar and each process it started, by role."""
    found = {"sidecar": memory(pid)}
    for child in children(pid):
        command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        role = "indexer" if b"index" in command else command[-2].decode() if len(command) > 1 else "child"
        found[role] = memory(child)
    return found


def shown(processes: dict[str, tuple[int, int]]) -> str:
    return "  ".join(f"{role} {now / MB:.0f} MB (peak {peak / MB:.0f})" for role, (now, peak) in processes.items())


def total(processes: dict[str, tuple[int, int]]) -> int:
    return sum(now for now, _ in processes.values())


def start(db_path: Path, indexing: bool = True) -> Sidecar:
    sidecar = Sidecar(db_path)
    options = {"searchIndex": indexing}
    sidecar.call("initialize", {"processId": None, "capabilities": {}, "initializationOptions": options})
    return sidecar


def catch_up(db_path: Path, sidecar: Sidecar) -> None:
    """Wait for the index to take in the whole history, as after a bulk import."""
    history = Database(db_path, read_only=True)
    last = int(history.scalar("SELECT max(seq) FROM messages"))
    count = int(history.scalar("SELECT count(*) FROM messages"))
    started = time.perf_counter()
    while not search.search_path(db_path).exists():
        time.sleep(0.05)
    index = search.open_index(db_path, read_only=True)
    peak: dict[str, tuple[int, int]] = {}
    while search.indexed_through(index) < last:
        peak = tree(sidecar.process.pid)
        time.sleep(0.25)
    elapsed = time.perf_counter() - started
    print(f"catch-up after import: {count:,} messages in {elapsed:.1f} s = {count / elapsed:,.0f} msgs/s")
    print(f"  while catching up: {shown(peak)}")
    # Searchable now, but fast only once the fold has optimized the archive into one segment.
    while search.fold_due(index, search.LIMITS):
        peak = tree(sidecar.process.pid)
        time.sleep(0.25)
    print(f"  then folded, {time.perf_counter() - started:.1f} s after the start: {shown(peak)}")
    index.close()
    history.close()


def windows(db_path: Path, first: Sidecar) -> list[Sidecar]:
    """1, 2 and 3 sidecars on one database, idle."""
    open_ = [first]
    before = 0
    for count in (1, 2, 3):
        if count > 1:
            open_.append(start(db_path))
        time.sleep(2)  # let each settle: the indexer's first round, the lock's first try
        trees = [tree(sidecar.process.pid) for sidecar in open_]
        all_ = sum(total(processes) for processes in trees)
        print(f"{count} sidecar(s) idle: {all_ / MB:.0f} MB in all (+{(all_ - before) / MB:.0f} MB)")
        for number, processes in enumerate(trees, 1):
            print(f"  window {number}: {shown(processes)}")
        before = all_
    return open_


def search_latency(sidecar: Sidecar, rounds: int) -> None:
    samples: list[float] = []
    for _, params in QUERIES:
        for _ in range(3):
            sidecar.call("history/searchMessages", params)
        samples += [sidecar.call("history/searchMessages", params)[1] for _ in range(rounds)]
    ordered = sorted(samples)
    at = [ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.5, 0.95, 0.99)]
    print(f"search, {len(QUERIES)} shapes x {rounds}: p50 {at[0]:.2f} ms  p95 {at[1]:.2f} ms  p99 {at[2]:.2f} ms")
    print(f"  after searching: {shown(tree(sidecar.process.pid))}")


def disk(db_path: Path) -> None:
    history = Database(db_path, read_only=True)
    count = int(history.scalar("SELECT count(*) FROM messages"))
    history.close()
    files = {suffix or "history": db_path.with_name(db_path.name + suffix) for suffix in ("", "-wal", *INDEX_FILES)}
    sizes = {name: path.stat().st_size if path.exists() else 0 for name, path in files.items()}
    print(
        "on disk: "
        + "  ".join(f"{name} {size / MB:.1f} MB" for name, size in sizes.items())
        + f"  = {sum(sizes.values()) / count:,.0f} bytes/message"
        f" (history {(sizes['history'] + sizes['-wal']) / count:,.0f},"
        f" index {(sizes['-search'] + sizes['-search-wal']) / count:,.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/agent-history-bench/footprint.db"))
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    seed_store(args.db, args.messages)
    for suffix in INDEX_FILES:
        args.db.with_name(args.db.name + suffix).unlink(missing_ok=True)
    first = start(args.db)
    catch_up(args.db, first)
    open_ = windows(args.db, first)
    search_latency(first, args.rounds)
    for sidecar in open_:
        sidecar.close()
    _, freshness = steady_appends(args.db, args.seconds, indexing=True)
    fresh = sorted(freshness)
    print(f"freshness at 100 appends/s: p50 {statistics.median(fresh) * 1000:.0f} ms  max {fresh[-1] * 1000:.0f} ms")
    disk(args.db)


if __name__ == "__main__":
    main()
