"""Live capture of the formats kept as whole documents (Gemini CLI chats, Cline tasks,
Continue sessions): the real fixtures written into followed folders as their agents write
them, read by real sidecars over stdio, and compared with a one-shot import."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from sidecar import protocol as p

from .test_capture import (
    announced,
    captured,
    compared,
    expected_total,
    oneshot,
    sidecar,
    steady,
    until,
    until_count,
    write_slowly,
)

FIXTURES = Path(__file__).parent / "fixtures"
GEMINI = FIXTURES / "gemini-cli" / "mischa-thisness__M-Gemini__session-2025-12-13T19-01-049d9bb6.json"
CLINE_TASK = FIXTURES / "cline" / "saoudrizwan.claude-dev" / "tasks" / "1777799642000"
CONTINUE_SESSIONS = FIXTURES / "continue" / "sessions"
CONTINUE_SESSION = CONTINUE_SESSIONS / "7b0e5c1a-3f2d-4c8e-9a61-d54e2b7f0c19.json"
COPILOT_CHAT = FIXTURES / "copilot-chat"

pytestmark = pytest.mark.timeout(300)


@attrs.frozen
class Sample:
    """A document as it sits in its agent's folder (`where`, below the followed one), the
    files read with it (`beside`), and how to cut it to its first entries."""

    source: Path
    where: str
    cut: Callable[[Any, int], Any]
    early: int  # entries in the shorter version written first (a cut that splits no message)
    beside: tuple[tuple[str, Path], ...] = ()

    def document(self, entries: int | None = None) -> bytes:
        whole = json.loads(self.source.read_bytes())
        return json.dumps(whole if entries is None else self.cut(whole, entries), indent=2).encode()

    def place(self, root: Path, content: bytes) -> Path:
        """Write the document (and, the first time, what is read with it) under `root`."""
        for where, source in self.beside:
            if not (root / where).exists():
                (root / where).parent.mkdir(parents=True, exist_ok=True)
                (root / where).write_bytes(source.read_bytes())
        path = root / self.where
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)  # as the agents do: truncated, then written
        return path

    def expected(self, tmp_path: Path, entries: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """What a one-shot import of that version gives."""
        copy = tmp_path / f"oneshot-{self.source.stem}-{entries}"
        files = [(copy / where, source.read_bytes()) for where, source in self.beside]
        return oneshot(copy, *files, (copy / self.where, self.document(entries)))


SAMPLES = {
    "gemini-cli": Sample(
        GEMINI,
        f"4f3c9e/chats/session-{GEMINI.name.split('session-')[1]}",
        lambda chat, n: {**chat, "messages": chat["messages"][:n]},
        early=4,
    ),
    "cline": Sample(
        CLINE_TASK / "api_conversation_history.json",
        "saoudrizwan.claude-dev/tasks/1777799642000/api_conversation_history.json",
        lambda history, n: history[:n],
        early=4,
        beside=(("saoudrizwan.claude-dev/tasks/1777799642000/ui_messages.json", CLINE_TASK / "ui_messages.json"),),
    ),
    "continue": Sample(
        CONTINUE_SESSION,
        f"sessions/{CONTINUE_SESSION.name}",
        lambda session, n: {**session, "history": session["history"][:n]},
        early=3,
        beside=(("sessions/sessions.json", CONTINUE_SESSIONS / "sessions.json"),),
    ),
}
each_format = pytest.mark.parametrize("sample", list(SAMPLES.values()), ids=list(SAMPLES))


def same(got: dict[str, list[dict[str, Any]]], expected: dict[str, list[dict[str, Any]]]) -> bool:
    return {key: compared(m) for key, m in got.items()} == {key: compared(m) for key, m in expected.items()}


async def capture_stats(client: Any) -> Any:
    return (await client.call(p.STATS)).get("capture")


@each_format
async def test_a_document_placed_in_a_followed_folder_is_captured_as_a_one_shot_import_gives(
    tmp_path: Path, sample: Sample
) -> None:
    expected = sample.expected(tmp_path)
    total = expected_total(expected)
    watched = tmp_path / "followed"
    watched.mkdir()
    async with sidecar(tmp_path / "history.db", watched) as client:
        sample.place(watched, sample.document())
        await until_count(client, total)
        assert await steady(client) == total
        assert same(await captured(client), expected)
        # Announced (history/didAppendMessages) once each, in order.
        assert [index for _, index in announced(client)] == list(range(total))
        assert await until(lambda: _equal(capture_stats(client), {"files": 1, "skippedLines": 0}), "recorded")


@each_format
async def test_a_document_rewritten_with_more_messages_adds_exactly_the_new_ones(
    tmp_path: Path, sample: Sample
) -> None:
    early = expected_total(sample.expected(tmp_path, sample.early))
    expected = sample.expected(tmp_path)
    total = expected_total(expected)
    assert 0 < early < total
    watched = tmp_path / "followed"
    watched.mkdir()
    async with sidecar(tmp_path / "history.db", watched) as client:
        sample.place(watched, sample.document(sample.early))
        await until_count(client, early)
        assert await steady(client) == early
        sample.place(watched, sample.document())  # the agent rewrites it, grown
        await until_count(client, total)
        assert await steady(client) == total
        assert same(await captured(client), expected)
        assert sorted(index for _, index in announced(client)) == list(range(total))  # none twice


@each_format
async def test_a_half_written_document_is_skipped_then_read_once_it_is_whole(tmp_path: Path, sample: Sample) -> None:
    early = expected_total(sample.expected(tmp_path, sample.early))
    expected = sample.expected(tmp_path)
    total = expected_total(expected)
    watched = tmp_path / "followed"
    watched.mkdir()
    whole = sample.document()
    async with sidecar(tmp_path / "history.db", watched) as client:
        sample.place(watched, sample.document(sample.early))
        await until_count(client, early)
        sample.place(watched, whole[: len(whole) // 2])  # caught mid-rewrite: not JSON
        assert await steady(client) == early  # nothing lost, nothing added, no error
        sample.place(watched, whole)
        await until_count(client, total)
        assert await steady(client) == total
        assert same(await captured(client), expected)
        # Recorded as read whole: the half-written version counted as no malformed line.
        assert await until(lambda: _equal(capture_stats(client), {"files": 1, "skippedLines": 0}), "recorded")


@each_format
async def test_a_document_changed_while_nothing_watched_is_caught_up_at_start(tmp_path: Path, sample: Sample) -> None:
    early = expected_total(sample.expected(tmp_path, sample.early))
    expected = sample.expected(tmp_path)
    total = expected_total(expected)
    watched, db_path = tmp_path / "followed", tmp_path / "history.db"
    watched.mkdir()
    async with sidecar(db_path, watched) as client:
        sample.place(watched, sample.document(sample.early))
        await until_count(client, early)
        assert await until(lambda: _equal(capture_stats(client), {"files": 1, "skippedLines": 0}), "recorded")
    sample.place(watched, sample.document())  # while no sidecar runs
    async with sidecar(db_path, watched) as client:
        await until_count(client, total)
        assert await steady(client) == total
        assert same(await captured(client), expected)
        # This sidecar announced only what it added.
        assert sorted(index for _, index in announced(client)) == list(range(early, total))


async def test_the_agents_default_folders_are_followed_as_capture_agents_names_them(tmp_path: Path) -> None:
    gemini, continue_dev = SAMPLES["gemini-cli"], SAMPLES["continue"]
    gemini_total = expected_total(gemini.expected(tmp_path))
    both = gemini_total + expected_total(continue_dev.expected(tmp_path))
    homes = {name: tmp_path / name for name in ("home", "gemini", "continue", "config", "copilot")}
    env = {
        "HOME": str(homes["home"]),  # no folder of this machine's own agents
        "XDG_CONFIG_HOME": str(homes["config"]),
        "COPILOT_HOME": str(homes["copilot"]),
        "GEMINI_CLI_HOME": str(homes["gemini"]),
        "CONTINUE_GLOBAL_DIR": str(homes["continue"]),
    }
    gemini.place(homes["gemini"] / ".gemini" / "tmp", gemini.document())
    continue_dev.place(homes["continue"], continue_dev.document())
    db_path, nowhere = tmp_path / "history.db", tmp_path / "nothing-here"
    async with sidecar(db_path, nowhere, env=env, agents=["gemini-cli"], paths=[]) as client:
        await until_count(client, gemini_total)
        assert await steady(client) == gemini_total  # Continue's folder is not named
    async with sidecar(db_path, nowhere, env=env, agents=None, paths=[]) as client:  # absent: every agent's
        await until_count(client, both)
        assert await steady(client) == both


async def _equal(value: Any, wanted: Any) -> bool:
    return bool(await value == wanted)


async def test_a_cline_task_whose_ui_messages_are_half_written_waits_for_them(tmp_path: Path) -> None:
    """The UI messages give the task's messages their times: read half-written, they would be
    the task id's, for good."""
    sample = SAMPLES["cline"]
    expected = sample.expected(tmp_path)
    watched = tmp_path / "followed"
    watched.mkdir()
    [(where, source)] = sample.beside
    ui = watched / where
    ui.parent.mkdir(parents=True)
    ui.write_bytes(source.read_bytes()[:-20])
    async with sidecar(tmp_path / "history.db", watched) as client:
        sample.place(watched, sample.document())
        assert await steady(client) == 0
        ui.write_bytes(source.read_bytes())  # only the UI messages change
        await until_count(client, expected_total(expected))
        assert await steady(client) == expected_total(expected)
        assert same(await captured(client), expected)  # their times too


@pytest.mark.parametrize(
    "source",
    [COPILOT_CHAT / "git-ai__copilot_session_simple.json", COPILOT_CHAT / "git-ai__copilot_session_multiline.jsonl"],
)
async def test_a_copilot_chat_session_written_in_steps_is_captured_as_a_one_shot_import_gives(
    tmp_path: Path, source: Path
) -> None:
    """A JSON document, or a `.jsonl` log of one appended line by line (told from a tail's
    formats by its first line), read whole."""
    where = f"0a1b2c/chatSessions/{source.name}"
    expected = oneshot(tmp_path, (tmp_path / "copy" / where, source.read_bytes()))
    watched = tmp_path / "workspaceStorage"
    watched.mkdir()
    async with sidecar(tmp_path / "history.db", watched) as client:
        lines = source.read_bytes().splitlines(keepends=True)  # the JSON document: half-written all along
        await write_slowly(watched / where, lines, per_second=max(10, len(lines) / 2))
        await until_count(client, expected_total(expected))
        assert await steady(client) == expected_total(expected)
        assert same(await captured(client), expected)
