"""Usage summed per (session, UTC quarter hour, model, agent, long-context band): the rows a
usage report reads instead of every message.

The sums change in the transaction of the write that adds, removes or changes a call
(append, import, fork, delete, purge, retention, a sync pull), whichever process made it.
Triggers on `messages` keep them on a delete or an update; the code that inserts messages
adds their calls itself, once per statement (`add`), for a trigger run per inserted row
cost more than writing the row (~25 µs of ~80 a message of a Claude Code import). A quarter hour, because every time
zone's offset is a multiple of 15 minutes: a user's day is a whole number of quarters.
`model` and `agent_name` are the message's own, '' when it names none (then the session's
applies, read at report time, so renaming a session's model moves its calls). The band is
the highest long-context tier start the call's input exceeds, among the starts of the
models the history holds (`usage_bands`, which a report extends when a model with other
tiers comes: usage.ensure_bands), so every call of a bucket pays the same tier.
`usage_models` names every model a call names, and every model the buckets were split for
before its calls came (a session's), for that check.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .database import Database  # only a type: database imports migrations, which import this

QUARTER_SECONDS = 900
QUARTERS_PER_DAY = 96
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


def add(db: Database, where: str, params: Sequence[object]) -> None:
    """Add to the sums the calls of the messages just inserted that `where` picks (over
    alias `m`), and name their models: what the insert trigger did row by row (inside
    that write)."""
    columns = ", ".join((*KEY, *SUMMED))
    values = _values("m")
    sums = ", ".join(f"sum({value})" for value in values[len(KEY) :])
    summed = ", ".join(f"{name} = {name} + excluded.{name}" for name in SUMMED)
    db.execute(
        f"INSERT INTO usage_buckets ({columns}) SELECT {', '.join(values[: len(KEY)])}, {sums} FROM messages m"
        f" WHERE m.prompt_tokens IS NOT NULL AND {where} GROUP BY {_key_positions()}"
        f" ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {summed}",
        params,
    )
    db.execute(
        "INSERT OR IGNORE INTO usage_models (model) SELECT DISTINCT m.model FROM messages m"
        f" WHERE m.model IS NOT NULL AND m.prompt_tokens IS NOT NULL AND {where}",
        params,
    )


def _key_positions() -> str:
    return ", ".join(str(position) for position in range(1, len(KEY) + 1))


def _remove(row: str) -> list[str]:
    values = _values(row)
    match = " AND ".join(f"{name} = {value}" for name, value in zip(KEY, values[: len(KEY)], strict=True))
    less = ", ".join(f"{name} = {name} - {value}" for name, value in zip(SUMMED, values[len(KEY) :], strict=True))
    return [f"UPDATE usage_buckets SET {less} WHERE {match}", f"DELETE FROM usage_buckets WHERE {match} AND calls = 0"]


def _name_model(row: str) -> str:
    return f"INSERT OR IGNORE INTO usage_models (model) SELECT {row}.model WHERE {row}.model IS NOT NULL"


# A message's usage-bearing columns: an update of any moves its call to its new bucket.
WATCHED = ", ".join(("session_id", "created_at", "model", "agent_name", *SUMMED[:5], "cache_creation_1h_tokens"))

SCHEMA = [
    "ALTER TABLE messages ADD COLUMN model TEXT",
    "ALTER TABLE messages ADD COLUMN cache_creation_1h_tokens INTEGER",
    "CREATE TABLE usage_bands (start INTEGER PRIMARY KEY)",
    "INSERT INTO usage_bands (start) VALUES (0)",
    "CREATE TABLE usage_models (model TEXT PRIMARY KEY)",
    f"CREATE TABLE usage_buckets ({', '.join(f'{name} INTEGER NOT NULL' for name in (*KEY, *SUMMED))})",
    f"CREATE UNIQUE INDEX usage_buckets_by_key ON usage_buckets ({', '.join(KEY)})",
    "CREATE INDEX usage_buckets_by_quarter ON usage_buckets (quarter)",
    # A report whose since/until cut a quarter hour reads that part's messages by time.
    "CREATE INDEX messages_by_time ON messages (created_at)",
    "CREATE TRIGGER usage_on_insert AFTER INSERT ON messages WHEN new.prompt_tokens IS NOT NULL"
    f" BEGIN {_add('new')}; {_name_model('new')}; END",
    "CREATE TRIGGER usage_on_delete AFTER DELETE ON messages WHEN old.prompt_tokens IS NOT NULL"
    f" BEGIN {'; '.join(_remove('old'))}; END",
    f"CREATE TRIGGER usage_on_update_old AFTER UPDATE OF {WATCHED} ON messages WHEN old.prompt_tokens IS NOT NULL"
    f" BEGIN {'; '.join(_remove('old'))}; END",
    f"CREATE TRIGGER usage_on_update_new AFTER UPDATE OF {WATCHED} ON messages WHEN new.prompt_tokens IS NOT NULL"
    f" BEGIN {_add('new')}; {_name_model('new')}; END",
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
        f" GROUP BY {_key_positions()}"
    )
    db.execute(
        "INSERT OR IGNORE INTO usage_models (model)"
        " SELECT DISTINCT model FROM messages WHERE model IS NOT NULL AND prompt_tokens IS NOT NULL"
    )


def drop_insert_trigger(db: Database) -> None:
    """Migration 10: the code inserting messages sums their calls itself (`add`)."""
    db.execute("DROP TRIGGER usage_on_insert")


def create(db: Database) -> None:
    """Migration 9: the tables, their triggers, and the sums of the calls already stored."""
    for statement in SCHEMA:
        db.execute(statement)
    fill(db)


def models(db: Database) -> list[str]:
    """Every model a call may be priced at: the calls' own and the sessions'."""
    rows = db.execute("SELECT model FROM usage_models UNION SELECT coalesce(model, 'unknown') FROM sessions")
    return [row[0] for row in rows]


def known_models(db: Database, wanted: Iterable[str]) -> set[str]:
    """Those of `wanted` the buckets are already split for (primary-key lookups: this runs
    inside every append that carries usage)."""
    names = sorted(set(wanted))
    marks = ", ".join("?" for _ in names)
    return {row[0] for row in db.execute(f"SELECT model FROM usage_models WHERE model IN ({marks})", names)}


def note_models(db: Database, names: Iterable[str]) -> None:
    """`names` are split for (a session's model too, before any of its calls is written)."""
    rows = sorted(set(names))
    db.execute(f"INSERT OR IGNORE INTO usage_models (model) VALUES {', '.join('(?)' for _ in rows)}", rows)


def stored_bands(db: Database) -> list[int]:
    return [row[0] for row in db.execute("SELECT start FROM usage_bands ORDER BY start")]


def rebuild(db: Database, bands: Sequence[int]) -> None:
    """Sum every call again in new `bands` (0 first), as when a model with other tiers came (inside a write)."""
    db.execute("DELETE FROM usage_bands")
    db.execute(f"INSERT INTO usage_bands (start) VALUES {', '.join('(?)' for _ in bands)}", list(bands))
    db.execute("DELETE FROM usage_buckets")
    fill(db)
