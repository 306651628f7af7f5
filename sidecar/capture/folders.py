"""The agents' default folders live capture follows: every agent's whose transcripts are
files (appended: tail.py; kept whole: documents.py). The agents that keep them in a
database (opencode's `opencode.db`, Zed's `threads.db`, Cursor's `state.vscdb`) are
imported (`agent-history import`), not followed."""

from __future__ import annotations

import logging
from pathlib import Path

from .. import protocol as p
from ..transcripts import claude_code, codex
from ..transcripts.locations import default_locations, format_of
from . import documents, tail

log = logging.getLogger(__name__)

FOLLOWED = (*tail.READERS, *documents.FORMATS)


def followed_agents() -> dict[str, Path]:
    """Each agent whose default folder capture can follow, by the name `history/importTranscript`
    gives its source (`gemini-cli`, `roo-code`, `copilot-chat (VSCodium)`, …), whether or not
    the folder exists."""
    return {agent: path for agent, path in default_locations().items() if format_of(agent) in FOLLOWED}


def agent_folders(options: p.CaptureOptions) -> list[Path]:
    """The default folders `options` leaves on: Claude Code's and Codex's by their flags, the
    others' by `agents` (absent: all of them)."""
    found = followed_agents()
    flags = {claude_code.FORMAT: options.claude_code, codex.FORMAT: options.codex}
    named = set(options.agents) if options.agents is not None else None
    if named is not None:
        known = {name for agent in found if agent not in flags for name in _names(agent)}
        for unknown in sorted(named - known):
            log.warning("capture.agents: %r is none of the agents it names (%s)", unknown, ", ".join(sorted(known)))

    def on(agent: str) -> bool:
        if agent in flags:
            return flags[agent]
        return named is None or not named.isdisjoint(_names(agent))

    return [path for agent, path in found.items() if on(agent)]


def _names(agent: str) -> list[str]:
    """What `agents` may name an agent by: its name, or, for a fork's Copilot Chat
    (`copilot-chat (VSCodium)`), `copilot-chat` too."""
    return [agent, agent.split(" (")[0]]
