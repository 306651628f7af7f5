"""The sync worker: a child process per sidecar that runs sync rounds, so no network call
ever holds up the sidecar's requests.

It runs a round every `interval_seconds`, sooner (at most once a second) when its sidecar
says it wrote, and at once for `history/sync`. Lines on its stdin: an empty line is a
wake-up, a number is a request whose result goes back as one JSON line on stdout.

The replica is locked to one process by the engine, and several sidecars may serve one
history file: a round takes `<db>-sync.lock` (flock), opens the replica, runs, and closes
it, so the sidecars on a file take turns and each one's `history/sync` works.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import select
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .. import protocol as p
from ..errors import HistoryError
from ..lifetime import exit_with_spawner
from ..store import Store
from ..store.locks import turn
from ..wire import unstructure
from .config import SyncConfig
from .replica import open_replica, replica_path
from .rounds import sync_round

log = logging.getLogger(__name__)
WAKE_GAP_SECONDS = 1.0  # a burst of writes makes one round, not one per write
LOCK_WAIT_SECONDS = 30.0


@contextlib.contextmanager
def replica_turn(db_path: Path, wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """This process's turn at the replica: other processes on the same file wait for it."""
    with turn(
        Path(f"{replica_path(db_path)}.lock"),
        wait_seconds=wait_seconds,
        busy="another agent-history process kept syncing this database; retry",
    ):
        yield


def one_round(store: Store, config: SyncConfig, *, merge: bool = True) -> p.SyncResult:
    """Open the replica under the lock, run a round, and let go of the replica's file."""
    with replica_turn(store.path):
        replica = open_replica(store.path, config)
        try:
            return sync_round(store, replica, merge=merge)
        finally:
            replica.close()
            del replica
            gc.collect()  # pyturso holds the file's lock until the connection is collected


# -- the child process --------------------------------------------------------------------


def _reply(output: IO[str], request_id: int, body: dict[str, Any]) -> None:
    output.write(json.dumps({"id": request_id, **body}) + "\n")
    output.flush()


def run_worker(db_path: Path, config: SyncConfig, requests: int, output: IO[str]) -> None:
    """Serve rounds until stdin closes."""
    store = Store(db_path)
    first, last_round, wake_due = True, 0.0, None
    try:
        while True:
            due = min(last_round + config.interval_seconds, wake_due or float("inf"))
            ids, closed, woken = _wait_for_lines(requests, max(0.0, due - time.monotonic()))
            if closed:
                return
            if woken and not ids:
                wake_due = min(wake_due or float("inf"), last_round + WAKE_GAP_SECONDS)
                if time.monotonic() < wake_due:
                    continue
            try:
                body = {"result": unstructure(one_round(store, config, merge=first))}
                first = False
            except HistoryError as error:
                log.warning("sync round failed: %s", error.message)
                body = {"error": {"name": type(error).__name__, "message": error.message}}
            except Exception as error:  # a bug or a record we cannot read: report it, keep serving
                log.exception("sync round failed")
                body = {"error": {"name": "StorageError", "message": f"sync round failed: {error}"}}
            last_round, wake_due = time.monotonic(), None
            for request_id in ids:
                _reply(output, request_id, body)
    finally:
        store.close()


def _wait_for_lines(requests: int, timeout: float) -> tuple[list[int], bool, bool]:
    """Request ids read, whether stdin closed, whether any line came (all pending lines).

    Reads the file descriptor itself: a buffered reader could hold lines that select()
    no longer sees. The sidecar writes whole lines, each at most a few bytes (atomic).
    """
    ids: list[int] = []
    woken = False
    while select.select([requests], [], [], timeout)[0]:
        chunk = os.read(requests, 4096)
        if not chunk:
            return ids, True, woken
        woken, timeout = True, 0.0
        ids += [int(line) for line in chunk.split(b"\n") if line.strip()]
    return ids, False, woken


def worker_main(db_path: Path) -> None:
    from .config import sync_config

    # Its sidecar's end is seen between rounds (stdin closes) and, by this watch, in the
    # middle of one: a kill -9 of the sidecar must not leave a round holding the lock.
    exit_with_spawner()
    config = sync_config(None)
    if config is None:
        sys.exit("agent-history sync-worker: no sync URL in the environment")
    run_worker(db_path, config, sys.stdin.fileno(), sys.stdout)
