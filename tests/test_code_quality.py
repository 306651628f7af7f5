"""ruff and mypy are part of the suite, so CI holds the code to them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True)


def test_ruff_lint_and_format_are_clean() -> None:
    lint = run("ruff", "check", "sidecar", "tests", "protocol")
    assert lint.returncode == 0, lint.stdout
    formatted = run("ruff", "format", "--check", "sidecar", "tests", "protocol")
    assert formatted.returncode == 0, formatted.stdout


def test_mypy_strict_is_clean() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout
