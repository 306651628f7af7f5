"""The storage core: every history operation on one Turso database, no JSON-RPC in sight.

Each operation is a function `operation(store, params) -> result` over the contract's
types, so the server only structures params, calls, and shapes results.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import RequestCancelled
from .database import BUSY_TIMEOUT_MS, Database

if TYPE_CHECKING:
    from ..search.index import SearchIndex

DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@attrs.define
class Settings:
    default_project_id: str | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    busy_timeout_ms: int = BUSY_TIMEOUT_MS
    redact: bool = True  # credentials in messages are masked before they are stored
    encryption_key: str | None = attrs.field(default=None, repr=False)  # never in a log line


class Store:
    """An open history database and the settings its operations honour."""

    def __init__(self, path: Path, *, read_only: bool = False, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.db = Database(
            path,
            read_only=read_only,
            busy_timeout_ms=self.settings.busy_timeout_ms,
            encryption_key=self.settings.encryption_key,
        )
        # The search index, opened on first use by sidecar.search.
        self.search: SearchIndex | None = None

    @property
    def path(self) -> Path:
        return self.db.path

    def close(self) -> None:
        self.db.close()
        if self.search is not None:
            self.search.close()


def _ignore_progress(done: int, total: int) -> None:
    pass


def _run_here(step: Callable[[], Any]) -> Any:
    return step()


@attrs.define(eq=False)  # identity, not value: a server keeps a set of running Work
class Work:
    """How a long operation reports progress and learns it was cancelled.

    The operation calls `checkpoint(done, total)` between batches: it reports progress, and
    once another thread has called `cancel()` it raises RequestCancelled, so the batch's
    transaction rolls back.

    An operation that touches the store only in steps of its own (an import's batches)
    runs each through `on_database`: here by default; a server that runs the operation off
    its database thread passes a function that runs the step there and waits for it, so
    its other requests are answered between the steps.
    """

    report: Callable[[int, int], None] = _ignore_progress
    on_database: Callable[[Callable[[], Any]], Any] = _run_here
    _cancelled: threading.Event = attrs.field(factory=threading.Event)

    def cancel(self) -> None:
        self._cancelled.set()

    def checkpoint(self, done: int, total: int) -> None:
        if self._cancelled.is_set():
            raise RequestCancelled("the request was cancelled; nothing of the current batch was committed")
        self.report(done, total)


NO_WORK = Work()
