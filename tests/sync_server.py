"""A real Turso sync server on loopback: `tursodb DB --sync-server 127.0.0.1:PORT`.

The binary comes from the npm package @tursodatabase/cli-linux-x64-gnu, installed on first
use into tests/.tools (git-ignored).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .npm_tools import npm_installed

PACKAGE = "@tursodatabase/cli-linux-x64-gnu@0.7.0"

needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is needed to install tursodb")


def tursodb() -> Path:
    return npm_installed("tursodb", PACKAGE) / "@tursodatabase" / "cli-linux-x64-gnu" / "tursodb"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SyncServer:
    """One server process on one database file; stop() and start() it again on the same port."""

    def __init__(self, folder: Path) -> None:
        self.database = folder / "remote.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "remote.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(tursodb()), str(self.database), "--sync-server", f"127.0.0.1:{self.port}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError(f"tursodb did not listen on {self.port}: {self.log.read_text()}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@contextlib.contextmanager
def sync_server(folder: Path) -> Iterator[SyncServer]:
    server = SyncServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.kill()


class SilentServer:
    """A remote that accepts connections and never answers: a hung proxy, a dead server
    behind a live load balancer. Counts the connections it took."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # the listener closed
            while True:
                self.held.append(self.listener.accept()[0])

    def wait_for_connection(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not self.held and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.held, "nobody connected"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        self.listener.close()
        for connection in self.held:
            connection.close()


@contextlib.contextmanager
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.close()
