"""Start, stop, and never linger: EOF, a dead editor, only frames on stdout, the default database."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers import SERVER_COMMAND, RawServer, children_of, frame, running, still_running_after, user


def wait_exit(process: subprocess.Popen[bytes], limit: float) -> float:
    started = time.monotonic()
    process.wait(timeout=limit + 5)
    return time.monotonic() - started


def test_exits_within_a_second_of_stdin_eof(db_path: Path) -> None:
    server = RawServer(db_path)
    try:
        server.initialize()
        sid = server.request("history/createSession", {"kind": "chat"})["result"]["id"]
        server.request("history/appendMessages", {"sessionId": sid, "messages": [user("x")]})
        assert server.process.stdin is not None
        server.process.stdin.close()
        assert wait_exit(server.process, 1.0) < 1.0
    finally:
        server.close()


def test_exits_within_a_second_when_the_editor_process_dies(db_path: Path) -> None:
    editor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    server = RawServer(db_path)
    try:
        server.request("initialize", {"processId": editor.pid, "capabilities": {}})
        editor.kill()
        editor.wait()
        assert wait_exit(server.process, 1.0) < 1.0  # stdin is still open: the watch did it
    finally:
        editor.kill()
        server.close()


def test_shutdown_then_exit_ends_with_code_zero(db_path: Path) -> None:
    server = RawServer(db_path)
    try:
        server.initialize()
        assert server.request("shutdown")["result"] is None
        server.send(frame({"jsonrpc": "2.0", "method": "exit"}))
        assert wait_exit(server.process, 1.0) < 1.0
        assert server.process.returncode == 0
    finally:
        server.close()


def test_stdout_carries_nothing_but_frames(db_path: Path) -> None:
    server = RawServer(db_path, "--log-level", "debug")
    try:
        server.initialize()
        sid = server.request("history/createSession", {"kind": "chat"})["result"]["id"]
        server.request("history/appendMessages", {"sessionId": sid, "messages": [user("x")] * 50})
        server.request("history/getSession", {"sessionId": "missing"})
        server.send(frame(b"{broken"))
        server.request("history/exportSession", {"sessionId": sid, "format": "markdown"})
        assert server.process.stdin is not None
        server.process.stdin.close()
        server.process.wait(timeout=5)
        assert server.process.stdout is not None
        rest = server.process.stdout.read()
        while rest:  # whatever is left must parse as whole frames
            header, _, rest = rest.partition(b"\r\n\r\n")
            assert header.startswith(b"Content-Length: "), header[:80]
            length = int(header.split(b"\r\n")[0].split(b":")[1])
            assert len(rest) >= length
            rest = rest[length:]
        assert "serving" in server.stderr()  # the logs went to stderr instead
    finally:
        server.close()


def test_a_client_that_writes_before_it_reads_never_deadlocks_the_server(db_path: Path) -> None:
    """Replies and notifications pile up unread while the client writes a large request:
    the server must keep reading (a blocking write to a full stdout pipe would stop it, and
    both sides would wait for ever)."""
    server = RawServer(db_path)
    try:
        server.initialize()
        sid = server.request("history/createSession", {"kind": "chat"})["result"]["id"]
        big = [user("x" * 50_000)] * 40  # 2 MB of messages, announced back as 2 MB more
        server.send(server.frame_of(101, "history/appendMessages", {"sessionId": sid, "messages": big}))
        time.sleep(0.5)  # its reply and announcement are waiting, unread
        second = threading.Thread(
            target=server.send,
            args=(server.frame_of(102, "history/appendMessages", {"sessionId": sid, "messages": big}),),
        )
        second.start()
        second.join(timeout=10)
        assert not second.is_alive(), "the server stopped reading while its output was unread"
        assert "result" in server.read_response(101) and "result" in server.read_response(102)
        assert server.request("history/getSession", {"sessionId": sid})["result"]["messageCount"] == 80
    finally:
        server.close()


def test_responses_still_buffered_at_end_of_input_are_delivered(db_path: Path) -> None:
    server = RawServer(db_path)
    try:
        server.initialize()
        sid = server.request("history/createSession", {"kind": "chat"})["result"]["id"]
        server.send(
            server.frame_of(7, "history/appendMessages", {"sessionId": sid, "messages": [user("y" * 50_000)] * 40})
        )
        assert server.process.stdin is not None
        server.process.stdin.close()  # then read everything only after the server saw EOF
        time.sleep(1.0)
        assert "result" in server.read_response(7)
    finally:
        server.close()


def test_the_default_database_lives_in_the_user_data_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AGENT_HISTORY_DB"}
    env.update(XDG_DATA_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path / "home"))
    process = subprocess.Popen(
        SERVER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    body = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"processId":null,"capabilities":{}}}'
    out, _ = process.communicate(frame(body), timeout=30)
    expected = tmp_path / "xdg" / "agent-history" / "history.db"
    assert str(expected).encode() in out
    assert stat.S_IMODE(expected.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(expected.stat().st_mode) == 0o600


def test_the_command_line_has_help_and_a_version() -> None:
    version = subprocess.run([*SERVER_COMMAND[:3], "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("agent-history ")
    helped = subprocess.run([*SERVER_COMMAND, "--help"], capture_output=True, text=True, check=True)
    assert "--db" in helped.stdout


def _indexer_of(server: RawServer) -> int:
    """The pid of the sidecar's one child, its search indexer, once it has started."""
    deadline = time.monotonic() + 5
    while not (children := children_of(server.process.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(children) == 1
    return children.pop()


needs_proc = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the child through Linux's /proc")


@pytest.fixture
def with_indexer(db_path: Path) -> Iterator[tuple[RawServer, int]]:
    """An initialized sidecar and the pid of its search indexer process."""
    server = RawServer(db_path)
    try:
        server.initialize()
        yield server, _indexer_of(server)
    finally:
        server.close()


@needs_proc
def test_the_search_indexer_never_outlives_its_sidecar(with_indexer: tuple[RawServer, int]) -> None:
    server, indexer = with_indexer
    server.process.kill()  # kill -9: no shutdown, no cleanup
    server.process.wait()
    # It may still be starting (importing): on a loaded 2-core machine that took over 1 s.
    assert not still_running_after({indexer}, 3)


@needs_proc
def test_the_search_indexer_has_exited_when_shutdown_is_answered(with_indexer: tuple[RawServer, int]) -> None:
    """Before, it was still finishing its round, writing the index, while the editor (or a
    test) removed the database's folder, and the next sidecar waited 2 s for its lock."""
    server, indexer = with_indexer
    time.sleep(0.5)  # past its start: it is in its loop
    assert "result" in server.request("shutdown")
    assert indexer not in running({indexer})


@needs_proc
def test_a_dead_search_indexer_is_replaced(with_indexer: tuple[RawServer, int]) -> None:
    server, indexer = with_indexer
    time.sleep(2.1)  # restarts are rate-limited to one per 2 s after a start
    os.kill(indexer, 9)
    assert not still_running_after({indexer}, 5)
    sid = server.request("history/createSession", {"kind": "chat"})["result"]["id"]
    server.request("history/appendMessages", {"sessionId": sid, "messages": [user("phoenix rising")]})
    deadline = time.monotonic() + 3
    while not server.request("history/searchMessages", {"query": "phoenix"})["result"]["hits"]:
        assert time.monotonic() < deadline, "nothing indexed the message"
        time.sleep(0.05)
    replacements = children_of(server.process.pid)
    assert indexer not in replacements and len(replacements) == 1


# -- a script's lifecycle: files, pipelining, shutdown, exit ------------------------------


def _script(db_path: Path, *requests: tuple[str, Any]) -> bytes:
    """Frames of initialize, the requests (ids from 2), shutdown and exit."""
    init = {"processId": None, "capabilities": {}, "initializationOptions": {"dbPath": str(db_path)}}
    methods = [("initialize", init), *requests, ("shutdown", None)]
    frames = [RawServer.frame_of(number, method, params) for number, (method, params) in enumerate(methods, 1)]
    return b"".join(frames) + frame({"jsonrpc": "2.0", "method": "exit"})


def _frames_in(data: bytes) -> list[dict[str, Any]]:
    messages = []
    while data:
        header, _, data = data.partition(b"\r\n\r\n")
        length = int(header.split(b"\r\n")[0].split(b":")[1])
        messages.append(json.loads(data[:length]))
        data = data[length:]
    return messages


def test_regular_files_as_stdin_and_stdout_answer_every_request_and_exit_zero(db_path: Path, tmp_path: Path) -> None:
    """`serve < requests > replies`: every request answered, exit status 0 after exit,
    nothing on stderr (before: only initialize answered, then gigabytes of tracebacks)."""
    server = RawServer(db_path)
    server.initialize()
    sid = server.request("history/createSession", {"kind": "chat"})["result"]["id"]
    server.finish()
    appends = [("history/appendMessages", {"sessionId": sid, "messages": [user(f"m{n}")]}) for n in range(50)]
    requests = tmp_path / "requests"
    requests.write_bytes(_script(db_path, *appends, ("history/getSession", {"sessionId": sid})))
    with requests.open("rb") as stdin, (tmp_path / "replies").open("wb") as stdout:
        done = subprocess.run(
            [*SERVER_COMMAND, "--db", str(db_path)], stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, timeout=60
        )
    replies = {message["id"]: message for message in _frames_in((tmp_path / "replies").read_bytes()) if "id" in message}
    assert sorted(replies) == list(range(1, 54)) and all("result" in reply for reply in replies.values())
    assert replies[52]["result"]["messageCount"] == 50
    assert (done.returncode, done.stderr) == (0, b"")


def test_exit_right_behind_shutdown_still_ends_with_code_zero(db_path: Path) -> None:
    """Before: pygls judged `exit` before the shutdown reply was written, and exited 1."""
    server = RawServer(db_path)
    try:
        server.initialize()
        server.send(server.frame_of(9, "shutdown", None) + frame({"jsonrpc": "2.0", "method": "exit"}))
        assert server.read_response(9)["result"] is None
        assert wait_exit(server.process, 1.0) < 1.0
        assert server.process.returncode == 0
    finally:
        server.close()


def test_requests_after_shutdown_are_invalid_requests(db_path: Path) -> None:
    """Before: pygls dropped them without an answer."""
    server = RawServer(db_path)
    try:
        server.initialize()
        assert server.request("shutdown")["result"] is None
        error = server.request("history/stats", {})["error"]
        assert error["code"] == -32600 and "shutting down" in error["message"]
        server.send(frame({"jsonrpc": "2.0", "method": "exit"}))
        assert wait_exit(server.process, 1.0) < 1.0
        assert server.process.returncode == 0
    finally:
        server.close()


def test_end_of_input_after_a_thousand_pipelined_appends_answers_every_one(db_path: Path) -> None:
    """Written in one go, then stdin closed: before, 73 were answered, 4 committed unanswered."""
    server = RawServer(db_path)
    try:
        server.initialize()
        sid = server.request("history/createSession", {"kind": "chat"})["result"]["id"]
        appends = b"".join(
            server.frame_of(1000 + n, "history/appendMessages", {"sessionId": sid, "messages": [user(f"m{n}")]})
            for n in range(1000)
        )
        assert server.process.stdin is not None
        writer = threading.Thread(target=lambda: (server.send(appends), server.process.stdin.close()))  # type: ignore[union-attr]
        writer.start()
        answered = {server.read_reply()["id"] for _ in range(1000)}
        writer.join(5)
        assert answered == set(range(1000, 2000))
        assert wait_exit(server.process, 10) < 10 and server.process.returncode == 0
    finally:
        server.close()
    check = RawServer(db_path)
    try:
        check.initialize()
        assert check.request("history/getSession", {"sessionId": sid})["result"]["messageCount"] == 1000
    finally:
        check.close()


@needs_proc
def test_a_second_initialize_is_refused_and_starts_nothing(with_indexer: tuple[RawServer, int], tmp_path: Path) -> None:
    """Before: accepted, each starting another indexer, or quietly switching to another dbPath."""
    server, indexer = with_indexer
    other = tmp_path / "other.db"
    for _ in range(3):
        error = server.request(
            "initialize", {"processId": None, "capabilities": {}, "initializationOptions": {"dbPath": str(other)}}
        )["error"]
        assert error["code"] == -32600 and "initialized already" in error["message"]
    time.sleep(0.5)  # an indexer started by one of them would be running by now
    assert children_of(server.process.pid) == {indexer}
    assert server.request("history/stats", {})["result"]["dbPath"] != str(other)
    assert not other.exists()


# What only the terminal's commands, the cost reports, live capture or imports need: a sidecar
# that loaded them at start-up paid ~110 ms of every editor window's cold start for nothing,
# the importer's eight readers 2.8 MB of every window's memory, python-ulid 1.4 MB.
NOT_AT_START = (
    "sidecar.terminal",
    "sidecar.capture.watcher",
    "sidecar.transcripts.importer",
    "ulid",
    "genai_prices",
    "watchfiles",
    "rich.markdown",
    "mcp",
)


@pytest.mark.parametrize("command", [["serve"], ["index"], ["--db", "{db}", "serve", "--log-level", "info"]])
def test_the_processes_editors_spawn_load_only_what_they_serve_with(db_path: Path, command: list[str]) -> None:
    db_path.parent.mkdir(parents=True)
    arguments = [part.format(db=db_path) for part in command]
    if "--db" not in arguments:
        arguments += ["--db", str(db_path)]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sidecar", *arguments],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    loaded = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "sidecar.server" in loaded or "sidecar.search.index" in loaded  # the listing is real
    assert sorted(loaded & set(NOT_AT_START)) == []


def test_stdin_at_dev_null_is_an_end_of_input_not_a_hang(db_path: Path) -> None:
    # epoll cannot watch /dev/null (EPERM, swallowed by the loop): the sidecar waited forever.
    process = subprocess.Popen(
        [*SERVER_COMMAND, "--db", str(db_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode is not None and b"Traceback" not in stderr
