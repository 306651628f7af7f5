"""How the terminal commands name sessions and mark snippets (figures: sidecar.figures)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.text import Text

from . import protocol as p
from .figures import one_line

MATCH_STYLE = "bold yellow"
ESCAPED = re.compile(r"\\([\\*])")


def session_label(session: p.Session, first_prompt: str | None = None) -> str:
    """What names a session for a person: its title, else its first real request (`preview`),
    else its first prompt as written (a session with no real request, such as `/clear` alone)."""
    return one_line(session.title or session.preview or first_prompt)


def last_activity(session: p.Session) -> str:
    """The newest message's time, else (an empty session) the session's last update."""
    return session.last_message_at or session.updated_at


def _python_index(text: str, utf16_offset: int) -> int:
    """The index in `text` of a UTF-16 code-unit offset (the contract counts as editors do)."""
    units = 0
    for index, character in enumerate(text):
        if units >= utf16_offset:
            return index
        units += 2 if ord(character) > 0xFFFF else 1
    return len(text)


def snippet(hit: p.SearchHit) -> Text:
    """The hit's snippet with its matched words styled from `highlights` (the markers around
    a highlighted word are dropped)."""
    ranges = [(_python_index(hit.snippet, h.start), _python_index(hit.snippet, h.end)) for h in hit.highlights]
    return _styled(hit.snippet, sorted(ranges))


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
        result.append(_unescaped(before))
        result.append(_unescaped(text[start:end]), style=MATCH_STYLE)
        position = end + end_skip
    result.append(_unescaped(text[position:]))
    return result


def _unescaped(snippet_text: str) -> str:
    """The text as written: a snippet escapes the text's own `\\` and `*` (so that every
    `**` left is a marker), which a terminal need not show."""
    return ESCAPED.sub(r"\1", snippet_text)
