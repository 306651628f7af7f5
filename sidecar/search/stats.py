"""`history/stats` with how far the search index is behind: the store's own counts know
nothing of the index, a derived file of this package."""

from __future__ import annotations

import attrs

from .. import protocol as p
from ..store import Store, housekeeping
from .index import messages_behind, search_index, search_path


def index_behind(store: Store) -> int | None:
    """Messages not yet searchable; None for a read-only store without an index (it builds none)."""
    if store.search is None and not search_path(store.path).exists():
        return None if store.db.read_only else int(store.db.scalar("SELECT count(*) FROM messages"))
    return messages_behind(store.db, search_index(store))


def stats(store: Store, params: None = None) -> p.StatsResult:
    return attrs.evolve(housekeeping.stats(store), index_behind=index_behind(store))
