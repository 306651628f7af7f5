"""Usage reports against ccusage: a year of Claude Code sessions, then, in one run, ccusage
daily, our import of the same files, our daily report (in-process and through the CLI).

    python -m tests.bench.usage [--messages 300000] [--ccusage PATH]

ccusage is npm `ccusage@20.0.24` with `@ccusage/ccusage-linux-x64@20.0.24`, installed into
tests/.tools as the tests do (tests/npm_tools.py); without npm the run times ours alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

from sidecar import protocol as p
from sidecar.store import Store, usage
from sidecar.transcripts import importer
from sidecar.wire import structure_params

from ..helpers import RawServer
from ..npm_tools import CCUSAGE_PACKAGES, npm_installed
from .corpus import Corpus
from .imports import claude_row

MODELS = ("claude-sonnet-4-5-20250929", "claude-opus-4-5-20251101", "claude-haiku-4-5-20251001")
YEAR = timedelta(days=365)


def write_year(directory: Path, total: int) -> None:
    """Corpus sessions as Claude Code files spread over 2025, with models and cache usage."""
    rng, start, number = Random(7), datetime(2025, 1, 1, tzinfo=UTC), 0
    step = YEAR / total
    for session in Corpus().sessions(total):
        session_id, model = str(uuid.uuid4()), rng.choice(MODELS)
        lines = []
        for message in session:
            number += 1
            at = start + step * number
            row = claude_row(message, session_id, at, number)
            # Milliseconds, as Claude Code writes them: ccusage skips a row with microseconds.
            row["timestamp"] = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if row["type"] == "assistant":
                row["requestId"] = f"req_{number}"
                row["message"]["model"] = model
                row["message"]["usage"] |= {
                    "cache_read_input_tokens": rng.randint(0, 150_000),
                    "cache_creation_input_tokens": rng.randint(0, 5_000),
                }
            lines.append(
                json.dumps(row, separators=(",", ":"))
            )  # compact, as Claude Code writes (ccusage skips others)
        (directory / f"{session_id}.jsonl").write_text("\n".join(lines) + "\n")


def ccusage() -> str | None:
    """tests/.tools' ccusage, installed on first use, or None without npm."""
    if shutil.which("npm") is None:
        return None
    return str(npm_installed("ccusage", *CCUSAGE_PACKAGES) / ".bin" / "ccusage")


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def best(run: Callable[[], object], times: int = 5) -> float:
    return min(timed(run) for _ in range(times))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--ccusage", default=None, help="a ccusage to run instead of tests/.tools' own")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "projects" / "p").mkdir(parents=True)
        write_year(root / "projects" / "p", args.messages)
        env = {**os.environ, "TZ": "UTC", "CLAUDE_CONFIG_DIR": str(root), "HOME": str(root)}
        rows: list[tuple[str, float]] = []
        their_total = None
        reference = args.ccusage or ccusage()
        if reference:
            command = [reference, "daily", "--json", "--offline"]
            started = time.perf_counter()
            reported = subprocess.run(command, env=env, capture_output=True, check=True)
            rows.append(("ccusage daily", time.perf_counter() - started))
            their_total = json.loads(reported.stdout)["totals"]["totalTokens"]
        store = Store(root / "history.db")
        params = structure_params({"path": str(root / "projects")}, p.ImportTranscriptParams)
        rows.append(("our import", timed(lambda: importer.import_transcript(store, params))))
        daily = p.GetUsageParams(group_by=p.UsageGroupBy.DAY)
        paris = p.GetUsageParams(group_by=p.UsageGroupBy.DAY, time_zone="Europe/Paris")
        rows.append(
            (
                "our getUsage daily, in process, first (loads the price data)",
                timed(lambda: usage.get_usage(store, daily)),
            )
        )
        rows.append(("our getUsage daily, in process (best of 5)", best(lambda: usage.get_usage(store, daily))))
        rows.append(
            ("our getUsage daily in Europe/Paris, in process (best of 5)", best(lambda: usage.get_usage(store, paris)))
        )
        our_total = usage.total_tokens(usage.get_usage(store, daily).total)
        store.close()
        server = RawServer(root / "history.db")
        server.initialize()
        rows.append(
            (
                "our history/getUsage daily over stdio, first",
                timed(lambda: server.request("history/getUsage", {"groupBy": "day"})),
            )
        )
        rows.append(
            (
                "our history/getUsage daily over stdio (best of 5)",
                best(lambda: server.request("history/getUsage", {"groupBy": "day"})),
            )
        )
        server.close()
        cli = [sys.executable, "-m", "sidecar", "usage", "daily", "--db", str(root / "history.db"), "--json"]
        rows.append(
            (
                "our usage daily --json (CLI, with start-up; best of 5)",
                best(lambda: subprocess.run(cli, env=env, capture_output=True, check=True)),
            )
        )
        print(f"{args.messages:,} messages; tokens: ours {our_total:,}, ccusage's {their_total}")
        for name, seconds in rows:
            print(f"| {name} | {seconds * 1000:,.0f} ms |")


if __name__ == "__main__":
    main()
