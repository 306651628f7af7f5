"""Retention while other processes append: a session an acknowledged append touched after
the run chose it survives that run (real processes on one file, a fixed interleaving)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from sidecar import protocol as p
from sidecar.store import Store, Work, housekeeping, messages, sessions
from sidecar.wire import structure_params

from .helpers import user

SESSIONS = 350
KEEP = 100


def _append_when_told(path: str, targets: list[str], go: Any, acknowledged: Any) -> None:
    """Another process: once told, append one message to each target; report each result."""
    store = Store(Path(path))
    go.wait(120)
    for session_id in targets:
        params = structure_params({"sessionId": session_id, "messages": [user("still here")]}, p.AppendMessagesParams)
        messages.append_messages(store, params)
        acknowledged.put(session_id)
    acknowledged.put(None)
    store.close()


def _sessions_oldest_first(store: Store) -> list[str]:
    made = [sessions.create_session(store, p.CreateSessionParams(kind="chat")).id for _ in range(SESSIONS)]
    with store.db.write():  # one second apart, the first oldest: the doomed set is fixed
        for age, session_id in enumerate(reversed(made)):
            store.db.execute(
                "UPDATE sessions SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', '2020-01-01', ?) WHERE id = ?",
                (f"-{age} seconds", session_id),
            )
    return made


POLICIES = {  # each dooms the oldest `doomed` sessions: three or four batches
    "maxSessions": ({"maxSessions": KEEP}, SESSIONS - KEEP),
    "maxSessionsPerProject": ({"maxSessionsPerProject": KEEP}, SESSIONS - KEEP),
    "maxAgeDays": ({"maxAgeDays": 365}, SESSIONS),  # all of them date from 2020
}


@pytest.mark.parametrize("appended_before_batch", [0, 1])
@pytest.mark.parametrize("policy_name", POLICIES)
def test_a_session_appended_to_after_the_choice_survives_the_run(
    store: Store, db_path: Path, policy_name: str, appended_before_batch: int
) -> None:
    # Before the fix the batches deleted what was chosen without looking again: all 60
    # acknowledged appends were deleted by the very run they made newest.
    made = _sessions_oldest_first(store)
    policy, doomed = POLICIES[policy_name]
    dry_run = structure_params(policy | {"dryRun": True}, p.ApplyRetentionParams)
    chosen = housekeeping.apply_retention(store, dry_run).session_ids  # in the order the run deletes them
    assert set(chosen) == set(made[:doomed])
    start = appended_before_batch * housekeeping.RETENTION_BATCH
    targets = chosen[start : start + 50] + chosen[-10:]
    context = multiprocessing.get_context("spawn")
    go, acknowledged = context.Event(), context.Queue()
    appender = context.Process(target=_append_when_told, args=(str(db_path), targets, go, acknowledged))
    appender.start()
    heard: list[str] = []

    def between_batches(done: int, total: int) -> None:
        if done == start and not go.is_set():  # the choice is made; this batch not yet deleted
            go.set()
            heard.extend(iter(lambda: acknowledged.get(timeout=120), None))

    result = housekeeping.apply_retention(
        store, structure_params(policy, p.ApplyRetentionParams), Work(report=between_batches)
    )
    appender.join(60)
    assert appender.exitcode == 0 and heard == targets
    remaining = {row[0] for row in store.db.execute("SELECT id FROM sessions")}
    assert set(targets) <= remaining and not set(targets) & set(result.session_ids)
    for session_id in targets:
        got = messages.get_messages(store, structure_params({"sessionId": session_id}, p.GetMessagesParams))
        assert [m.content for m in got.messages] == ["still here"]
    assert remaining == set(made) - set(result.session_ids)
    assert set(result.session_ids) == set(chosen) - set(targets)
