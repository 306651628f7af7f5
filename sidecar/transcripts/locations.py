"""Where the agents keep their transcripts by default."""

from __future__ import annotations

import os
from pathlib import Path

from . import claude_code, codex


def default_locations() -> dict[str, Path]:
    """Each agent's transcript folder, by format name: `$CLAUDE_CONFIG_DIR/projects` (else
    `~/.claude/projects`) and `$CODEX_HOME/sessions` (else `~/.codex/sessions`), whether or
    not it exists."""
    claude = Path(os.environ.get("CLAUDE_CONFIG_DIR") or "~/.claude").expanduser()
    codex_home = Path(os.environ.get("CODEX_HOME") or "~/.codex").expanduser()
    return {claude_code.FORMAT: claude / "projects", codex.FORMAT: codex_home / "sessions"}


def existing_locations() -> dict[str, Path]:
    """The default folders that exist on this machine."""
    return {name: path for name, path in default_locations().items() if path.is_dir()}
