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


def test_the_wheel_includes_every_package() -> None:
    """An editable install hides a package missing from the wheel; check what a wheel holds."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "packages" not in config, "list packages by discovery, not by hand"
    assert config["packages"]["find"]["include"] == ["sidecar*"]
    packages = {
        str(path.parent.relative_to(ROOT)).replace("/", ".") for path in (ROOT / "sidecar").rglob("__init__.py")
    }
    assert all(package.startswith("sidecar") for package in packages)
