"""A seeded, realistic corpus of agent sessions for benchmarks.

Sessions of 10 to 2,000 messages; user prompts, assistant replies with tool calls whose
arguments are JSON, tool results from one line to tens of kilobytes, code excerpts.
Words come from a fixed vocabulary with a Zipf-like spread, so some are everywhere and
most are rare, as in real transcripts.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sidecar import protocol as p
from sidecar.search import index as search
from sidecar.store import Store, messages, sessions
from sidecar.store.database import Database
from sidecar.wire import structure_params

CODE_WORDS = (
    "def return import class self async await yield lambda none true false raise except "
    "try finally with for while if else elif print len range dict list str int float json "
    "path open read write close error warning failed passed test assert mock fixture session "
    "database query index table column commit rollback migration schema parser tokenizer "
    "lexer token buffer stream socket request response server client handler router middleware "
    "config settings env docker build deploy release version branch merge rebase diff patch "
    "file directory module package install dependency npm pip cargo"
).split()
TOOLS = ["bash", "read_file", "write_file", "edit", "grep", "glob", "run_tests", "web_fetch"]


class Corpus:
    def __init__(self, seed: int = 42, vocabulary: int = 20_000) -> None:
        self.rng = random.Random(seed)
        syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "pa", "qu", "ex", "or", "an", "il"]
        invented = {"".join(self.rng.choices(syllables, k=self.rng.randint(2, 4))) for _ in range(vocabulary * 2)}
        self.words = CODE_WORDS + sorted(invented)[:vocabulary]
        # Zipf-like: the n-th word is about 1/n as common as the first. Cumulative weights
        # are computed once; random.choices would rebuild them on every call.
        self.cumulative = list(itertools.accumulate(1 / (n + 1) for n in range(len(self.words))))

    def text(self, words: int) -> str:
        return " ".join(self.rng.choices(self.words, cum_weights=self.cumulative, k=words))

    def output(self) -> str:
        """A tool result: mostly short, sometimes long (up to about 50 KB)."""
        lines = self.rng.choices([1, 2, 5, 12, 40, 150, 600], weights=[30, 20, 20, 15, 9, 5, 1])[0]
        return "\n".join(self.text(self.rng.randint(4, 12)) for _ in range(lines))

    def turn(self, number: int) -> list[dict[str, Any]]:
        call_id = f"call_{number}"
        tool = self.rng.choice(TOOLS)
        assistant: dict[str, Any] = {
            "role": "assistant",
            "content": self.text(self.rng.randint(5, 80)),
            "toolCalls": [
                {"id": call_id, "name": tool, "arguments": {"command": self.text(6), "path": f"src/{self.text(1)}.py"}}
            ],
            "usage": {"promptTokens": self.rng.randint(500, 90_000), "completionTokens": self.rng.randint(10, 800)},
        }
        if self.rng.random() < 0.2:
            assistant["codeExcerpt"] = "\n".join(self.text(8) for _ in range(self.rng.randint(2, 30)))
        return [
            {"role": "user", "content": self.text(self.rng.randint(3, 60))},
            assistant,
            {"role": "tool", "toolCallId": call_id, "content": self.output()},
        ]

    def session(self, size: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        number = 0
        while len(messages) < size:
            messages += self.turn(number)
            number += 1
        return messages[:size]

    def sessions(self, total: int) -> Iterator[list[dict[str, Any]]]:
        """Sessions of 10 to 2,000 messages until `total` messages have been made."""
        made = 0
        while made < total:
            size = min(total - made, int(self.rng.paretovariate(1.2) * 40) if self.rng.random() < 0.9 else 2000)
            size = max(10, min(2000, size)) if total - made >= 10 else total - made
            made += size
            yield self.session(size)


def seed_store(path: Path, total: int, made: Iterable[list[dict[str, Any]]] | None = None) -> str:
    """Fill the history at `path` with `total` corpus messages over 12 projects (unless it
    already holds that many), from the sessions `made` already if given; the id of its
    largest session."""
    store = Store(path)
    if store.db.scalar("SELECT count(*) FROM messages") < total:
        for number, batch in enumerate(Corpus().sessions(total) if made is None else made):
            params = {"kind": "agent", "projectId": f"/home/dev/project-{number % 12}"}
            session = sessions.create_session(store, structure_params(params, p.CreateSessionParams))
            for start in range(0, len(batch), 1000):
                chunk = {"sessionId": session.id, "messages": batch[start : start + 1000]}
                messages.append_messages(store, structure_params(chunk, p.AppendMessagesParams))
    largest: str = store.db.scalar("SELECT id FROM sessions ORDER BY message_count DESC LIMIT 1")
    store.close()
    return largest


def build_index(path: Path) -> None:
    """Bring the search index up to date, so a sidecar's indexer starts with nothing to do."""
    history, index = Database(path, read_only=True), search.open_index(path)
    index.catch_up(history)
    history.close()
    index.close()
