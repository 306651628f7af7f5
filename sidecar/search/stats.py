"""`history/stats` with how far the search index is behind: the store's own counts know
nothing of the index, a derived file of this package."""

from __future__ import annotations

import logging

import attrs

from .. import protocol as p
from ..errors import HistoryError
from ..store import Store, housekeeping
from .index import index_exists, messages_behind, search_index

log = logging.getLogger(__name__)


def index_behind(store: Store) -> int | None:
    """Messages not yet searchable; None when that cannot be told: a read-only store without
    an index (it builds none), an index that cannot be opened (the counts are still worth
    answering with)."""
    if store.search is None and not index_exists(store.path, store.settings.encryption_key):
        return None if store.db.read_only else int(store.db.scalar("SELECT count(*) FROM messages"))
    try:
        return messages_behind(store.db, search_index(store))
    except HistoryError as error:
        log.warning("stats without indexBehind: %s", error.message)
        return None


def stats(store: Store, params: None = None) -> p.StatsResult:
    return attrs.evolve(housekeeping.stats(store), index_behind=index_behind(store))
