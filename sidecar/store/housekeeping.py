"""Retention (deleting old sessions, purging compacted messages) and store statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .. import protocol as p
from . import NO_WORK, Store, Work
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


def _doomed_sessions(db: Database, policy: p.ApplyRetentionParams, cutoff: str | None) -> list[str]:
    doomed: dict[str, None] = {}  # ordered set: oldest policy first, stable output
    if cutoff is not None:
        rows = db.execute("SELECT id FROM sessions WHERE updated_at < ? ORDER BY updated_at, id", (cutoff,))
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


SessionKey = tuple[str, str]  # (updated_at, id): the order retention ranks sessions by
ABOVE_EVERY_SESSION: SessionKey = ("\U0010ffff", "")  # the boundary of a policy that keeps none


class _Recheck:
    """Whether a session the run chose is still doomed, asked inside the transaction that
    deletes it: an append by another process since the choice made it newer, and a session
    an acknowledged append touched must survive the run."""

    def __init__(self, db: Database, policy: p.ApplyRetentionParams, cutoff: str | None) -> None:
        self.db, self.policy, self.cutoff = db, policy, cutoff
        self.overall = self._oldest_kept(policy.max_sessions, None, False)
        self.per_project: dict[str | None, SessionKey | None] = {}

    def _oldest_kept(self, keep: int | None, project_id: str | None, by_project: bool) -> SessionKey | None:
        """The oldest session a count policy keeps (a session older than it is doomed);
        None when the policy keeps every session there is."""
        if keep is None:
            return None
        if keep == 0:
            return ABOVE_EVERY_SESSION
        where = "WHERE project_id IS ?" if by_project else ""
        row = self.db.one(
            f"SELECT updated_at, id FROM sessions {where} ORDER BY updated_at DESC, id DESC LIMIT 1 OFFSET ?",
            ((project_id,) if by_project else ()) + (keep - 1,),
        )
        return (row[0], row[1]) if row else None

    def _project_boundary(self, project_id: str | None) -> SessionKey | None:
        if project_id not in self.per_project:
            self.per_project[project_id] = self._oldest_kept(self.policy.max_sessions_per_project, project_id, True)
        return self.per_project[project_id]

    def doomed(self, key: SessionKey, project_id: str | None) -> bool:
        if self.cutoff is not None and key[0] < self.cutoff:
            return True
        if self.overall is not None and key < self.overall:
            return True
        boundary = self._project_boundary(project_id)
        return boundary is not None and key < boundary


def _delete_still_doomed(
    db: Database, policy: p.ApplyRetentionParams, cutoff: str | None, chosen: list[str]
) -> list[str]:
    """Delete those of `chosen` the policy still dooms; the caller holds the write transaction."""
    recheck = _Recheck(db, policy, cutoff)
    rows = db.by_ids("SELECT id, updated_at, project_id FROM sessions", chosen)
    doomed = {row[0] for row in rows if recheck.doomed((row[1], row[0]), row[2])}
    deleted = [session_id for session_id in chosen if session_id in doomed]
    delete_sessions(db, deleted)
    return deleted


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
    """Choose the doomed sessions, then delete them in batches, each batch looking again
    inside its own write transaction (other processes append meanwhile): a run deletes only
    what the policy dooms both when it chose and when it deletes."""
    db = store.db
    cutoff = None if params.max_age_days is None else _days_ago(params.max_age_days)
    doomed = _doomed_sessions(db, params, cutoff)
    if not params.dry_run:
        chosen, doomed = doomed, []
        for start in range(0, len(chosen), RETENTION_BATCH):
            work.checkpoint(start, len(chosen))
            with db.write():
                doomed += _delete_still_doomed(db, params, cutoff, chosen[start : start + RETENTION_BATCH])
        work.report(len(chosen), len(chosen))
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
    )
