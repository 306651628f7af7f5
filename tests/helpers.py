"""Real clients for the real sidecar: pytest-lsp's LanguageClient, and raw frames over a pipe."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import register_lsp_features

from sidecar import protocol as p
from sidecar.server import rpc_converter

SERVER_COMMAND = [sys.executable, "-m", "sidecar", "serve"]
Notification = tuple[str, dict[str, Any]]


class HistoryClient(LanguageClient):
    """A pytest-lsp client that records the history notifications it receives."""

    def __init__(self) -> None:
        super().__init__(converter_factory=rpc_converter)
        register_lsp_features(self)  # pytest-lsp's recorders: progress, log messages, …
        self.received: list[Notification] = []
        for method in p.NOTIFICATIONS:
            self.feature(method)(self._recorder(method))

    def _recorder(self, method: str) -> Callable[..., None]:
        def record(ls: HistoryClient, params: dict[str, Any]) -> None:
            ls.received.append((method, params))

        return record

    async def call(self, method: str, params: Any = None) -> Any:
        return await self.protocol.send_request_async(method, params)

    async def wait_for(self, predicate: Callable[[Notification], bool], timeout: float = 5.0) -> Notification:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.received:
                if predicate(item):
                    return item
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no matching notification within {timeout}s; got {[m for m, _ in self.received]}")

    def appended(self, session_id: str) -> list[dict[str, Any]]:
        """Every message announced by didAppendMessages for the session, in arrival order."""
        return [
            message
            for method, params in self.received
            if method == p.DID_APPEND_MESSAGES and params["sessionId"] == session_id
            for message in params["messages"]
        ]


def config(env: dict[str, str] | None = None) -> ClientServerConfig:
    return ClientServerConfig(server_command=SERVER_COMMAND, client_factory=HistoryClient, server_env=env)


def init_params(db_path: Path, **options: Any) -> lsp.InitializeParams:
    return lsp.InitializeParams(
        capabilities=lsp.ClientCapabilities(),
        initialization_options={"dbPath": str(db_path), **options},
    )


@contextlib.asynccontextmanager
async def running_client(db_path: Path, **options: Any) -> AsyncIterator[HistoryClient]:
    """A sidecar on the given file, initialized, and shut down properly afterwards."""
    client = await config().start(devtools=None)
    assert isinstance(client, HistoryClient)
    await client.initialize_session(init_params(db_path, **options))
    try:
        yield client
    finally:
        await client.shutdown_session()
        await client.stop()


def user(text: str, **fields: Any) -> dict[str, Any]:
    return {"role": "user", "content": text, **fields}


def assistant(text: str | None = None, calls: list[tuple[str, str]] | None = None, **fields: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", **fields}
    if text is not None:
        message["content"] = text
    if calls:
        message["toolCalls"] = [{"id": call_id, "name": name, "arguments": {"x": 1}} for call_id, name in calls]
    return message


def tool(call_id: str, text: str, **fields: Any) -> dict[str, Any]:
    return {"role": "tool", "toolCallId": call_id, "content": text, **fields}


def frame(payload: bytes | dict[str, Any]) -> bytes:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class RawServer:
    """The sidecar driven byte by byte, for what a well-behaved client library never sends."""

    def __init__(self, db_path: Path, *extra: str, ignore_sigxfsz: bool = False) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [*SERVER_COMMAND, "--db", str(db_path), *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            # Past a file-size limit, SIGXFSZ kills; ignored, the write fails as on a full disk.
            preexec_fn=(lambda: signal.signal(signal.SIGXFSZ, signal.SIG_IGN)) if ignore_sigxfsz else None,
        )
        self.next_id = 0

    def send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def read(self) -> dict[str, Any]:
        """The next frame from the server; asserts stdout holds nothing but frames."""
        stdout = self.process.stdout
        assert stdout is not None
        headers = b""
        while not headers.endswith(b"\r\n\r\n"):
            byte = stdout.read(1)
            assert byte, f"server closed stdout; stderr: {self.stderr()}"
            headers += byte
        assert headers.startswith(b"Content-Length: "), f"not a frame on stdout: {headers!r}"
        length = int(headers.split(b"\r\n")[0].split(b":")[1])
        message: dict[str, Any] = json.loads(stdout.read(length))
        return message

    def read_reply(self) -> dict[str, Any]:
        """The next response, skipping notifications."""
        while True:
            message = self.read()
            if "method" not in message:
                return message

    def read_response(self, request_id: Any) -> dict[str, Any]:
        while True:
            message = self.read_reply()
            if message.get("id") == request_id:
                return message

    @staticmethod
    def frame_of(request_id: int, method: str, params: Any) -> bytes:
        return frame({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})

    def request(self, method: str, params: Any = None, *, omit_params: bool = False) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if not omit_params:
            message["params"] = params
        self.send(frame(message))
        return self.read_response(self.next_id)

    def initialize(self, **options: Any) -> dict[str, Any]:
        return self.request("initialize", {"processId": None, "capabilities": {}, "initializationOptions": options})

    def stderr(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        assert self.process.stderr is not None
        return self.process.stderr.read().decode(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.close_pipes()

    def finish(self) -> str:
        """End input, wait for the server to exit, and return everything it logged."""
        assert self.process.stdin is not None and self.process.stderr is not None
        self.process.stdin.close()
        self.process.wait(10)
        logged = self.process.stderr.read().decode(errors="replace")
        self.close_pipes()
        return logged

    def close_pipes(self) -> None:
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


# -- processes, read off Linux's /proc ----------------------------------------------------


def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat after the command name: state, parent pid, …; [] once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def children_of(pid: int) -> set[int]:
    return {int(entry.name) for entry in Path("/proc").glob("[0-9]*") if _stat(entry.name)[1:2] == [str(pid)]}


def running(pids: set[int]) -> set[int]:
    """Those still running: gone, or a zombie nobody has reaped yet, is not running."""
    return {pid for pid in pids if _stat(pid)[:1] not in ([], ["Z"])}


def still_running_after(pids: set[int], seconds: float) -> set[int]:
    """Those of `pids` still running once all have stopped or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while running(pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return running(pids)


def memory_kb(pid: int, field: str) -> int:
    """A figure of /proc/PID/status in kB: VmRSS now, VmHWM the peak so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def wait_idle(pid: int, bound: float = 60.0) -> None:
    """Until the process has used (almost) no CPU for a second, or `bound` seconds passed."""
    deadline = time.monotonic() + bound

    def cpu_ticks() -> int:
        fields = _stat(pid)
        return int(fields[11]) + int(fields[12])  # utime + stime

    while time.monotonic() < deadline:
        before = cpu_ticks()
        time.sleep(1.0)
        if cpu_ticks() - before <= 3:  # its 0.2 s change watch costs a tick now and then
            return
