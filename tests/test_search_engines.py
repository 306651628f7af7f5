"""Which engine holds the search index, and what happens to its files: a plain history is
indexed by Tantivy, an encrypted one by Turso's FTS (encrypted with it); the other engine's
leftovers go once the index has caught up; a deleted index is built again while the
sidecar runs. Real sidecars over stdio, real files."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from sidecar import protocol as p
from sidecar.search.tantivy_fts import index_path
from sidecar.search.turso_fts import TursoIndex, search_path
from sidecar.store import Store, messages, sessions
from sidecar.wire import structure_params

from .helpers import RawServer, user


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def say(server: RawServer, *texts: str) -> None:
    session = server.request("history/createSession", {"kind": "chat"})["result"]["id"]
    server.request("history/appendMessages", {"sessionId": session, "messages": [user(text) for text in texts]})


def finds(server: RawServer, word: str) -> int:
    return len(server.request("history/searchMessages", {"query": word, "limit": 50})["result"]["hits"])


def test_a_plain_history_is_indexed_by_tantivy_with_no_text_in_the_index(db_path: Path) -> None:
    server = RawServer(db_path)
    try:
        server.initialize()
        say(server, "the quokka ledger is balanced")
        wait_for(lambda: finds(server, "quokka") == 1, "the message was searchable")
        assert (index_path(db_path) / "meta.json").exists() and not search_path(db_path).exists()
        assert oct(index_path(db_path).stat().st_mode & 0o777) == "0o700"
        modes = {oct(path.stat().st_mode & 0o777) for path in index_path(db_path).iterdir()}
        assert modes == {"0o600"}, "the index's files are the owner's only, like the history's"
        stored = b"".join(path.read_bytes() for path in index_path(db_path).iterdir() if path.is_file())
        assert b"ledger is balanced" not in stored  # terms, not the text: snippets come from the history
    finally:
        server.close()


def test_an_encrypted_history_is_indexed_by_turso_and_leaves_no_plain_index(db_path: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "history.key"
    key_file.write_text(os.urandom(32).hex())
    key_file.chmod(0o600)
    index_path(db_path).mkdir(parents=True)  # as if left from before the history was encrypted
    (index_path(db_path) / "leftover").write_text("plain words of the past")
    server = RawServer(db_path)
    try:
        server.initialize(encryptionKeyFile=str(key_file))
        say(server, "an encrypted wombat")
        wait_for(lambda: finds(server, "wombat") == 1, "the message was searchable")
        assert search_path(db_path).exists()
        wait_for(lambda: not index_path(db_path).exists(), "the plain index was removed")
    finally:
        server.close()


def test_the_turso_index_of_before_goes_once_tantivy_has_caught_up(db_path: Path) -> None:
    """Upgrading: the old index held every message's text a second time."""
    store = Store(db_path)
    session = sessions.create_session(store, structure_params({"kind": "chat"}, p.CreateSessionParams))
    batch = {"sessionId": session.id, "messages": [user(f"old heron {n}") for n in range(30)]}
    messages.append_messages(store, structure_params(batch, p.AppendMessagesParams))
    old = TursoIndex(db_path)
    old.catch_up(store.db)
    old.close()
    store.close()
    assert search_path(db_path).exists()
    server = RawServer(db_path)
    try:
        server.initialize()
        wait_for(lambda: finds(server, "heron") == 30, "the history was indexed again")
        wait_for(lambda: not search_path(db_path).exists(), "the old index was removed")
        assert not [path for path in db_path.parent.iterdir() if path.name.startswith(f"{db_path.name}-search")]
    finally:
        server.close()


def test_an_index_deleted_under_a_running_sidecar_is_built_again(db_path: Path) -> None:
    server = RawServer(db_path)
    try:
        server.initialize()
        say(server, *[f"first otter {n}" for n in range(20)])
        wait_for(lambda: finds(server, "otter") == 20, "the first messages were searchable")
        # Gone at once (a plain rm -r may race the writer's merges for a moment, and is retried).
        gone = index_path(db_path).rename(db_path.parent / "deleted-index")
        shutil.rmtree(gone)
        say(server, "second otter")
        wait_for(lambda: finds(server, "otter") == 21, "everything was searchable again")
        assert (index_path(db_path) / "meta.json").exists()
    finally:
        server.close()


def test_a_damaged_index_is_built_again(db_path: Path) -> None:
    server = RawServer(db_path)
    try:
        server.initialize()
        say(server, *[f"pelican {n}" for n in range(5)])
        wait_for(lambda: finds(server, "pelican") == 5, "the messages were searchable")
    finally:
        server.close()
    (index_path(db_path) / "meta.json").write_text("{ this is not an index")
    server = RawServer(db_path)
    try:
        server.initialize()
        wait_for(lambda: finds(server, "pelican") == 5, "the index was built again")
    finally:
        server.close()
