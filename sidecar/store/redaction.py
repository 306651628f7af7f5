"""Redacting well-known credential formats before anything is stored.

Agents paste keys into prompts, print them in tool output and pass them as tool
arguments; a history that keeps them forever is a liability. Each message's content, code
excerpt, tool-call arguments and tool results (a tool message's content) are scanned at
ingest; a match is replaced by `[REDACTED:<kind>]` and counted per kind (`history/stats`).

The formats are those with a fixed, recognisable shape (the same shapes secret scanners
such as gitleaks look for), so ordinary text is not mangled: a bare 40-character string
is not assumed to be a secret.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .database import Database

# kind: (literal text one of which every match contains, pattern). The literals are
# checked first, at C speed: most text holds none, and one alternation of every pattern
# would cost ~300 µs per message (Python's re cannot skip ahead to a literal through it).
# Order matters: a private key block goes first, so its body is not matched piecemeal.
PATTERNS: dict[str, tuple[tuple[str, ...], str]] = {
    "private-key": (
        ("PRIVATE KEY",),
        r"-----BEGIN[A-Z ]*PRIVATE KEY( BLOCK)?-----[\s\S]*?-----END[A-Z ]*PRIVATE KEY( BLOCK)?-----",
    ),
    "aws-access-key": (("AKIA", "ASIA", "ABIA", "ACCA"), r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    "aws-secret-key": (
        ("secret_access_key", "SECRET_ACCESS_KEY", "Secret_Access_Key"),
        r"(?i:aws_secret_access_key)\s*[=:]\s*[\"']?[A-Za-z0-9/+]{40}\b",
    ),
    "github-token": (
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
    ),
    "anthropic-key": (("sk-ant-",), r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
    "openai-key": (("sk-",), r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
    "slack-token": (("xox",), r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
    "google-api-key": (("AIza",), r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "stripe-key": (("_live_", "_test_"), r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b"),
    "jwt": (("eyJ",), r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    # user:password@ in a URL: the password goes, the rest of the URL stays readable.
    "url-password": (("://",), r"://[^\s/:@]+:[^\s/@]+@"),
}
SCANNERS = [(kind, anchors, re.compile(pattern)) for kind, (anchors, pattern) in PATTERNS.items()]
# Any anchor at all, in one pass: text without one (nearly all) is done after it (~4 µs for
# a 540-character message, against ~7.5 µs for checking the anchors one by one).
ANY_ANCHOR = re.compile("|".join(re.escape(anchor) for _, (anchors, _) in PATTERNS.items() for anchor in anchors))


def _mask(kind: str, found: str) -> str:
    mask = f"[REDACTED:{kind}]"
    if kind == "aws-secret-key":  # keep the key's name: the reader sees what was there
        return found[:-40] + mask
    if kind == "url-password":  # keep the scheme and user: ://user:[REDACTED]@
        return found[: found.index(":", 3) + 1] + mask + "@"
    return mask


def redact_text(text: str, counts: Counter[str]) -> str:
    if ANY_ANCHOR.search(text) is None:
        return text
    for kind, anchors, pattern in SCANNERS:
        if any(anchor in text for anchor in anchors):
            text, found = pattern.subn(partial(_mask_match, kind), text)
            if found:
                counts[kind] += found
    return text


def _mask_match(kind: str, match: re.Match[str]) -> str:
    return _mask(kind, match.group())


def redact_value(value: Any, counts: Counter[str]) -> Any:
    """Every string inside a JSON value (tool-call arguments), redacted."""
    if isinstance(value, str):
        return redact_text(value, counts)
    if isinstance(value, list):
        return [redact_value(item, counts) for item in value]
    if isinstance(value, dict):
        return {key: redact_value(item, counts) for key, item in value.items()}
    return value


def record_redactions(db: Database, counts: Counter[str]) -> None:
    """Add to the per-kind totals, inside the caller's write transaction."""
    for kind, count in sorted(counts.items()):
        db.execute(
            "INSERT INTO redactions (kind, count) VALUES (?, ?)"
            " ON CONFLICT (kind) DO UPDATE SET count = count + excluded.count",
            (kind, count),
        )


def redaction_counts(db: Database) -> dict[str, int]:
    return {kind: count for kind, count in db.execute("SELECT kind, count FROM redactions ORDER BY kind")}
