"""Live capture latency and idle cost, with the real sidecar over stdio.

    python -m tests.bench.capture [--rate 20] [--seconds 30] [--burst 1000] [--idle 60] [--polling] [--baseline]

A sidecar captures a temporary folder; Claude Code prompt rows (each one message) are
appended to a transcript there, at a steady rate and then as one burst. Latency is from
the write of a line to the `history/didAppendMessages` that announces its message.
Idle CPU is the sidecar's (and its children's) CPU time over a quiet period. Not run by
CI: benchmarks print figures, tests assert behaviour.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sidecar import protocol as p

from ..helpers import HistoryClient, config, init_params

SESSION = str(uuid.uuid4())


def prompt_row(number: int) -> bytes:
    row = {
        "type": "user",
        "sessionId": SESSION,
        "uuid": f"line-{number}",
        "timestamp": "2026-12-01T10:00:00.000Z",
        "cwd": "/work/bench",
        "message": {"role": "user", "content": f"prompt number {number} about capture latency"},
    }
    return json.dumps(row).encode() + b"\n"


class Arrivals:
    """When each line's message was announced, by line number."""

    def __init__(self, client: HistoryClient) -> None:
        self.client, self.seen = client, 0
        self.at: dict[int, float] = {}

    def collect(self) -> None:
        received = self.client.received
        for method, params in received[self.seen :]:
            if method == p.DID_APPEND_MESSAGES:
                for message in params["messages"]:
                    self.at[int(message["clientMessageId"].split("-")[1])] = time.monotonic()
        self.seen = len(received)

    async def wait_for(self, numbers: range, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.collect()
            if all(number in self.at for number in numbers):
                return
            await asyncio.sleep(0.005)
        raise TimeoutError(f"{sum(n not in self.at for n in numbers)} lines never announced")


def summary(label: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)))]
    return (
        f"{label:<28} n={len(ordered):5}  p50 {statistics.median(ordered) * 1000:7.1f} ms"
        f"  p95 {p95 * 1000:7.1f} ms  max {ordered[-1] * 1000:7.1f} ms"
    )


def cpu_seconds(pid: int) -> float:
    """User + system time of a process and its waited-for children (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float:
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        total += sum(cpu_seconds(int(child)) for child in children)
    return total


async def run(rate: float, seconds: float, burst: int, idle: float, polling: bool) -> None:
    with tempfile.TemporaryDirectory() as directory:
        base = Path(directory)
        watched = base / "projects" / "-work-bench"
        watched.mkdir(parents=True)
        transcript = watched / f"{SESSION}.jsonl"
        client = await config(dict(os.environ)).start(devtools=None)
        assert isinstance(client, HistoryClient)
        capture = {"claudeCode": False, "codex": False, "paths": [str(base / "projects")], "polling": polling}
        await client.initialize_session(init_params(base / "history.db", **({"capture": capture} if rate else {})))
        try:
            assert client._server is not None
            pid = client._server.pid
            arrivals = Arrivals(client)
            await asyncio.sleep(2)  # the watch is set up
            if rate:
                await measure_latency(arrivals, transcript, rate, seconds, burst)
                await measure_huge_result(client, watched)
            await asyncio.sleep(3)  # past the hold: the file is recorded, everything settles
            before, children_before, started = cpu_seconds(pid), children_cpu_seconds(pid), time.monotonic()
            await asyncio.sleep(idle)
            used = cpu_seconds(pid) - before + children_cpu_seconds(pid) - children_before
            elapsed = time.monotonic() - started
            label = "idle CPU" if rate else "idle CPU without capture"
            print(f"{label} over {elapsed:.0f} s: {used:.2f} s ({100 * used / elapsed:.2f}% of one core)")
        finally:
            await client.shutdown_session()
            await client.stop()


async def measure_latency(arrivals: Arrivals, transcript: Path, rate: float, seconds: float, burst: int) -> None:
    written: dict[int, float] = {}
    with transcript.open("ab") as file:
        steady = int(rate * seconds)
        start = time.monotonic()
        for number in range(steady):
            await asyncio.sleep(max(0.0, start + number / rate - time.monotonic()))
            file.write(prompt_row(number))
            file.flush()
            written[number] = time.monotonic()
            arrivals.collect()
        await arrivals.wait_for(range(steady))
        print(summary(f"steady {rate:g} lines/s", [arrivals.at[n] - written[n] for n in range(steady)]))
        lines = range(steady, steady + burst)
        file.write(b"".join(prompt_row(number) for number in lines))
        file.flush()
        burst_at = time.monotonic()
        await arrivals.wait_for(lines)
        print(summary(f"burst of {burst} lines", [arrivals.at[n] - burst_at for n in lines]))


async def measure_huge_result(client: HistoryClient, folder: Path) -> None:
    """Requests answered while a 12.8 M-character tool result is captured (the shape that
    freezes Claude Code's own resume): their worst latency."""
    session_id = str(uuid.uuid4())
    rows = [
        {"type": "user", "message": {"role": "user", "content": "read the log"}},
        {
            "type": "assistant",
            "message": {
                "id": "m1",
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {"path": "/var/log/big.log"}}],
            },
        },
        {
            "type": "user",
            "message": {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "log line\n" * 1_422_223}],
            },
        },
        {"type": "assistant", "message": {"id": "m2", "role": "assistant", "content": "It is long."}},
    ]
    stamp = {"sessionId": session_id, "timestamp": "2026-12-01T11:00:00.000Z", "cwd": "/work/bench"}
    text = b"".join(json.dumps({**row, **stamp, "uuid": f"huge-{n}"}).encode() + b"\n" for n, row in enumerate(rows))
    probe = await client.call(p.CREATE_SESSION, {"kind": "agent"})
    (folder / f"{session_id}.jsonl").write_bytes(text)
    latencies, until = [], time.monotonic() + 5
    while time.monotonic() < until:
        started = time.monotonic()
        await client.call(p.GET_SESSION, {"sessionId": probe["id"]})
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(0.01)
    print(summary(f"requests during a {len(text) / 1e6:.1f} MB file", latencies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0, help="lines per second in the steady phase")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the steady phase")
    parser.add_argument("--burst", type=int, default=1000, help="lines written at once")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of quiet to measure CPU over")
    parser.add_argument("--polling", action="store_true", help="poll instead of file events")
    parser.add_argument("--baseline", action="store_true", help="only idle CPU, of a sidecar without capture")
    args = parser.parse_args()
    asyncio.run(run(0 if args.baseline else args.rate, args.seconds, args.burst, args.idle, args.polling))


if __name__ == "__main__":
    main()
