"""Secrets: credentials are masked at ingest and counted; nothing listens on the network."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sidecar import protocol as p
from sidecar.search import index as search
from sidecar.store import Settings, Store, housekeeping, messages, redaction, sessions
from sidecar.store.redaction import Redactor
from sidecar.transcripts import importer
from sidecar.wire import structure_params

from .helpers import HistoryClient, RawServer, running_client, tool, user

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
    index.catch_up(store.db)
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


# -- every shape users leak, in every field a user can read back ---------------------------
# (text as it appears in the wild, the parts that must not survive, the kind it counts as)
SHAPES = [
    (
        '{"aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}',
        ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
        "aws-secret-key",
    ),
    (
        "export awsSecretAccessKey=je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        ["je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"],
        "aws-secret-key",
    ),
    ("cache at redis://:Kx9pQ2vLm7Zt@cache.internal:6379/0", ["Kx9pQ2vLm7Zt"], "url-password"),
    ("broker amqp://guest:Gu3stPw0rd4@mq.internal:5672", ["Gu3stPw0rd4"], "url-password"),
    ("mysql -h db password=hunter2x9! --ssl", ["hunter2x9"], "password"),
    ('DB_PASSWORD="Zq8!vR2#pL"', ["Zq8!vR2#pL"], "password"),
    ("curl -u admin:Cu7lPass9 https://ci.internal/api", ["Cu7lPass9"], "password"),
    (
        'curl -H "Authorization: Bearer 4f9c2a7e1b8d3f6a0c5e9b2d7a1f4c8e" https://api.internal',
        ["4f9c2a7e1b8d3f6a0c5e9b2d7a1f4c8e"],
        "authorization",
    ),
    ('client.login(api_key="Ak9Jx2Lm4Qp7")', ["Ak9Jx2Lm4Qp7"], "secret"),
    ("GITHUB_TOKEN=" + SECRETS["github-token"], [SECRETS["github-token"]], "github-token"),
    (f"keys: {SECRETS['anthropic-key']}", [SECRETS["anthropic-key"]], "anthropic-key"),
    (f"and {SECRETS['openai-key']}", [SECRETS["openai-key"]], "openai-key"),
    ("gitlab glpat-Xy7Zq2Wv9Ut4Sr1Pq6On", ["glpat-Xy7Zq2Wv9Ut4Sr1Pq6On"], "gitlab-token"),
    (f"jwt {SECRETS['jwt']}", [SECRETS["jwt"]], "jwt"),
    # Last, as tool output cut before the END line.
    (
        "$ cat ~/.ssh/id_ed25519\n-----BEGIN OPENSSH PRIVATE KEY-----\n"
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
        "QyNTUxOQAAACBpcm9ua2V5cm9ua2V5cm9ua2V5cm9ua2V5cm9ua2V5cm9ua2V5cm9u",
        ["BEGIN OPENSSH PRIVATE KEY", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "QyNTUxOQAAACBpcm9ua2V5cm9ua2V5"],
        "private-key",
    ),
]
LEAKY = "\n".join(text for text, _, _ in SHAPES)
LEAKED = [part for _, parts, _ in SHAPES for part in parts]
CANARY = "zanzibarquokka"  # no secret: finding it shows the search index has the messages
KEY_TOKEN = "ghp_" + "K3yK3yK3yK" * 4  # a secret used as an object's key


def _counts(fields: int) -> dict[str, int]:
    """What stats should count: every shape once in each of `fields` fields, and KEY_TOKEN."""
    counts = dict(Counter(kind for _, _, kind in SHAPES for _ in range(fields)))
    counts["github-token"] += 1
    return counts


def _env_diff(text: str) -> str:
    lines = text.split("\n")
    return f"--- a/.env\n+++ b/.env\n@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{line}\n" for line in lines)


def assert_nothing_leaked(where: str, text: str) -> None:
    for part in [*LEAKED, KEY_TOKEN]:
        assert part not in text, f"{part!r} survived in {where}"
    assert "[REDACTED:" in text, f"nothing was masked in {where}"


def _searchable(parts: list[str]) -> list[str]:
    """The secrets as search words (punctuation is query syntax)."""
    return [word for part in parts for word in re.findall(r"[A-Za-z0-9]{8,}", part)]


async def _every_read_back(client: HistoryClient, sid: str) -> dict[str, Any]:
    """What every read method answers about the session; searching for any secret finds nothing."""
    answers = {
        name: await client.call(f"history/{name}", params)
        for name, params in (
            ("getSession", {"sessionId": sid}),
            ("listSessions", {"includeEnded": True}),
            ("getMessages", {"sessionId": sid}),
            ("getContext", {"sessionId": sid}),
            ("recentPrompts", {}),
            ("listEdits", {"sessionId": sid}),
            ("revertEdits", {"sessionId": sid}),
            ("getMetadata", {"sessionId": sid, "key": "env"}),
        )
    }
    for export_format in ("markdown", "json", "jsonl"):
        exported = await client.call("history/exportSession", {"sessionId": sid, "format": export_format})
        answers[f"exportSession {export_format}"] = exported
    deadline = time.monotonic() + 20
    while not (await client.call("history/searchMessages", {"query": CANARY}))["hits"]:
        assert time.monotonic() < deadline, "the indexer never indexed the messages"
        await asyncio.sleep(0.1)
    for word in _searchable([*LEAKED, KEY_TOKEN]):
        found = await client.call("history/searchMessages", {"query": word})
        assert found["hits"] == [], f"searching {word!r} found {found}"
    return answers


def _assert_not_on_disk(db_path: Path) -> None:
    on_disk = _files_bytes(db_path).decode(errors="replace")  # history, WAL and search index
    assert [part for part in [*LEAKED, KEY_TOKEN] if part in on_disk] == []


async def test_every_shape_in_every_field_is_masked_in_every_read_back(db_path: Path) -> None:
    async with running_client(db_path) as client:
        fields = {"kind": LEAKY, "title": LEAKY, "agentName": LEAKY, "model": LEAKY, "metadata": {"notes": LEAKY}}
        sid = (await client.call("history/createSession", fields))["id"]
        batch = [
            user(f"{CANARY} {LEAKY}", metadata={"thinking": LEAKY}, agentName=LEAKY),
            {
                "role": "assistant",
                "content": LEAKY,
                "codeExcerpt": LEAKY,
                "toolCalls": [{"id": "c1", "name": LEAKY, "arguments": {"command": LEAKY, KEY_TOKEN: True}}],
            },
            tool("c1", LEAKY),
        ]
        appended = await client.call("history/appendMessages", {"sessionId": sid, "messages": batch})
        await client.call("history/updateSession", {"sessionId": sid, "title": LEAKY})
        await client.call("history/setMetadata", {"sessionId": sid, "key": "env", "value": LEAKY})
        edit = {"sessionId": sid, "filePath": LEAKY, "kind": "replace", "diff": _env_diff(LEAKY)}
        await client.call("history/recordEdit", {**edit, "messageId": appended["messages"][1]["id"]})
        await client.call("history/compactSession", {"sessionId": sid, "summary": LEAKY, "preserveCount": 1})
        answers = await _every_read_back(client, sid)
        await client.wait_for(lambda n: n[0] == p.DID_CHANGE_SESSION and n[1]["change"] == "compacted")
        stats = await client.call("history/stats")
        notifications = json.dumps(client.received)
    for name, answer in answers.items():
        assert_nothing_leaked(name, json.dumps(answer))
    assert_nothing_leaked("notifications", notifications)
    _assert_not_on_disk(db_path)
    # Fields: the session's kind, title, agent name, model and metadata; the user message's
    # content, metadata and agent name; the assistant's content, code, tool name and
    # arguments; the tool result; the new title; setMetadata; the edit's path and diff; the
    # compaction summary.
    assert stats["redactions"] == _counts(18)
    # What was masked still reads as before: a diff that inverts, line for line.
    [patch] = answers["revertEdits"]["patches"]
    removed = [line for line in patch["diff"].split("\n") if line.startswith("-") and not line.startswith("---")]
    assert len(removed) == len(LEAKY.split("\n"))


def _claude_rows() -> list[dict[str, Any]]:
    def row(kind: str, number: int, message: dict[str, Any], **extra: Any) -> dict[str, Any]:
        at = f"2026-01-01T00:00:0{number}Z"
        return {"type": kind, "uuid": f"u{number}", "sessionId": "leaky", "timestamp": at, "cwd": "/p", **extra} | {
            "gitBranch": LEAKY,
            "message": message,
        }

    blocks = [
        {"type": "thinking", "thinking": LEAKY},
        {"type": "text", "text": LEAKY},
        {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": LEAKY, KEY_TOKEN: True}},
    ]
    result = [{"type": "tool_result", "tool_use_id": "t1", "content": LEAKY}]
    return [
        row("user", 1, {"role": "user", "content": f"{CANARY} {LEAKY}"}),
        row("assistant", 2, {"role": "assistant", "id": "m1", "model": LEAKY, "content": blocks}),
        row("user", 3, {"role": "user", "content": result}),
        row("user", 4, {"role": "user", "content": LEAKY}, isCompactSummary=True),
        row("user", 5, {"role": "user", "content": f"{CANARY} again"}),
        {"type": "summary", "summary": LEAKY, "leafUuid": "u5"},
    ]


async def test_an_imported_transcript_is_masked_in_every_field(db_path: Path, tmp_path: Path) -> None:
    (tmp_path / "leaky.jsonl").write_text("".join(json.dumps(row) + "\n" for row in _claude_rows()))
    async with running_client(db_path) as client:
        [session] = (await client.call("history/importTranscript", {"path": str(tmp_path)}))["sessions"]
        answers = await _every_read_back(client, session["id"])
        stats = await client.call("history/stats")
    for name, answer in answers.items():
        if name not in ("listEdits", "revertEdits", "getMetadata"):  # a transcript has none
            assert_nothing_leaked(name, json.dumps(answer))
    _assert_not_on_disk(db_path)
    # The user's prompt; the assistant's text, thinking and tool arguments; the tool result;
    # the compaction summary; the session's title (a summary row), model and git branch; the
    # answer's own model (a message keeps the model that wrote it).
    assert stats["redactions"] == _counts(10)


# Ordinary code and prose that only look like credentials: stored as they were.
ORDINARY = [
    "password_field = form.cleaned_data",
    "key = dict.get(x)",
    "password = request.POST['password']",
    "token = get_token()",
    "def login(password: str, token: Optional[str] = None) -> None:",
    'secret = os.environ["SECRET"]',
    "api_key=settings.API_KEY",
    '{"password": password, "max_tokens": 4096}',
    "if password == confirm:",
    "PASSWORD_MIN_LENGTH = 12",
    "    --- PASS: TestLogin/wrong_password (0.02s)",
    "secret: ${{ secrets.DEPLOY_KEY }}",
    "the bearer of bad news, a task-id 42, https://example.com/a:b@c",
    "git clone git@github.com:org/repo.git",
    "git push -u origin main && docker run -u 1000:1000 app",
]


def test_ordinary_code_is_not_mistaken_for_a_secret(store: Store) -> None:
    session = sessions.create_session(store, make(p.CreateSessionParams, kind="agent"))
    batch = [{"role": "user", "content": text} for text in ORDINARY]
    messages.append_messages(store, make(p.AppendMessagesParams, sessionId=session.id, messages=batch))
    page = messages.get_messages(store, make(p.GetMessagesParams, sessionId=session.id))
    assert [m.content for m in page.messages] == ORDINARY
    assert housekeeping.stats(store).redactions == {}


def test_deeply_nested_values_are_masked_without_recursion() -> None:
    nested: Any = [SECRETS["github-token"]]
    for _ in range(20_000):  # far past Python's recursion limit
        nested = {"a": [nested]}
    masker = Redactor()
    masked = masker.value(nested)
    while isinstance(masked, dict):
        masked = masked["a"][0]
    assert masked == ["[REDACTED:github-token]"] and masker.counts == {"github-token": 1}


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
    """Every byte of the history and what lies beside it (the search index's directory too)."""
    beside = [path for path in db_path.parent.iterdir() if path.name.startswith(db_path.name)]
    files = [found for path in beside for found in ([path] if path.is_file() else path.rglob("*")) if found.is_file()]
    assert files, "the check reads something"
    return b"".join(path.read_bytes() for path in files)


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


@pytest.mark.parametrize("secret", [*SECRETS.values(), AWS_SECRET, URL, *(text for text, _, _ in SHAPES)])
def test_the_one_pass_check_finds_a_secret_among_a_messages_other_texts(secret: str) -> None:
    """A message none of whose texts a trigger is in is stored as it is (redaction.may_hold_secrets):
    a secret in any one of them, first, between others or last, must still be seen."""
    for texts in ([secret, HARMLESS], [HARMLESS, secret, "x"], ["y", secret]):
        assert redaction.may_hold_secrets(texts)
    assert not redaction.may_hold_secrets(["ls -la", "42", "", "a plain answer"])
