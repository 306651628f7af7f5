"""Snippets: a line of text around a hit's first match, its matched words marked.

The contract marks matched words with `**`. Text holds asterisks of its own (markdown
bold, Codex's `*** Begin Patch`), so the text's own `\\` and `*` are escaped as `\\\\` and
`\\*`: every unescaped `**` is then a marker. Matches are found here, not by the engine's
highlighter, with the engine's own tokenization (sidecar.search.query), so the snippet is
centred on a real match and each marked word's place is known: `highlights` gives it in
UTF-16 code units (LSP's default position encoding, how JavaScript indexes strings), end
exclusive, so clients never parse markers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .. import protocol as p

SNIPPET_BEFORE, SNIPPET_AFTER = 60, 180
# Raw characters kept each side of the first match: a hit in a 50 KB tool output would
# otherwise cost whitespace folding of all of it for a 240-character snippet.
SNIPPET_WINDOW = 4 * (SNIPPET_BEFORE + SNIPPET_AFTER)
MARK = "**"
_WHITESPACE = re.compile(r"\s+")
_OWN_MARKERS = re.compile(r"[\\*]")


def word_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """Matches any of `words` as a whole token (a run of letters and digits), in any case."""
    alternatives = sorted(set(words), key=len, reverse=True)
    if not alternatives:
        return None
    return re.compile(rf"(?<![^\W_])(?:{'|'.join(map(re.escape, alternatives))})(?![^\W_])", re.IGNORECASE)


def _escaped(text: str) -> str:
    return _OWN_MARKERS.sub(r"\\\g<0>", text)


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _bounds(text: str, matches: list[re.Match[str]]) -> tuple[int, int]:
    """Where the snippet starts and ends in the folded window: from a word boundary about
    SNIPPET_BEFORE before the first match to one about SNIPPET_AFTER after it, never
    cutting a matched word."""
    if not matches:
        return 0, SNIPPET_BEFORE + SNIPPET_AFTER
    first = matches[0]
    start = text.rfind(" ", 0, first.start() - SNIPPET_BEFORE) + 1 if first.start() > SNIPPET_BEFORE else 0
    end = first.start() + SNIPPET_AFTER
    if end < len(text):
        space = text.rfind(" ", first.end(), end)
        end = space if space > first.end() else end
    for match in matches:
        if match.start() < end < match.end():
            end = match.end()
    return start, end


def snippet(text: str, pattern: re.Pattern[str] | None) -> tuple[str, list[p.Highlight]]:
    """The snippet of a document's text, on one line, and where its marked words are."""
    found = pattern.search(text) if pattern else None
    anchor = found.start() if found else 0
    low, high = max(0, anchor - SNIPPET_WINDOW), anchor + SNIPPET_WINDOW
    window = _WHITESPACE.sub(" ", text[low:high]).strip()
    matches = list(pattern.finditer(window)) if pattern else []
    start, end = _bounds(window, matches)
    parts = ["…"] if start > 0 or low > 0 else []
    highlights: list[p.Highlight] = []
    length, position = _utf16(parts[0]) if parts else 0, start
    for match in (m for m in matches if m.start() >= start and m.end() <= end):
        before = _escaped(window[position : match.start()])
        length += _utf16(before) + len(MARK)
        word = match.group()
        highlights.append(p.Highlight(start=length, end=length + _utf16(word)))
        length += _utf16(word) + len(MARK)
        parts += [before, MARK, word, MARK]
        position = match.end()
    parts.append(_escaped(window[position:end].rstrip()))
    if end < len(window) or high < len(text):
        parts.append("…")
    return "".join(parts), highlights
