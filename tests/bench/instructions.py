"""The import's work per message in CPU instructions, which a busy or a shared machine does
not change (times of the same code varied ±25% from run to run on the 2-core VM).

    python -m tests.bench.instructions [--messages 5000]

Writes the corpus as Claude Code files (as tests.bench.imports does), then counts, with
valgrind's cachegrind (Debian's `valgrind`), the instructions of a child process that
reads and encodes those files, and of one that writes the encoded sessions into a fresh
database in the importer's batches; each less the same child doing all but that part (its
start-up, imports, opening the database, loading its input), divided by the messages.
Compare two commits by running it in each checkout.
"""

from __future__ import annotations

import argparse
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sidecar.store import Settings, Store
from sidecar.transcripts import importer

from .imports import write_transcripts
from .mixed import write_sessions

REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def read_files(folder: Path, work: bool) -> list[importer.FileRead]:
    paths = importer.transcript_files(folder)
    settings = Settings()
    return [importer.read_file(path, name=None, project_id=None, settings=settings) for path in paths if work]


def child(mode: str, folder: Path, work: bool) -> None:
    """What the counted process does: `work` False does all but the part measured."""
    if mode == "read":
        read_files(folder, work)
        return
    sessions = pickle.loads((folder.parent / "encoded.pickle").read_bytes())
    database = folder.parent / f"written-{work}.db"
    Store(database).close()  # migrated outside the part measured, as a history is
    if work:
        write_sessions(sessions, database)


def instructions(mode: str, folder: Path, work: bool) -> int:
    command = [sys.executable, "-m", "tests.bench.instructions", "--child", mode, str(folder)]
    if work:
        command.append("--work")
    counted = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", *command],
        capture_output=True,
        text=True,
        check=True,
    )
    found = REFS.search(counted.stderr)
    if found is None:
        raise SystemExit(f"valgrind printed no instruction count:\n{counted.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FOLDER"))
    parser.add_argument("--work", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.work)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind (apt install valgrind)")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "projects"
        folder.mkdir()
        write_transcripts(folder, args.messages)
        encoded = [session for file in read_files(folder, True) for session in file.sessions]
        (Path(scratch) / "encoded.pickle").write_bytes(pickle.dumps(encoded))
        messages = sum(len(session.rows) for session in encoded)
        for mode, label in (("read", "read and encoded"), ("write", "written")):
            spent = instructions(mode, folder, True) - instructions(mode, folder, False)
            print(f"{label:>16}: {spent / messages:>9,.0f} instructions a message ({messages:,} messages)")


if __name__ == "__main__":
    main()
