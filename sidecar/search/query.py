"""The search query language, and its translation to the engine's query syntax.

Users write: words (all must match), "exact phrases", `a OR b`, `NOT word` or `-word`,
and `prefix*`. The engine (a tantivy-style parser) would read the same text differently:
words are OR'd by default, `:` `(` `^` and friends are syntax errors, and a prefix term is
silently ignored. So the query is parsed here, every term is quoted and qualified with
the body field, and prefixes are expanded against the index's own vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import attrs
import re2  # type: ignore[import-untyped]

from ..errors import invalid

# The engine's tokenizer: runs of letters and digits (underscore and punctuation split), lowercased.
TOKEN = re.compile(r"[^\W_]+")
MAX_EXPANSIONS = 64
Expander = Callable[[str], list[str]]
# The engine silently drops every token of 40 bytes or more (tantivy's RemoveLongFilter), in
# documents and queries alike: a commit hash or a long identifier could never be found. Such
# a word is indexed, and asked for, as a phrase of pieces short enough to be kept.
LONG_WORD_BYTES = 40
PIECE_BYTES = 32
# Runs that may reach LONG_WORD_BYTES: 10 characters of at most 4 bytes each; in ASCII
# text, where a character is a byte, only runs of 40. Each is tried from a word's start
# only, without backtracking: from every position inside every word, the scan cost the
# indexer a fifth of its time.
_MAYBE_LONG = re.compile(r"(?<![^\W_])[^\W_]{10,}+")
_MAYBE_LONG_ASCII = re.compile(r"(?<![^\W_])[^\W_]{40,}+")
# Whether ASCII text holds a long word at all, in RE2's linear scan: 5.7 µs for the average
# message of the benchmark corpus (667 characters), against 23 µs for the scan above, which
# then only runs on the few texts that have one. In ASCII, [^\W_] is [A-Za-z0-9].
_LONG_ASCII = re2.compile(r"[A-Za-z0-9]{40}")


def tokens(text: str) -> list[str]:
    return [token.lower() for token in TOKEN.findall(text)]


def vocabulary(texts: Iterable[str]) -> set[str]:
    """The distinct `tokens` of `texts`, each lowercased once rather than at every occurrence."""
    found: set[str] = set()
    for text in texts:
        found.update(TOKEN.findall(text))
    return {word.lower() for word in found}


def pieces(word: str) -> list[str]:
    """A word as the engine is given it: itself, or (when too long for it) consecutive
    pieces of at most PIECE_BYTES, lowercased."""
    word = word.lower()
    if len(word.encode()) < LONG_WORD_BYTES:
        return [word]
    parts, current, size = [], "", 0
    for char in word:
        width = len(char.encode())
        if size + width > PIECE_BYTES:
            parts.append(current)
            current, size = "", 0
        current, size = current + char, size + width
    return [*parts, current]


def split_long_words(text: str) -> tuple[str, list[str]]:
    """A document's text as the engine indexes it, each long word replaced by its pieces in
    place (so a phrase holding it still matches), and those long words, whole, lowercased."""
    ascii_only = text.isascii()
    if ascii_only and not _LONG_ASCII.search(text):
        return text, []
    found: set[str] = set()

    def split(match: re.Match[str]) -> str:
        word = match.group()
        if len(word.encode()) < LONG_WORD_BYTES:
            return word
        found.add(word.lower())
        return " ".join(pieces(word))

    indexed = (_MAYBE_LONG_ASCII if ascii_only else _MAYBE_LONG).sub(split, text)
    return indexed, sorted(found)


@attrs.frozen
class Term:
    words: tuple[str, ...]  # one word, or a phrase
    prefix: bool = False  # the last word is a prefix


@attrs.frozen
class Clause:
    alternatives: tuple[Term, ...]  # OR'd together
    negated: bool = False


@attrs.frozen
class CompiledQuery:
    engine: str  # for fts_match / fts_score
    highlight: tuple[str, ...]  # the words to mark in snippets
    matches_nothing: bool  # a required prefix that no indexed word starts with


def _lex(query: str) -> list[tuple[str, bool]]:
    """(text, quoted) pieces; an unclosed quote is an error."""
    pieces: list[tuple[str, bool]] = []
    for match in re.finditer(r'"([^"]*)("?)|(\S+)', query):
        if match.group(3) is not None:
            pieces.append((match.group(3), False))
        elif not match.group(2):
            raise invalid("query", f"unclosed quote at character {match.start() + 1}")
        else:
            pieces.append((match.group(1), True))
    return pieces


def _term(text: str, quoted: bool) -> Term | None:
    words = tuple(tokens(text))
    if not words:
        return None  # punctuation only: nothing the index could hold
    is_prefix = not quoted and text.endswith("*") and len(text.rstrip("*")) > 0
    return Term(words, prefix=is_prefix)


def parse(query: str) -> list[Clause]:
    pieces = _lex(query)
    clauses: list[Clause] = []
    join_next = False
    position = 0
    while position < len(pieces):
        text, quoted = pieces[position]
        position += 1
        if not quoted and text == "OR":
            if not clauses or join_next or position >= len(pieces):
                raise invalid("query", "OR needs a term on each side")
            join_next = True
            continue
        if not quoted and text == "AND":
            continue  # every term is required anyway
        negated = False
        if not quoted and text == "NOT":
            if position >= len(pieces):
                raise invalid("query", "NOT needs a term after it")
            text, quoted = pieces[position]
            position += 1
            negated = True
        elif not quoted and text.startswith("-") and len(text) > 1:
            text, negated = text[1:], True
        term = _term(text, quoted)
        if term is None:
            join_next = False
            continue
        if join_next:
            previous = clauses[-1]
            if previous.negated or negated:
                raise invalid("query", "an excluded term cannot be part of OR")
            clauses[-1] = Clause((*previous.alternatives, term))
            join_next = False
        else:
            clauses.append(Clause((term,), negated))
    if not clauses:
        raise invalid("query", "the query has no words to search for (punctuation alone is not searched)")
    if not any(not clause.negated for clause in clauses):
        raise invalid("query", "expected at least one word or phrase to find (exclusions alone match nothing)")
    return clauses


def _phrase(*words: str) -> str:
    return f'body:"{" ".join(piece for word in words for piece in pieces(word))}"'


def _engine_term(term: Term, expand: Expander) -> tuple[str | None, list[str]]:
    """The engine's text for a term (None: matches nothing) and its words to highlight."""
    if not term.prefix:
        return _phrase(*term.words), list(term.words)
    *exact, stem = term.words
    expansions = expand(stem)[:MAX_EXPANSIONS]
    if not expansions:
        return None, []
    alternatives = " ".join(_phrase(word) for word in expansions)
    parts = [f"+{_phrase(word)}" for word in exact] + [f"+({alternatives})"]
    return "(" + " ".join(parts) + ")", [*exact, *expansions]


def compile_query(query: str, expand: Expander) -> CompiledQuery:
    clauses = parse(query)
    parts: list[str] = []
    highlight: list[str] = []
    nothing = False
    for clause in clauses:
        texts = []
        for term in clause.alternatives:
            text, words = _engine_term(term, expand)
            if text is not None:
                texts.append(text)
                if not clause.negated:
                    highlight += words
        if not texts:
            nothing = nothing or not clause.negated  # a required clause no word can satisfy
            continue
        parts.append(("-" if clause.negated else "+") + "(" + " ".join(texts) + ")")
    return CompiledQuery(" ".join(parts), tuple(dict.fromkeys(highlight)), nothing)
