"""The history as the MCP tools see it: read-only, on one thread, retried while busy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ..errors import StorageBusy
from ..search import index as search
from ..search.index import SearchIndex
from ..store import Settings, Store
from ..store.encryption import load_key

T = TypeVar("T")

CALL_DEADLINE_SECONDS = 10.0  # a tool call gives up on a busy database after this long
BUSY_TIMEOUT_MS = 1000  # the engine's own wait per statement, retried until the deadline
RETRY_PAUSE_SECONDS = 0.05
INDEX_CATCH_UP_SECONDS = 2.0  # a first run over a big history finishes indexing on later calls


class History:
    """The history database, opened on first use and used from one thread only.

    A pyturso connection must stay on one thread, and the SDK runs tools on a pool; so
    every call goes through a single-thread executor. The history is opened read-only:
    nothing an agent asks can change it. The search index beside it is derived data, so
    it is brought up to date here before a search, as `agent-history search` does.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._store: Store | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history")

    async def call(self, operation: Callable[[Store], T]) -> T:
        """Run `operation` on the history's thread, retrying while the database is busy."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._retrying, operation)

    def _retrying(self, operation: Callable[[Store], T]) -> T:
        deadline = time.monotonic() + CALL_DEADLINE_SECONDS
        while True:
            try:
                return operation(self._opened())
            except StorageBusy:
                if time.monotonic() + RETRY_PAUSE_SECONDS > deadline:
                    raise
                time.sleep(RETRY_PAUSE_SECONDS)

    def _opened(self) -> Store:
        if self._store is None:
            settings = Settings(busy_timeout_ms=BUSY_TIMEOUT_MS, encryption_key=load_key())
            self._store = Store(self.db_path, read_only=True, settings=settings)
        return self._store

    def close(self) -> None:
        def close_store() -> None:
            if self._store is not None:
                self._store.close()

        self._thread.submit(close_store).result()
        self._thread.shutdown()


def search_index(store: Store) -> SearchIndex:
    """The store's search index, writable: it is derived data, brought up to date here."""
    if store.search is None:
        settings = store.settings
        store.search = search.open_index(
            store.path, encryption_key=settings.encryption_key, busy_timeout_ms=settings.busy_timeout_ms
        )
    return store.search


def fresh_index(store: Store) -> int:
    """Index what was committed since the last search, for up to INDEX_CATCH_UP_SECONDS;
    how many messages are still waiting to be indexed."""
    return search.catch_up_or_wait(store.db, search_index(store), INDEX_CATCH_UP_SECONDS)
