"""Retention (deleting old sessions, purging compacted messages) and store statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .. import protocol as p
from . import NO_WORK, Store, Work
from .captures import capture_totals
from .changes import record_purged, record_session_change
from .counters import refresh_counters
from .database import Database
from .redaction import redaction_counts
from .sessions import delete_sessions, load_session

# Sessions deleted per transaction: short enough that other processes' writes keep flowing.
RETENTION_BATCH = 100


def _days_ago(days: float) -> str:
    moment = datetime.now(UTC) - timedelta(days=days)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _doomed_sessions(db: Database, policy: p.ApplyRetentionParams) -> list[str]:
    doomed: dict[str, None] = {}  # ordered set: oldest policy first, stable output
    if policy.max_age_days is not None:
        rows = db.execute(
            "SELECT id FROM sessions WHERE updated_at < ? ORDER BY updated_at, id", (_days_ago(policy.max_age_days),)
        )
        doomed.update(dict.fromkeys(row[0] for row in rows))
    if policy.max_sessions is not None:
        rows = db.execute(
            "SELECT id FROM sessions ORDER BY updated_at DESC, id DESC LIMIT -1 OFFSET ?", (policy.max_sessions,)
        )
        doomed.update(dict.fromkeys(row[0] for row in rows))
    if policy.max_sessions_per_project is not None:
        rows = db.execute(
            "SELECT id FROM (SELECT id, row_number() OVER"
            " (PARTITION BY project_id ORDER BY updated_at DESC, id DESC) AS rank FROM sessions) WHERE rank > ?",
            (policy.max_sessions_per_project,),
        )
        doomed.update(dict.fromkeys(row[0] for row in rows))
    return list(doomed)


def _purge_compacted(db: Database, older_than_days: float, spared: set[str], dry_run: bool) -> int:
    cutoff = _days_ago(older_than_days)
    sessions = [
        row[0]
        for row in db.execute(
            "SELECT DISTINCT session_id FROM messages WHERE compacted = 1 AND created_at < ?", (cutoff,)
        )
        if row[0] not in spared
    ]
    purged = 0
    for session_id in sessions:
        where = "session_id = ? AND compacted = 1 AND created_at < ?"
        purged += int(db.scalar(f"SELECT count(*) FROM messages WHERE {where}", (session_id, cutoff)))
        if not dry_run:
            with db.write():
                db.execute(f"DELETE FROM messages WHERE {where}", (session_id, cutoff))
                refresh_counters(db, session_id)
                session = load_session(db, session_id)
                record_purged(db, session_id, session.project_id)
                record_session_change(db, session, p.SessionChange.UPDATED)
    return purged


def apply_retention(store: Store, params: p.ApplyRetentionParams, work: Work = NO_WORK) -> p.ApplyRetentionResult:
    db = store.db
    doomed = _doomed_sessions(db, params)
    if not params.dry_run:
        for start in range(0, len(doomed), RETENTION_BATCH):
            work.checkpoint(start, len(doomed))
            with db.write():
                delete_sessions(db, doomed[start : start + RETENTION_BATCH])
        work.report(len(doomed), len(doomed))
    purged = 0
    if params.purge_compacted_older_than_days is not None:
        purged = _purge_compacted(db, params.purge_compacted_older_than_days, set(doomed), params.dry_run)
    return p.ApplyRetentionResult(deleted_sessions=len(doomed), purged_messages=purged, session_ids=doomed)


def stats(store: Store, params: None = None) -> p.StatsResult:
    db = store.db
    sessions, messages, compacted = db.one(
        "SELECT count(*), coalesce(sum(message_count), 0), coalesce(sum(compacted_count), 0) FROM sessions"
    ) or (0, 0, 0)
    return p.StatsResult(
        sessions=sessions,
        messages=messages,
        edits=int(db.scalar("SELECT count(*) FROM edits")),
        compacted_messages=compacted,
        db_path=str(db.path),
        db_bytes=db.file_bytes(),
        schema_version=db.schema_version,
        redactions=redaction_counts(db),
        capture=_capture_stats(db),
    )


def _capture_stats(db: Database) -> p.CaptureStats | None:
    files, skipped = capture_totals(db)
    return p.CaptureStats(files=files, skipped_lines=skipped) if files else None
