"""Token usage and its cost summed over messages, whole or grouped.

The database sums tokens per (group, model, UTC time slot, long-context band); each such
row is priced once (sidecar/store/cost.py), then rows fold into the groups asked for. A
slot is a UTC day, or a quarter hour when days and months are another time zone's (every
zone's offset is a multiple of 15 minutes), so a day is the user's, not UTC's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from .. import protocol as p
from ..errors import invalid
from . import Store
from .records import session_usage

GROUP_KEYS = {
    p.UsageGroupBy.AGENT: "coalesce(m.agent_name, s.agent_name, 'unknown')",
    p.UsageGroupBy.MODEL: "coalesce(s.model, 'unknown')",
    p.UsageGroupBy.SESSION: "m.session_id",
    p.UsageGroupBy.PROJECT: "coalesce(s.project_id, 'none')",
}
TIME_KEYS = {p.UsageGroupBy.DAY: "%Y-%m-%d", p.UsageGroupBy.MONTH: "%Y-%m"}
CALL_INPUT = "m.prompt_tokens + coalesce(m.cache_read_tokens, 0) + coalesce(m.cache_creation_tokens, 0)"
UTC_DAY = "substr(m.created_at, 1, 10)"
QUARTER_HOUR = "substr(m.created_at, 1, 13) || (CAST(substr(m.created_at, 15, 2) AS INTEGER) / 15)"
SOURCE = "FROM messages m JOIN sessions s ON s.id = m.session_id"
SUMS = (
    "coalesce(sum(m.prompt_tokens), 0), coalesce(sum(m.completion_tokens), 0),"
    " coalesce(sum(m.cache_read_tokens), 0), coalesce(sum(m.cache_creation_tokens), 0),"
    " coalesce(sum(m.thinking_tokens), 0), count(m.prompt_tokens)"
)


def total_tokens(usage: p.SessionUsage) -> int:
    """Every token the calls moved: prompt, completion and both kinds of cache."""
    return usage.prompt_tokens + usage.completion_tokens + usage.cache_read_tokens + usage.cache_creation_tokens


@attrs.define
class Sum:
    """One group's running figures."""

    counts: list[int] = attrs.field(factory=lambda: [0] * 6)  # SessionUsage's fields, in order
    cost: Decimal = Decimal(0)
    unpriced_calls: int = 0

    def add(self, counts: tuple[int, ...], price: Decimal | None) -> None:
        self.counts = [mine + theirs for mine, theirs in zip(self.counts, counts, strict=True)]
        if price is None:
            self.unpriced_calls += counts[5]
        else:
            self.cost += price

    def usage(self) -> p.SessionUsage:
        return session_usage(tuple(self.counts))


def get_usage(store: Store, params: p.GetUsageParams) -> p.GetUsageResult:
    from . import cost  # here: the price data takes ~0.12 s to load, which the sidecar's start need not pay

    zone = time_zone(params.time_zone)
    where, args = filters(params, zone)
    time_format = TIME_KEYS.get(params.group_by) if params.group_by is not None else None
    quarters = time_format is not None and zone is not UTC
    key = GROUP_KEYS.get(params.group_by, "''") if params.group_by is not None else "''"
    rows = store.db.execute(
        f"SELECT {key}, coalesce(s.model, 'unknown'), {QUARTER_HOUR if quarters else UTC_DAY},"
        f" {_band(band_starts(store))}, {SUMS}"
        f" {SOURCE} WHERE {where} GROUP BY 1, 2, 3, 4",
        args,
    )
    total, groups, unpriced = Sum(), dict[str, Sum](), set[str]()
    for group, model, slot, band, *counts in rows:
        start = _slot_start(slot)
        price = cost.cost(model, start.date(), band, cost.Tokens(*counts[:4]))
        if price is None:
            unpriced.add(model)
        total.add(tuple(counts), price)
        if params.group_by is not None:
            name = start.astimezone(zone).strftime(time_format) if time_format else group
            groups.setdefault(name, Sum()).add(tuple(counts), price)
    found = [
        p.UsageGroup(key=name, usage=figures.usage(), cost=float(figures.cost), unpriced_calls=figures.unpriced_calls)
        for name, figures in groups.items()
    ]
    found.sort(key=lambda group: (-total_tokens(group.usage), group.key))
    return p.GetUsageResult(total=total.usage(), groups=found, cost=float(total.cost), unpriced_models=sorted(unpriced))


def filters(params: p.GetUsageParams, zone: tzinfo) -> tuple[str, list[Any]]:
    """The WHERE clause over SOURCE, and its arguments, choosing the messages `params` ask for."""
    where, args = ["m.prompt_tokens IS NOT NULL"], list[Any]()
    for clause, value in (
        ("m.session_id = ?", params.session_id),
        ("s.project_id = ?", params.project_id),
        ("m.created_at >= ?", params.since and utc_stamp(params.since, zone, "since")),
        ("m.created_at < ?", params.until and utc_stamp(params.until, zone, "until")),
    ):
        if value is not None:
            where.append(clause)
            args.append(value)
    return " AND ".join(where), args


def band_starts(store: Store) -> list[int]:
    """The long-context bands of every model the history names (a handful: sessions are few)."""
    from . import cost  # as in get_usage

    return cost.bands(row[0] for row in store.db.execute("SELECT DISTINCT coalesce(model, 'unknown') FROM sessions"))


def time_zone(name: str | None) -> tzinfo:
    if name is None or name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid("timeZone", f"no time zone is named {name!r} (an IANA name, such as Europe/Paris)") from None


def utc_stamp(value: str, zone: tzinfo, field: str) -> str:
    """An ISO date or date-time as stored timestamps read (UTC, milliseconds); one without an
    offset is a time in `zone`."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(field, f"expected an ISO date or date-time, got {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _band(starts: list[int]) -> str:
    """SQL naming the band of a call's input: the highest start it exceeds (starts are
    integers from the price data, not user input)."""
    cases = " ".join(f"WHEN {CALL_INPUT} > {start} THEN {start}" for start in reversed(starts[1:]))
    return f"CASE {cases} ELSE 0 END" if cases else "0"


def _slot_start(slot: str) -> datetime:
    """When a UTC day `YYYY-MM-DD` or a quarter hour `YYYY-MM-DDTHHq` (q = 0..3) starts."""
    day = datetime.combine(date.fromisoformat(slot[:10]), datetime.min.time(), UTC)
    if len(slot) == 10:
        return day
    return day + timedelta(hours=int(slot[11:13]), minutes=15 * int(slot[13:]))
