"""Search over stdio at scale: latency, freshness under steady appends, and what indexing
costs appends.

    python -m tests.bench.search [--messages 1000000] [--db PATH] [--seconds 20]

Seeds a corpus (kept at --db for reuse), builds the index, then runs the real sidecar.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from .corpus import build_index, seed_store
from .latency import Sidecar, percentiles


def seed(path: Path, total: int) -> None:
    started = time.perf_counter()
    seed_store(path, total)
    print(f"seeded {total} messages in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    build_index(path)
    print(f"indexed them in {time.perf_counter() - started:.0f} s")


QUERIES = [
    ("one common word", {"query": "error"}),
    ("one rare word", {"query": "kalomi"}),
    ("two words", {"query": "database migration"}),
    ("phrase", {"query": '"commit rollback"'}),
    ("OR and NOT", {"query": "parser OR lexer -test"}),
    ("prefix", {"query": "tok*"}),
    ("project filter", {"query": "socket", "projectId": "/home/dev/project-3"}),
    ("role filter", {"query": "failed", "roles": ["tool"]}),
]


def search_latency(db_path: Path, rounds: int) -> None:
    sidecar = Sidecar(db_path)
    sidecar.call("initialize", {"processId": None, "capabilities": {}, "initializationOptions": {"searchIndex": False}})
    everything: list[float] = []
    for name, params in QUERIES:
        for _ in range(5):
            sidecar.call("history/searchMessages", params)
        samples = [sidecar.call("history/searchMessages", params)[1] for _ in range(rounds)]
        everything += samples
        hits = len(sidecar.call("history/searchMessages", params)[0]["hits"])
        print(f"search {name:16} {percentiles(samples)}   ({hits} hits)")
    ordered = sorted(everything)
    print(
        f"search, all queries: p50 {statistics.median(ordered):.2f} ms  p95 {ordered[int(0.95 * len(ordered))]:.2f} ms"
        f"  p99 {ordered[int(0.99 * len(ordered))]:.2f} ms  over {len(ordered)} requests"
    )
    sidecar.close()


def steady_appends(db_path: Path, seconds: float, indexing: bool) -> tuple[list[float], list[float]]:
    """100 appends/s through one sidecar; another sidecar searches for each as it lands.

    Returns the append round trips and, per appended message, the time from its
    acknowledgement until a search found it.
    """
    options: dict[str, Any] = {"searchIndex": indexing}
    writer, reader = Sidecar(db_path), Sidecar(db_path)
    writer.call("initialize", {"processId": None, "capabilities": {}, "initializationOptions": options})
    reader.call("initialize", {"processId": None, "capabilities": {}, "initializationOptions": {"searchIndex": False}})
    session_id = writer.call("history/createSession", {"kind": "agent"})[0]["id"]
    acknowledged: dict[str, float] = {}
    appends: list[float] = []
    done = threading.Event()

    def write() -> None:
        count = int(seconds * 100)
        start = time.perf_counter()
        for n in range(count):
            token = f"fresh{os.getpid()}x{n}x{int(indexing)}"
            _, elapsed = writer.call(
                "history/appendMessages",
                {"sessionId": session_id, "messages": [{"role": "user", "content": f"{token} steady"}]},
            )
            acknowledged[token] = time.perf_counter()
            appends.append(elapsed)
            time.sleep(max(0.0, start + (n + 1) / 100 - time.perf_counter()))
        done.set()

    freshness: list[float] = []

    def read() -> None:
        n = 0
        while not done.is_set() or f"fresh{os.getpid()}x{n}x{int(indexing)}" in acknowledged:
            token = f"fresh{os.getpid()}x{n}x{int(indexing)}"
            if token not in acknowledged:
                time.sleep(0.002)
                continue
            result, _ = reader.call("history/searchMessages", {"query": token, "sessionId": session_id})
            if result["hits"]:
                freshness.append(time.perf_counter() - acknowledged[token])
                n += 5  # sample every fifth message
            elif time.perf_counter() - acknowledged[token] > 10:
                freshness.append(float("inf"))
                n += 5
            else:
                time.sleep(0.005)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    reader.close()
    return appends, freshness


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/agent-history-bench/history.db"))
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    seed(args.db, args.messages)
    search_latency(args.db, args.rounds)
    # An indexer in the writer keeps up; with none at all nothing would ever be found, so the
    # "off" run measures appends only.
    on_appends, on_fresh = steady_appends(args.db, args.seconds, indexing=True)
    off_appends, _ = steady_appends(args.db, args.seconds, indexing=False)
    fresh = sorted(on_fresh)
    print(
        f"freshness at 100 appends/s: p50 {statistics.median(fresh) * 1000:.0f} ms  max {fresh[-1] * 1000:.0f} ms"
        f"  ({len(fresh)} samples)"
    )
    print(f"appendMessages(1) at 100/s, indexing on:  {percentiles(on_appends)}")
    print(f"appendMessages(1) at 100/s, indexing off: {percentiles(off_appends)}")


if __name__ == "__main__":
    main()
