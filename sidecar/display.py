"""How the terminal commands write figures, times, paths and snippets: one way everywhere."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.text import Text

from . import protocol as p

MATCH_STYLE = "bold yellow"
MARKED = re.compile(r"\*\*(.+?)\*\*")


def tokens(count: int) -> str:
    """A token figure, short: 617, 12.3k, 1.2M, 3.4G."""
    if count < 1000:
        return str(count)
    value = count / 1000
    for unit in ("k", "M"):
        if f"{value:.1f}" != "1000.0" and value < 1000:  # 999,960 reads 1.0M, not 1000.0k
            return f"{value:.1f}{unit}"
        value /= 1000
    return f"{value:.1f}G"


def usage_tokens(usage: p.SessionUsage) -> int:
    """Every token a session's calls moved: prompt, completion and both kinds of cache."""
    return usage.prompt_tokens + usage.completion_tokens + usage.cache_read_tokens + usage.cache_creation_tokens


def size(count: int) -> str:
    """A byte count, short: 152.4 kB, 2.2 MB."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def ago(timestamp: str, now: datetime | None = None) -> str:
    """`2 h ago` for the last week, then the date (`Nov 17`, or `2024-11-17` in another year)."""
    when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    now = now or datetime.now(UTC)
    seconds = (now - when).total_seconds()
    for limit, unit, label in ((60, 1, None), (3600, 60, "min"), (86400, 3600, "h"), (7 * 86400, 86400, "d")):
        if seconds < limit:
            return "just now" if label is None else f"{int(seconds // unit)} {label} ago"
    return when.strftime("%b %d" if when.year == now.year else "%Y-%m-%d")


def middle(text: str, width: int) -> str:
    """`text` in at most `width` characters, its middle left out: a path keeps its start and
    its project's name."""
    if len(text) <= width:
        return text
    head = (width - 1) // 3
    return f"{text[:head]}…{text[len(text) - (width - 1 - head) :]}"


def one_line(text: str | None) -> str:
    return " ".join((text or "").split())


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
