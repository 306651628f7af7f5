"""How the terminal commands name sessions and mark snippets (figures: sidecar.figures)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from rich.text import Text

from . import protocol as p
from .figures import one_line

MATCH_STYLE = "bold yellow"
MARKED = re.compile(r"\*\*(.+?)\*\*")


def session_label(session: p.Session, first_prompt: str | None = None) -> str:
    """What names a session for a person: its title, else its first real request (`preview`,
    where the core keeps one), else its first prompt."""
    return one_line(session.title or getattr(session, "preview", None) or first_prompt)


def last_activity(session: p.Session) -> str:
    """The newest message's time where the core keeps it, else the session's last update."""
    return getattr(session, "last_message_at", None) or session.updated_at


def _python_index(text: str, utf16_offset: int) -> int:
    """The index in `text` of a UTF-16 code-unit offset (the contract counts as editors do)."""
    units = 0
    for index, character in enumerate(text):
        if units >= utf16_offset:
            return index
        units += 2 if ord(character) > 0xFFFF else 1
    return len(text)


def _offsets(highlight: Any) -> tuple[int, int]:
    if isinstance(highlight, dict):
        return int(highlight["start"]), int(highlight["end"])
    return int(highlight.start), int(highlight.end)


def snippet(hit: p.SearchHit) -> Text:
    """The hit's snippet with its matched words styled: from `highlights` when the core gives
    them (markers around a highlighted word are dropped), else from the `**` markers."""
    highlights: Sequence[Any] | None = getattr(hit, "highlights", None)
    if highlights is None:
        return _marked(hit.snippet)
    ranges = [(_python_index(hit.snippet, s), _python_index(hit.snippet, e)) for s, e in map(_offsets, highlights)]
    return _styled(hit.snippet, sorted(ranges))


def _marked(marked: str) -> Text:
    plain, ranges, position = [], [], 0
    for match in MARKED.finditer(marked):
        plain.append(marked[position : match.start()])
        start = sum(map(len, plain))
        plain.append(match.group(1))
        ranges.append((start, start + len(match.group(1))))
        position = match.end()
    plain.append(marked[position:])
    return _styled("".join(plain), ranges)


def _styled(text: str, ranges: Iterable[tuple[int, int]]) -> Text:
    result, position = Text(), 0
    for start, end in ranges:
        if start < position:
            continue  # overlapping ranges: the first one wins
        before = text[position:start]
        if before.endswith("**") and text.startswith("**", end):
            before, end_skip = before[:-2], 2  # a marker pair around the highlighted word
        else:
            end_skip = 0
        result.append(before)
        result.append(text[start:end], style=MATCH_STYLE)
        position = end + end_skip
    result.append(text[position:])
    return result
