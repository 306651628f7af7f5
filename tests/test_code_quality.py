"""ruff and mypy are part of the suite, so CI holds the code to them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
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


def test_the_wheel_includes_every_package(tmp_path: Path) -> None:
    """An editable install hides a package missing from the wheel: build one and look inside."""
    # From a clean copy: setuptools would reuse a stale build/ left in the working tree.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns("build", ".*", "*.egg-info", "__pycache__"))
    built = run("pip", "wheel", str(source), "--no-deps", "-q", "-w", str(tmp_path))
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("*.whl")
    in_wheel = {name.rsplit("/", 1)[0] for name in zipfile.ZipFile(wheel).namelist() if name.endswith("/__init__.py")}
    in_tree = {str(path.parent.relative_to(ROOT)) for path in (ROOT / "sidecar").rglob("__init__.py")}
    assert in_tree <= in_wheel
