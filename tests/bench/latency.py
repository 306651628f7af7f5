"""Round-trip latency of the real sidecar over stdio on a seeded corpus (see corpus.py).

    python -m tests.bench.latency [--messages 100000] [--rounds 300]

Prints cold start (spawn to the initialize result) and p50/p99 of appendMessages(1),
getContext(maxMessages 50) and getContext(maxTokens 8000). Not run by CI: benchmarks
print figures, tests assert behaviour.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from ..helpers import SERVER_COMMAND, frame
from .corpus import build_index, seed_store


class Sidecar:
    def __init__(self, db_path: Path) -> None:
        self.process = subprocess.Popen(
            [*SERVER_COMMAND, "--db", str(db_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.next_id = 0

    def call(self, method: str, params: Any) -> tuple[Any, float]:
        assert self.process.stdin and self.process.stdout
        self.next_id += 1
        started = time.perf_counter()
        self.process.stdin.write(frame({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}))
        self.process.stdin.flush()
        while True:
            header = self.process.stdout.readline()
            length = int(header.split(b":")[1])
            while self.process.stdout.readline() not in (b"\r\n", b""):
                pass
            message = json.loads(self.process.stdout.read(length))
            if message.get("id") == self.next_id:
                return message.get("result"), (time.perf_counter() - started) * 1000

    def close(self) -> None:
        assert self.process.stdin
        self.process.stdin.close()
        self.process.wait()


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)))]
    return f"p50 {statistics.median(ordered):6.2f} ms   p99 {p99:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--no-index", action="store_true", help="run the sidecar without its search indexer")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db_path = Path(folder) / "history.db"
        started = time.perf_counter()
        session_id = seed_store(db_path, args.messages)
        build_index(db_path)
        print(f"seeded {args.messages} messages in {time.perf_counter() - started:.1f} s")
        colds = []
        for _ in range(5):
            started = time.perf_counter()
            sidecar = Sidecar(db_path)
            sidecar.call("initialize", {"processId": None, "capabilities": {}})
            colds.append((time.perf_counter() - started) * 1000)
            sidecar.close()
        print(f"cold start to initialize result: median {statistics.median(colds):.0f} ms (of 5)")
        sidecar = Sidecar(db_path)
        options = {"searchIndex": not args.no_index}
        sidecar.call("initialize", {"processId": None, "capabilities": {}, "initializationOptions": options})
        # Appends go to a session of their own, so the context reads see the seeded session as it was.
        scratch = sidecar.call("history/createSession", {"kind": "agent"})[0]["id"]
        cases = {
            "appendMessages(1)": (
                "history/appendMessages",
                {"sessionId": scratch, "messages": [{"role": "user", "content": "one more"}]},
            ),
            "getContext(maxMessages 50)": ("history/getContext", {"sessionId": session_id, "maxMessages": 50}),
            "getContext(maxTokens 8000)": ("history/getContext", {"sessionId": session_id, "maxTokens": 8000}),
        }
        for name, (method, params) in cases.items():
            for _ in range(10):
                sidecar.call(method, params)  # warm-up
            samples = [sidecar.call(method, params)[1] for _ in range(args.rounds)]
            print(f"{name:28} {percentiles(samples)}")
        sidecar.close()


if __name__ == "__main__":
    main()
