"""Sync throughput and round cost against a real `tursodb --sync-server` on loopback.

    python -m tests.bench.sync [--messages 20000]

A laptop store is seeded with the corpus; then: its first round (copy the whole history to
the replica and push it), the desktop's first round (pull it and merge it in), a round
with nothing to do, and a round after the laptop appends 100 messages to one session.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sidecar import protocol as p
from sidecar.store import Store
from sidecar.store.messages import append_messages
from sidecar.sync.config import SyncConfig
from sidecar.sync.replica import replica_path
from sidecar.sync.worker import one_round

from ..sync_server import sync_server
from .corpus import seed_store


def timed_round(store: Store, config: SyncConfig) -> tuple[float, p.SyncResult]:
    started = time.perf_counter()
    result = one_round(store, config)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, sync_server(Path(folder)) as server:
        config = SyncConfig(server.url)
        laptop_path = Path(folder) / "laptop" / "history.db"
        session_id = seed_store(laptop_path, args.messages)
        laptop, desktop = Store(laptop_path), Store(Path(folder) / "desktop" / "history.db")
        seconds, result = timed_round(laptop, config)
        print(
            f"first round, laptop: {result.pushed_messages:,} messages copied and pushed in {seconds:.2f} s"
            f" = {result.pushed_messages / seconds:,.0f} messages/s"
        )
        seconds, result = timed_round(desktop, config)
        print(
            f"first round, desktop: {result.pulled_messages:,} messages pulled and merged in {seconds:.2f} s"
            f" = {result.pulled_messages / seconds:,.0f} messages/s"
        )
        rounds = [timed_round(desktop, config)[0] for _ in range(10)]
        print(f"a round with nothing to do: median {sorted(rounds)[5] * 1000:.1f} ms")
        batch = [p.MessageInput(role=p.Role.USER, content=f"one more {n}") for n in range(100)]
        append_messages(laptop, p.AppendMessagesParams(session_id=session_id, messages=batch))
        push, _ = timed_round(laptop, config)
        pull, result = timed_round(desktop, config)
        print(
            f"100 new messages: laptop round {push * 1000:.0f} ms, desktop round {pull * 1000:.0f} ms"
            f" ({result.pulled_messages} pulled)"
        )
        history = sum(f.stat().st_size for f in laptop_path.parent.glob("history.db*") if "-sync" not in f.name)
        for file in sorted(laptop_path.parent.glob(f"{replica_path(laptop_path).name}*")):
            print(f"  {file.name}: {file.stat().st_size / 2**20:.1f} MiB")
        print(f"the history's own files: {history / 2**20:.1f} MiB")
        laptop.close()
        desktop.close()


if __name__ == "__main__":
    main()
