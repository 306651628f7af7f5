"""Usage summed per (session, UTC quarter hour, model, agent, long-context band): the rows a
usage report reads instead of every message.

Triggers on `messages` keep the sums, so every write that adds, removes or changes a call
(append, import, fork, delete, purge, retention, a sync pull) updates them in its own
transaction, whichever process or code path made it. A quarter hour, because every time
zone's offset is a multiple of 15 minutes: a user's day is a whole number of quarters.
`model` and `agent_name` are the message's own, '' when it names none (then the session's
applies, read at report time, so renaming a session's model moves its calls). The band is
the highest long-context tier start (of any model in the price data, kept in
`usage_bands`) the call's input exceeds, so every call of a bucket pays the same tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .database import Database  # only a type: database imports migrations, which import this

QUARTER_SECONDS = 900
QUARTERS_PER_DAY = 96
# cost.every_band() of genai-prices 0.2.3: written here so writes need not load the price
# data; a report rebuilds the buckets if the data has gained a start (ensure_bands).
KNOWN_BANDS = (0, 32000, 100000, 128000, 199999, 200000, 256000, 272000, 512000, 524288)
KEY = ("session_id", "quarter", "model", "agent_name", "band")
SUMMED = (
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "thinking_tokens",
    "calls",
    "cache_creation_1h_tokens",
)


def quarter_of(row: str) -> str:
    """SQL: the UTC quarter hour (since the epoch) of message `row`'s created_at."""
    return f"CAST(strftime('%s', {row}.created_at) AS INTEGER) / {QUARTER_SECONDS}"


def band_of(row: str) -> str:
    """SQL: the band of message `row`'s call: the highest start in usage_bands below its whole input."""
    whole_input = (
        f"{row}.prompt_tokens + coalesce({row}.cache_read_tokens, 0) + coalesce({row}.cache_creation_tokens, 0)"
    )
    return f"(SELECT coalesce(max(start), 0) FROM usage_bands WHERE start < {whole_input})"


def _values(row: str) -> list[str]:
    """SQL: a bucket's key and sums for message `row` alone, in KEY + SUMMED order."""
    return [
        f"{row}.session_id",
        quarter_of(row),
        f"coalesce({row}.model, '')",
        f"coalesce({row}.agent_name, '')",
        band_of(row),
        f"{row}.prompt_tokens",
        *(f"coalesce({row}.{name}, 0)" for name in SUMMED[1:5]),
        "1",
        f"coalesce({row}.cache_creation_1h_tokens, 0)",
    ]


def _add(row: str) -> str:
    columns = ", ".join((*KEY, *SUMMED))
    sums = ", ".join(f"{name} = {name} + excluded.{name}" for name in SUMMED)
    return (
        f"INSERT INTO usage_buckets ({columns}) VALUES ({', '.join(_values(row))})"
        f" ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {sums}"
    )


def _remove(row: str) -> list[str]:
    values = _values(row)
    match = " AND ".join(f"{name} = {value}" for name, value in zip(KEY, values[: len(KEY)], strict=True))
    less = ", ".join(f"{name} = {name} - {value}" for name, value in zip(SUMMED, values[len(KEY) :], strict=True))
    return [f"UPDATE usage_buckets SET {less} WHERE {match}", f"DELETE FROM usage_buckets WHERE {match} AND calls = 0"]


# A message's usage-bearing columns: an update of any moves its call to its new bucket.
WATCHED = ", ".join(("session_id", "created_at", "model", "agent_name", *SUMMED[:5], "cache_creation_1h_tokens"))

SCHEMA = [
    "ALTER TABLE messages ADD COLUMN model TEXT",
    "ALTER TABLE messages ADD COLUMN cache_creation_1h_tokens INTEGER",
    "CREATE TABLE usage_bands (start INTEGER PRIMARY KEY)",
    f"INSERT INTO usage_bands (start) VALUES {', '.join(f'({start})' for start in KNOWN_BANDS)}",
    f"CREATE TABLE usage_buckets ({', '.join(f'{name} INTEGER NOT NULL' for name in (*KEY, *SUMMED))})",
    f"CREATE UNIQUE INDEX usage_buckets_by_key ON usage_buckets ({', '.join(KEY)})",
    "CREATE INDEX usage_buckets_by_quarter ON usage_buckets (quarter)",
    # A report whose since/until cut a quarter hour reads that part's messages by time.
    "CREATE INDEX messages_by_time ON messages (created_at)",
    "CREATE TRIGGER usage_on_insert AFTER INSERT ON messages WHEN new.prompt_tokens IS NOT NULL"
    f" BEGIN {_add('new')}; END",
    "CREATE TRIGGER usage_on_delete AFTER DELETE ON messages WHEN old.prompt_tokens IS NOT NULL"
    f" BEGIN {'; '.join(_remove('old'))}; END",
    f"CREATE TRIGGER usage_on_update_old AFTER UPDATE OF {WATCHED} ON messages WHEN old.prompt_tokens IS NOT NULL"
    f" BEGIN {'; '.join(_remove('old'))}; END",
    f"CREATE TRIGGER usage_on_update_new AFTER UPDATE OF {WATCHED} ON messages WHEN new.prompt_tokens IS NOT NULL"
    f" BEGIN {_add('new')}; END",
]


def of_messages(where: str) -> str:
    """SQL: a table shaped as usage_buckets, one row per message with usage matching `where`
    (over alias `m`), for what buckets cannot tell apart (part of a quarter hour)."""
    named = ", ".join(f"{value} AS {name}" for value, name in zip(_values("m"), (*KEY, *SUMMED), strict=True))
    return f"(SELECT {named} FROM messages m WHERE m.prompt_tokens IS NOT NULL AND {where})"


def fill(db: Database) -> None:
    """Sum every stored call into usage_buckets, which must be empty (inside a write)."""
    values = _values("m")
    sums = ", ".join(f"sum({value})" for value in values[len(KEY) :])
    db.execute(
        f"INSERT INTO usage_buckets ({', '.join((*KEY, *SUMMED))})"
        f" SELECT {', '.join(values[: len(KEY)])}, {sums} FROM messages m WHERE m.prompt_tokens IS NOT NULL"
        f" GROUP BY {', '.join(str(position) for position in range(1, len(KEY) + 1))}"
    )


def create(db: Database) -> None:
    """Migration 9: the tables, their triggers, and the sums of the calls already stored."""
    for statement in SCHEMA:
        db.execute(statement)
    fill(db)


def stored_bands(db: Database) -> list[int]:
    return [row[0] for row in db.execute("SELECT start FROM usage_bands ORDER BY start")]


def rebuild(db: Database, bands: Sequence[int]) -> None:
    """Sum every call again in new `bands` (0 first), as when the price data gained a tier (inside a write)."""
    db.execute("DELETE FROM usage_bands")
    db.execute(f"INSERT INTO usage_bands (start) VALUES {', '.join('(?)' for _ in bands)}", list(bands))
    db.execute("DELETE FROM usage_buckets")
    fill(db)
