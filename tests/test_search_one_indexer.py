"""One search indexer per database, whichever sidecar holds the index lock; another
sidecar takes over when the holder dies (issue 21: each extra window costs only its sidecar)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sidecar.store import Store

from .helpers import RawServer, children_of, still_running_after, user

needs_proc = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds indexers through Linux's /proc")


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def indexers(*servers: RawServer) -> set[int]:
    return {child for server in servers for child in children_of(server.process.pid)}


def found(server: RawServer, word: str) -> bool:
    return bool(server.request("history/searchMessages", {"query": word})["result"]["hits"])


def append(server: RawServer, text: str) -> None:
    session = server.request("history/createSession", {"kind": "chat"})["result"]["id"]
    server.request("history/appendMessages", {"sessionId": session, "messages": [user(text)]})


@pytest.fixture
def windows(db_path: Path) -> Iterator[list[RawServer]]:
    """Three sidecars on one database, the first started (and its indexer running) first."""
    servers = [RawServer(db_path)]
    try:
        servers[0].initialize()
        wait_for(lambda: bool(indexers(servers[0])), "the first sidecar started its indexer")
        for _ in range(2):
            servers.append(RawServer(db_path))
            servers[-1].initialize()
        yield servers
    finally:
        for server in servers:
            server.close()


@needs_proc
def test_three_windows_run_one_indexer_between_them(windows: list[RawServer]) -> None:
    others = windows[1:]
    time.sleep(2.5)  # past the others' retry period: a second indexer would be running by now
    assert len(indexers(*windows)) == 1 and not indexers(*others)
    append(others[1], "marmalade from a window without an indexer")
    wait_for(lambda: found(others[0], "marmalade"), "the first window's indexer indexed the third's message")


@needs_proc
def test_when_the_indexing_window_is_killed_another_takes_over(windows: list[RawServer]) -> None:
    first, *others = windows
    indexer = indexers(first)
    first.process.kill()  # kill -9: no shutdown; its indexer follows it, the kernel drops the lock
    first.process.wait()
    assert not still_running_after(indexer, 5)
    append(others[0], "quince jelly written after the holder died")
    wait_for(lambda: found(others[1], "quince"), "a surviving window's new indexer indexed it")
    assert len(indexers(*others)) == 1


@needs_proc
def test_a_window_shut_down_cleanly_hands_indexing_over(windows: list[RawServer]) -> None:
    first, *others = windows
    first.request("shutdown")
    first.finish()
    wait_for(lambda: len(indexers(*others)) == 1, "a surviving window started the next indexer")
    append(others[1], "damson cheese after a clean handover")
    wait_for(lambda: found(others[0], "damson"), "the new indexer indexed it")


def test_a_stopped_indexer_is_not_started_again_by_a_late_write(store: Store, db_path: Path) -> None:
    # A write request answered between shutdown and exit woke the stopped Indexer, which took
    # the lock again and started an indexer that lived until the sidecar exited.
    from sidecar.filelock import FileLock
    from sidecar.search.index import RESTART_SECONDS, Indexer, index_lock_path

    indexer = Indexer(db_path)
    first = indexer.process
    assert first is not None
    indexer.stop()
    first.wait(timeout=30)
    indexer.tried -= RESTART_SECONDS  # its turn to try again has come
    indexer.wake()
    assert indexer.process is first
    other = FileLock(index_lock_path(db_path))
    try:
        assert other.try_acquire()  # nobody holds the index lock
    finally:
        other.release()
