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

import asyncio
import contextlib
import fcntl
import gc
import itertools
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
from ..errors import HistoryError, StorageBusy
from ..store import Store
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
    lock_path = Path(f"{replica_path(db_path)}.lock")
    with lock_path.open("a") as lock:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StorageBusy("another agent-history process kept syncing this database; retry") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


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

    config = sync_config(None)
    if config is None:
        sys.exit("agent-history sync-worker: no sync URL in the environment")
    run_worker(db_path, config, sys.stdin.fileno(), sys.stdout)


# -- the sidecar's side -------------------------------------------------------------------


class SyncWorker:
    """The sidecar's handle on its worker process (started again if it dies)."""

    def __init__(self, db_path: Path, config: SyncConfig) -> None:
        self.db_path = db_path
        self.environment = {**os.environ, **config.environment()}
        self.process: asyncio.subprocess.Process | None = None
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.numbers = itertools.count(1)
        self.reader: asyncio.Task[None] | None = None

    async def _running(self) -> asyncio.subprocess.Process:
        if self.process is None or self.process.returncode is not None:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "sidecar",
                "sync-worker",
                "--db",
                str(self.db_path),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=self.environment,
            )
            self.reader = asyncio.ensure_future(self._read_replies(self.process))
        return self.process

    async def _read_replies(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            reply = json.loads(line)
            future = self.pending.pop(reply["id"], None)
            if future is not None and not future.done():
                future.set_result(reply)
        for future in self.pending.values():  # the worker died: no answer is coming
            if not future.done():
                future.set_result({"error": {"name": "StorageError", "message": "the sync worker exited; retry"}})
        self.pending.clear()

    async def _send(self, line: str) -> None:
        process = await self._running()
        assert process.stdin is not None
        process.stdin.write(line.encode())
        with contextlib.suppress(ConnectionError):
            await process.stdin.drain()

    async def start(self) -> None:
        await self._send("\n")

    async def wake(self) -> None:
        await self._send("\n")

    async def sync(self) -> dict[str, Any]:
        """Run a round now; the reply is {"result": …} or {"error": {"name", "message"}},
        `name` being the contract's error name."""
        number = next(self.numbers)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[number] = future
        await self._send(f"{number}\n")
        return await future

    def stop(self) -> None:
        """End of file: the worker finishes its round and exits. After the event loop has
        closed, our exit closes the pipe just the same."""
        if self.process is not None and self.process.stdin is not None:
            with contextlib.suppress(RuntimeError):
                self.process.stdin.close()
