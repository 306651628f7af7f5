"""The VS Code extension (editors/vscode): generated types, type-check, protocol tests, .vsix.

The extension's protocol module is driven by node's test runner through vscode-jsonrpc
against the real sidecar (editors/vscode/test/protocol.test.ts); VS Code itself is not
needed for that. Skipped where node and npm are not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = ROOT / "editors" / "vscode"


def test_the_typescript_types_are_generated_from_the_model() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "protocol" / "generate_typescript.py"), "--check"])
    assert result.returncode == 0, "editors/vscode/src/protocol.ts is stale: run python protocol/generate_typescript.py"


def npm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENT_HISTORY_PYTHON": sys.executable}
    return subprocess.run(
        ["npm", *args], cwd=EXTENSION, env=env, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.mark.skipif(shutil.which("npm") is None, reason="node and npm are not installed")
@pytest.mark.timeout(600)  # npm ci on a fresh clone, then tsc and the node tests (each bounded to 30 s)
def test_the_extension_type_checks_passes_its_protocol_tests_and_packages() -> None:
    if not (EXTENSION / "node_modules").is_dir():
        installed = npm("ci", "--no-audit", "--no-fund")
        assert installed.returncode == 0, installed.stdout + installed.stderr
    tested = npm("test")  # tsc (strict, against @types/vscode), then node --test
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "# fail 0" in tested.stdout and "# pass 19" in tested.stdout
    (EXTENSION / "agent-history.vsix").unlink(missing_ok=True)
    packaged = npm("run", "package")
    assert packaged.returncode == 0, packaged.stdout + packaged.stderr
    size = (EXTENSION / "agent-history.vsix").stat().st_size
    assert 10_000 < size < 1_000_000, size  # .vscodeignore keeps the e2e tools (289 MB) out
