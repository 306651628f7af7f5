"""Redacting credentials before anything is stored.

Agents paste keys into prompts, print them in tool output, pass them as tool arguments,
write them into `.env` files and think about them; a history that keeps them forever is a
liability. Every text a user can read back is scanned at ingest (messages: content, code
excerpt, tool calls, metadata, agent name, model; sessions: title, kind, agent name, model,
metadata; edits: paths and diff; compaction summaries), keys of JSON objects included. A
match is replaced by `[REDACTED:<kind>]` and counted per kind (`history/stats`). What is
stored is what is searched, exported and announced, so nothing downstream sees a secret.

Two families of rules:
- tokens with a shape of their own (prefixes as gitleaks and detect-secrets know them:
  `ghp_…`, `sk-ant-…`, `AKIA…`, JWTs, PEM blocks, …), masked wherever they appear;
- a value assigned to a name that says it is secret (`password=…`, `"api_key": "…"`,
  `awsSecretAccessKey: …`, `--token …`, `Authorization: Bearer …`, `scheme://user:pass@`),
  masked when the value looks like a literal rather than code: `password = form.password`,
  `token = get_token()`, `password: str` or `"${DB_PASSWORD}"` are left alone.

detect-secrets' own pattern set was measured here and not taken: its 48 regexes cost
~920 µs per message of the real transcripts (tests/bench/redaction.py measures ours), it
reports values rather than spans and lacks today's formats (`sk-proj-`, `sk-ant-`, `hf_`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import attrs
import re2  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from .database import Database

MASK = "[REDACTED:{}]"


@attrs.frozen
class Rule:
    """A kind of secret: a trigger, text that every match contains (all rules' triggers
    are looked for in one pass, see TRIGGERS), and a pattern whose group `secret` (or
    `secret_bearer`) is what gets masked; the rest of the match is kept, so the reader sees
    what was there. A group `secret_bare` holds an unquoted value, masked only when it
    looks like a literal rather than code."""

    kind: str
    trigger: str  # a regular expression in RE2's syntax
    pattern: re.Pattern[str]


def _token(kind: str, anchors: tuple[str, ...], pattern: str) -> Rule:
    return Rule(kind, "|".join(map(re2.escape, anchors)), re.compile(f"(?P<secret>{pattern})"))


# A PEM or OpenSSH private key: the BEGIN line, its body lines (base64, or the headers of an
# encrypted key), and the END line when it is there (tool output is often cut before it).
# Newlines may be real or escaped (`\n` inside a JSON string: a cloud service account file).
_NEWLINE = r"(?:\s|\\r|\\n)"
PRIVATE_KEY = (
    r"-----BEGIN[A-Z ]*PRIVATE KEY(?: BLOCK)?-----"
    rf"(?:{_NEWLINE}+(?:[A-Za-z0-9+/=]{{16,}}|(?:Proc-Type|DEK-Info|Version|Comment):[^\r\n\\]*))*"
    rf"(?:{_NEWLINE}+[A-Za-z0-9+/=]{{1,15}}(?={_NEWLINE}*-----END))?"
    rf"(?:{_NEWLINE}*-----END[A-Z ]*PRIVATE KEY(?: BLOCK)?-----)?"
)

TOKENS = [
    # First: its body must not be matched piecemeal by the rules below.
    _token("private-key", ("PRIVATE KEY",), PRIVATE_KEY),
    _token("aws-access-key", ("AKIA", "ASIA", "ABIA", "ACCA"), r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    _token(
        "github-token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
    ),
    _token(
        "gitlab-token",
        ("glpat-", "gldt-", "glrt-", "glsoat-", "glcbt-", "glptt-", "gloas-"),
        r"\bgl(?:pat|dt|rt|soat|cbt|ptt|oas)-[A-Za-z0-9_\-]{20,}",
    ),
    _token("anthropic-key", ("sk-ant-",), r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
    _token("openai-key", ("sk-",), r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
    _token("huggingface-token", ("hf_",), r"\bhf_[A-Za-z0-9]{30,}\b"),
    _token("slack-token", ("xox",), r"\bxox[abposre]-[A-Za-z0-9\-]{10,}"),
    _token("slack-webhook", ("hooks.slack.com",), r"hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9_/]{20,}"),
    _token("google-api-key", ("AIza",), r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    _token("google-oauth-token", ("ya29.",), r"\bya29\.[0-9A-Za-z_\-]{20,}"),
    _token("stripe-key", ("_live_", "_test_", "whsec_"), r"\b(?:(?:sk|rk)_(?:live|test)_|whsec_)[A-Za-z0-9]{16,}\b"),
    _token("npm-token", ("npm_",), r"\bnpm_[A-Za-z0-9]{36}\b"),
    _token("pypi-token", ("pypi-",), r"\bpypi-AgE[A-Za-z0-9_\-]{50,}"),
    _token("sendgrid-key", ("SG.",), r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b"),
    _token("digitalocean-token", ("dop_v1_", "doo_v1_", "dor_v1_"), r"\bdo[opr]_v1_[a-f0-9]{64}\b"),
    _token("shopify-token", ("shpat_", "shpca_", "shppa_", "shpss_"), r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
    _token("groq-key", ("gsk_",), r"\bgsk_[A-Za-z0-9]{40,}\b"),
    _token("age-secret-key", ("AGE-SECRET-KEY-",), r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b"),
    _token("jwt", ("eyJ",), r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
]

# -- values assigned to names that say they are secret ----------------------------------------
# The name ends in one of these (any case; `_`, `-` or camelCase between the words); what
# precedes it is kept: `DB_PASSWORD`, `awsSecretAccessKey`, `x-api-key`, `GITHUB_TOKEN`.
_SEP = "[_-]?"
NAMES = {
    "aws-secret-key": f"aws{_SEP}secret(?:{_SEP}access)?{_SEP}key",
    # `DB_PASS` but not `--- PASS: TestName/case` (go test's output).
    "password": "pass(?:word|wd|phrase)|(?<=[A-Za-z0-9][_-])pass",
    "secret": (
        f"secret|credentials?|(?:api|access|secret|private|auth|client|account|encryption|signing|master){_SEP}key"
    ),
    "token": "token",
}
# A value in quotes, or bare up to a space or punctuation (possessive: `form.data[0]` must
# not match as `form.dat`). Bare values are then checked to look like literals.
_VALUE = (
    r"(?:(?P<quote>\\?[\"'`])(?P<secret>(?!\[REDACTED)[^\s\"'`\\]{4,})(?P=quote)"
    r"|(?P<secret_bare>(?!\[REDACTED)[^\s\"'`\\,;&(){}\[\]<>]{4,}+)(?![(\[]))"
)


def _assignment(kind: str, name: str) -> Rule:
    # The name as a word's end (so not `password_field`), then its closing quote if it was
    # quoted (`"password": …`, or escaped inside a JSON string) and `=`, `:`, `:=` or `=>`;
    # or a command-line flag and a space (`--password hunter2`).
    named = rf"(?i:{name})(?![A-Za-z0-9_])"
    assigned = rf"(?:{named}(?:\\?[\"'])?[ \t]*(?::=|=>|[:=])[ \t]*|(?<=-){named}[ \t]+)"
    # Triggered by the name and a separator (most mentions of `token` are in prose); RE2
    # has no lookbehind, and a trigger may match more than its rule.
    loose = name.replace("(?<=[A-Za-z0-9][_-])", "")
    trigger = f"(?i:{loose})[\"'\\\\]*[ \t]*[:=]|(?i:-(?:{loose}))[ \t]"
    return Rule(kind, trigger, re.compile(assigned + _VALUE))


AUTHORIZATION = Rule(
    "authorization",
    "(?i)authorization|bearer",
    re.compile(
        r"(?i:authorization)(?:\\?[\"'])?[ \t]*[:=][ \t]*(?:\\?[\"'])?"
        r"(?:(?i:bearer|basic|token|bot|digest)[ \t]+(?P<secret>(?!\[REDACTED)[A-Za-z0-9\-._~+/=:]{8,})"
        r"|(?P<secret_bare>(?!\[REDACTED)[A-Za-z0-9\-._~+/=:]{8,}+))"
        r"|\b(?i:bearer)[ \t]+(?P<secret_bearer>(?!\[REDACTED)[A-Za-z0-9\-._~+/]{16,}=*)"
    ),
)
# user:password@ in a URL (the user may be empty: `redis://:password@host`): the password
# goes, the scheme, user and host stay readable.
URL_PASSWORD = Rule("url-password", "://", re.compile(r"://[^\s/:@\"'\\]*:(?P<secret>(?!\[REDACTED)[^\s/@\"'\\]+)@"))
# user:password given to `curl -u` / `--user` (and tools that copied it): the password goes.
USER_PASSWORD = Rule(
    "password",
    "-u[ \t=]|--user[ \t=]",
    re.compile(r"(?<![\w-])(?:-u|--user)[ \t=]+[\"']?[^\s:\"'\\]+:(?P<secret_bare>(?!\[REDACTED)[^\s\"'\\@]{4,}+)"),
)

RULES = [
    *TOKENS,
    AUTHORIZATION,
    URL_PASSWORD,
    USER_PASSWORD,
    *(_assignment(kind, name) for kind, name in NAMES.items()),
]


def _triggers() -> re2.Set:
    """Every rule's trigger in one automaton: one linear pass over a text says which
    rules can match it (Python's re tries an alternation at every position: ~300 µs per
    message for the rules as one pattern)."""
    triggers = re2.Set.SearchSet()
    for rule in RULES:
        triggers.Add(rule.trigger)
    triggers.Compile()
    return triggers


TRIGGERS = _triggers()
_SECRET_GROUPS = ("secret", "secret_bare", "secret_bearer")
# A bare value that is code rather than a literal: a name or a dotted chain of names with no
# digit (`password=None`, `token: str`, `key=form.cleaned_data`), a reference to a variable
# (`$PASSWORD`, `${…}`, `%(password)s`), a mask (`****`), or a small number (`max_token=4096`).
_NOT_LITERAL = re.compile(r"[A-Za-z_][A-Za-z_.]*|[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+|[$%{].*|\*+|x+|\d{1,7}")


def may_hold_secrets(texts: Iterable[str]) -> bool:
    """Whether any rule's trigger is found in `texts`, all read in one pass: a text a
    trigger is in keeps it when joined to others, and no trigger is anchored, so False
    means no text holds a secret (most messages: ~1 µs a text saved on calls into RE2)."""
    joined = "\n".join(texts)
    return bool(joined) and bool(TRIGGERS.Match(joined.encode("utf-8", "surrogatepass")))


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a JSON value, object keys included (iterative: any depth)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, list):
            pending += item
        elif isinstance(item, dict):
            yield from item
            pending += item.values()


def _secret_group(match: re.Match[str]) -> str:
    """The name of the group that holds the secret (each alternative of a rule has one)."""
    groups = match.re.groupindex
    return next(name for name in _SECRET_GROUPS if name in groups and match.group(name) is not None)


class Redactor:
    """Masks secrets in the texts of one write and counts them per kind; does nothing
    when redaction is off. `record` adds the counts inside the write transaction."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.counts = Counter[str]()

    def text(self, text: str) -> str:
        if not self.enabled:
            return text
        # As UTF-8 bytes, which RE2 reads; a lone surrogate (JSON can carry one) passes.
        for index in sorted(TRIGGERS.Match(text.encode("utf-8", "surrogatepass")) or ()):
            rule = RULES[index]
            text = rule.pattern.sub(self._masker(rule), text)
        return text

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self.text(text)

    def _masker(self, rule: Rule) -> Callable[[re.Match[str]], str]:
        def mask(match: re.Match[str]) -> str:
            found, group = match.group(), _secret_group(match)
            secret = match.group(group)
            if group == "secret_bare" and _NOT_LITERAL.fullmatch(secret):
                return found
            self.counts[rule.kind] += 1
            # Newlines are kept, so a masked key block leaves a diff's lines where they were.
            masked = MASK.format(rule.kind) + "\n" * secret.count("\n")
            start, end = match.start(group) - match.start(), match.end(group) - match.start()
            return found[:start] + masked + found[end:]

        return mask

    def value(self, value: Any) -> Any:
        """Every string inside a JSON value, object keys included; iterative, so no depth
        of nesting can exhaust the stack."""
        if not self.enabled:
            return value
        root: list[Any] = [value]
        pending: list[tuple[list[Any] | dict[str, Any], Any, Any]] = [(root, 0, value)]
        while pending:
            parent, slot, item = pending.pop()
            if isinstance(item, str):
                parent[slot] = self.text(item)
            elif isinstance(item, list):
                copy: list[Any] = list(item)
                parent[slot] = copy
                pending += [(copy, index, child) for index, child in enumerate(item)]
            elif isinstance(item, dict):
                masked: dict[str, Any] = {}
                for key, child in item.items():
                    masked[self._key(key, masked)] = child
                parent[slot] = masked
                pending += [(masked, key, child) for key, child in masked.items()]
        return root[0]

    def _key(self, key: str, taken: dict[str, Any]) -> str:
        """A masked object key; two keys masked alike are told apart, so neither is lost."""
        masked = self.text(key)
        unique, number = masked, 2
        while unique in taken:
            unique, number = f"{masked}#{number}", number + 1
        return unique

    def diff(self, diff: str) -> str:
        """A unified diff, masked line by line without its one-column prefixes (`+`, `-`,
        ` `), so a key block spanning lines is found and the diff stays a diff."""
        if not self.enabled:
            return diff
        lines = diff.split("\n")
        prefixes = [line[:1] if line[:1] in ("+", "-", " ", "\\") else "" for line in lines]
        bodies = self.text("\n".join(line[len(prefix) :] for line, prefix in zip(lines, prefixes, strict=True)))
        return "\n".join(prefix + body for prefix, body in zip(prefixes, bodies.split("\n"), strict=True))

    def record(self, db: Database) -> None:
        record_redactions(db, self.counts)


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
