"""How much one client can make the server hold, and answering every request it read.

A client that writes requests and never reads the replies would otherwise grow our memory
without bound (60 unread exports: 63 → 787 MB). No new request is read while a few are
unanswered or while the output the client has not read is over `stdio.BACKLOG_BYTES`; the
pipe then fills and the client's own writes block. History notifications wait in the
database's change feed meanwhile (nothing is lost: they go out once the client reads);
progress and log notifications are dropped, with a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

from .stdio import Writer

log = logging.getLogger(__name__)

# Requests read but not answered yet: the database answers one at a time, so a few queued
# keep it busy, and each may hold a large reply.
MAX_UNANSWERED = 4


class Flow:
    def __init__(self) -> None:
        self.writer: Writer | None = None
        self.unanswered = 0
        self.dropped = 0
        self.answer = asyncio.Event()  # set at each answer
        self.paused = False

    def received(self) -> None:
        self.unanswered += 1

    def answered(self) -> None:
        self.unanswered -= 1
        self.answer.set()

    def congested(self) -> bool:
        return self.writer is not None and self.writer.congested()

    async def writable(self) -> None:
        """Return once the client has read what it was sent, if it had too much waiting."""
        if self.writer is not None and self.writer.congested():
            if not self.paused:
                log.warning("the client is not reading its replies: reading paused until it does")
            self.paused = True
            await self.writer.drained()
            self.paused = False

    async def ready(self) -> None:
        """Before reading the next frame: wait while the client has too much unread or unanswered."""
        while True:
            await self.writable()
            if self.unanswered < MAX_UNANSWERED:
                return
            await self._next_answer()

    def _next_answer(self) -> Coroutine[Any, Any, bool]:
        self.answer.clear()  # now: an answer given before the waiting starts still counts
        return self.answer.wait()

    async def settle(self, seconds: float, others: int = 0) -> bool:
        """Wait (at most `seconds`) until every request read but `others` is answered; whether it is."""
        deadline = time.monotonic() + seconds
        while self.unanswered > others and (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._next_answer(), left)
        return self.unanswered <= others

    def may_notify(self) -> bool:
        """Whether a progress or log notification may go out now (else it is dropped and counted)."""
        if self.congested():
            self.dropped += 1
            return False
        if self.dropped:
            log.warning("dropped %d progress/log notifications while the client was not reading", self.dropped)
            self.dropped = 0
        return True
