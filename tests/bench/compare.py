"""This sidecar side by side with what a user could do instead, on the same corpus.

    python -m tests.bench.compare --quick          # under a minute: 10,000 messages
    python -m tests.bench.compare [--messages N]   # full: 1,000,000 by default

Alternatives, each doing the same operations on the same seeded corpus (corpus.py):
- `sqlite3` raw: stdlib sqlite3, WAL, synchronous FULL, an FTS5 table (a floor);
- `pyturso` raw: the engine we use, in process, no protocol, search by LIKE (a floor);
- `jsonl`: a JSONL file per session, appended as Claude Code does; resume reads the
  file, search scans every file;
- `json`: a JSON file per session rewritten on every message, as Cline and Continue do;
- `agents-sdk`: the OpenAI Agents SDK's `SQLiteSession` (add_items, get_items), search
  by LIKE on its table (skipped if `openai-agents` is not installed).
This sidecar is measured over stdio, as an editor sees it, with its search indexer on.

Writes `<out>/compare.json` (every figure), `<out>/compare.md` (a table with the ratio
of each alternative to us) and `<out>/compare.png` (a chart, if matplotlib is installed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import turso

from .corpus import Corpus, build_index, seed_store
from .latency import Sidecar

QUERIES = ["kalomi", "database migration", "socket", "tokenizer", "parser"]
# What users search for most: an identifier or an error's words, each in few messages.
# The corpus's rarest words (its vocabulary's tail), alone and two at once; a store that
# scans must read everything to find the few that match, an index need not.
_TAIL = Corpus().words[-4:]
RARE_QUERIES = [_TAIL[-1], _TAIL[-2], f"{_TAIL[0]} {_TAIL[1]}"]
Messages = list[dict[str, Any]]


def timed(function: Callable[[], Any], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": round(statistics.median(ordered), 3), "p95": at(0.95), "p99": at(0.99)}


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class Backend:
    """One way of keeping history; each operation is timed from the caller's side."""

    name = ""

    def seed(self, sessions: list[Messages]) -> None: ...
    def append(self, session: int, messages: Messages) -> None: ...
    def resume(self, session: int) -> Messages: ...
    def search(self, query: str) -> list[Any]: ...
    def list_sessions(self) -> list[Any]: ...
    def close(self) -> None: ...


class SqliteRaw(Backend):
    name = "sqlite3 raw"

    def __init__(self, folder: Path) -> None:
        self.db = sqlite3.connect(folder / "raw.db", isolation_level=None)
        self.db.executescript(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
            "CREATE TABLE sessions (id INTEGER PRIMARY KEY, updated REAL);"
            "CREATE TABLE messages (seq INTEGER PRIMARY KEY, session INTEGER, idx INTEGER, body TEXT);"
            "CREATE UNIQUE INDEX by_session ON messages (session, idx);"
            "CREATE VIRTUAL TABLE fts USING fts5 (body, content='messages', content_rowid='seq');"
        )

    def _insert(self, session: int, messages: Messages) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        start = self.db.execute("SELECT coalesce(max(idx), -1) + 1 FROM messages WHERE session = ?", (session,))
        first = start.fetchone()[0]
        for offset, message in enumerate(messages):
            body = json.dumps(message)
            cursor = self.db.execute(
                "INSERT INTO messages (session, idx, body) VALUES (?, ?, ?)", (session, first + offset, body)
            )
            self.db.execute("INSERT INTO fts (rowid, body) VALUES (?, ?)", (cursor.lastrowid, body))
        self.db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?)", (session, time.time()))
        self.db.execute("COMMIT")

    def seed(self, sessions: list[Messages]) -> None:
        for number, messages in enumerate(sessions):
            self._insert(number, messages)

    def append(self, session: int, messages: Messages) -> None:
        self._insert(session, messages)

    def resume(self, session: int) -> Messages:
        rows = self.db.execute(
            "SELECT body FROM messages WHERE session = ? ORDER BY idx DESC LIMIT 50", (session,)
        ).fetchall()
        return [json.loads(row[0]) for row in reversed(rows)]

    def search(self, query: str) -> list[Any]:
        return self.db.execute("SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT 20", (query,)).fetchall()

    def list_sessions(self) -> list[Any]:
        return self.db.execute("SELECT id FROM sessions ORDER BY updated DESC LIMIT 50").fetchall()

    def close(self) -> None:
        self.db.close()


class TursoRaw(SqliteRaw):
    name = "pyturso raw"

    def __init__(self, folder: Path) -> None:
        self.db = turso.connect(str(folder / "turso.db"), isolation_level=None)  # type: ignore[assignment]
        for statement in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "CREATE TABLE sessions (id INTEGER PRIMARY KEY, updated REAL)",
            "CREATE TABLE messages (seq INTEGER PRIMARY KEY, session INTEGER, idx INTEGER, body TEXT)",
            "CREATE UNIQUE INDEX by_session ON messages (session, idx)",
        ):
            self.db.execute(statement)

    def _insert(self, session: int, messages: Messages) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        start = self.db.execute("SELECT coalesce(max(idx), -1) + 1 FROM messages WHERE session = ?", (session,))
        first = start.fetchone()[0]
        rows = [(session, first + offset, json.dumps(message)) for offset, message in enumerate(messages)]
        self.db.executemany("INSERT INTO messages (session, idx, body) VALUES (?, ?, ?)", rows)
        self.db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?)", (session, time.time()))
        self.db.execute("COMMIT")

    def search(self, query: str) -> list[Any]:
        return self.db.execute(
            "SELECT seq FROM messages WHERE body LIKE ? LIMIT 20", (f"%{query.split()[0]}%",)
        ).fetchall()


class JsonlFiles(Backend):
    """A JSONL file per session, appended (no fsync), as Claude Code writes transcripts."""

    name = "jsonl per session"

    def __init__(self, folder: Path) -> None:
        self.folder = folder / "jsonl"
        self.folder.mkdir()

    def _path(self, session: int) -> Path:
        return self.folder / f"{session}.jsonl"

    def seed(self, sessions: list[Messages]) -> None:
        for number, messages in enumerate(sessions):
            self.append(number, messages)

    def append(self, session: int, messages: Messages) -> None:
        with self._path(session).open("a") as file:
            file.write("".join(json.dumps(message) + "\n" for message in messages))

    def resume(self, session: int) -> Messages:
        lines = self._path(session).read_text().splitlines()
        return [json.loads(line) for line in lines[-50:]]

    def search(self, query: str) -> list[Any]:
        words, hits = query.lower().split(), []
        for path in self.folder.iterdir():
            for line in path.read_text().splitlines():
                if all(word in line.lower() for word in words):
                    hits.append(line)
                    if len(hits) == 20:
                        return hits
        return hits

    def list_sessions(self) -> list[Any]:
        return sorted(self.folder.iterdir(), key=lambda path: path.stat().st_mtime, reverse=True)[:50]


class JsonRewrite(JsonlFiles):
    """A JSON file per session, read and rewritten whole on every message (Cline, Continue)."""

    name = "json rewrite"

    def _path(self, session: int) -> Path:
        return self.folder / f"{session}.json"

    def seed(self, sessions: list[Messages]) -> None:
        for number, messages in enumerate(sessions):
            self._path(number).write_text(json.dumps(messages))

    def append(self, session: int, messages: Messages) -> None:
        path = self._path(session)
        history = json.loads(path.read_text()) if path.exists() else []
        path.write_text(json.dumps(history + messages))

    def resume(self, session: int) -> Messages:
        history: Messages = json.loads(self._path(session).read_text())
        return history[-50:]

    def search(self, query: str) -> list[Any]:
        words, hits = query.lower().split(), []
        for path in self.folder.iterdir():
            for message in json.loads(path.read_text()):
                if all(word in json.dumps(message).lower() for word in words):
                    hits.append(message)
                    if len(hits) == 20:
                        return hits
        return hits


class AgentsSdk(Backend):
    """The OpenAI Agents SDK's SQLiteSession: one file, items as JSON, async API."""

    name = "agents-sdk SQLiteSession"

    def __init__(self, folder: Path) -> None:
        from agents import SQLiteSession

        self.path = folder / "agents.db"
        self.sessions: dict[int, Any] = {}
        self.factory = lambda number: SQLiteSession(str(number), self.path)
        self.loop = asyncio.new_event_loop()

    def _session(self, number: int) -> Any:
        if number not in self.sessions:
            self.sessions[number] = self.factory(number)
        return self.sessions[number]

    def seed(self, sessions: list[Messages]) -> None:
        for number, messages in enumerate(sessions):
            self.append(number, messages)

    def append(self, session: int, messages: Messages) -> None:
        self.loop.run_until_complete(self._session(session).add_items(messages))

    def resume(self, session: int) -> Messages:
        items: Messages = self.loop.run_until_complete(self._session(session).get_items(limit=50))
        return items

    def search(self, query: str) -> list[Any]:
        db = sqlite3.connect(self.path)
        rows = db.execute(
            "SELECT id FROM agent_messages WHERE message_data LIKE ? LIMIT 20", (f"%{query.split()[0]}%",)
        ).fetchall()
        db.close()
        return rows

    def list_sessions(self) -> list[Any]:
        db = sqlite3.connect(self.path)
        rows = db.execute("SELECT session_id FROM agent_sessions ORDER BY updated_at DESC LIMIT 50").fetchall()
        db.close()
        return rows

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()
        self.loop.close()


class Ours(Backend):
    """This sidecar, over stdio, seeded through its storage core (same corpus)."""

    name = "agent-history (stdio)"

    def __init__(self, folder: Path, total: int) -> None:
        self.db_path = folder / "ours" / "history.db"
        self.db_path.parent.mkdir()
        self.total = total
        self.ids: list[str] = []
        self.cold_start_ms = 0.0

    def seed(self, sessions: list[Messages]) -> None:
        seed_store(self.db_path, self.total, sessions)  # the corpus already made, as the others get it
        build_index(self.db_path)
        started = time.perf_counter()
        self.sidecar = Sidecar(self.db_path)
        self.sidecar.call("initialize", {"processId": None, "capabilities": {}})
        self.cold_start_ms = (time.perf_counter() - started) * 1000
        # Sessions in creation order, as the corpus made them.
        listed = self.sidecar.call("history/listSessions", {"limit": 500})[0]["sessions"]
        self.ids = [session["id"] for session in sorted(listed, key=lambda s: s["createdAt"])]

    def append(self, session: int, messages: Messages) -> None:
        self.sidecar.call("history/appendMessages", {"sessionId": self.ids[session], "messages": messages})

    def resume(self, session: int) -> Messages:
        result, _ = self.sidecar.call("history/getContext", {"sessionId": self.ids[session], "maxMessages": 50})
        return list(result["messages"])

    def search(self, query: str) -> list[Any]:
        return list(self.sidecar.call("history/searchMessages", {"query": query})[0]["hits"])

    def list_sessions(self) -> list[Any]:
        return list(self.sidecar.call("history/listSessions", {})[0]["sessions"])

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.sidecar.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024

    def close(self) -> None:
        self.sidecar.close()


def measure(backend: Backend, sessions: list[Messages], rounds: int, folder: Path) -> dict[str, Any]:
    corpus = Corpus(seed=7)
    started = time.perf_counter()
    backend.seed(sessions)
    total = sum(len(s) for s in sessions)
    figures: dict[str, Any] = {"seed_messages_per_s": round(total / (time.perf_counter() - started))}
    target = max(range(min(len(sessions), 50)), key=lambda n: len(sessions[n]))  # a long session
    figures["append_1_ms"] = summary(timed(lambda: backend.append(target, corpus.turn(0)[:1]), rounds))
    figures["append_100_ms"] = summary(
        timed(lambda: backend.append(target, (corpus.turn(0) * 34)[:100]), max(5, rounds // 10))
    )
    figures["resume_50_ms"] = summary(timed(lambda: backend.resume(target), rounds))
    searches = iter(QUERIES * rounds)
    figures["search_ms"] = summary(timed(lambda: backend.search(next(searches)), max(5, rounds // 4)))
    rare = iter(RARE_QUERIES * rounds)
    figures["rare_search_ms"] = summary(timed(lambda: backend.search(next(rare)), max(6, rounds // 10)))
    figures["list_sessions_ms"] = summary(timed(backend.list_sessions, rounds))
    figures["bytes_per_message"] = round(folder_bytes(folder) / (total + rounds * 2 + rounds * 10))
    return figures


def table(results: dict[str, dict[str, Any]]) -> str:
    ours = results[Ours.name]
    rows = [
        ("appendMessages(1) p50 ms", "append_1_ms", "p50"),
        ("appendMessages(1) p99 ms", "append_1_ms", "p99"),
        ("appendMessages(100) p50 ms", "append_100_ms", "p50"),
        ("resume / getContext(50) p50 ms", "resume_50_ms", "p50"),
        ("resume / getContext(50) p99 ms", "resume_50_ms", "p99"),
        ("search p50 ms", "search_ms", "p50"),
        ("search p95 ms", "search_ms", "p95"),
        ("search, rare terms, p50 ms", "rare_search_ms", "p50"),
        ("search, rare terms, p95 ms", "rare_search_ms", "p95"),
        ("listSessions p50 ms", "list_sessions_ms", "p50"),
        ("bytes per message", "bytes_per_message", None),
    ]
    names = list(results)
    lines = ["| measure | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, key, field in rows:
        cells = []
        for name in names:
            value = results[name][key] if field is None else results[name][key][field]
            mine = ours[key] if field is None else ours[key][field]
            ratio = f" ({value / mine:.1f}×)" if name != Ours.name and mine else ""
            cells.append(f"{value:g}{ratio}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\nRatios are the alternative's figure over ours (above 1× we are faster or smaller).\n"


def chart(results: dict[str, dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    keys = ["append_1_ms", "resume_50_ms", "search_ms", "list_sessions_ms"]
    figure, axis = plt.subplots(figsize=(10, 5))
    width = 0.8 / len(results)
    for offset, (name, figures) in enumerate(results.items()):
        values = [figures[key]["p50"] for key in keys]
        axis.bar([n + offset * width for n in range(len(keys))], values, width, label=name)
    axis.set_xticks([n + 0.4 - width / 2 for n in range(len(keys))], ["append(1)", "resume(50)", "search", "list"])
    axis.set_yscale("log")
    axis.set_ylabel("p50 latency, ms (log scale)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10,000 messages, fewer rounds: under a minute")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args()
    total, rounds = (10_000, 40) if args.quick else (args.messages, args.rounds)
    sessions = list(Corpus().sessions(total))
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        makers: list[tuple[str, Callable[[Path], Backend]]] = [
            (Ours.name, lambda folder: Ours(folder, total)),
            (SqliteRaw.name, SqliteRaw),
            (TursoRaw.name, TursoRaw),
            (JsonlFiles.name, JsonlFiles),
            (JsonRewrite.name, JsonRewrite),
            (AgentsSdk.name, AgentsSdk),
        ]
        for name, make in makers:
            folder = Path(scratch) / name.split()[0]
            folder.mkdir()
            try:
                backend = make(folder)
            except ImportError as error:
                print(f"{name}: skipped ({error})")
                continue
            results[name] = measure(backend, sessions, rounds, folder)
            if isinstance(backend, Ours):
                results[name]["cold_start_ms"] = round(backend.cold_start_ms)
                results[name]["peak_rss_mb"] = round(backend.peak_rss_mb(), 1)
            backend.close()
            print(f"{name}: {json.dumps(results[name])}", flush=True)
    report = {"messages": total, "rounds": rounds, "cpus": os.cpu_count(), "results": results}
    (args.out / "compare.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "compare.md").write_text(table(results))
    chart(results, args.out / "compare.png")
    print(table(results))


if __name__ == "__main__":
    main()
