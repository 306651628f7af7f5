"""`history/importTranscript` without a path: every agent's default location, through the
real sidecar, with a home holding real fixtures where Gemini CLI and Continue keep theirs."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from sidecar.transcripts.locations import default_locations

from .helpers import HistoryClient, config, init_params
from .test_readers import CONTINUE, GEMINI, continue_expected, gemini_expected

# Every variable sidecar/transcripts/locations.py reads, emptied: each falls back to HOME.
LOCATION_VARIABLES = (
    "CLAUDE_CONFIG_DIR",
    "CODEX_HOME",
    "GEMINI_CLI_HOME",
    "CONTINUE_GLOBAL_DIR",
    "COPILOT_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "FLATPAK_XDG_DATA_HOME",
    "APPDATA",
    "LOCALAPPDATA",
)


def home_env(home: Path) -> dict[str, str]:
    return {**os.environ, **dict.fromkeys(LOCATION_VARIABLES, ""), "HOME": str(home)}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home with a Gemini CLI chat and a Continue session where those agents keep them."""
    home = tmp_path / "home"
    chats = home / ".gemini" / "tmp" / "9126eddec7f6" / "chats"
    chats.mkdir(parents=True)
    shutil.copy(GEMINI[0], chats / "session-2025-12-09T19-51-f0a689a6.json")
    shutil.copytree(CONTINUE.parent, home / ".continue" / "sessions")
    return home


@contextlib.asynccontextmanager
async def sidecar(db_path: Path, home: Path) -> AsyncIterator[HistoryClient]:
    client = await config(home_env(home)).start(devtools=None)
    assert isinstance(client, HistoryClient)
    await client.initialize_session(init_params(db_path))
    try:
        yield client
    finally:
        await client.shutdown_session()
        await client.stop()


def found(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {source["agent"]: source for source in result["sources"] if source["found"]}


async def test_without_a_path_every_agent_found_is_imported_once(tmp_path: Path, home: Path) -> None:
    gemini, continued = gemini_expected(GEMINI[0]).messages, continue_expected(CONTINUE).messages
    async with sidecar(tmp_path / "history.db", home) as client:
        client.progress_reports["all"] = []
        result = await client.call("history/importTranscript", {"workDoneToken": "all"})
        assert (result["files"], result["messages"], len(result["sessions"])) == (2, gemini + continued, 2)
        sources = found(result)
        assert set(sources) == {"gemini-cli", "continue"}
        assert (sources["gemini-cli"]["messages"], sources["gemini-cli"]["sessions"]) == (gemini, 1)
        assert (sources["continue"]["messages"], sources["continue"]["files"]) == (continued, 1)
        assert sources["continue"]["path"] == str(home / ".continue" / "sessions")
        assert all(source["messages"] == 0 for source in result["sources"] if not source["found"])
        kinds = [report.kind for report in client.progress_reports["all"]]
        assert kinds[0] == "begin" and "report" in kinds and kinds[-1] == "end"
        again = await client.call("history/importTranscript", {})
        assert (again["files"], again["messages"], again["sessions"]) == (2, 0, [])
        assert {agent: source["messages"] for agent, source in found(again).items()} == {"gemini-cli": 0, "continue": 0}


async def test_a_named_format_without_a_path_reads_only_that_agent(tmp_path: Path, home: Path) -> None:
    async with sidecar(tmp_path / "history.db", home) as client:
        result = await client.call("history/importTranscript", {"format": "continue"})
        assert [source["agent"] for source in result["sources"]] == ["continue"]
        assert (result["files"], result["messages"]) == (1, continue_expected(CONTINUE).messages)
        assert {session["agentName"] for session in result["sessions"]} == {"continue"}
        with pytest.raises(JsonRpcException) as raised:
            await client.call("history/importTranscript", {"format": "aider"})
        assert raised.value.code == -32602 and "format" in raised.value.message
        assert "aider has no default location" in raised.value.message


async def test_without_any_location_nothing_is_imported_and_every_place_looked_at_is_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty-home"
    empty.mkdir()
    async with sidecar(tmp_path / "history.db", empty) as client:
        result = await client.call("history/importTranscript", {})
    assert (result["files"], result["messages"], result["sessions"]) == (0, 0, [])
    assert [source["found"] for source in result["sources"]] == [False] * len(result["sources"])
    with pytest.MonkeyPatch.context() as patch:
        for name, value in home_env(empty).items():
            patch.setenv(name, value)
        looked_at = [str(path) for path in default_locations().values()]
    assert [source["path"] for source in result["sources"]] == looked_at
    assert str(empty / ".claude" / "projects") in looked_at
    assert str(empty / ".local" / "share" / "zed" / "threads") in looked_at
