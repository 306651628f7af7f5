"""The usage buckets reports read (sidecar/store/buckets.py): equal to a sum over the
messages after every kind of write; filled by migration 9; days of a zone 5:45 from UTC;
since/until inside a quarter hour; each message's own model and its 1-hour cache writes;
the agent filter, in getUsage and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from genai_prices import Usage, calc_price

from sidecar import protocol as p
from sidecar.store import Store, buckets, context, cost, housekeeping, messages, sessions, usage
from sidecar.store.database import Database
from sidecar.store.migrations import MIGRATIONS
from sidecar.transcripts import importer
from sidecar.wire import structure_params

from .helpers import SAMPLES, assistant

COLUMNS = ", ".join((*buckets.KEY, *buckets.SUMMED))
START = datetime(2025, 3, 29, 22, 0, tzinfo=UTC)  # the night Europe/Paris moves to summer time


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def call(at: datetime, prompt: int, **fields: Any) -> dict[str, Any]:
    counts = {"promptTokens": prompt, "completionTokens": 7, "cacheReadTokens": 3 * prompt, "cacheCreationTokens": 11}
    return {**assistant("a", usage=counts | fields.pop("usage", {})), **fields, "_at": stamp(at)}


def session_of(store: Store, calls: list[dict[str, Any]], **raw: Any) -> str:
    """A session holding `calls`, each written at its `_at` (as an import keeps a file's times)."""
    session = sessions.create_session(store, structure_params({"kind": "agent", **raw}, p.CreateSessionParams))
    batch = [{k: v for k, v in c.items() if k != "_at"} for c in calls]
    parsed = structure_params({"sessionId": session.id, "messages": batch}, p.AppendMessagesParams)
    rows = messages.prepare_rows(store.settings, session.id, parsed.messages, [c["_at"] for c in calls])
    with store.db.write():
        for index, prepared in enumerate(rows):
            prepared.row[messages.ROW_INDEX] = index
        messages.insert_rows(store.db, [prepared.row for prepared in rows])
        store.db.execute("UPDATE sessions SET next_index = ? WHERE id = ?", (len(rows), session.id))
    return session.id


def assert_buckets_are_the_messages_sums(db: Database) -> None:
    kept = db.execute(f"SELECT {COLUMNS} FROM usage_buckets ORDER BY {', '.join(buckets.KEY)}")
    sums = ", ".join(f"sum({name})" for name in buckets.SUMMED)
    summed = db.execute(
        f"SELECT {', '.join(buckets.KEY)}, {sums} FROM {buckets.of_messages('1')} b"
        f" GROUP BY {', '.join(buckets.KEY)} ORDER BY {', '.join(buckets.KEY)}"
    )
    assert kept == summed


def get(store: Store, **raw: Any) -> p.GetUsageResult:
    return usage.get_usage(store, structure_params(raw, p.GetUsageParams))


def spread(count: int, every: timedelta, prompt: int = 100) -> list[dict[str, Any]]:
    return [call(START + every * number, prompt + number) for number in range(count)]


def test_every_kind_of_write_keeps_the_buckets_equal_to_the_messages(store: Store) -> None:
    first = session_of(store, spread(40, timedelta(minutes=4)), model="claude-sonnet-4-20250514")
    second = session_of(store, [call(START, 300_000, agentName="sub", model="claude-opus-4-5-20251101")])
    assert store.db.scalar("SELECT count(*) FROM usage_buckets") > 2
    assert_buckets_are_the_messages_sums(store.db)
    messages.append_messages(
        store,
        structure_params(
            {"sessionId": first, "messages": [assistant("now", usage={"promptTokens": 5})]}, p.AppendMessagesParams
        ),
    )
    assert_buckets_are_the_messages_sums(store.db)
    sessions.fork_session(store, structure_params({"sessionId": first}, p.ForkSessionParams))
    assert_buckets_are_the_messages_sums(store.db)
    context.compact_session(
        store, structure_params({"sessionId": first, "summary": "s", "preserveCount": 5}, p.CompactSessionParams)
    )
    store.db.execute("UPDATE messages SET created_at = '2024-01-01T00:00:00.000Z' WHERE compacted = 1")
    housekeeping.apply_retention(store, structure_params({"purgeCompactedOlderThanDays": 30}, p.ApplyRetentionParams))
    assert_buckets_are_the_messages_sums(store.db)
    sessions.delete_session(store, structure_params({"sessionId": second}, p.DeleteSessionParams))
    assert_buckets_are_the_messages_sums(store.db)
    assert store.db.scalar("SELECT count(*) FROM usage_buckets WHERE session_id = ?", (second,)) == 0


def test_migration_9_sums_the_calls_already_stored(db_path: Path) -> None:
    old = Database(db_path, migrations=MIGRATIONS[:8])
    old.execute(
        "INSERT INTO sessions (id, kind, model, created_at, updated_at)"
        " VALUES ('s', 'agent', 'claude-sonnet-4-5-20250929', 'x', 'x')"
    )
    old.execute(
        "INSERT INTO messages (id, session_id, idx, role, tokens, created_at, prompt_tokens, cache_read_tokens) VALUES"
        " ('a', 's', 0, 'assistant', 1, '2025-01-01T00:00:01.000Z', 10, 250000),"
        " ('b', 's', 1, 'assistant', 1, '2025-01-01T00:14:59.000Z', 20, 0),"
        " ('c', 's', 2, 'user', 1, '2025-01-01T00:20:00.000Z', NULL, NULL)"
    )
    old.close()
    store = Store(db_path)
    assert_buckets_are_the_messages_sums(store.db)
    assert store.db.execute("SELECT band, prompt_tokens, calls FROM usage_buckets") == [(0, 30, 2)]
    assert get(store).total.api_calls == 2  # the first report splits at Sonnet 4.5's 200k tier
    assert store.db.execute("SELECT band, prompt_tokens, calls FROM usage_buckets ORDER BY band") == [
        (0, 20, 1),
        (200000, 10, 1),  # 250,010 input tokens: past the tier
    ]
    assert_buckets_are_the_messages_sums(store.db)
    store.close()


def test_a_zone_5_45_from_utc_and_a_dst_night_give_the_users_days(store: Store) -> None:
    session_of(store, spread(300, timedelta(minutes=7)), model="claude-sonnet-4-20250514")
    moments = [START + timedelta(minutes=7) * number for number in range(300)]
    for zone in ("Asia/Kathmandu", "Europe/Paris", "America/St_Johns"):
        expected: dict[str, int] = {}
        for number, moment in enumerate(moments):
            day = moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d")
            expected[day] = expected.get(day, 0) + 100 + number
        found = {g.key: g.usage.prompt_tokens for g in get(store, groupBy="day", timeZone=zone).groups}
        assert found == expected, zone


def test_since_and_until_inside_a_quarter_hour_count_only_their_calls(store: Store) -> None:
    session_of(store, spread(120, timedelta(minutes=1)), model="claude-sonnet-4-20250514")
    since, until = START + timedelta(minutes=7, seconds=30), START + timedelta(minutes=95, seconds=1)
    inside = [number for number in range(120) if since <= START + timedelta(minutes=number) < until]
    found = get(store, since=stamp(since), until=stamp(until))
    assert found.total.api_calls == len(inside) and found.total.prompt_tokens == sum(100 + n for n in inside)
    narrow = get(store, since=stamp(START + timedelta(minutes=2)), until=stamp(START + timedelta(minutes=4)))
    assert narrow.total.prompt_tokens == 102 + 103  # both inside one quarter hour


def reference(model: str, prompt: int, read: int, write: int, one_hour: int, completion: int) -> float:
    priced = Usage(
        input_tokens=prompt + read + write,
        output_tokens=completion,
        cache_read_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=one_hour,
    )
    return float(calc_price(priced, model, genai_request_timestamp=START).total_price)


def test_each_message_is_priced_at_its_own_model_and_its_1_hour_cache_writes(store: Store) -> None:
    opus, sonnet = "claude-opus-4-5-20251101", "claude-sonnet-4-5-20250929"
    session_of(
        store,
        [
            call(START, 1000, model=opus, usage={"cacheCreationTokens": 5000, "cacheCreation1hTokens": 4000}),
            call(START, 2000),  # no model of its own: the session's
        ],
        model=sonnet,
    )
    by_model = {g.key: g.cost for g in get(store, groupBy="model").groups}
    assert by_model[opus] == pytest.approx(reference(opus, 1000, 3000, 5000, 4000, 7), rel=1e-12)
    assert by_model[sonnet] == pytest.approx(reference(sonnet, 2000, 6000, 11, 0, 7), rel=1e-12)
    one_hour = by_model[opus] - reference(opus, 1000, 3000, 5000, 0, 7)
    assert one_hour == pytest.approx(4000 * (10 - 6.25) / 1e6)  # Opus 4.5: $10 vs $6.25 per million written


def test_more_1_hour_writes_than_writes_name_the_field(store: Store) -> None:
    session = sessions.create_session(store, structure_params({"kind": "agent"}, p.CreateSessionParams))
    batch = [assistant("a", usage={"cacheCreationTokens": 1, "cacheCreation1hTokens": 2})]
    with pytest.raises(Exception, match=r"messages\[0\]\.usage\.cacheCreation1hTokens"):
        messages.append_messages(
            store, structure_params({"sessionId": session.id, "messages": batch}, p.AppendMessagesParams)
        )


def test_a_model_with_a_tier_the_buckets_do_not_split_at_rebuilds_them(store: Store) -> None:
    session_of(store, [call(START, 10)], model="claude-opus-4-5-20251101")  # no tiers
    assert get(store).total.api_calls == 1 and buckets.stored_bands(store.db) == [0]
    session_of(store, [call(START, 60_000, model="claude-sonnet-4-5-20250929")])  # 240,011 input tokens
    assert store.db.execute("SELECT band FROM usage_buckets ORDER BY band") == [(0,), (0,)]
    priced = get(store, groupBy="model").groups
    assert buckets.stored_bands(store.db) == [0, 200_000]
    assert store.db.execute("SELECT band FROM usage_buckets ORDER BY band") == [(0,), (200_000,)]
    sonnet = next(group.cost for group in priced if group.key == "claude-sonnet-4-5-20250929")
    assert sonnet == pytest.approx(reference("claude-sonnet-4-5-20250929", 60_000, 180_000, 11, 0, 7), rel=1e-12)
    assert_buckets_are_the_messages_sums(store.db)


def test_the_agent_filter_in_get_usage_and_the_cli(store: Store, db_path: Path) -> None:
    session_of(store, [call(START, 10), call(START, 20, agentName="explorer")], agentName="claude-code")
    session_of(store, [call(START, 40)])
    assert get(store, agent="explorer").total.prompt_tokens == 20
    assert get(store, agent="claude-code").total.prompt_tokens == 10
    assert get(store, agent="unknown").total.prompt_tokens == 40
    store.close()
    shown = subprocess.run(
        [sys.executable, "-m", "sidecar", "usage", "--db", str(db_path), "--agent", "explorer", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(shown.stdout)["total"]["promptTokens"] == 20


def test_an_import_splits_at_its_models_tiers_before_writing_them(store: Store) -> None:
    claude = SAMPLES / "claude-code"
    importer.import_transcript(store, structure_params({"path": str(claude)}, p.ImportTranscriptParams))
    needed = cost.bands(buckets.models(store.db))
    assert len(needed) > 1 and buckets.stored_bands(store.db) == needed  # no report has run
    assert_buckets_are_the_messages_sums(store.db)


def test_a_read_only_store_prices_an_appended_long_context_call_as_a_writable_one(store: Store, db_path: Path) -> None:
    # The MCP server reads through a read-only store, which cannot split the buckets at a
    # model's long-context tier when it first reports: the append must have split them.
    session = sessions.create_session(
        store, structure_params({"kind": "agent", "model": "gemini-2.5-pro"}, p.CreateSessionParams)
    )
    spent = {"promptTokens": 300_000, "completionTokens": 1_000}
    messages.append_messages(
        store,
        structure_params(
            {"sessionId": session.id, "messages": [assistant("long", usage=spent)]}, p.AppendMessagesParams
        ),
    )
    reader = Store(db_path, read_only=True)
    try:
        read_only = usage.get_usage(reader, p.GetUsageParams()).cost
    finally:
        reader.close()
    assert read_only == usage.get_usage(store, p.GetUsageParams()).cost


def test_a_history_of_schema_9_sums_the_calls_appended_after_its_upgrade(db_path: Path) -> None:
    old = Database(db_path, migrations=MIGRATIONS[:9])
    old.execute("INSERT INTO sessions (id, kind, created_at, updated_at) VALUES ('s', 'agent', 'x', 'x')")
    old.execute(
        "INSERT INTO messages (id, session_id, idx, role, tokens, created_at, prompt_tokens) VALUES"
        " ('a', 's', 0, 'assistant', 1, '2025-01-01T00:00:01.000Z', 10)"
    )
    old.execute("UPDATE sessions SET next_index = 1 WHERE id = 's'")
    old.close()
    store = Store(db_path)  # migrations 10 and 11: the insert trigger goes, the writers sum
    assert store.db.execute("SELECT name FROM sqlite_schema WHERE name = 'usage_on_insert'") == []
    messages.append_messages(
        store,
        structure_params(
            {"sessionId": "s", "messages": [assistant("more", usage={"promptTokens": 5})]}, p.AppendMessagesParams
        ),
    )
    assert_buckets_are_the_messages_sums(store.db)
    assert store.db.scalar("SELECT sum(prompt_tokens) FROM usage_buckets") == 15
    store.close()
