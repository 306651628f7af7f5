"""The sidecar's handle on its sync worker process (sidecar.sync.worker), kept apart so
the sidecar starts without loading the sync engine: only the worker needs it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..lifetime import child_environment
from .config import SyncConfig


class SyncWorker:
    """The sidecar's handle on its worker process (started again if it dies)."""

    def __init__(self, db_path: Path, config: SyncConfig) -> None:
        self.db_path = db_path
        self.environment = child_environment({**os.environ, **config.environment()})
        self.process: asyncio.subprocess.Process | None = None
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.numbers = itertools.count(1)
        self.reader: asyncio.Task[None] | None = None
        # Starting takes an await: without the lock, the start-up wake-up and a request
        # arriving meanwhile each started a worker, and one was left running unused.
        self.starting = asyncio.Lock()

    async def _running(self) -> asyncio.subprocess.Process:
        async with self.starting:
            if self.process is None or self.process.returncode is not None:
                await self._start()
            assert self.process is not None
            return self.process

    async def _start(self) -> None:
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

    async def wake(self) -> None:
        """Ask for a round soon (the first wake-up starts the process)."""
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
