"""How long until a window hears another process's append, under load.

    python -m tests.bench.heard [--writers 4] [--seconds 30] [--batch 1] [--size 0]

Writer sidecars (windows) append as fast as they are answered (a new session every 20
appends) and each listens, as an editor does, to every didAppendMessages; a janitor
sidecar applies retention every 0.2 s. A message's latency is the time from its writer's
acknowledgement to another window's notification of it. Prints p50, p95, p99 and max
over every (message, other window) pair. Not run by CI.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sidecar import protocol as p

from ..helpers import RawServer, frame, user


class Window:
    """A sidecar whose frames are read as they come: replies to requests, notifications
    timed on arrival (a reader thread, as an editor reads its sidecar)."""

    def __init__(self, db_path: Path) -> None:
        self.server = RawServer(db_path)
        self.replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self.heard: dict[str, float] = {}
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        self.request("initialize", {"processId": None, "capabilities": {}, "initializationOptions": {}})

    def _read(self) -> None:
        while True:
            try:
                message = self.server.read()
            except (AssertionError, ValueError, OSError):
                return  # closed
            if message.get("method") == p.DID_APPEND_MESSAGES:
                for appended in message["params"]["messages"]:
                    self.heard.setdefault(appended["content"], time.monotonic())
            elif "method" not in message:
                self.replies.put(message)

    def request(self, method: str, params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.server.send(frame({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}))
        return self.replies.get(timeout=120)


def write(window: Window, writer: int, batch: int, padding: str, stop: threading.Event) -> dict[str, float]:
    acknowledged: dict[str, float] = {}
    session_id = ""
    n = 0
    while not stop.is_set():
        if n % 20 == 0:
            session_id = window.request("history/createSession", {"kind": "agent"})["result"]["id"]
        contents = [f"writer{writer} append{n} message{m} {padding}" for m in range(batch)]
        messages = [user(content) for content in contents]
        reply = window.request("history/appendMessages", {"sessionId": session_id, "messages": messages})
        if "result" in reply:
            acknowledged.update(dict.fromkeys(contents, time.monotonic()))
        n += 1
    return acknowledged


def tidy(window: Window, stop: threading.Event) -> None:
    while not stop.is_set():
        window.request("history/applyRetention", {"maxSessions": 10})
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=1, help="messages per append")
    parser.add_argument("--size", type=int, default=0, help="extra characters per message")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        db_path = Path(directory) / "history.db"
        janitor, *writers = [Window(db_path) for _ in range(args.writers + 1)]
        stop = threading.Event()
        acknowledged: list[dict[str, float]] = [{} for _ in writers]

        def run(w: int) -> None:
            acknowledged[w] = write(writers[w], w, args.batch, "x" * args.size, stop)

        threads = [threading.Thread(target=tidy, args=(janitor, stop))]
        threads += [threading.Thread(target=run, args=(w,)) for w in range(len(writers))]
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        stop.set()
        for thread in threads:
            thread.join()
        time.sleep(3)  # the last ones arrive
        latencies = sorted(
            1000 * (window.heard[content] - at)
            for w, mine in enumerate(acknowledged)
            for content, at in mine.items()
            for other, window in enumerate(writers)
            if other != w and content in window.heard
        )
        expected = sum(len(mine) for mine in acknowledged) * (len(writers) - 1)
        for window in [janitor, *writers]:
            window.server.close()
    print(
        f"{expected} (message, other window) pairs, {len(latencies)} heard"
        f" (the rest deleted by retention first, or not heard within 3 s)\n"
        f"p50 {statistics.median(latencies):.0f} ms  p95 {latencies[int(0.95 * len(latencies))]:.0f} ms"
        f"  p99 {latencies[int(0.99 * len(latencies))]:.0f} ms  max {latencies[-1]:.0f} ms"
    )


if __name__ == "__main__":
    main()
