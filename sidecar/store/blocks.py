"""Claude's 5-hour billing windows, as ccusage's `blocks` shows them, over Claude Code's
sessions only (another agent's calls are not in Claude's windows).

A block starts at the hour of its first call (UTC) and lasts five hours; a call after the
block's end, or more than five hours after the previous call, starts the next one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs

from .. import protocol as p
from ..transcripts import claude_code
from . import Store, cost
from .usage import SOURCE, Sum, band_starts, filters, time_zone, total_tokens

LENGTH = timedelta(hours=5)


@attrs.define
class Block:
    start: datetime
    first_call: datetime
    last_call: datetime
    figures: Sum = attrs.field(factory=Sum)
    models: set[str] = attrs.field(factory=set)

    @property
    def end(self) -> datetime:
        return self.start + LENGTH

    def active(self, now: datetime) -> bool:
        return now < self.end and now - self.last_call < LENGTH

    def tokens(self) -> int:
        return total_tokens(self.figures.usage())

    def projection(self, now: datetime) -> tuple[float, int, Decimal]:
        """Tokens per minute between the first and last call, and the block's tokens and cost
        at its end if they go on at that rate."""
        minutes = max((self.last_call - self.first_call).total_seconds() / 60, 1.0)
        rate = self.tokens() / minutes
        left = max((self.end - now).total_seconds() / 60, 0.0)
        cost_rate = self.figures.cost / Decimal(minutes)
        return rate, self.tokens() + round(rate * left), self.figures.cost + cost_rate * Decimal(left)


def usage_blocks(store: Store, params: p.GetUsageParams) -> list[Block]:
    """The blocks of the calls `params` choose, oldest first."""
    where, args = filters(params, time_zone(params.time_zone))
    rows = store.db.execute(
        "SELECT m.created_at, coalesce(s.model, 'unknown'), m.prompt_tokens, coalesce(m.completion_tokens, 0),"
        " coalesce(m.cache_read_tokens, 0), coalesce(m.cache_creation_tokens, 0), coalesce(m.thinking_tokens, 0)"
        f" {SOURCE} WHERE {where} AND json_extract(s.metadata, '$.source') = ? ORDER BY m.created_at",
        [*args, claude_code.FORMAT],
    )
    return blocks_of(rows, band_starts(store))


def blocks_of(rows: Iterable[tuple[str, str, int, int, int, int, int]], starts: list[int]) -> list[Block]:
    """Blocks of calls `(createdAt, model, prompt, completion, cache read, cache write, thinking)`
    in time order, their calls priced in the long-context `starts` bands."""
    found: list[Block] = []
    for stamp, model, *counts in rows:
        at = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
        if not found or at >= found[-1].end or at - found[-1].last_call > LENGTH:
            found.append(Block(start=at.replace(minute=0, second=0, microsecond=0), first_call=at, last_call=at))
        block = found[-1]
        tokens = cost.Tokens(*counts[:4])
        band = max((start for start in starts if cost.call_input(tokens) > start), default=0)
        block.figures.add((*counts, 1), cost.cost(model, at.date(), band, tokens))
        block.last_call = at
        block.models.add(model)
    return found
