"""Crashes, full disks and many windows, against real sidecar processes on one real file.

The figures these tests use (rounds, processes, messages) are the ones the README states.
"""

from __future__ import annotations

import asyncio
import random
import resource
import signal
import threading
import time
from pathlib import Path

import pytest

from sidecar import protocol as p
from sidecar.search import index as search
from sidecar.search import turso_fts
from sidecar.store import Store
from sidecar.store.database import Database
from sidecar.transcripts import importer

from .bench.imports import write_transcripts
from .helpers import (
    HistoryClient,
    RawServer,
    children_of,
    memory_kb,
    running_client,
    still_running_after,
    user,
    wait_idle,
)

KILL_ROUNDS = 20
WINDOWS = 3
MESSAGES_PER_WINDOW = 30


def test_kill_9_during_appends_loses_no_acknowledged_message(db_path: Path) -> None:
    """20 rounds: a stream of appends, kill -9 at a random moment, restart, check."""
    rng = random.Random(7)
    acknowledged: dict[str, int] = {}  # content → index the server acknowledged
    session_id = ""
    for round_number in range(KILL_ROUNDS):
        server = RawServer(db_path)
        server.initialize(searchIndex=round_number % 2 == 0)  # indexers get killed too, half the time
        if not session_id:
            session_id = server.request("history/createSession", {"kind": "agent"})["result"]["id"]
        deadline = time.monotonic() + rng.uniform(0.05, 0.4)
        n = 0
        while time.monotonic() < deadline:
            content = f"round {round_number} message {n}"
            batch = [{"role": "user", "content": content, "clientMessageId": content}]
            reply = server.request("history/appendMessages", {"sessionId": session_id, "messages": batch})
            if reply.get("error", {}).get("code") == -32004:  # busy: retrying is safe, says the contract
                continue
            assert "result" in reply, reply
            acknowledged[content] = reply["result"]["messages"][0]["index"]
            n += 1
        # One more request in flight when the kill lands: it may or may not commit.
        server.send(
            RawServer.frame_of(
                999_999,
                "history/appendMessages",
                {"sessionId": session_id, "messages": [{"role": "user", "content": f"in flight {round_number}"}]},
            )
        )
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(5)
        server.close_pipes()

    store = Store(db_path)
    rows = store.db.execute("SELECT content, idx FROM messages WHERE session_id = ? ORDER BY idx", (session_id,))
    stored = {content: index for content, index in rows}
    assert all(stored.get(content) == index for content, index in acknowledged.items())
    assert [index for _, index in rows] == list(range(len(rows)))  # dense, no duplicates
    assert len(acknowledged) >= KILL_ROUNDS
    assert store.db.scalar("PRAGMA integrity_check") == "ok"
    # Search catches up with everything, including what the killed indexers never took in.
    index = search.open_index(db_path)
    index.catch_up(store.db)
    assert index.indexed_through() == store.db.scalar("SELECT max(seq) FROM messages")
    assert index.documents() == store.db.scalar("SELECT count(*) FROM messages")  # each once
    index.close()
    store.close()


def _limit_file_size(server: RawServer, limit: int) -> None:
    resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


def test_a_full_disk_is_storage_error_nothing_half_written_and_service_resumes(db_path: Path) -> None:
    # SIGXFSZ would kill the process at the limit; ignored, the write fails with EFBIG,
    # as it fails with ENOSPC on a full disk.
    server = RawServer(db_path, ignore_sigxfsz=True)
    server.initialize(searchIndex=False)
    session_id = server.request("history/createSession", {"kind": "agent"})["result"]["id"]
    small = [{"role": "user", "content": "before the disk filled"}]
    server.request("history/appendMessages", {"sessionId": session_id, "messages": small})
    used = max(path.stat().st_size for path in db_path.parent.iterdir() if path.is_file())
    _limit_file_size(server, used + 64 * 1024)  # room for a little, not for 2 MB

    big = [{"role": "user", "content": f"{n} " + "x" * 100_000} for n in range(20)]
    reply = server.request("history/appendMessages", {"sessionId": session_id, "messages": big})
    assert reply["error"]["code"] == -32005, reply
    page = server.request("history/getMessages", {"sessionId": session_id})["result"]
    assert [m["content"] for m in page["messages"]] == ["before the disk filled"]  # all or nothing

    _limit_file_size(server, resource.RLIM_INFINITY)  # space is back
    reply = server.request("history/appendMessages", {"sessionId": session_id, "messages": big})
    assert [m["index"] for m in reply["result"]["messages"]] == list(range(1, 21))
    server.request("shutdown")
    server.close_pipes()
    check = Database(db_path, read_only=True)
    assert check.scalar("PRAGMA integrity_check") == "ok"
    check.close()


async def test_three_windows_append_at_once_and_each_hears_the_others(db_path: Path) -> None:
    async with running_client(db_path) as first:
        session_id = (await first.call("history/createSession", {"kind": "agent"}))["id"]
        async with running_client(db_path) as second, running_client(db_path) as third:
            windows: list[HistoryClient] = [first, second, third]

            async def append_many(window: int, client: HistoryClient) -> list[float]:
                acknowledged = []
                for n in range(MESSAGES_PER_WINDOW):
                    batch = [{"role": "user", "content": f"window {window} message {n}"}]
                    await client.call("history/appendMessages", {"sessionId": session_id, "messages": batch})
                    acknowledged.append(time.monotonic())
                return acknowledged

            started = time.monotonic()
            await asyncio.gather(*(append_many(w, c) for w, c in enumerate(windows)))
            # Each window hears every message, its own and the other two windows'.
            total = WINDOWS * MESSAGES_PER_WINDOW
            deadline = time.monotonic() + 1.0
            while any(len(client.appended(session_id)) < total for client in windows):
                assert time.monotonic() < deadline, [len(c.appended(session_id)) for c in windows]
                await asyncio.sleep(0.02)
            heard = [sorted(m["index"] for m in client.appended(session_id)) for client in windows]
            assert heard == [list(range(total))] * WINDOWS
            page = await first.call("history/getMessages", {"sessionId": session_id, "limit": 1000})
            contents = [m["content"] for m in page["messages"]]
            assert sorted(contents) == sorted(f"window {w} message {n}" for w in range(3) for n in range(30))
            assert [m["index"] for m in page["messages"]] == list(range(total))
            assert time.monotonic() - started < 30


def test_reader_processes_of_a_large_import_exit_with_a_killed_sidecar(db_path: Path, tmp_path: Path) -> None:
    projects = tmp_path / "projects"
    projects.mkdir()
    assert write_transcripts(projects, 60_000) > importer.PARALLEL_BYTES
    raw = RawServer(db_path)
    raw.initialize(searchIndex=False)
    raw.send(raw.frame_of(99, "history/importTranscript", {"path": str(projects)}))
    deadline, readers = time.monotonic() + 10, set()
    while not readers and time.monotonic() < deadline:
        readers = children_of(raw.process.pid)
        time.sleep(0.01)
    assert readers, "the import started no reader process"
    raw.process.kill()
    raw.process.wait()
    assert not still_running_after(readers, 5)
    store = Store(db_path)
    try:
        assert store.db.scalar("PRAGMA integrity_check") == "ok"
    finally:
        store.close()


def test_a_search_indexer_deep_in_a_catch_up_exits_with_a_killed_sidecar(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 40,000 messages take the indexer about 5 s: it is killed a fraction of the way in
    # (it used to finish the whole catch-up before it looked at its sidecar again). Turso's
    # engine, whose WAL shows the indexer at work; Tantivy's catch-up is over in under two.
    monkeypatch.setenv(search.ENGINE_ENV, "turso")
    projects = tmp_path / "projects"
    projects.mkdir()
    write_transcripts(projects, 40_000)
    store = Store(db_path)
    try:
        importer.import_transcript(store, p.ImportTranscriptParams(path=str(projects)))
    finally:
        store.close()
    raw = RawServer(db_path)
    raw.initialize()
    index_file = Path(f"{turso_fts.search_path(db_path)}-wal")
    deadline, indexers = time.monotonic() + 10, set()
    while not (indexers and index_file.exists() and index_file.stat().st_size > 1_000_000):
        assert time.monotonic() < deadline, "the indexer did not start indexing"
        indexers = indexers or children_of(raw.process.pid)
        time.sleep(0.01)
    raw.process.kill()
    raw.process.wait()
    assert not still_running_after(indexers, 3)
    index = turso_fts.TursoIndex(db_path, read_only=True)
    try:
        assert index.db.scalar("PRAGMA integrity_check") == "ok"
        assert 0 < index.documents() < 40_000  # it really was stopped part way
    finally:
        index.close()


# -- a client that does not read ------------------------------------------------------------

needs_proc = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads memory off Linux's /proc")
MB = 1 << 20


@needs_proc
def test_a_client_that_does_not_read_cannot_grow_the_sidecars_memory(db_path: Path) -> None:
    """60 exports of a 4 MB session, none read: before, every reply was held (63 → 787 MB
    with larger ones); now reading stops while replies wait, and all are delivered later."""
    server = RawServer(db_path)
    try:
        server.initialize()
        sid = server.request("history/createSession", {"kind": "chat"})["result"]["id"]
        big = [user("x" * (2 * MB)), user("y" * (2 * MB))]
        server.request("history/appendMessages", {"sessionId": sid, "messages": big})
        peak_before = memory_kb(server.process.pid, "VmHWM")
        exports = [
            server.frame_of(500 + n, "history/exportSession", {"sessionId": sid, "format": "markdown"})
            for n in range(60)
        ]
        sender = threading.Thread(target=server.send, args=(b"".join(exports),), daemon=True)
        sender.start()
        wait_idle(server.process.pid)
        grown_mb = (memory_kb(server.process.pid, "VmHWM") - peak_before) / 1024
        assert grown_mb < 100, f"held {grown_mb:.0f} MB for a client that does not read"
        answered = {server.read_reply()["id"] for _ in range(60)}  # reading again: every one comes
        assert answered == set(range(500, 560))
        sender.join(10)
    finally:
        server.close()


@needs_proc
def test_a_frame_over_the_limit_is_refused_before_it_is_read_and_the_next_is_served(db_path: Path) -> None:
    """A 200 MB frame: before, read whole (a 400 MB one peaked at 1.26 GB); now -32003 at
    once, its body discarded as it arrives, and the frame after it answered."""
    server = RawServer(db_path)
    try:
        server.initialize()
        peak_before = memory_kb(server.process.pid, "VmHWM")
        body = b"x" * (200 * MB)
        sender = threading.Thread(target=server.send, args=(b"Content-Length: %d\r\n\r\n" % len(body) + body,))
        sender.start()
        error = server.read_reply()["error"]
        assert error["code"] == -32003 and "payload too large" in error["message"]
        sender.join(60)
        assert server.request("history/stats", {})["result"]["sessions"] == 0
        grown_mb = (memory_kb(server.process.pid, "VmHWM") - peak_before) / 1024
        assert grown_mb < 50, f"peaked {grown_mb:.0f} MB higher for a refused frame"
    finally:
        server.close()


@needs_proc
def test_announcements_to_a_client_that_does_not_read_wait_in_the_database(db_path: Path) -> None:
    """Another window appends 60 messages of 1 MB while this one reads nothing: before, every
    announcement was held in memory (+89 MB); now they wait in the change feed, and all 60
    are announced once the client reads."""
    idle, writer = RawServer(db_path), RawServer(db_path)
    try:
        idle.initialize()
        writer.initialize()
        sid = writer.request("history/createSession", {"kind": "chat"})["result"]["id"]
        peak_before = memory_kb(idle.process.pid, "VmHWM")
        for n in range(60):
            writer.request("history/appendMessages", {"sessionId": sid, "messages": [user(chr(97 + n % 26) * MB)]})
        wait_idle(idle.process.pid)
        grown_mb = (memory_kb(idle.process.pid, "VmHWM") - peak_before) / 1024
        assert grown_mb < 60, f"held {grown_mb:.0f} MB of announcements nobody read"
        announced = 0
        while announced < 60:
            message = idle.read()
            if message.get("method") == p.DID_APPEND_MESSAGES:
                announced += len(message["params"]["messages"])
        assert announced == 60
    finally:
        idle.close()
        writer.close()
