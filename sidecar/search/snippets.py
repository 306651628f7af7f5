"""Snippets: a line of text around a hit's first match, its matched words marked.

The contract marks matched words with `**`. Text holds asterisks of its own (markdown
bold, Codex's `*** Begin Patch`), so the text's own `\\` and `*` are escaped as `\\\\` and
`\\*`: every unescaped `**` is then a marker. Matches are found here, not by the engine's
highlighter, with the engine's own tokenization (query.TOKEN), so the snippet is
centred on a real match and each marked word's place is known: `highlights` gives it in
UTF-16 code units (LSP's default position encoding, how JavaScript indexes strings), end
exclusive, so clients never parse markers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import attrs

from .. import protocol as p
from .query import TOKEN

SNIPPET_BEFORE, SNIPPET_AFTER = 60, 180
# Raw characters kept each side of the first match: a hit in a 50 KB tool output would
# otherwise cost whitespace folding of all of it for a 240-character snippet.
SNIPPET_WINDOW = 4 * (SNIPPET_BEFORE + SNIPPET_AFTER)
MARK = "**"
# Up to this many words, each is looked for with str.find (20 µs in 50 KB); beyond, with one
# regex (0.5 ms in 50 KB whatever the number: Python's regex engine reads ~15 ns a character).
FIND_WORDS = 16
_OWN_MARKERS = re.compile(r"[\\*]")


@attrs.frozen
class Words:
    """The words to mark, lowercase, and a pattern that finds them in lowercased text."""

    words: frozenset[str]
    pattern: re.Pattern[str]

    @classmethod
    def of(cls, words: Iterable[str]) -> Words | None:
        unique = frozenset(word.lower() for word in words)
        if not unique:
            return None
        # Plain alternatives, longest first: with a look-behind or IGNORECASE, the engine
        # tries every alternative at every character (9 ms for a 50 KB tool output, not 0.5).
        alternatives = "|".join(map(re.escape, sorted(unique, key=len, reverse=True)))
        return cls(unique, re.compile(alternatives))

    def first(self, text: str) -> tuple[int, int] | None:
        """Where the first of the words is in `text` as a whole token (start, end)."""
        lowered = text.lower()
        if len(lowered) != len(text):  # a character whose lowercase is longer: offsets would shift
            found = next(self._matches(text, 0), None)
            return None if found is None else found.span()
        if len(self.words) > FIND_WORDS:
            match = self.pattern.search(lowered)
            while match is not None and not _is_boundary(lowered, match.start(), match.end()):
                match = self.pattern.search(lowered, match.start() + 1)
            return None if match is None else match.span()
        first: tuple[int, int] | None = None
        for word in self.words:
            limit = len(text) if first is None else first[0] + len(word)
            start = lowered.find(word, 0, limit)
            while start >= 0 and not _is_boundary(lowered, start, start + len(word)):
                start = lowered.find(word, start + 1, limit)
            if start >= 0 and (first is None or start < first[0]):
                first = (start, start + len(word))
        return first

    def _matches(self, text: str, start: int) -> Iterator[re.Match[str]]:
        return (match for match in TOKEN.finditer(text, start) if match.group().lower() in self.words)

    def marked(self, text: str, start: int, end: int) -> tuple[list[re.Match[str]], int]:
        """The matches in text[start:end], and the end moved past a match it would cut."""
        found = []
        for match in self._matches(text, start):
            if match.start() >= end:
                break
            found.append(match)
            end = max(end, match.end())
        return found, end


def _is_boundary(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is a whole token: no letter or digit touches it."""
    return (start == 0 or not text[start - 1].isalnum()) and (end == len(text) or not text[end].isalnum())


def _escaped(text: str) -> str:
    return _OWN_MARKERS.sub(r"\\\g<0>", text)


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _bounds(text: str, first: tuple[int, int] | None) -> tuple[int, int]:
    """Where the snippet starts and ends in the folded window: from a word boundary about
    SNIPPET_BEFORE before the first match to one about SNIPPET_AFTER after it."""
    if first is None:
        return 0, SNIPPET_BEFORE + SNIPPET_AFTER
    first_start, first_end = first
    start = text.rfind(" ", 0, first_start - SNIPPET_BEFORE) + 1 if first_start > SNIPPET_BEFORE else 0
    end = first_start + SNIPPET_AFTER
    if end < len(text):
        space = text.rfind(" ", first_end, end)
        end = space if space > first_end else end
    return start, end


def snippet(text: str, words: Words | None) -> tuple[str, list[p.Highlight]]:
    """The snippet of a document's text, on one line, and where its marked words are."""
    anchor = words.first(text) if words else None
    low = max(0, anchor[0] - SNIPPET_WINDOW) if anchor else 0
    high = (anchor[0] if anchor else 0) + SNIPPET_WINDOW
    window = " ".join(text[low:high].split())
    first = words.first(window) if words and anchor else None
    start, end = _bounds(window, first)
    matches, end = words.marked(window, start, end) if words and first else ([], end)
    parts = ["…"] if start > 0 or low > 0 else []
    highlights: list[p.Highlight] = []
    length, position = _utf16(parts[0]) if parts else 0, start
    for match in matches:
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
