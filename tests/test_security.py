"""Secrets: credentials are masked at ingest and counted; nothing listens on the network."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from sidecar import protocol as p
from sidecar.search import index as search
from sidecar.store import Settings, Store, housekeeping, messages, sessions
from sidecar.transcripts import importer
from sidecar.wire import structure_params

from .helpers import RawServer

# Each kind, as it appears in the wild (all of them fake).
SECRETS = {
    "aws-access-key": "AKIAIOSFODNN7EXAMPLE",
    "github-token": "ghp_" + "a1B2c3D4e5" * 4,
    "openai-key": "sk-proj-" + "Ab3dEf6hIj" * 3,
    "anthropic-key": "sk-ant-api03-" + "Zy9xWv8uTs" * 3,
    "slack-token": "xoxb-123456789012-abcdefABCDEF",
    "google-api-key": "AIza" + "Sy0123456789abcdefghijklmnopqrstuvw",
    "stripe-key": "sk_live_" + "0123456789abcdefXYZ",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "private-key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
}
AWS_SECRET = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
URL = "postgres://admin:hunter2@db.internal:5432/app"
HARMLESS = "the sk-learn docs, task-id 42, https://example.com/a:b@c and a sha 3f786850e387550fdab836ed7e6dc881de23001b"


def make(cls: type[Any], **raw: Any) -> Any:
    return structure_params(raw, cls)


def append_leaky_turn(store: Store) -> str:
    session = sessions.create_session(store, make(p.CreateSessionParams, kind="agent"))
    leaky = [
        {"role": "user", "content": f"use {SECRETS['aws-access-key']} and {AWS_SECRET}; {HARMLESS}"},
        {
            "role": "assistant",
            "content": f"connecting to {URL}",
            "codeExcerpt": f"TOKEN = '{SECRETS['github-token']}'",
            "toolCalls": [
                {"id": "c1", "name": "bash", "arguments": {"env": {"KEY": SECRETS["openai-key"]}, "n": 3}},
                {"id": "c2", "name": "bash", "arguments": [SECRETS["slack-token"]]},
            ],
        },
        {"role": "tool", "toolCallId": "c1", "content": "\n".join(SECRETS[k] for k in list(SECRETS)[3:])},
    ]
    messages.append_messages(store, make(p.AppendMessagesParams, sessionId=session.id, messages=leaky))
    return session.id


def stored_text(store: Store, session_id: str) -> str:
    page = messages.get_messages(store, make(p.GetMessagesParams, sessionId=session_id))
    session = sessions.get_session(store, make(p.SessionParams, sessionId=session_id))
    pending = store.db.scalar("SELECT pending_tool_calls || first_prompt FROM sessions WHERE id = ?", (session_id,))
    return json.dumps([m.__repr__() for m in page.messages]) + repr(session) + pending


def test_credentials_are_masked_everywhere_they_could_be_stored_and_counted(store: Store) -> None:
    session_id = append_leaky_turn(store)
    text = stored_text(store, session_id)
    for secret in [*SECRETS.values(), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "hunter2"]:
        assert secret.splitlines()[0] not in text
    assert "aws_secret_access_key = [REDACTED:aws-secret-key]" in text
    assert "postgres://admin:[REDACTED:url-password]@db.internal:5432/app" in text
    assert HARMLESS in text  # look-alikes stay as they were
    counts = housekeeping.stats(store).redactions
    # The slack token is both a tool argument and in the tool's output.
    assert counts == {**dict.fromkeys(SECRETS, 1), "slack-token": 2, "aws-secret-key": 1, "url-password": 1}
    # The search index is built from what was stored: the secret cannot be found.
    index = search.open_index(store.path)
    search.catch_up(store.db, index)
    hits = search.search_messages(store, make(p.SearchMessagesParams, query="AKIAIOSFODNN7EXAMPLE")).hits
    assert hits == [] and len(search.search_messages(store, make(p.SearchMessagesParams, query="REDACTED")).hits) == 3
    index.close()


def test_redaction_can_be_switched_off(db_path: Path) -> None:
    store = Store(db_path, settings=Settings(redact=False))
    session_id = append_leaky_turn(store)
    assert SECRETS["aws-access-key"] in stored_text(store, session_id)
    assert housekeeping.stats(store).redactions == {}
    store.close()


def test_imports_are_masked_too(store: Store, tmp_path: Path) -> None:
    row = {
        "type": "user",
        "uuid": "u1",
        "sessionId": "s1",
        "timestamp": "2026-01-01T00:00:00Z",
        "cwd": "/p",
        "message": {"role": "user", "content": f"my key is {SECRETS['github-token']}"},
    }
    (tmp_path / "s1.jsonl").write_text(json.dumps(row) + "\n")
    result = importer.import_transcript(store, make(p.ImportTranscriptParams, path=str(tmp_path)))
    assert SECRETS["github-token"] not in stored_text(store, result.sessions[0].id)
    assert housekeeping.stats(store).redactions == {"github-token": 1}


def test_over_the_wire_redaction_follows_the_initialization_option(db_path: Path) -> None:
    for redact in (True, False):
        server = RawServer(db_path)
        server.initialize(searchIndex=False, redact=redact)
        sid = server.request("history/createSession", {"kind": "chat"})["result"]["id"]
        batch = [{"role": "user", "content": f"key {SECRETS['stripe-key']}"}]
        server.request("history/appendMessages", {"sessionId": sid, "messages": batch})
        page = server.request("history/getMessages", {"sessionId": sid})["result"]["messages"]
        assert (SECRETS["stripe-key"] in page[0]["content"]) is not redact
        assert server.request("history/stats")["result"]["redactions"] == {"stripe-key": 1}
        server.close()


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _network_inodes() -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        path = Path("/proc/net") / table
        if path.exists():
            for line in path.read_text().splitlines()[1:]:
                inodes.add(line.split()[9])
    return inodes


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs Linux /proc")
def test_nothing_listens_on_a_network_port(db_path: Path) -> None:
    server = RawServer(db_path)
    server.initialize()
    server.request("history/createSession", {"kind": "chat"})
    time.sleep(0.5)  # the search indexer is running too
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    assert children, "the indexer should be running"
    for pid in [server.process.pid, *map(int, children)]:
        assert not _socket_inodes(pid) & _network_inodes(), f"process {pid} has a network socket"
    server.close()


def _files_bytes(db_path: Path) -> bytes:
    return b"".join(path.read_bytes() for path in db_path.parent.iterdir() if path.name.startswith(db_path.name))


def test_encryption_at_rest_with_a_key_file(db_path: Path, tmp_path: Path) -> None:
    key = os.urandom(32).hex()
    key_file = tmp_path / "history.key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    server = RawServer(db_path)
    server.initialize(encryptionKeyFile=str(key_file))
    sid = server.request("history/createSession", {"kind": "chat"})["result"]["id"]
    marker = "zanzibarquokka"
    batch = [{"role": "user", "content": f"the {marker} plan"}]
    server.request("history/appendMessages", {"sessionId": sid, "messages": batch})
    deadline = time.monotonic() + 5
    while not server.request("history/searchMessages", {"query": marker})["result"]["hits"]:
        assert time.monotonic() < deadline, "the indexer (given the key) never indexed the message"
        time.sleep(0.1)
    server.request("shutdown")
    assert key not in server.finish()
    on_disk = _files_bytes(db_path)
    assert marker.encode() not in on_disk and key.encode() not in on_disk  # history, WAL and search index

    for options, expected in (
        ({}, "encrypted"),  # no key
        ({"encryptionKeyFile": str(_key_file(tmp_path, "wrong.key", os.urandom(32).hex(), 0o600))}, "ecrypt"),
        ({"encryptionKeyFile": str(_key_file(tmp_path, "open.key", key, 0o644))}, "chmod 600"),
        ({"encryptionKeyFile": str(_key_file(tmp_path, "short.key", "abc", 0o600))}, "64 hex digits"),
        ({"encryptionKeyFile": str(tmp_path)}, "must be a regular file"),
        ({"encryptionKeyFile": str(tmp_path / "absent.key")}, "No such file"),
    ):
        refused = RawServer(db_path)
        error = refused.initialize(**options)["error"]
        assert error["code"] == -32005 and expected in error["message"], error
        assert key not in error["message"] and key not in refused.finish()
    assert _files_bytes(db_path) == on_disk  # refused openings leave every file as it was


def _key_file(directory: Path, name: str, text: str, mode: int) -> Path:
    path = directory / name
    path.write_text(text)
    path.chmod(mode)
    return path
