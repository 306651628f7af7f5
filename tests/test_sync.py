"""Sync across machines against a real Turso sync server on loopback (tests/sync_server.py).

Each "machine" is its own history file; they share nothing but the server. Store-level
tests drive rounds directly; the stdio tests run real sidecars with their sync workers.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar import protocol as p
from sidecar.search import index as search
from sidecar.store import Store
from sidecar.store.context import compact_session
from sidecar.store.export import export_session
from sidecar.store.housekeeping import apply_retention
from sidecar.store.messages import append_messages
from sidecar.store.sessions import create_session, delete_session, end_session, update_session
from sidecar.sync.config import SyncConfig
from sidecar.sync.worker import one_round, replica_turn
from sidecar.transcripts.importer import import_transcript

from .helpers import RawServer, children_of, running_client, still_running_after, user
from .sync_server import SyncServer, needs_npm, silent_server, sync_server

pytestmark = needs_npm


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SyncServer]:
    with sync_server(tmp_path) as running:
        yield running


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    laptop, desktop = Store(tmp_path / "laptop" / "history.db"), Store(tmp_path / "desktop" / "history.db")
    yield laptop, desktop
    laptop.close()
    desktop.close()


def sync(store: Store, server: SyncServer) -> p.SyncResult:
    return one_round(store, SyncConfig(server.url))


def append(store: Store, session_id: str, *texts: str) -> None:
    messages = [p.MessageInput(role=p.Role.USER, content=text) for text in texts]
    append_messages(store, p.AppendMessagesParams(session_id=session_id, messages=messages))


def transcript(store: Store, session_id: str) -> list[tuple[int, str, str | None]]:
    rows = store.db.execute("SELECT idx, id, content FROM messages WHERE session_id = ? ORDER BY idx", (session_id,))
    return [(index, message_id, content) for index, message_id, content in rows]


def new_session(store: Store, title: str = "shared") -> str:
    return create_session(store, p.CreateSessionParams(kind="agent", title=title, project_id="/work/app")).id


def converge(server: SyncServer, *stores: Store) -> None:
    """Two passes: after the second every machine has seen every other's last push."""
    for _ in range(2):
        for store in stores:
            assert sync(store, server).online


def test_offline_appends_to_one_session_on_two_machines_converge_in_one_order(
    server: SyncServer, machines: tuple[Store, Store]
) -> None:
    laptop, desktop = machines
    session_id = new_session(laptop)
    append(laptop, session_id, "first", "second")
    converge(server, laptop, desktop)
    assert [text for _, _, text in transcript(desktop, session_id)] == ["first", "second"]

    server.kill()  # both machines go on offline
    append(laptop, session_id, "laptop 1")
    time.sleep(0.005)
    append(desktop, session_id, "desktop 1")
    time.sleep(0.005)
    append(laptop, session_id, "laptop 2")
    offline = sync(laptop, server)
    assert not offline.online and offline.pushed_messages == 2 and "Connection refused" in (offline.error or "")
    assert sync(desktop, server).pushed_messages == 1

    server.start()
    converge(server, laptop, desktop)
    on_laptop, on_desktop = transcript(laptop, session_id), transcript(desktop, session_id)
    assert on_laptop == on_desktop  # same ids at the same indexes
    assert [index for index, _, _ in on_laptop] == list(range(5))
    # Ordered by time, each machine's own messages in the order it wrote them.
    assert [text for _, _, text in on_laptop] == ["first", "second", "laptop 1", "desktop 1", "laptop 2"]
    for store in machines:
        session = store.db.one("SELECT message_count, next_index FROM sessions WHERE id = ?", (session_id,))
        assert session == (5, 5)


def test_a_reply_written_after_a_pull_sorts_after_what_it_answers_even_with_a_slow_clock(
    server: SyncServer, machines: tuple[Store, Store]
) -> None:
    laptop, desktop = machines
    session_id = new_session(laptop)
    append(laptop, session_id, "question")
    converge(server, laptop, desktop)
    # The desktop's clock is an hour behind: its reply's createdAt is before the question's.
    early = "2000-01-01T00:00:00.000Z"
    append_messages(
        desktop,
        p.AppendMessagesParams(
            session_id=session_id, messages=[p.MessageInput(role=p.Role.ASSISTANT, content="answer")]
        ),
    )
    desktop.db.execute("UPDATE messages SET created_at = ? WHERE content = 'answer'", (early,))
    converge(server, laptop, desktop)
    assert [text for _, _, text in transcript(laptop, session_id)] == ["question", "answer"]
    assert transcript(laptop, session_id) == transcript(desktop, session_id)


def test_sessions_titles_deletions_and_retention_propagate(server: SyncServer, machines: tuple[Store, Store]) -> None:
    laptop, desktop = machines
    kept, doomed, compacted = new_session(laptop, "kept"), new_session(laptop, "doomed"), new_session(laptop, "old")
    append(laptop, kept, "k")
    append(laptop, doomed, "d")
    append(laptop, compacted, *(f"old {n}" for n in range(4)))
    converge(server, laptop, desktop)
    assert desktop.db.scalar("SELECT count(*) FROM messages") == 6

    update_session(desktop, p.UpdateSessionParams(session_id=kept, title="renamed on the desktop"))
    delete_session(laptop, p.DeleteSessionParams(session_id=doomed))
    compact_session(laptop, p.CompactSessionParams(session_id=compacted, summary="three old ones", preserve_count=1))
    laptop.db.execute("UPDATE messages SET created_at = '2000-01-01T00:00:00.000Z' WHERE compacted = 1")
    purged = apply_retention(laptop, p.ApplyRetentionParams(purge_compacted_older_than_days=1))
    assert purged.purged_messages == 3
    converge(server, laptop, desktop)

    for store in machines:
        assert store.db.scalar("SELECT title FROM sessions WHERE id = ?", (kept,)) == "renamed on the desktop"
        assert store.db.scalar("SELECT count(*) FROM sessions WHERE id = ?", (doomed,)) == 0
        assert [text for _, _, text in transcript(store, compacted)] == ["old 3"]
        assert store.db.scalar("SELECT message_count FROM sessions WHERE id = ?", (compacted,)) == 1
    # A deleted session stays deleted: the desktop does not send it back.
    converge(server, desktop, laptop)
    assert laptop.db.scalar("SELECT count(*) FROM sessions WHERE id = ?", (doomed,)) == 0


def test_pulled_messages_are_searchable(server: SyncServer, machines: tuple[Store, Store]) -> None:
    laptop, desktop = machines
    session_id = new_session(laptop)
    append(laptop, session_id, "the kumquat deployment failed on friday")
    converge(server, laptop, desktop)
    search.search_index(desktop).catch_up(desktop.db)  # what the desktop's indexer does
    hits = search.search_messages(desktop, p.SearchMessagesParams(query="kumquat")).hits
    assert [hit.session_id for hit in hits] == [session_id]


def kill_when_writing(server: SyncServer) -> None:
    """Kill the server as soon as its database file starts to grow: in the middle of a push."""
    wal = Path(f"{server.database}-wal")
    before = wal.stat().st_size if wal.exists() else 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (wal.stat().st_size if wal.exists() else 0) == before:
        time.sleep(0.001)
    server.kill()


def test_the_server_killed_mid_push_loses_nothing(server: SyncServer, machines: tuple[Store, Store]) -> None:
    laptop, desktop = machines
    session_id = new_session(laptop)
    for batch in range(20):
        append(laptop, session_id, *(f"bulk {batch}.{n} " + "x" * 2000 for n in range(100)))
    killer = threading.Thread(target=kill_when_writing, args=(server,))
    killer.start()
    first = sync(laptop, server)
    killer.join()
    assert first.pushed_messages == 2000 and not first.online  # cut off while the server wrote
    server.start()
    converge(server, laptop, desktop)
    assert transcript(desktop, session_id) == transcript(laptop, session_id)
    assert len(transcript(desktop, session_id)) == 2000
    assert desktop.db.scalar("PRAGMA integrity_check") == "ok"


def test_a_new_machine_gets_the_whole_history_and_an_old_one_sends_its_own(
    server: SyncServer, machines: tuple[Store, Store]
) -> None:
    """Sync switched on for stores that already hold history: everything goes both ways."""
    laptop, desktop = machines
    laptop_session, desktop_session = new_session(laptop, "laptop's"), new_session(desktop, "desktop's")
    append(laptop, laptop_session, *(f"l{n}" for n in range(30)))
    append(desktop, desktop_session, *(f"d{n}" for n in range(20)))
    converge(server, laptop, desktop)
    for store in machines:
        assert len(transcript(store, laptop_session)) == 30 and len(transcript(store, desktop_session)) == 20


# -- over stdio: real sidecars with their sync workers --------------------------------------


def sync_options(server: SyncServer, **extra: Any) -> dict[str, Any]:
    return {"sync": {"url": server.url, "intervalSeconds": 0.5, **extra}}


async def test_a_message_appended_on_one_machine_reaches_the_other_sidecar_as_a_notification(
    server: SyncServer, tmp_path: Path
) -> None:
    async with (
        running_client(tmp_path / "laptop" / "history.db", **sync_options(server)) as laptop,
        running_client(tmp_path / "desktop" / "history.db", **sync_options(server)) as desktop,
    ):
        session = await laptop.call("history/createSession", {"kind": "agent", "title": "travels"})
        await laptop.call("history/appendMessages", {"sessionId": session["id"], "messages": [user("hello")]})
        # The worker's own rounds (at start, every interval, after writes) may push the message
        # before this request's round does, so only "online" is certain here; the desktop
        # receiving it below is what proves the push.
        pushed = await laptop.call("history/sync")
        assert pushed["online"] and pushed["pushedMessages"] in (0, 1)
        # No history/sync on the desktop: its worker pulls in the background.
        _, params = await desktop.wait_for(lambda n: n[0] == p.DID_APPEND_MESSAGES, timeout=10)
        assert params["sessionId"] == session["id"] and params["messages"][0]["content"] == "hello"
        changed = await desktop.wait_for(lambda n: n[0] == p.DID_CHANGE_SESSION, timeout=10)
        assert changed[1]["session"]["title"] == "travels"
        got = await desktop.call("history/getMessages", {"sessionId": session["id"]})
        assert [m["content"] for m in got["messages"]] == ["hello"]
        pulled = await desktop.call("history/sync")
        assert pulled["online"] and pulled["pulledMessages"] == 0  # already there
        hits: list[Any] = []
        for _ in range(50):  # the desktop's indexer picks the pulled message up
            hits = (await desktop.call("history/searchMessages", {"query": "hello"}))["hits"]
            if hits:
                break
            await asyncio.sleep(0.1)
        assert [hit["sessionId"] for hit in hits] == [session["id"]]


async def test_two_sidecars_on_one_file_take_turns_at_the_replica(server: SyncServer, tmp_path: Path) -> None:
    db = tmp_path / "laptop" / "history.db"
    async with (
        running_client(db, **sync_options(server)) as first,
        running_client(db, **sync_options(server)) as second,
    ):
        session = await first.call("history/createSession", {"kind": "agent"})
        await second.call("history/appendMessages", {"sessionId": session["id"], "messages": [user("from two")]})
        results = await asyncio.gather(first.call("history/sync"), second.call("history/sync"))
        assert all(result["online"] for result in results)
        # Never pushed twice; a background round may have pushed it before either request.
        assert sum(result["pushedMessages"] for result in results) in (0, 1)
    other = Store(tmp_path / "other" / "history.db")
    try:
        assert sync(other, server).pulled_messages == 1
    finally:
        other.close()


def test_sync_refuses_encryption_and_read_only_and_asks_for_configuration(server: SyncServer, db_path: Path) -> None:
    raw = RawServer(db_path)
    try:
        answer = raw.request("history/sync", None)  # before initialize: refused like any request
        assert answer["error"]["code"] == -32600
        features = raw.initialize()["result"]["capabilities"]["experimental"]["history"]["features"]
        assert "history/sync" not in features
        answer = raw.request("history/sync", None)
        assert answer["error"]["code"] == -32600 and "sync is not configured" in answer["error"]["message"]
    finally:
        raw.close()
    raw = RawServer(db_path)
    try:
        refused = raw.initialize(readOnly=True, **sync_options(server))
        assert refused["error"]["code"] == -32005 and "read-only" in refused["error"]["message"]
    finally:
        raw.close()
    key_file = db_path.parent / "key"
    key_file.write_text("ab" * 32)
    key_file.chmod(0o600)
    raw = RawServer(db_path.with_name("encrypted.db"))
    try:
        refused = raw.initialize(encryptionKeyFile=str(key_file), **sync_options(server))
        assert refused["error"]["code"] == -32005 and "encryption" in refused["error"]["message"]
    finally:
        raw.close()


def test_a_token_file_others_can_read_is_refused_and_the_token_never_logged(server: SyncServer, db_path: Path) -> None:
    token_file = db_path.parent / "token"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text("sekrit-token-value")
    token_file.chmod(0o644)
    raw = RawServer(db_path)
    try:
        refused = raw.initialize(**sync_options(server, authTokenFile=str(token_file)))
        assert refused["error"]["code"] == -32005 and "chmod 600" in refused["error"]["message"]
    finally:
        stderr = raw.finish()
    assert "sekrit" not in stderr
    token_file.chmod(0o600)
    raw = RawServer(db_path)
    try:
        assert "result" in raw.initialize(**sync_options(server, authTokenFile=str(token_file)))
        assert raw.request("history/sync", None)["result"]["online"]  # the test server ignores tokens
    finally:
        stderr = raw.finish()
    assert "sekrit" not in stderr
    assert all(
        b"sekrit" not in path.read_bytes() for path in db_path.parent.iterdir() if path.is_file() and path != token_file
    )


def test_the_command_line_syncs_and_says_when_it_is_offline(server: SyncServer, tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "cli" / "history.db"
    store = Store(db)
    append(store, new_session(store), "from the terminal")
    store.close()
    command = [sys.executable, "-m", "sidecar", "sync", "--db", str(db), "--sync-url", server.url, "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ})
    assert done.returncode == 0, done.stderr
    assert '"pushedMessages": 1' in done.stdout
    server.kill()
    offline = subprocess.run(command[:-1], capture_output=True, text=True)
    assert offline.returncode == 5 and "offline" in offline.stderr


def test_the_sync_worker_never_outlives_its_sidecar(server: SyncServer, db_path: Path) -> None:
    raw = RawServer(db_path)
    try:
        raw.initialize(searchIndex=False, **sync_options(server))
        assert raw.request("history/sync", None)["result"]["online"]  # the worker is up
        workers = children_of(raw.process.pid)
        assert len(workers) == 1
        raw.process.kill()  # kill -9: it never says goodbye
        raw.process.wait()
        assert not still_running_after(workers, 3)
    finally:
        raw.close()


# -- a remote that accepts connections and never answers ------------------------------------


async def test_sync_against_a_remote_that_never_answers_is_offline_within_its_timeout(tmp_path: Path) -> None:
    with silent_server() as silent:
        options = {"sync": {"url": silent.url, "intervalSeconds": 60, "timeoutSeconds": 1}}
        async with running_client(tmp_path / "history.db", **options) as client:
            started = time.monotonic()
            # Behind the start-up round, which meets the same silence: two deadlines at most.
            answer = await asyncio.wait_for(client.call("history/sync"), timeout=20)
            assert not answer["online"] and "timed out" in answer["error"]
            assert time.monotonic() - started < 15
            session = await client.call("history/createSession", {"kind": "agent"})  # still serving
            assert session["id"]


def test_a_sidecar_killed_mid_round_takes_its_sync_worker_and_the_sync_lock_with_it(db_path: Path) -> None:
    with silent_server() as silent:
        raw = RawServer(db_path)
        try:
            options = {"url": silent.url, "intervalSeconds": 60, "timeoutSeconds": 120}
            raw.initialize(searchIndex=False, sync=options)
            silent.wait_for_connection()  # the start-up round is waiting on the remote
            workers = children_of(raw.process.pid)
            assert len(workers) == 1
            raw.process.kill()  # kill -9 in the middle of a round
            raw.process.wait()
            assert not still_running_after(workers, 3)
        finally:
            raw.close()
    with replica_turn(db_path, wait_seconds=1):  # the next window's sync gets its turn at once
        pass


# -- clientMessageId: a retry key of one machine ----------------------------------------------


def append_numbered(store: Store, session_id: str, client_id: str, text: str) -> str:
    message = p.MessageInput(role=p.Role.USER, content=text, client_message_id=client_id)
    result = append_messages(store, p.AppendMessagesParams(session_id=session_id, messages=[message]))
    return result.messages[0].id


def test_two_machines_numbering_client_ids_alike_keep_both_messages_and_a_third_machine_converges(
    server: SyncServer, machines: tuple[Store, Store], tmp_path: Path
) -> None:
    laptop, desktop = machines
    session_id = new_session(laptop)
    converge(server, laptop, desktop)
    mine = append_numbered(laptop, session_id, "u-1", "from the laptop")
    append_numbered(desktop, session_id, "u-1", "from the desktop")  # the same per-session numbering
    converge(server, laptop, desktop)
    for store in machines:
        assert sorted(text or "" for _, _, text in transcript(store, session_id)) == [
            "from the desktop",
            "from the laptop",
        ]
    assert transcript(laptop, session_id) == transcript(desktop, session_id)
    # A retry on the laptop still finds the laptop's own message, not the desktop's.
    assert append_numbered(laptop, session_id, "u-1", "from the laptop") == mine
    assert len(transcript(laptop, session_id)) == 2

    third = Store(tmp_path / "third" / "history.db")
    try:
        converge(server, laptop, desktop, third)
        assert transcript(third, session_id) == transcript(laptop, session_id)
        append_numbered(desktop, session_id, "u-2", "later")
        converge(server, desktop, third)
        assert [text for _, _, text in transcript(third, session_id)][-1] == "later"
        assert third.db.scalar("SELECT message_count FROM sessions WHERE id = ?", (session_id,)) == 3
    finally:
        third.close()
    # The export of a machine holding both imports whole, elsewhere.
    exported = tmp_path / "export.jsonl"
    params = p.ExportSessionParams(session_id=session_id, format=p.ExportFormat.JSONL)
    exported.write_text(export_session(laptop, params).content)
    fourth = Store(tmp_path / "fourth" / "history.db")
    try:
        import_transcript(fourth, p.ImportTranscriptParams(path=str(exported)))
        assert transcript(fourth, session_id) == transcript(laptop, session_id)
    finally:
        fourth.close()


# -- sessions merge field by field ----------------------------------------------------------


def session_fields(store: Store, session_id: str) -> tuple[Any, ...]:
    row = store.db.one("SELECT title, ended_at, metadata, message_count FROM sessions WHERE id = ?", (session_id,))
    assert row is not None
    title, ended_at, metadata, count = row
    return title, ended_at is not None, json.loads(metadata), count


def later() -> None:
    """Times have milliseconds: what comes next is later on every clock here."""
    time.sleep(0.005)


def test_a_rename_and_an_end_survive_appends_on_a_machine_that_had_not_pulled_them(
    server: SyncServer, machines: tuple[Store, Store]
) -> None:
    laptop, desktop = machines
    renamed, ended = new_session(laptop, "old title"), new_session(laptop, "busy")
    converge(server, laptop, desktop)
    update_session(laptop, p.UpdateSessionParams(session_id=renamed, title="new title"))
    end_session(laptop, p.SessionParams(session_id=ended))
    assert sync(laptop, server).online
    later()
    append(desktop, renamed, "more")  # the desktop has not pulled: its records are older
    append(desktop, ended, "more")
    assert sync(desktop, server).online  # pushes those records, newer by the appends' time
    converge(server, laptop, desktop)
    for store in machines:
        assert session_fields(store, renamed) == ("new title", False, {}, 1)
        assert session_fields(store, ended) == ("busy", True, {}, 1)
    # Appending reopens an ended session: a change of its end, as of the append.
    append(laptop, ended, "reopened")
    end_session(laptop, p.SessionParams(session_id=ended))
    later()
    append(desktop, ended, "reopened later")  # before pulling the laptop's second end
    converge(server, laptop, desktop)
    for store in machines:
        assert session_fields(store, ended) == ("busy", False, {}, 3)


def test_changes_to_different_fields_on_two_machines_all_survive_and_the_later_of_one_field_wins(
    server: SyncServer, machines: tuple[Store, Store], tmp_path: Path
) -> None:
    laptop, desktop = machines
    session_id = new_session(laptop, "first")
    update_session(laptop, p.UpdateSessionParams(session_id=session_id, metadata={"kept": "yes", "dropped": 1}))
    converge(server, laptop, desktop)
    update_session(desktop, p.UpdateSessionParams(session_id=session_id, title="the desktop's, earlier"))
    update_session(desktop, p.UpdateSessionParams(session_id=session_id, metadata={"desk": 2}))
    later()
    update_session(laptop, p.UpdateSessionParams(session_id=session_id, title="the laptop's, later"))
    update_session(laptop, p.UpdateSessionParams(session_id=session_id, metadata={"lap": 1, "dropped": None}))
    later()
    end_session(desktop, p.SessionParams(session_id=session_id))
    # The laptop pushes first and the desktop's records land last on the remote.
    converge(server, laptop, desktop)
    expected = ("the laptop's, later", True, {"desk": 2, "kept": "yes", "lap": 1}, 0)
    for store in machines:
        assert session_fields(store, session_id) == expected
    third = Store(tmp_path / "third" / "history.db")
    try:  # a machine joining later gets the session with its fields' times
        converge(server, third)
        assert session_fields(third, session_id) == expected
        assert third.db.scalar("SELECT changed_at FROM sessions") == laptop.db.scalar("SELECT changed_at FROM sessions")
    finally:
        third.close()
