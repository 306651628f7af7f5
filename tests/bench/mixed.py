"""Import throughput on the other agents' formats: every reader's fixture, replicated.

    python -m tests.bench.mixed [--messages 100000]

Copies each fixture of tests/fixtures (Gemini CLI JSON and JSONL chats, Cline and Roo Code
tasks, a Continue session, an Aider history, opencode's and Zed's databases) under fresh
session ids until each format holds about its share of `--messages`, then imports each
format's folder into its own fresh database, and the whole mix into another, through the
storage core as `agent-history import` does; prints messages/s for each, how fast the
readers alone read and encode them, and how fast the store alone writes what they encoded.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sidecar import protocol as p
from sidecar.store import Store
from sidecar.store.imports import EncodedSession, import_sessions
from sidecar.transcripts import importer
from sidecar.wire import structure_params

from ..reader_fixtures import FIXTURES, build_opencode_db, build_zed_db
from ..test_readers_more import gemini_jsonl


def read_folder(folder: Path) -> tuple[list[EncodedSession], float]:
    """Read and encode every transcript below `folder` (no database): the readers' own cost."""
    store = Store(folder.parent / f"{folder.name}-settings.db")
    settings = store.settings
    store.close()
    started = time.perf_counter()
    files = [
        importer.read_file(path, name=None, project_id=None, settings=settings)
        for path in importer.transcript_files(folder)
    ]
    return [encoded for file in files for encoded in file.sessions], time.perf_counter() - started


def write_sessions(sessions: list[EncodedSession], database: Path) -> float:
    """Write sessions already encoded, in the importer's batches: the store's own cost."""
    store = Store(database)
    batches: list[list[EncodedSession]] = [[]]
    for encoded in sessions:
        if sum(len(written.rows) for written in batches[-1]) >= importer.WRITE_BATCH:
            batches.append([])
        batches[-1].append(encoded)
    started = time.perf_counter()
    for batch in batches:
        import_sessions(store, batch)
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed


def import_folder(folder: Path, database: Path) -> tuple[int, float]:
    store = Store(database)
    params = structure_params({"path": str(folder)}, p.ImportTranscriptParams)
    started = time.perf_counter()
    result = importer.import_transcript(store, params)
    elapsed = time.perf_counter() - started
    store.close()
    return result.messages, elapsed


def gemini(folder: Path, copies: int) -> None:
    for copy in range(copies):
        for number, path in enumerate(sorted((FIXTURES / "gemini-cli").glob("*.json"))):
            document = json.loads(path.read_text())
            document["sessionId"] = f"{copy:06d}-{number}-{document['sessionId']}"
            chats = folder / f"{copy % 100:02d}" / "chats"
            chats.mkdir(parents=True, exist_ok=True)
            if number % 2:  # half as the newer JSONL
                (chats / f"session-{document['sessionId']}.jsonl").write_text(gemini_jsonl(document))
            else:
                (chats / f"session-{document['sessionId']}.json").write_text(json.dumps(document))


def cline(folder: Path, copies: int) -> None:
    tasks = sorted((FIXTURES / "cline").glob("*/tasks/*"))
    for copy in range(copies):
        for number, task in enumerate(tasks):
            shutil.copytree(task, folder / task.parent.parent.name / "tasks" / f"{1777799642000 + copy * 10 + number}")


def continue_sessions(folder: Path, copies: int) -> None:
    (source,) = [
        found for found in (FIXTURES / "continue" / "sessions").glob("*.json") if found.name != "sessions.json"
    ]
    document = json.loads(source.read_text())
    (folder / "sessions").mkdir()
    for copy in range(copies):
        session_id = f"{copy:06d}-{document['sessionId']}"
        (folder / "sessions" / f"{session_id}.json").write_text(json.dumps({**document, "sessionId": session_id}))


def aider(folder: Path, copies: int) -> None:
    for copy in range(copies):
        (folder / f"repo-{copy:06d}").mkdir()
        shutil.copy(FIXTURES / "aider" / "monochromatic" / ".aider.chat.history.md", folder / f"repo-{copy:06d}")


def opencode(folder: Path, copies: int) -> None:
    build_opencode_db(folder / "opencode.db", copies).close()


def zed(folder: Path, copies: int) -> None:
    build_zed_db(folder / "threads.db", copies=copies)


WRITERS: dict[str, Callable[[Path, int], None]] = {
    "gemini-cli": gemini,
    "cline": cline,
    "continue": continue_sessions,
    "aider": aider,
    "opencode": opencode,
    "zed": zed,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    share = args.messages // len(WRITERS)
    with tempfile.TemporaryDirectory() as scratch:
        mix = Path(scratch) / "mix"
        for name, write in WRITERS.items():
            # One copy tells how many messages a copy holds, then enough copies for the share.
            probe = Path(scratch) / f"probe-{name}"
            probe.mkdir()
            write(probe, 1)
            one, _ = import_folder(probe, Path(scratch) / f"probe-{name}.db")
            folder = mix / name
            folder.mkdir(parents=True)
            write(folder, max(1, share // one))
            encoded, reading = read_folder(folder)
            writing = write_sessions(encoded, Path(scratch) / f"{name}-written.db")
            read = sum(len(session.rows) for session in encoded)
            messages, elapsed = import_folder(folder, Path(scratch) / f"{name}.db")
            print(
                f"{name:>10}: {messages:>7,} messages in {elapsed:5.2f} s: {messages / elapsed:>8,.0f} messages/s"
                f" (alone: read and encoded {read / reading:>8,.0f}/s, written {read / writing:>8,.0f}/s)"
            )
        messages, elapsed = import_folder(mix, Path(scratch) / "mix.db")
        print(f"{'mixed':>10}: {messages:>7,} messages in {elapsed:5.2f} s: {messages / elapsed:>8,.0f} messages/s")


if __name__ == "__main__":
    main()
