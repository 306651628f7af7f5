"""The counters' per-session queries read only the session's own rows: on `role = ?` the
engine's planner would AND in messages_by_role and walk every message of that role in the
archive, so an import's cost per session grew with the archive (tests/bench/mixed)."""

from __future__ import annotations

import pytest

from sidecar.store import Store, counters


@pytest.mark.parametrize("query", [counters.FIRST_OF_ROLE, counters.HAS_ROLE], ids=["first-of-role", "has-role"])
def test_a_sessions_first_messages_of_a_role_are_searched_by_session(store: Store, query: str) -> None:
    plan = " ".join(
        str(step[-1]) for step in store.db.execute(f"EXPLAIN QUERY PLAN {query}", ("s", "user", 3)[: query.count("?")])
    )
    assert "messages_by_index" in plan and "messages_by_role" not in plan
