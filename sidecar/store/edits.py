"""File edits an agent made, and the inverse patches that undo them."""

from __future__ import annotations

from typing import Any

from .. import protocol as p
from ..errors import MessageNotFound, invalid
from . import Store
from .patches import invert
from .records import EDIT_COLUMNS, edit_from_row, new_id, now
from .redaction import Redactor
from .sessions import load_session


def record_edit(store: Store, params: p.RecordEditParams) -> p.Edit:
    if params.kind is p.EditKind.RENAME and not params.new_path:
        raise invalid("newPath", "required for kind rename")
    try:
        invert(params.diff)  # rejected now rather than failing at revert time
    except ValueError as error:
        raise invalid("diff", f"expected a unified diff ({error})") from None
    masker = Redactor(store.settings.redact)  # before the lock: a diff can be long
    file_path, new_path = masker.text(params.file_path), masker.optional(params.new_path)
    diff = masker.diff(params.diff)  # line by line: still a diff that inverts
    db = store.db
    with db.write():
        load_session(db, params.session_id)
        if (
            params.message_id is not None
            and db.scalar(
                "SELECT 1 FROM messages WHERE session_id = ? AND id = ?", (params.session_id, params.message_id)
            )
            is None
        ):
            raise MessageNotFound(params.message_id, params.session_id)
        seq = db.insert(
            "INSERT INTO edits (id, session_id, message_id, file_path, kind, diff, new_path, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new_id(),
                params.session_id,
                params.message_id,
                file_path,
                params.kind.value,
                diff,
                new_path,
                now(),
            ),
        )
        masker.record(db)
        row = db.one(f"SELECT {EDIT_COLUMNS} FROM edits WHERE seq = ?", (seq,))  # RETURNING is slow here
        assert row is not None
    return edit_from_row(row)


def list_edits(store: Store, params: p.ListEditsParams) -> p.ListEditsResult:
    where, args = ["1"], []
    if params.session_id is not None:
        where.append("session_id = ?")
        args.append(params.session_id)
    if params.file_path is not None:
        where.append("(file_path = ? OR new_path = ?)")
        args += [params.file_path, params.file_path]
    if params.since is not None:
        where.append("created_at >= ?")
        args.append(params.since)
    rows = store.db.execute(
        f"SELECT {EDIT_COLUMNS} FROM edits WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?",
        (*args, params.limit),
    )
    return p.ListEditsResult(edits=[edit_from_row(row) for row in rows])


def revert_edits(store: Store, params: p.RevertEditsParams) -> p.RevertEditsResult:
    db = store.db
    load_session(db, params.session_id)
    after_seq: Any = -1
    if params.after_edit_id is not None:
        after_seq = db.scalar(
            "SELECT seq FROM edits WHERE session_id = ? AND id = ?", (params.session_id, params.after_edit_id)
        )
        if after_seq is None:
            raise invalid("afterEditId", "expected the id of an edit of this session")
    rows = db.execute(
        f"SELECT {EDIT_COLUMNS} FROM edits WHERE session_id = ? AND seq > ? ORDER BY seq DESC",
        (params.session_id, after_seq),
    )
    patches = []
    for edit in map(edit_from_row, rows):
        # A rename is undone on the file as it is now named.
        path = edit.new_path if edit.kind is p.EditKind.RENAME and edit.new_path else edit.file_path
        patches.append(p.Patch(file_path=path, diff=invert(edit.diff)))
    return p.RevertEditsResult(patches=patches)
