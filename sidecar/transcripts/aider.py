"""Aider's chat history: `.aider.chat.history.md` in the repository it ran in.

A Markdown log aider appends to (aider/io.py): `# aider chat started at <local time>` opens
each run, `#### ` lines are what the user typed, `> ` lines aider's own output (notices,
lint and test output, token reports), anything else the model's answer. Read the way
aider's own `split_chat_history_markdown` splits it, except that only the run headers are
dropped (a `# ` comment inside an answer stays in it). What becomes what:
- each run is a session; its user lines a user message, each answer an assistant message,
  each run of `> ` lines a system message with `metadata.type` `output`.
- `> Tokens: 9.7k sent, 1.2k cache write, 3.4k cache hit, 85 received. Cost: $0.01
  message, …` as the usage of the answer before it (aider rounds them: 9.7k is 9,700),
  and that cost in its metadata; `> Model: …` (or `Main model: …`) as the model, `> Aider
  v…` as `metadata.aiderVersion`.
- Aider keeps no time per message: every message takes its run's start (local time).
- The repository (the file's folder) is the projectId.
Lines before the first run header have no time: each message there is skipped and counted,
as is a line that is not UTF-8.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from .. import protocol as p
from ..store.imports import ImportedMessage, ImportedSession
from . import Transcript, stamp, token_count

FORMAT = "aider"
HISTORY = ".aider.chat.history.md"
_HEADER = re.compile(r"^# aider chat started at (?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
_TOKENS = re.compile(r"^Tokens: (?P<counts>.+? received)\.(?: Cost: \$(?P<cost>[\d.]+) message)?")
_COUNT = re.compile(r"^(?P<number>[\d.]+)(?P<unit>[kM]?) (?P<what>sent|received|cache write|cache hit)$")
_MODEL = re.compile(r"^(?:Main )?[Mm]odel: (?P<model>\S+)")
_VERSION = re.compile(r"^Aider (?P<version>v\S+)")
_UNITS = {"": 1, "k": 1_000, "M": 1_000_000}
USER, OUTPUT, ANSWER = "user", "output", "answer"


def wants(path: Path) -> bool:
    return path.name == HISTORY


@attrs.define
class _Run:
    started: str
    messages: list[ImportedMessage] = attrs.Factory(list)
    model: str | None = None
    metadata: dict[str, Any] = attrs.Factory(dict)


@attrs.define
class _History:
    runs: list[_Run] = attrs.Factory(list)
    kind: str | None = None  # of the block being read
    lines: list[str] = attrs.Factory(list)
    skipped: int = 0

    def line(self, kind: str, text: str) -> None:
        if kind != self.kind:
            self.flush()
            self.kind = kind
        self.lines.append(text)

    def flush(self) -> None:
        text, kind = "".join(self.lines), self.kind
        self.lines, self.kind = [], None
        if kind is None or not text.strip():
            return
        if not self.runs:
            self.skipped += 1
            return
        run = self.runs[-1]
        if kind == OUTPUT:
            _read_output(run, text)
        role = {USER: p.Role.USER, OUTPUT: p.Role.SYSTEM, ANSWER: p.Role.ASSISTANT}[kind]
        message = p.MessageInput(
            role=role,
            content=text.strip("\n"),
            metadata={"type": "output"} if kind == OUTPUT else None,
            client_message_id=str(len(run.messages)),
        )
        run.messages.append(ImportedMessage(message, run.started))


def read(path: Path) -> Transcript:
    history = _History()
    with path.open("rb") as lines:
        for raw in lines:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                history.skipped += 1
                continue
            _take(history, line)
    history.flush()
    project = str(path.resolve().parent)
    sessions = [_session(run, number, project) for number, run in enumerate(history.runs) if run.messages]
    return Transcript(sessions, history.skipped)


def _take(history: _History, line: str) -> None:
    if header := _HEADER.match(line):
        history.flush()
        # Aider writes its local time without a zone: read as this machine's.
        started = datetime.strptime(header["at"], "%Y-%m-%d %H:%M:%S").astimezone()
        history.runs.append(_Run(stamp(started.isoformat())))
    elif line.startswith("#### "):
        history.line(USER, _unbroken(line[5:]))
    elif line.startswith("> "):
        history.line(OUTPUT, _unbroken(line[2:]))
    else:
        history.line(ANSWER, line)


def _unbroken(line: str) -> str:
    """A line without the two spaces aider ends it with (a Markdown line break)."""
    body = line.rstrip("\n")
    return (body[:-2] if body.endswith("  ") else body) + "\n"


def _read_output(run: _Run, text: str) -> None:
    """What aider's output says of the run: model, version, the last answer's usage."""
    for line in text.splitlines():
        if (model := _MODEL.match(line)) and run.model is None:
            run.model = model["model"]
        elif version := _VERSION.match(line):
            run.metadata["aiderVersion"] = version["version"]
        elif tokens := _TOKENS.match(line):
            _add_usage(run, tokens)


def _add_usage(run: _Run, report: re.Match[str]) -> None:
    answers = [m for m in run.messages if m.message.role is p.Role.ASSISTANT]
    if not answers or answers[-1].message.usage is not None:
        return
    counts = {"sent": 0, "received": 0, "cache write": 0, "cache hit": 0}
    for part in report["counts"].split(", "):
        if count := _COUNT.match(part.strip()):
            counts[count["what"]] = round(float(count["number"]) * _UNITS[count["unit"]])
    answer = answers[-1].message
    answer.usage = p.Usage(
        prompt_tokens=token_count(counts["sent"]),
        completion_tokens=token_count(counts["received"]),
        cache_read_tokens=token_count(counts["cache hit"]),
        cache_creation_tokens=token_count(counts["cache write"]),
        thinking_tokens=0,
    )
    if report["cost"]:
        answer.metadata = {**(answer.metadata or {}), "cost": float(report["cost"])}


def _session(run: _Run, number: int, project: str) -> ImportedSession:
    return ImportedSession(
        # The run's start and place in the file: two runs may start in the same second.
        key=f"{FORMAT}:{project}:{run.started}:{number}",
        kind="agent",
        messages=run.messages,
        created_at=run.started,
        updated_at=run.started,
        project_id=project,
        agent_name=FORMAT,
        model=run.model,
        metadata={"source": FORMAT, **run.metadata},
    )
