"""Where the agents keep their transcripts by default."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from . import (
    claude_code,
    cline,
    codex,
    continue_dev,
    copilot_chat,
    copilot_cli,
    cursor,
    cursor_cli,
    gemini_cli,
    opencode,
    zed,
)


def default_locations() -> dict[str, Path]:
    """Each agent's transcript folder, by agent name (Claude Code's and Codex's are their
    format names), whether or not it exists: `$CLAUDE_CONFIG_DIR/projects` (else
    `~/.claude/projects`), `$CODEX_HOME/sessions` (else `~/.codex/sessions`),
    `$GEMINI_CLI_HOME/.gemini/tmp` (else `~/.gemini/tmp`) and `$CONTINUE_GLOBAL_DIR/sessions`
    (else `~/.continue/sessions`); the home folder is the same on Linux, macOS and Windows
    (`%USERPROFILE%`), as it is for `$COPILOT_HOME/session-state` (else
    `~/.copilot/session-state`: Copilot CLI) and
    `~/.cursor/projects` (Cursor's agent transcripts). Cline, Roo Code and Kilo Code keep
    their tasks in VS Code's global storage (`vscode_global_storage`), Copilot Chat its
    sessions in VS Code's (and its forks') storage (`copilot_chat_locations`), Cursor its
    chats in its own `globalStorage/state.vscdb`; opencode its database and JSON tree in
    `$XDG_DATA_HOME/opencode` (else `~/.local/share/opencode`, on every system); Zed its
    threads in its data folder (`zed_data`). Aider's history is in each repository, so
    none is read unless named."""
    claude = Path(os.environ.get("CLAUDE_CONFIG_DIR") or "~/.claude").expanduser()
    codex_home = Path(os.environ.get("CODEX_HOME") or "~/.codex").expanduser()
    gemini_home = Path(os.environ.get("GEMINI_CLI_HOME") or "~").expanduser()
    continue_home = Path(os.environ.get("CONTINUE_GLOBAL_DIR") or "~/.continue").expanduser()
    return {
        claude_code.FORMAT: claude / "projects",
        codex.FORMAT: codex_home / "sessions",
        gemini_cli.FORMAT: gemini_home / ".gemini" / "tmp",
        continue_dev.FORMAT: continue_home / "sessions",
        **{agent: vscode_global_storage() / extension / "tasks" for agent, extension in cline.EXTENSIONS.items()},
        **copilot_chat_locations(),
        copilot_cli.FORMAT: Path(os.environ.get("COPILOT_HOME") or "~/.copilot").expanduser() / "session-state",
        cursor.FORMAT: vscode_user("Cursor") / "globalStorage",
        cursor_cli.FORMAT: Path("~/.cursor/projects").expanduser(),
        opencode.FORMAT: xdg_data() / "opencode",
        zed.FORMAT: zed_data() / "threads",
    }


# VS Code and the forks that run the Copilot Chat extension, by their folder's name.
VSCODE_APPLICATIONS = ("Code", "Code - Insiders", "VSCodium")


def copilot_chat_locations() -> dict[str, Path]:
    """Where VS Code and its forks keep Copilot Chat's sessions: each workspace's storage
    (`workspaceStorage/<hash>/chatSessions/`), and the windows without a folder's."""
    found = {}
    for application in VSCODE_APPLICATIONS:
        name = copilot_chat.FORMAT if application == "Code" else f"{copilot_chat.FORMAT} ({application})"
        found[name] = vscode_user(application) / "workspaceStorage"
        found[f"{name} (empty windows)"] = vscode_user(application) / "globalStorage" / copilot_chat.FOLDERS[1]
    return found


def xdg_data() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or "~/.local/share").expanduser()


def zed_data() -> Path:
    """Zed's data folder: `%LOCALAPPDATA%\\Zed` on Windows, `~/Library/Application
    Support/Zed` on macOS, `$FLATPAK_XDG_DATA_HOME/zed` or `$XDG_DATA_HOME/zed` (else
    `~/.local/share/zed`) elsewhere (crates/paths `data_dir`)."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or "~/AppData/Local").expanduser() / "Zed"
    if sys.platform == "darwin":
        return Path("~/Library/Application Support/Zed").expanduser()
    flatpak = os.environ.get("FLATPAK_XDG_DATA_HOME")
    return Path(flatpak).expanduser() / "zed" if flatpak else xdg_data() / "zed"


def vscode_global_storage() -> Path:
    """VS Code's `User/globalStorage`."""
    return vscode_user() / "globalStorage"


def vscode_user(application: str = "Code") -> Path:
    """The `User` folder of VS Code (or of a fork: `Cursor`): under `%APPDATA%` on Windows,
    `~/Library/Application Support` on macOS, `$XDG_CONFIG_HOME` (else `~/.config`) elsewhere."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or "~/AppData/Roaming")
    elif sys.platform == "darwin":
        base = Path("~/Library/Application Support")
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or "~/.config")
    return base.expanduser() / application / "User"


def format_of(agent: str) -> str:
    """The format kept at the default location `default_locations` names `agent`."""
    if agent in cline.EXTENSIONS:
        return cline.FORMAT
    return copilot_chat.FORMAT if agent.startswith(copilot_chat.FORMAT) else agent
