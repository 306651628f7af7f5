"""The queries that read only some messages find them through the partial indexes made for
them (migration 11), so an insert of the other messages skips those indexes."""

from __future__ import annotations

import pytest

from sidecar.store import Store, buckets

QUERIES = {
    # recent_prompts without a project
    "messages_prompts": (
        "SELECT session_id, id, content, created_at FROM messages"
        " WHERE role = 'user' AND content IS NOT NULL ORDER BY seq DESC LIMIT ?",
        (5,),
    ),
    # a usage report's part of a quarter hour (usage.get_usage)
    "messages_calls_by_time": (
        f"SELECT * FROM {buckets.of_messages('m.created_at >= ? AND m.created_at < ?')}",
        ("2026-01-01T00:00:00.000Z", "2026-01-01T00:07:00.000Z"),
    ),
    # retention's purge of compacted messages (housekeeping._purge_compacted)
    "messages_compacted_by_time": (
        "SELECT DISTINCT session_id FROM messages WHERE compacted = 1 AND created_at < ?",
        ("2026-01-01T00:00:00.000Z",),
    ),
}


@pytest.mark.parametrize("index", QUERIES)
def test_a_query_of_some_messages_reads_its_partial_index(store: Store, index: str) -> None:
    sql, args = QUERIES[index]
    plan = " ".join(str(step[-1]) for step in store.db.execute(f"EXPLAIN QUERY PLAN {sql}", args))
    assert index in plan, plan
