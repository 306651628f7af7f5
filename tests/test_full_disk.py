"""A full disk, for real: a 2 MiB tmpfs filled up, the real sidecar driven over stdio.

Every request gets a result or -32005, the process stays up, nothing acknowledged is lost
and it recovers once space returns. Needs root (mount); skipped where mount is refused.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import turso

from sidecar.search.index import RESTART_SECONDS
from sidecar.store.database import ENGINE_FEATURES, ENGINE_MAP_BYTES
from sidecar.store.ownership import ENGINE_MAP

from .helpers import RawServer, children_of, running, user


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(disk: Path, leave: int) -> Path:
    """Take the disk's free space down to `leave` bytes (or as near as its blocks allow)."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("ab") as out:
        while (free := os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize) > leave:
            out.write(b"x" * min(4096, free - leave))
            out.flush()
    return filler


def alive(server: RawServer) -> bool:
    return server.process.poll() is None


def result_or_storage_error(response: dict[str, Any]) -> Any:
    assert "result" in response or response["error"]["code"] == -32005, response
    return response.get("result")


def test_the_engine_map_is_the_size_reserved_for_it(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    connection = turso.connect(str(path), experimental_features=ENGINE_FEATURES, isolation_level=None)
    connection.execute("CREATE TABLE t (x)")
    connection.close()
    assert Path(f"{path}{ENGINE_MAP}").stat().st_size == ENGINE_MAP_BYTES


def test_initialize_on_a_full_disk_is_a_storage_error_and_the_process_stays_up(small_disk: Path) -> None:
    # Before: SIGBUS (the engine's map, sized by ftruncate, written through mmap), no answer.
    filler = fill(small_disk, 0)
    server = RawServer(small_disk / "history.db")
    try:
        response = server.initialize()
        assert response["error"]["code"] == -32005 and "No space left" in response["error"]["message"]
        assert server.request("history/stats", None)["error"]["code"] == -32600  # not initialized, still serving
        assert alive(server)
    finally:
        server.close()
    assert sorted(os.listdir(small_disk)) == ["filler", "history.db"]  # no half-made map left behind
    filler.unlink()
    server = RawServer(small_disk / "history.db")
    try:
        assert "result" in server.initialize()
        sid = server.request("history/createSession", {"kind": "chat"})["result"]["id"]
        assert "result" in server.request("history/appendMessages", {"sessionId": sid, "messages": [user("hi")]})
    finally:
        server.close()


@pytest.mark.parametrize("leave", [0, 100_000])
def test_a_disk_that_fills_up_under_a_running_sidecar(small_disk: Path, leave: int) -> None:
    # Before: the first search (no index yet) was SIGBUS, the indexer crash-looped.
    server = RawServer(small_disk / "history.db")
    try:
        assert "result" in server.initialize()
        sid = server.request("history/createSession", {"kind": "chat"})["result"]["id"]
        filler = fill(small_disk, leave)
        acknowledged = []
        for n in range(20):
            batch = [user(f"word{n} " + "y" * 2000)]
            if result_or_storage_error(server.request("history/appendMessages", {"sessionId": sid, "messages": batch})):
                acknowledged.append(f"word{n}")
        assert len(acknowledged) < 20  # the disk did fill
        for method, params in [
            ("history/searchMessages", {"query": "word0"}),
            ("history/getUsage", {}),
            ("history/stats", None),
            ("history/listSessions", {}),
            ("history/getMessages", {"sessionId": sid}),
            ("history/createSession", {"kind": "chat"}),
        ]:
            result_or_storage_error(server.request(method, params))
        assert alive(server)

        filler.unlink()  # space returns
        after = server.request("history/appendMessages", {"sessionId": sid, "messages": [user("wordafter")]})
        assert after["result"]["messages"][0]["index"] == len(acknowledged)
        stored = server.request("history/getMessages", {"sessionId": sid, "limit": 100})["result"]["messages"]
        assert [m["content"].split()[0] for m in stored] == [*acknowledged, "wordafter"]
        deadline = time.monotonic() + 60  # the indexer, restarted, catches up
        while not server.request("history/searchMessages", {"query": "wordafter"}).get("result", {}).get("hits"):
            assert time.monotonic() < deadline, "the search index never caught up"
            time.sleep(0.2)
        assert alive(server)
    finally:
        server.close()


def test_an_indexer_started_on_a_full_disk_waits_for_space(small_disk: Path) -> None:
    # Before: the indexer could not create its index, died with a traceback, and every
    # wake-up (each append) started another one, RESTART_SECONDS apart.
    path = small_disk / "history.db"
    server = RawServer(path)
    try:
        assert "result" in server.initialize(searchIndex=False)
        sid = server.request("history/createSession", {"kind": "chat"})["result"]["id"]
        server.request("history/appendMessages", {"sessionId": sid, "messages": [user("wordbefore")]})
    finally:
        server.close()
    filler = fill(small_disk, 0)
    server = RawServer(path)
    try:
        assert "result" in server.initialize()
        seen: set[int] = set()
        deadline = time.monotonic() + 3 * RESTART_SECONDS
        while time.monotonic() < deadline:  # each append wakes the indexer, or starts a new one
            result_or_storage_error(
                server.request("history/appendMessages", {"sessionId": sid, "messages": [user("z")]})
            )
            seen |= running(children_of(server.process.pid))
            time.sleep(0.2)
        assert len(seen) == 1 and running(seen) == seen, seen
        filler.unlink()
        deadline = time.monotonic() + 60
        while not server.request("history/searchMessages", {"query": "wordbefore"}).get("result", {}).get("hits"):
            assert time.monotonic() < deadline, "the search index was never made"
            time.sleep(0.2)
        assert alive(server) and running(seen) == seen
    finally:
        server.close()
