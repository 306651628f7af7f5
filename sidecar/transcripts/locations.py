"""Where the agents keep their transcripts by default."""

from __future__ import annotations

import os
from pathlib import Path

from . import claude_code, codex, gemini_cli


def default_locations() -> dict[str, Path]:
    """Each agent's transcript folder, by agent name (Claude Code's and Codex's are their
    format names), whether or not it exists: `$CLAUDE_CONFIG_DIR/projects` (else
    `~/.claude/projects`), `$CODEX_HOME/sessions` (else `~/.codex/sessions`) and
    `$GEMINI_CLI_HOME/.gemini/tmp` (else `~/.gemini/tmp`); the home folder is the same
    on Linux, macOS and Windows (`%USERPROFILE%`)."""
    claude = Path(os.environ.get("CLAUDE_CONFIG_DIR") or "~/.claude").expanduser()
    codex_home = Path(os.environ.get("CODEX_HOME") or "~/.codex").expanduser()
    gemini_home = Path(os.environ.get("GEMINI_CLI_HOME") or "~").expanduser()
    return {
        claude_code.FORMAT: claude / "projects",
        codex.FORMAT: codex_home / "sessions",
        gemini_cli.FORMAT: gemini_home / ".gemini" / "tmp",
    }


def existing_locations() -> dict[str, Path]:
    """The default folders that exist on this machine."""
    return {name: path for name, path in default_locations().items() if path.is_dir()}
