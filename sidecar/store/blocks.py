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
from .usage import MODEL, Sum, session_filters, span_of, time_zone, total_tokens

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
    where, args = session_filters(params)
    span = span_of(params, time_zone(params.time_zone))
    for clause, value in (("b.created_at >= ?", span.since), ("b.created_at < ?", span.until)):
        if value is not None:
            where.append(clause)
            args.append(value)
    rows = store.db.execute(
        f"SELECT b.created_at, {MODEL}, b.prompt_tokens, coalesce(b.completion_tokens, 0),"
        " coalesce(b.cache_read_tokens, 0), coalesce(b.cache_creation_tokens, 0), coalesce(b.thinking_tokens, 0),"
        " coalesce(b.cache_creation_1h_tokens, 0) FROM messages b JOIN sessions s ON s.id = b.session_id"
        f" WHERE b.prompt_tokens IS NOT NULL AND {' AND '.join(where)} AND json_extract(s.metadata, '$.source') = ?"
        " ORDER BY b.created_at",
        [*args, claude_code.FORMAT],
    )
    return blocks_of(rows)


def blocks_of(rows: Iterable[tuple[str, str, int, int, int, int, int, int]]) -> list[Block]:
    """Blocks of calls `(createdAt, model, prompt, completion, cache read, cache write,
    thinking, 1-hour cache write)` in time order."""
    found: list[Block] = []
    for stamp, model, *counts in rows:
        at = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
        if not found or at >= found[-1].end or at - found[-1].last_call > LENGTH:
            found.append(Block(start=at.replace(minute=0, second=0, microsecond=0), first_call=at, last_call=at))
        block = found[-1]
        tokens = cost.Tokens(counts[0], counts[1], counts[2], counts[3], counts[5])
        block.figures.add((*counts[:5], 1), cost.cost(model, at.date(), cost.band_of(model, tokens), tokens))
        block.last_call = at
        block.models.add(model)
    return found
