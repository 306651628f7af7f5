"""Helper processes (search indexer, import readers) end with the process that started
them, however it ended: a kill -9 runs no cleanup, and a helper waiting for work, or deep
in a long catch-up, would otherwise live on, holding memory and file locks."""

from __future__ import annotations

import os
import threading
import time

PARENT_ENV = "AGENT_HISTORY_PARENT_PID"
POLL_SECONDS = 0.25


def exit_with_parent(parent: int) -> None:
    """Exit at once when `parent` is no longer this process's parent. The parent's pid is
    handed over, not read here: it may have died while this process was starting, and then
    the pid read would already be its new parent's. Exiting mid-transaction is safe: like
    a kill -9, the engine never applies a transaction that did not commit."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="agent-history-parent-watch", daemon=True).start()


def child_environment(environment: dict[str, str]) -> dict[str, str]:
    """`environment` for a helper that is to exit with this process (`exit_with_spawner`)."""
    return {**environment, PARENT_ENV: str(os.getpid())}


def exit_with_spawner() -> None:
    """In a helper started with `child_environment`: exit when the process that started it does."""
    parent = os.environ.get(PARENT_ENV, "")
    if parent.isdigit():
        exit_with_parent(int(parent))
