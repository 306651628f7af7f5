"""When each field of a session that a user sets last changed, so that sync merges sessions
field by field: a rename or an end on one machine is never undone by an unrelated change on
another (an append there rewrites its whole, older session record with a later time).

Kept in `sessions.changed_at` as {"title": time, "endedAt": time, "metadata.<key>": time},
times as the contract writes them; a field not named there has not changed since the
session was created. A field's value None means unset: no title, not ended, no such key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from .database import Database
from .records import to_json

TITLE, ENDED_AT, METADATA = "title", "endedAt", "metadata."
STORED = "title, ended_at, metadata, changed_at, created_at"  # the columns `stored_fields` reads
SHOWN = ("title", "ended_at", "metadata")  # the columns of `columns` that hold values, not times


@attrs.frozen
class Field:
    time: str
    value: Any


Fields = dict[str, Field]


def metadata_fields(keys: Iterable[str]) -> list[str]:
    return [METADATA + key for key in keys]


def note_changes(db: Database, session_id: str, names: Iterable[str], stamp: str) -> None:
    """Record that these fields changed at `stamp`; inside the caller's write transaction."""
    changed = json.loads(db.scalar("SELECT changed_at FROM sessions WHERE id = ?", (session_id,)) or "{}")
    changed.update(dict.fromkeys(names, stamp))
    db.execute("UPDATE sessions SET changed_at = ? WHERE id = ?", (to_json(changed), session_id))


def fields_of(
    title: str | None, ended_at: str | None, metadata: dict[str, Any], changed: dict[str, str], created_at: str
) -> Fields:
    values = {TITLE: title, ENDED_AT: ended_at} | dict(zip(metadata_fields(metadata), metadata.values(), strict=True))
    return {name: Field(changed.get(name, created_at), values.get(name)) for name in values.keys() | changed.keys()}


def stored_fields(row: Sequence[Any]) -> Fields:
    """The fields of a session as stored here, from a row of STORED."""
    title, ended_at, metadata, changed_at, created_at = row
    return fields_of(title, ended_at, json.loads(metadata), json.loads(changed_at), created_at)


def latest(ours: Fields, theirs: Fields, created_at: str) -> Fields:
    """Field by field, the later change. Equal times (a field neither side changed counts as
    changed at creation) are settled by the value, so every machine makes the same choice."""
    unchanged = Field(created_at, None)

    def rank(field: Field) -> tuple[str, str]:
        return field.time, to_json(field.value)

    return {
        name: max(ours.get(name, unchanged), theirs.get(name, unchanged), key=rank)
        for name in ours.keys() | theirs.keys()
    }


def columns(fields: Fields, created_at: str) -> dict[str, Any]:
    """The sessions columns that hold `fields`: title, ended_at, metadata and changed_at (JSON)."""
    metadata = {
        name[len(METADATA) :]: field.value
        for name, field in sorted(fields.items())
        if name.startswith(METADATA) and field.value is not None
    }
    changed = {name: field.time for name, field in sorted(fields.items()) if field.time != created_at}
    return {
        "title": fields[TITLE].value,
        "ended_at": fields[ENDED_AT].value,
        "metadata": to_json(metadata),
        "changed_at": to_json(changed),
    }
