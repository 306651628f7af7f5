"""Tool-call latency of `agent-history mcp`, measured by the MCP SDK's own stdio client.

    python -m tests.bench.mcp [--messages 100000] [--db PATH] [--rounds 100]

Seeds the benchmark corpus (kept at --db for reuse) and its search index, then times each
tool call's round trip, client side: what an agent waits for.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from .corpus import build_index, seed_store
from .search import QUERIES


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * len(ordered)))]


def calls(largest_session: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, tool, arguments) for each kind of call measured."""
    searches = [
        (f"search_history {name}", "search_history", {"query": params["query"], "limit": 10})
        for name, params in QUERIES
        if set(params) == {"query"}
    ]
    return [
        *searches,
        ("search_history project", "search_history", {"query": "socket", "project": "/home/dev/project-3"}),
        ("read_session newest", "read_session", {"session_id": largest_session}),
        ("read_session from 500", "read_session", {"session_id": largest_session, "from_index": 500}),
        ("list_sessions", "list_sessions", {"project": "all"}),
        ("recent_prompts", "recent_prompts", {}),
        ("get_usage by day", "get_usage", {"group_by": "day"}),
    ]


async def measure(db_path: Path, largest_session: str, rounds: int) -> None:
    server = StdioServerParameters(command=sys.executable, args=["-m", "sidecar", "mcp", "--db", str(db_path)])
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        for label, tool, arguments in calls(largest_session):
            for _ in range(3):  # warm the caches, and the index catch-up of a first call
                await session.call_tool(tool, arguments)
            samples = []
            for _ in range(rounds):
                started = time.perf_counter()
                result = await session.call_tool(tool, arguments)
                samples.append((time.perf_counter() - started) * 1000)
                assert not result.is_error, result.content
            size = sum(len(getattr(part, "text", "")) for part in result.content)
            print(
                f"{label:28} p50 {statistics.median(samples):7.2f} ms   p95 {_p95(samples):7.2f} ms"
                f"   ({size:,} characters)"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/agent-history-bench-mcp/history.db"))
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    started = time.perf_counter()
    largest = seed_store(args.db, args.messages)
    build_index(args.db)
    print(f"{args.messages:,} messages seeded and indexed in {time.perf_counter() - started:.0f} s")
    asyncio.run(measure(args.db, largest, args.rounds))


if __name__ == "__main__":
    main()
