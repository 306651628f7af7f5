"""Writing whole sessions read from elsewhere: other agents' transcripts, or our own export.

A session is written in one transaction, so an import never leaves half a session. Each
carries the key that identifies it in its source (`claude-code:<session uuid>`, …), kept
in `sessions.import_key`: importing the same source again finds the session and adds only
the messages it lacks (a transcript that grew since), matched by `clientMessageId`.

Many sessions are written together, a few statements for the lot (write_sessions): the
engine prepares every statement afresh, ~40 µs each, which made the ~15 statements a small
session took the import's bound. A new session's counters are tallied where its messages
are encoded (counters.Totals); one that grew is recounted from its rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from .. import protocol as p
from ..errors import PayloadTooLarge
from . import Settings, Store
from .changes import APPENDED, Recorded, record_changes
from .counters import TOTALS_COLUMNS, Totals, refresh_counters, totals_of
from .database import Database
from .messages import (
    HERE,
    ROW_CLIENT_ID,
    ROW_CLIENT_SCOPE,
    ROW_COMPACTED,
    ROW_CREATED_AT,
    ROW_ID,
    ROW_INDEX,
    ROW_MODEL,
    ROW_SESSION,
    insert_rows,
    prepare_rows,
)
from .records import SESSION_COLUMNS, new_id, session_from_row, to_json
from .redaction import Redactor, record_redactions
from .usage import prepare_bands


@attrs.define
class ImportedMessage:
    message: p.MessageInput
    created_at: str
    # Kept when the source is our own export or another machine (sync). Such a message is
    # identified by its id: its clientMessageId deduplicated retries where it was written and
    # says nothing of this machine's, which may number theirs alike (`u-1`, `u-2`, …).
    id: str | None = None
    compacted: bool = False
    # Handed out to be written (live capture): a reader no longer changes it.
    written: bool = False


@attrs.define
class ImportedSession:
    key: str
    kind: str
    messages: list[ImportedMessage]
    created_at: str
    updated_at: str
    id: str | None = None
    project_id: str | None = None
    title: str | None = None
    agent_name: str | None = None
    model: str | None = None
    parent_session_id: str | None = None
    parent_key: str | None = None  # resolved to parent_session_id when that source was imported
    forked_from_message_id: str | None = None
    ended_at: str | None = None
    metadata: dict[str, Any] = attrs.Factory(dict)
    changed_at: dict[str, str] = attrs.Factory(dict)  # when each field changed (store.fields)
    # (summary, through_index, created_at), in order
    compactions: list[tuple[str, int, str]] = attrs.Factory(list)
    edits: list[p.Edit] = attrs.Factory(list)


@attrs.define
class ImportOutcome:
    session: p.Session
    added: int  # messages written; 0 when everything was already there
    skipped: int  # messages over the size limit, left out


@attrs.define
class EncodedSession:
    """A session whose messages are encoded as rows, outside the lock (or in a reader
    process: everything here is plain enough to pickle cheaply)."""

    session: ImportedSession  # its messages dropped: the rows hold them
    rows: list[list[Any]]
    redactions: dict[int, Counter[str]]  # by row position, for the rows where something was masked
    skipped: int  # messages over the size limit, left out
    totals: Totals  # of its rows: the counters it has when it is created
    # What was masked in the session's own fields, compactions and edits (written only
    # when the session is created).
    session_redactions: Counter[str] = attrs.Factory(Counter)


def encode_session(settings: Settings, session: ImportedSession) -> EncodedSession:
    rows: list[list[Any]] = []
    redactions: dict[int, Counter[str]] = {}
    stored: list[tuple[p.MessageInput, bool, str]] = []
    skipped = 0
    for imported in session.messages:
        try:
            message_id = imported.id or new_id(imported.created_at)
            [prepared] = prepare_rows(settings, "", [imported.message], [imported.created_at], [message_id])
        except PayloadTooLarge:
            skipped += 1
            continue
        prepared.row[ROW_COMPACTED] = int(imported.compacted)
        if imported.id is not None:
            prepared.row[ROW_CLIENT_SCOPE] = message_id
        if prepared.redactions:
            redactions[len(rows)] = prepared.redactions
        rows.append(prepared.row)
        stored.append((prepared.message, imported.compacted, imported.created_at))
    masker = Redactor(settings.redact)
    masked = _masked(session, masker)
    return EncodedSession(masked, rows, redactions, skipped, totals_of(stored), masker.counts)


def _masked(session: ImportedSession, masker: Redactor) -> ImportedSession:
    """The session without its messages (the rows hold them), its texts masked."""
    return attrs.evolve(
        session,
        messages=[],
        kind=masker.text(session.kind),
        title=masker.optional(session.title),
        agent_name=masker.optional(session.agent_name),
        model=masker.optional(session.model),
        metadata=masker.value(session.metadata),
        compactions=[(masker.text(summary), through, at) for summary, through, at in session.compactions],
        edits=[
            attrs.evolve(
                edit,
                file_path=masker.text(edit.file_path),
                new_path=masker.optional(edit.new_path),
                diff=masker.diff(edit.diff),
            )
            for edit in session.edits
        ],
    )


@attrs.define
class _Planned:
    """What one session of a run writes: its id, the rows it lacks, the change it makes."""

    encoded: EncodedSession
    session_id: str
    project_id: str | None
    change: p.SessionChange
    rows: list[list[Any]]
    redactions: Counter[str]
    next_index: int = 0  # of a stored session: where its new rows go
    seqs: tuple[int, int] | None = None


@attrs.frozen
class _Stored:
    session_id: str
    import_key: str | None
    next_index: int
    project_id: str | None


def import_sessions(store: Store, sessions: list[EncodedSession]) -> list[ImportOutcome]:
    """Write whole sessions, all in one transaction: one fsync for many small sessions."""
    with store.db.write():
        prepare_bands_for(store.db, sessions)
        return write_sessions(store, sessions)


def prepare_bands_for(db: Database, sessions: Sequence[EncodedSession]) -> None:
    """Before writing `sessions` (inside that write): usage buckets split at their models'
    long-context tiers (sidecar.store.usage.prepare_bands)."""
    prepare_bands(db, {model for encoded in sessions for model in _models(encoded)})


def _models(encoded: EncodedSession) -> set[str]:
    """The models the session's calls may be priced at: their own and the session's."""
    own = {row[ROW_MODEL] for row in encoded.rows if row[ROW_MODEL] is not None}
    return {*own, encoded.session.model or "unknown"} if encoded.rows else set()


def write_session(store: Store, encoded: EncodedSession) -> ImportOutcome:
    [outcome] = write_sessions(store, [encoded])
    return outcome


def write_sessions(store: Store, sessions: list[EncodedSession]) -> list[ImportOutcome]:
    """Write sessions inside the caller's transaction, a few statements for many: the
    sessions looked up, created, their messages and feed rows inserted, each for a whole
    run at once (statements, not rows, are what cost here: each is prepared afresh)."""
    outcomes: list[ImportOutcome] = []
    for run in _distinct_runs(sessions):
        while run:
            written, run = _write_run(store, run)
            outcomes += written
    return outcomes


def _names(session: ImportedSession) -> set[tuple[str, str]]:
    return {("key", session.key)} | (set() if session.id is None else {("id", session.id)})


def _distinct_runs(sessions: list[EncodedSession]) -> Iterator[list[EncodedSession]]:
    """The sessions in order, cut before one that names (by key or id) a session named
    earlier in its run: it must find that one written, and add to it only what it lacks."""
    run: list[EncodedSession] = []
    names: set[tuple[str, str]] = set()
    for encoded in sessions:
        own = _names(encoded.session)
        if names & own:
            yield run
            run, names = [], set()
        run.append(encoded)
        names |= own
    if run:
        yield run


def _write_run(store: Store, run: list[EncodedSession]) -> tuple[list[ImportOutcome], list[EncodedSession]]:
    """Write the run up to a session that adds to one stored session another of the run
    adds to (found by key, then by id); the outcomes, and the sessions left to write."""
    db = store.db
    by_key, by_id = _stored(db, run)
    targets: list[_Stored | None] = []
    for encoded in run:
        session = encoded.session
        stored = by_key.get(session.key) or (by_id.get(session.id) if session.id is not None else None)
        if stored is not None and stored in targets:
            break
        targets.append(stored)
    known = _known_messages(db, [stored.session_id for stored in targets if stored is not None])
    ids = {key: stored.session_id for key, stored in by_key.items()}  # grows with the sessions created
    plans: list[_Planned] = []
    for encoded, stored in zip(run, targets, strict=False):
        if stored is None:
            plans.append(_planned_creation(encoded, ids, store.settings.default_project_id))
            ids[encoded.session.key] = plans[-1].session_id
        else:
            plans.append(_planned_addition(encoded, stored, known.get(stored.session_id, set())))
    _write_plans(db, plans)
    select = f"SELECT {SESSION_COLUMNS} FROM sessions"
    loaded = {row[0]: session_from_row(row) for row in db.by_ids(select, [plan.session_id for plan in plans])}
    outcomes = [ImportOutcome(loaded[plan.session_id], len(plan.rows), plan.encoded.skipped) for plan in plans]
    return outcomes, run[len(plans) :]


def _write_plans(db: Database, plans: list[_Planned]) -> None:
    created = [plan for plan in plans if plan.change is p.SessionChange.CREATED]
    _create(db, created)
    _insert(db, plans)
    _insert_compactions_and_edits(db, created)
    for plan in plans:
        if plan.change is not p.SessionChange.CREATED:
            _count_addition(db, plan)
    record_redactions(db, sum((plan.redactions for plan in plans), Counter[str]()))
    record_changes(db, [change for plan in plans for change in _feed_rows(plan)])


def _stored(db: Database, run: list[EncodedSession]) -> tuple[dict[str, _Stored], dict[str, _Stored]]:
    """The run's sessions already stored, by import key and by id; parents' keys too."""
    keys = sorted({e.session.key for e in run} | {e.session.parent_key for e in run if e.session.parent_key})
    ids = sorted({e.session.id for e in run if e.session.id is not None})
    select = "SELECT id, import_key, next_index, project_id FROM sessions"
    by_key = {row[1]: _Stored(*row) for row in db.by_ids(select, keys, column="import_key")}
    return by_key, {row[0]: _Stored(*row) for row in db.by_ids(select, ids)}


def _planned_creation(encoded: EncodedSession, ids: dict[str, str], default_project_id: str | None) -> _Planned:
    session = encoded.session
    # Its parent: given, or a session imported before it (earlier in this run or stored).
    if session.parent_session_id is None and session.parent_key is not None and session.parent_key in ids:
        session = attrs.evolve(session, parent_session_id=ids[session.parent_key])
        encoded = attrs.evolve(encoded, session=session)
    found = [*encoded.redactions.values(), encoded.session_redactions]
    return _Planned(
        encoded,
        session.id or new_id(session.created_at),
        session.project_id or default_project_id,
        p.SessionChange.CREATED,
        encoded.rows,
        sum(found, Counter[str]()),
    )


def _planned_addition(encoded: EncodedSession, stored: _Stored, known: set[tuple[str, str]]) -> _Planned:
    new = [position for position, row in enumerate(encoded.rows) if not _is_known(row, known)]
    found = [encoded.redactions[position] for position in new if position in encoded.redactions]
    return _Planned(
        encoded,
        stored.session_id,
        stored.project_id,
        p.SessionChange.UPDATED,
        [encoded.rows[position] for position in new],
        sum(found, Counter[str]()),
        stored.next_index,
    )


# Columns of a created session, its counters tallied beforehand (Totals) included.
CREATED_COLUMNS = (
    "id, project_id, kind, title, agent_name, model, parent_session_id, forked_from_message_id, created_at,"
    f" updated_at, ended_at, metadata, import_key, changed_at, next_index, {TOTALS_COLUMNS}"
)
# Rows per INSERT, well under the engine's bound-parameter limit.
CREATE_BATCH = 200  # of 29 columns
COMPACTION_BATCH = 1000
EDIT_BATCH = 500


def _create(db: Database, plans: list[_Planned]) -> None:
    if plans:
        db.insert_rows(f"sessions ({CREATED_COLUMNS})", [_created_row(plan) for plan in plans], CREATE_BATCH)


def _created_row(plan: _Planned) -> tuple[Any, ...]:
    session, totals = plan.encoded.session, plan.encoded.totals
    last = totals.last_message_at
    return (
        plan.session_id,
        plan.project_id,
        session.kind,
        session.title,
        session.agent_name,
        session.model,
        session.parent_session_id,
        session.forked_from_message_id,
        session.created_at,
        session.updated_at if last is None else max(session.updated_at, last),
        session.ended_at,
        to_json(session.metadata),
        session.key,
        to_json(session.changed_at),
        len(plan.rows),
        *totals.values(),
    )


def _insert(db: Database, plans: list[_Planned]) -> None:
    """Every run's new rows in statements of INSERT_BATCH; each plan learns its seqs
    (consecutive inside one write transaction)."""
    rows: list[list[Any]] = []
    for plan in plans:
        for position, row in enumerate(plan.rows):
            row[ROW_SESSION] = plan.session_id
            row[ROW_INDEX] = plan.next_index + position
        rows += plan.rows
    if not rows:
        return
    first_seq, _ = insert_rows(db, rows)
    for plan in plans:
        if plan.rows:
            plan.seqs = (first_seq, first_seq + len(plan.rows) - 1)
            first_seq += len(plan.rows)


def _count_addition(db: Database, plan: _Planned) -> None:
    """A stored session's counters once rows or compactions were added to it (recounted:
    the rows it had are not at hand)."""
    if plan.rows:
        db.execute(
            "UPDATE sessions SET next_index = ?, updated_at = max(updated_at, ?) WHERE id = ?",
            (plan.next_index + len(plan.rows), max(row[ROW_CREATED_AT] for row in plan.rows), plan.session_id),
        )
    if _add_compactions(db, plan.session_id, plan.encoded.session.compactions):
        plan.change = p.SessionChange.COMPACTED
    if plan.rows or plan.change is p.SessionChange.COMPACTED:
        refresh_counters(db, plan.session_id)


def _feed_rows(plan: _Planned) -> list[Recorded]:
    """Its appended rows, then what became of it, unless nothing did."""
    feed = []
    if plan.seqs is not None:
        feed.append(Recorded(plan.session_id, plan.project_id, APPENDED, *plan.seqs))
    if plan.rows or plan.change is not p.SessionChange.UPDATED:
        feed.append(Recorded(plan.session_id, plan.project_id, plan.change.value))
    return feed


def _known_messages(db: Database, session_ids: list[str]) -> dict[str, set[tuple[str, str]]]:
    """Each session's messages as ("id", id) and, for those written here, ("client", clientMessageId)."""
    known: dict[str, set[tuple[str, str]]] = {}
    select = "SELECT session_id, id, client_message_id, client_scope FROM messages"
    for session_id, message_id, key, scope in db.by_ids(select, sorted(set(session_ids)), column="session_id"):
        found = known.setdefault(session_id, set())
        found.add(("id", message_id))
        if key is not None and scope == HERE:
            found.add(("client", key))
    return known


def _is_known(row: list[Any], known: set[tuple[str, str]]) -> bool:
    key = row[ROW_CLIENT_ID]
    here = key is not None and row[ROW_CLIENT_SCOPE] == HERE
    return (here and ("client", key) in known) or ("id", row[ROW_ID]) in known


def _add_compactions(db: Database, session_id: str, compactions: list[tuple[str, int, str]]) -> bool:
    """Compactions of a source that grew since it was imported: the ones not recorded yet
    are, and the messages they cover become compacted. Whether there was any."""
    added = False
    for summary, through_index, created_at in compactions:
        if db.one(
            "SELECT 1 FROM compactions WHERE session_id = ? AND through_index = ? AND created_at = ?",
            (session_id, through_index, created_at),
        ):
            continue
        db.execute(
            "INSERT INTO compactions (session_id, summary, through_index, created_at) VALUES (?, ?, ?, ?)",
            (session_id, summary, through_index, created_at),
        )
        db.execute(
            "UPDATE messages SET compacted = 1 WHERE session_id = ? AND compacted = 0 AND idx <= ?",
            (session_id, through_index),
        )
        added = True
    return added


def _insert_compactions_and_edits(db: Database, plans: list[_Planned]) -> None:
    """Those of the sessions created, a statement for many."""
    compactions = [(plan.session_id, *compaction) for plan in plans for compaction in plan.encoded.session.compactions]
    if compactions:
        db.insert_rows("compactions (session_id, summary, through_index, created_at)", compactions, COMPACTION_BATCH)
    edits = [
        (edit.id, plan.session_id, edit.message_id, edit.file_path, edit.kind.value, edit.diff, edit.new_path,
         edit.created_at)
        for plan in plans
        for edit in plan.encoded.session.edits
    ]  # fmt: skip
    if edits:
        db.insert_rows(
            "edits (id, session_id, message_id, file_path, kind, diff, new_path, created_at)", edits, EDIT_BATCH
        )
