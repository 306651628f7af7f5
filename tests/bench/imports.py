"""Import throughput: the corpus written as Claude Code transcripts, then imported.

    python -m tests.bench.imports [--messages 100000]

Writes one transcript per corpus session under a temporary `projects/` directory, in
Claude Code's shape (one row per message, tool calls as tool_use blocks, tool results as
tool_result blocks, usage on assistant rows), and imports the directory into a fresh
database through the storage core, as `agent-history import` does.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sidecar import protocol as p
from sidecar.store import Store
from sidecar.transcripts import importer
from sidecar.wire import structure_params

from .corpus import Corpus


def claude_row(message: dict[str, Any], session_id: str, at: datetime, number: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "type": "assistant" if message["role"] == "assistant" else "user",
        "uuid": str(uuid.UUID(int=number)),
        "sessionId": session_id,
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "cwd": "/home/dev/project",
    }
    if message["role"] == "assistant":
        blocks: list[dict[str, Any]] = [{"type": "text", "text": message["content"]}]
        blocks += [
            {"type": "tool_use", "id": call["id"] + session_id[:8], "name": call["name"], "input": call["arguments"]}
            for call in message["toolCalls"]
        ]
        usage = {
            "input_tokens": message["usage"]["promptTokens"],
            "output_tokens": message["usage"]["completionTokens"],
        }
        row["message"] = {"id": f"msg_{number}", "role": "assistant", "content": blocks, "usage": usage}
    elif message["role"] == "tool":
        result = {
            "type": "tool_result",
            "tool_use_id": message["toolCallId"] + session_id[:8],
            "content": message["content"],
        }
        row["message"] = {"role": "user", "content": [result]}
    else:
        row["message"] = {"role": "user", "content": message["content"]}
    return row


def write_transcripts(directory: Path, total: int) -> int:
    """Corpus sessions as Claude Code files; the bytes written."""
    start, number, written = datetime(2026, 1, 1, tzinfo=UTC), 0, 0
    for session in Corpus().sessions(total):
        session_id = str(uuid.uuid4())
        lines = []
        for message in session:
            number += 1
            lines.append(json.dumps(claude_row(message, session_id, start + timedelta(seconds=number), number)))
        text = "\n".join(lines) + "\n"
        (directory / f"{session_id}.jsonl").write_text(text)
        written += len(text)
    return written


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        projects = Path(scratch) / "projects"
        projects.mkdir()
        size = write_transcripts(projects, args.messages)
        store = Store(Path(scratch) / "history.db")
        params = structure_params({"path": str(projects)}, p.ImportTranscriptParams)
        started = time.perf_counter()
        result = importer.import_transcript(store, params)
        elapsed = time.perf_counter() - started
        print(
            f"imported {result.messages} messages in {len(result.sessions)} sessions from {result.files} files"
            f" ({size / 1e6:.0f} MB) in {elapsed:.2f} s: {result.messages / elapsed:,.0f} messages/s"
        )
        store.close()


if __name__ == "__main__":
    main()
