"""Command-line tools the tests run, installed from npm on first use into tests/.tools
(git-ignored), one folder per tool: the test command stays `pip install -e '.[test]' && pytest`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

TOOLS = Path(__file__).parent / ".tools"


def npm_installed(folder: str, *packages: str) -> Path:
    """tests/.tools/`folder`/node_modules holding `packages` (exact versions), installing them
    when the folder lacks them; skips the test when npm is absent or the registry unreachable."""
    home = TOOLS / folder
    installed = home / "node_modules"
    stamp = installed / ".packages"
    wanted = "\n".join(packages)
    if stamp.exists() and stamp.read_text() == wanted:
        return installed
    if shutil.which("npm") is None:
        pytest.skip(f"npm is needed to install {', '.join(packages)}")
    home.mkdir(parents=True, exist_ok=True)
    (home / "package.json").write_text('{"private": true}\n')  # npm installs here, not above
    result = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--no-save", "--ignore-scripts", *packages],
        cwd=home,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.skip(f"npm could not install {', '.join(packages)}: {result.stderr.strip()[-500:]}")
    stamp.write_text(wanted)
    return installed


# ccusage, the reference for usage and cost: its launcher and the native binary it runs.
CCUSAGE_PACKAGES = ("ccusage@20.0.24", "@ccusage/ccusage-linux-x64@20.0.24")
