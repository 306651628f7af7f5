"""Live capture: real sample transcripts written into watched folders, line by line, read
by real sidecars over stdio, and compared with a one-shot import of the same file."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard

from sidecar import protocol as p
from sidecar.capture.lock import lock_path
from sidecar.store import Store, housekeeping
from sidecar.store.messages import get_messages
from sidecar.store.sessions import list_sessions
from sidecar.transcripts import importer

from .helpers import SAMPLES, SERVER_COMMAND, HistoryClient, config, init_params

CLAUDE = SAMPLES / "claude-code"
TOOL_PAIRS = CLAUDE / "d-kimuson__claude-code-viewer__1af7fc5e-8455-4414-9ccd-011d40f70b2a.jsonl"
PARENT = CLAUDE / "iansherr__claude-code-log__ef958aa1-0e93-49f0-bb71-150f63befcd1.jsonl"
SUBAGENT = CLAUDE / "iansherr__claude-code-log__agent-a52886dc180afb356.jsonl"
ROLLOUT = SAMPLES / "codex" / "lanegrid__agtrace__codex_session.jsonl"
CODEX_ROLLOUT = (
    SAMPLES
    / "codex"
    / "AcidicSoil__codex-session-view__rollout-2025-11-17T15-30-28-019a93b9-f380-7600-98ff-940e6b99603c.jsonl"
)
COMPACTED = CLAUDE / "entireio__cli__a6-e4c2a0fbd1-0-full.jsonl"
# Fields a one-shot import and a capture must agree on (ids and seqs are minted anew).
COMPARED = ("index", "role", "content", "toolCalls", "toolCallId", "agentName", "usage", "metadata")
COMPARED += ("clientMessageId", "compacted", "createdAt")
# Generous: the CPU is shared; the 1 s goal is measured by `python -m tests.bench.capture`.
WAIT = 60.0
# A long hold, so that a stall of this loaded machine between two rows of one answer
# never writes half of it (the live default is shorter).
ENV = {"AGENT_HISTORY_CAPTURE_HOLD_SECONDS": "2"}

pytestmark = [
    pytest.mark.skipif(not SAMPLES.is_dir(), reason="the shared sample transcripts are not here"),
    pytest.mark.timeout(300),
]


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def prompt_near(lines: list[bytes], fraction: float) -> int:
    """The first user row at or after that fraction of the file: a cut there splits no
    message (an answer's rows written more than the hold apart are
    stored as two messages, which a one-shot import would not do)."""
    for number in range(int(len(lines) * fraction), len(lines)):
        row = json.loads(lines[number])
        if row.get("type") == "user":
            return number
    raise AssertionError("no prompt after that point")


def oneshot(tmp_path: Path, *files: tuple[Path, bytes]) -> dict[str, list[dict[str, Any]]]:
    """What `history/importTranscript` makes of the files (written where named, in order):
    each session's messages by import source, with the compared fields."""
    store = Store(tmp_path / "oneshot" / "history.db")
    try:
        for path, content in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            importer.import_transcript(store, p.ImportTranscriptParams(path=str(path)))
        result: dict[str, list[dict[str, Any]]] = {}
        for session in list_sessions(store, p.ListSessionsParams(limit=500)).sessions:
            params = p.GetMessagesParams(session_id=session.id, limit=1000)
            rows = [_unstructured(m) for m in get_messages(store, params).messages]
            result[_source(session.kind, session.metadata, rows)] = rows
        return result
    finally:
        store.close()


def _unstructured(message: p.Message) -> dict[str, Any]:
    from sidecar.wire import unstructure

    value: dict[str, Any] = unstructure(message)
    return value


def _unstructured_session(session: p.Session) -> dict[str, Any]:
    from sidecar.wire import unstructure

    value: dict[str, Any] = unstructure(session)
    return value


def _source(kind: str, metadata: Any, rows: list[dict[str, Any]]) -> str:
    return f"{kind}:{metadata['sourceSessionId']}:{rows[0]['clientMessageId'] if rows else ''}"


def compared(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{field: message.get(field) for field in COMPARED} for message in messages]


@contextlib.asynccontextmanager
async def sidecar(
    db_path: Path, watched: Path, token: str | None = None, env: dict[str, str] | None = None, **capture: Any
) -> AsyncIterator[HistoryClient]:
    """A sidecar capturing `watched` only (not this machine's own agent folders); its
    catch-up progress under `token`."""
    client = await config({**os.environ, **ENV, **(env or {})}).start(devtools=None)
    assert isinstance(client, HistoryClient)
    options = {"claudeCode": False, "codex": False, "agents": [], "paths": [str(watched)], **capture}
    params = init_params(db_path, capture=options)
    if token is not None:
        client.progress_reports[token] = []
        params.work_done_token = token
    await client.initialize_session(params)
    try:
        yield client
    finally:
        if client._server is not None and client._server.returncode is None:
            await client.shutdown_session()
        await client.stop()


async def captured(client: HistoryClient) -> dict[str, list[dict[str, Any]]]:
    listed = await client.call(p.LIST_SESSIONS, {"limit": 500})
    result = {}
    for session in listed["sessions"]:
        page = await client.call(p.GET_MESSAGES, {"sessionId": session["id"], "limit": 1000})
        result[_source(session["kind"], session["metadata"], page["messages"])] = page["messages"]
    return result


async def until(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await condition()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


async def message_count(client: HistoryClient) -> int:
    stats = await client.call(p.STATS)
    return int(stats["messages"])


async def until_count(client: HistoryClient, count: int) -> None:
    async def reached() -> bool:
        return await message_count(client) >= count

    await until(reached, f"{count} messages")


async def steady(client: HistoryClient, seconds: float = 3.0) -> int:
    """The message count once it has not moved for `seconds` (past the capture's hold)."""
    count, since = await message_count(client), time.monotonic()
    while time.monotonic() - since < seconds:
        await asyncio.sleep(0.2)
        now = await message_count(client)
        if now != count:
            count, since = now, time.monotonic()
    return count


async def write_slowly(path: Path, lines: list[bytes], per_second: float = 50.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as file:
        for line in lines:
            file.write(line)
            file.flush()
            await asyncio.sleep(1 / per_second)


def expected_total(expected: dict[str, list[dict[str, Any]]]) -> int:
    return sum(len(messages) for messages in expected.values())


def announced(client: HistoryClient) -> list[tuple[str, int]]:
    return [
        (params["sessionId"], message["index"])
        for method, params in client.received
        if method == p.DID_APPEND_MESSAGES
        for message in params["messages"]
    ]


@pytest.mark.parametrize(
    "sample",
    [TOOL_PAIRS, COMPACTED, CODEX_ROLLOUT],
    ids=["claude-code-tool-pairs", "claude-code-compaction", "codex"],
)
async def test_lines_written_progressively_arrive_in_order_as_a_one_shot_import_gives(
    tmp_path: Path, sample: Path
) -> None:
    lines = lines_of(sample)
    expected = oneshot(tmp_path, (tmp_path / "copy" / sample.name, b"".join(lines)))
    watched = tmp_path / "projects"
    watched.mkdir()
    async with sidecar(tmp_path / "history.db", watched) as client:
        await write_slowly(watched / "project" / sample.name, lines, per_second=100)
        await until_count(client, expected_total(expected))
        assert await steady(client) == expected_total(expected)
        got = await captured(client)
        assert {key: compared(m) for key, m in got.items()} == {key: compared(m) for key, m in expected.items()}
        [session_id] = {session_id for session_id, _ in announced(client)}
        # Announced once each, in order, as they were captured.
        assert [index for _, index in announced(client)] == list(range(expected_total(expected)))
        [session] = (await client.call(p.LIST_SESSIONS, {}))["sessions"]
        store = Store(tmp_path / "oneshot" / "history.db")
        try:
            [alone] = list_sessions(store, p.ListSessionsParams()).sessions
        finally:
            store.close()
        assert session["id"] == session_id and session["usage"] == _unstructured_session(alone)["usage"]
        assert session["toolCallCount"] == alone.tool_call_count > 0


async def test_a_half_written_line_waits_for_its_newline_and_a_malformed_line_is_counted(tmp_path: Path) -> None:
    lines = lines_of(TOOL_PAIRS)
    first = prompt_near(lines, 0.3)
    watched = tmp_path / "projects"
    path = watched / "p" / "s.jsonl"
    path.parent.mkdir(parents=True)
    before = expected_total(oneshot(tmp_path / "a", (tmp_path / "a" / "s.jsonl", b"".join(lines[:first]))))
    after = expected_total(oneshot(tmp_path / "b", (tmp_path / "b" / "s.jsonl", b"".join(lines[: first + 1]))))
    assert after == before + 1
    async with sidecar(tmp_path / "history.db", watched) as client:
        path.write_bytes(b"".join(lines[:first]) + b"{not json\n")
        await until_count(client, before)
        half = len(lines[first]) // 2
        with path.open("ab") as file:
            file.write(lines[first][:half])
        assert await steady(client) == before  # the half line is not read yet
        with path.open("ab") as file:
            file.write(lines[first][half:])
        await until_count(client, after)
        stats = await client.call(p.STATS)
        assert stats["capture"] == {"files": 1, "skippedLines": 1}  # the garbage line only


async def test_a_file_truncated_and_rewritten_is_reconciled_without_duplicates(tmp_path: Path) -> None:
    lines = lines_of(TOOL_PAIRS)
    expected = oneshot(tmp_path, (tmp_path / "copy" / "s.jsonl", b"".join(lines)))
    watched = tmp_path / "projects"
    path = watched / "p" / "s.jsonl"
    path.parent.mkdir(parents=True)
    async with sidecar(tmp_path / "history.db", watched) as client:
        longer, shorter = prompt_near(lines, 0.6), prompt_near(lines, 0.3)
        path.write_bytes(b"".join(lines[:longer]))
        await steady(client)
        # The same file cut short and written again, its rows spaced otherwise: no byte is
        # where it was, so only reading it again from the start gets it right.
        respaced = [json.dumps(json.loads(line), ensure_ascii=False).encode() + b"\n" for line in lines]
        with path.open("r+b") as file:
            file.truncate(0)
            file.write(b"".join(respaced[:shorter]))
        await steady(client)
        await write_slowly(path, respaced[shorter:])
        await until_count(client, expected_total(expected))
        assert await steady(client) == expected_total(expected)
        got = await captured(client)
        assert {key: compared(m) for key, m in got.items()} == {key: compared(m) for key, m in expected.items()}
        path.unlink()  # the agent's own clean-up: our copy stays
        await asyncio.sleep(1)
        assert await message_count(client) == expected_total(expected)


async def test_a_sub_agent_file_that_appears_mid_session_joins_its_session(tmp_path: Path) -> None:
    parent_lines, agent_lines = lines_of(PARENT), lines_of(SUBAGENT)
    session = PARENT.name.split("__")[-1].removesuffix(".jsonl")
    watched = tmp_path / "projects"
    parent_path = watched / "p" / f"{session}.jsonl"
    agent_path = watched / "p" / session / "subagents" / "agent-a52886dc180afb356.jsonl"
    copy = tmp_path / "copy" / "p"
    expected = oneshot(
        tmp_path,
        (copy / parent_path.name, b"".join(parent_lines)),
        (copy / session / "subagents" / agent_path.name, b"".join(agent_lines)),
    )
    async with sidecar(tmp_path / "history.db", watched) as client:
        half = prompt_near(parent_lines, 0.5)
        parent_path.parent.mkdir(parents=True)
        parent_path.write_bytes(b"".join(parent_lines[:half]))
        await until_count(client, 1)
        await write_slowly(agent_path, agent_lines, per_second=200)
        shutil.copy(SUBAGENT.with_name(SUBAGENT.stem + ".meta.json"), agent_path.with_suffix(".meta.json"))
        await write_slowly(parent_path, parent_lines[half:], per_second=200)
        await until_count(client, expected_total(expected))
        assert await steady(client) == expected_total(expected)
        got = await captured(client)
        assert {key: compared(m) for key, m in got.items()} == {key: compared(m) for key, m in expected.items()}
        sessions = {s["kind"]: s for s in (await client.call(p.LIST_SESSIONS, {}))["sessions"]}
        assert sessions["subagent"]["parentSessionId"] == sessions["agent"]["id"]


async def test_a_compressed_codex_rollout_is_read(tmp_path: Path) -> None:
    content = ROLLOUT.read_bytes()
    expected = oneshot(tmp_path, (tmp_path / "copy" / "rollout.jsonl", content))
    watched = tmp_path / "sessions"
    async with sidecar(tmp_path / "history.db", watched) as client:
        day = watched / "2025" / "11" / "17"
        day.mkdir(parents=True)
        (day / "rollout.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(content))
        await until_count(client, expected_total(expected))
        got = await captured(client)
        assert {key: compared(m) for key, m in got.items()} == {key: compared(m) for key, m in expected.items()}


async def test_two_sidecars_on_one_folder_and_database_capture_once(tmp_path: Path) -> None:
    lines = lines_of(TOOL_PAIRS)
    expected = oneshot(tmp_path, (tmp_path / "copy" / "s.jsonl", b"".join(lines)))
    watched = tmp_path / "projects"
    watched.mkdir()
    db_path = tmp_path / "history.db"
    async with sidecar(db_path, watched) as first, sidecar(db_path, watched) as second:
        await write_slowly(watched / "p" / "s.jsonl", lines)
        await until_count(first, expected_total(expected))
        assert await steady(first) == expected_total(expected)
        got = await captured(second)
        assert {key: compared(m) for key, m in got.items()} == {key: compared(m) for key, m in expected.items()}
        capturing = [inotify_descriptors(client._server.pid) > 0 for client in (first, second) if client._server]
        assert sorted(capturing) == [False, True]  # one of them watches, the other waits its turn
        for client in (first, second):  # each heard of every message once
            await until(lambda c=client: _async(len(announced(c)) >= expected_total(expected)), "announcements")
            assert sorted(index for _, index in announced(client)) == list(range(expected_total(expected)))


async def _async(value: Any) -> Any:
    return value


def lock_is_held(db_path: Path) -> bool:
    descriptor = os.open(lock_path(db_path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


async def test_when_the_capturing_sidecar_is_killed_another_takes_over_and_nothing_is_lost(tmp_path: Path) -> None:
    lines = lines_of(TOOL_PAIRS)
    expected = oneshot(tmp_path, (tmp_path / "copy" / "s.jsonl", b"".join(lines)))
    watched = tmp_path / "projects"
    watched.mkdir()
    db_path = tmp_path / "history.db"
    path = watched / "p" / "s.jsonl"
    async with sidecar(db_path, watched) as doomed:
        await until(lambda: _async(lock_is_held(db_path)), "the first sidecar holds the capture lock")
        async with sidecar(db_path, watched) as survivor:
            half = prompt_near(lines, 0.5)
            await write_slowly(path, lines[:half])
            await until_count(survivor, 1)
            assert doomed._server is not None
            os.kill(doomed._server.pid, signal.SIGKILL)
            await doomed._server.wait()
            await write_slowly(path, lines[half:])
            await until_count(survivor, expected_total(expected))
            assert await steady(survivor) == expected_total(expected)
            got = await captured(survivor)
            assert {key: compared(m) for key, m in got.items()} == {key: compared(m) for key, m in expected.items()}


def inotify_descriptors(pid: int) -> int:
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if "inotify" in os.readlink(fd))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to tell events from polling")
@pytest.mark.parametrize("polling", [True, False])
async def test_polling_captures_as_events_do(tmp_path: Path, polling: bool) -> None:
    lines = lines_of(TOOL_PAIRS)
    expected = oneshot(tmp_path, (tmp_path / "copy" / "s.jsonl", b"".join(lines)))
    watched = tmp_path / "projects"
    watched.mkdir()
    async with sidecar(tmp_path / "history.db", watched, polling=polling) as client:
        assert client._server is not None
        pid = client._server.pid
        await until(lambda: _async(lock_is_held(tmp_path / "history.db")), "capture started")
        await write_slowly(watched / "p" / "s.jsonl", lines)
        await until_count(client, expected_total(expected))
        got = await captured(client)
        assert {key: compared(m) for key, m in got.items()} == {key: compared(m) for key, m in expected.items()}
        assert (inotify_descriptors(pid) == 0) is polling


async def test_serve_capture_follows_claude_codes_folder_under_claude_config_dir(tmp_path: Path) -> None:
    lines = lines_of(TOOL_PAIRS)
    expected = oneshot(tmp_path, (tmp_path / "copy" / "s.jsonl", b"".join(lines)))
    home = tmp_path / "claude"
    (home / "projects" / "-work-demo").mkdir(parents=True)
    server = config({**os.environ, **ENV, "CLAUDE_CONFIG_DIR": str(home), "CODEX_HOME": str(tmp_path / "none")})
    server.server_command = [*server.server_command, "--capture"]
    client = await server.start(devtools=None)
    assert isinstance(client, HistoryClient)
    try:
        await client.initialize_session(init_params(tmp_path / "history.db"))
        await write_slowly(home / "projects" / "-work-demo" / "s.jsonl", lines)
        await until_count(client, expected_total(expected))
        got = await captured(client)
        assert {key: compared(m) for key, m in got.items()} == {key: compared(m) for key, m in expected.items()}
    finally:
        await client.shutdown_session()
        await client.stop()


async def test_the_watch_command_captures_names_malformed_lines_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    lines = lines_of(TOOL_PAIRS)
    expected = expected_total(oneshot(tmp_path, (tmp_path / "copy" / "s.jsonl", b"".join(lines))))
    watched, db_path = tmp_path / "projects", tmp_path / "history.db"
    watched.mkdir()
    process = await asyncio.create_subprocess_exec(
        *SERVER_COMMAND[:-1],
        "watch",
        str(watched),
        "--db",
        str(db_path),
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **ENV},
    )
    try:
        await until(lambda: _async(lock_is_held(db_path)), "the watch command holds the capture lock")
        await write_slowly(watched / "p" / "s.jsonl", [b"{half\n", *lines])

        async def all_there() -> bool:
            store = Store(db_path)
            try:
                return int(housekeeping.stats(store).messages) >= expected
            finally:
                store.close()

        await until(all_there, f"{expected} messages")
        await asyncio.sleep(3)  # the file is recorded once quiet past the hold
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), WAIT) == 0
        assert process.stderr is not None
        output = (await process.stderr.read()).decode()
        assert sum(int(n) for n in re.findall(r"^\+(\d+) messages", output, re.MULTILINE)) == expected
        assert "s.jsonl: 1 malformed lines skipped" in output
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_at_start_only_files_changed_while_nothing_watched_are_read(tmp_path: Path) -> None:
    lines = lines_of(TOOL_PAIRS)
    half = prompt_near(lines, 0.5)
    expected = oneshot(tmp_path, (tmp_path / "copy" / "s.jsonl", b"".join(lines)))
    watched, db_path = tmp_path / "projects", tmp_path / "history.db"
    growing, untouched = watched / "p" / "s.jsonl", watched / "q" / "t.jsonl"
    growing.parent.mkdir(parents=True)
    growing.write_bytes(b"".join(lines[:half]))  # written while no sidecar runs
    untouched.parent.mkdir(parents=True)
    meta, message = lines_of(ROLLOUT)[:2]
    untouched.write_bytes(meta + message)
    async with sidecar(db_path, watched, token="catch-up") as client:
        await until(lambda: _async(lock_is_held(db_path)), "capture started")

        async def caught_up() -> bool:
            return [r.kind for r in client.progress_reports["catch-up"]][-1:] == ["end"]

        await until(caught_up, "the catch-up's progress to end")
        assert client.progress_reports["catch-up"][0].kind == "begin"
        assert "2 transcript files" in client.progress_reports["catch-up"][0].title

        async def both_recorded() -> bool:
            stats = await client.call(p.STATS)
            return stats.get("capture") == {"files": 2, "skippedLines": 0}

        await until(both_recorded, "both files read and recorded")
        first = await message_count(client)
    # While nothing watches: one file grows; the other's bytes change, its size and mtime do not.
    with growing.open("ab") as file:
        file.write(b"".join(lines[half:]))
    info = untouched.stat()
    untouched.write_bytes(meta + b"x" * (len(message) - 1) + b"\n")  # read, that would be a malformed line
    os.utime(untouched, ns=(info.st_atime_ns, info.st_mtime_ns))
    async with sidecar(db_path, watched) as client:
        await until_count(client, expected_total(expected) + 1)  # the rollout's one message too
        assert await steady(client) == expected_total(expected) + 1 > first
        stats = await client.call(p.STATS)
        assert stats["capture"] == {"files": 2, "skippedLines": 0}  # the changed bytes were never read
