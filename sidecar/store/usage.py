"""Token usage and its cost summed over messages, whole or grouped.

Reports read the usage buckets (sidecar/store/buckets.py): calls summed per session, UTC
quarter hour, model, agent and long-context band. The database folds them per (group,
model, UTC day, user's day, band); each such row is priced once (sidecar/store/cost.py:
prices change at UTC midnight), then rows fold into the groups asked for. A user's day is
found from the quarter hour and the zone's offset then, so days are the user's, not UTC's.
Where since/until cut a quarter hour, that part is summed from its messages.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from .. import protocol as p
from ..errors import invalid
from . import Store, buckets
from .database import Database
from .records import session_usage

# Over `b`, a usage_buckets row (or one message shaped as one), and `s`, its session.
MODEL = "coalesce(nullif(b.model, ''), s.model, 'unknown')"
AGENT = "coalesce(nullif(b.agent_name, ''), s.agent_name, 'unknown')"
GROUP_KEYS = {
    p.UsageGroupBy.AGENT: AGENT,
    p.UsageGroupBy.MODEL: MODEL,
    p.UsageGroupBy.SESSION: "b.session_id",
    p.UsageGroupBy.PROJECT: "coalesce(s.project_id, 'none')",
}
TIME_KEYS = {p.UsageGroupBy.DAY: "%Y-%m-%d", p.UsageGroupBy.MONTH: "%Y-%m"}
UTC_DAY = f"b.quarter / {buckets.QUARTERS_PER_DAY}"
SUMS = ", ".join(f"sum(b.{name})" for name in buckets.SUMMED)
EPOCH = date(1970, 1, 1)


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


@attrs.frozen
class Span:
    """The UTC times a report covers: whole quarter hours [first, last) read from buckets,
    and the parts of quarters before and after, [since, first) and [last, until), from messages."""

    since: str | None
    until: str | None
    first: int | None
    last: int | None

    def edges(self) -> list[tuple[str, str]]:
        """The created_at ranges summed from messages."""
        if self.first is not None and self.last is not None and self.first >= self.last:
            return [(self.since or "", self.until or "~")]  # inside one quarter hour
        found = []
        if self.since is not None and self.first is not None and _quarter_stamp(self.first) != self.since:
            found.append((self.since, _quarter_stamp(self.first)))
        if self.until is not None and self.last is not None and _quarter_stamp(self.last) != self.until:
            found.append((_quarter_stamp(self.last), self.until))
        return found

    def whole(self) -> bool:
        return self.first is None or self.last is None or self.first < self.last


def get_usage(store: Store, params: p.GetUsageParams) -> p.GetUsageResult:
    from . import cost  # here: the price data takes ~0.12 s to load, which the sidecar's start need not pay

    ensure_bands(store.db, cost.bands(buckets.models(store.db)))
    zone = time_zone(params.time_zone)
    span = span_of(params, zone)
    time_format = TIME_KEYS.get(params.group_by) if params.group_by is not None else None
    total, groups, unpriced = Sum(), dict[str, Sum](), set[str]()
    for group, model, utc_day, local_day, band, *counts in _rows(store.db, params, span, zone, time_format):
        price = cost.cost(
            model,
            EPOCH + timedelta(days=utc_day),
            band,
            cost.Tokens(counts[0], counts[1], counts[2], counts[3], counts[6]),
        )
        if price is None:
            unpriced.add(model)
        figures = tuple(counts[:6])
        total.add(figures, price)
        if params.group_by is not None:
            name = (EPOCH + timedelta(days=local_day)).strftime(time_format) if time_format else group
            groups.setdefault(name, Sum()).add(figures, price)
    found = [
        p.UsageGroup(key=name, usage=figures.usage(), cost=float(figures.cost), unpriced_calls=figures.unpriced_calls)
        for name, figures in groups.items()
    ]
    found.sort(key=lambda group: (-total_tokens(group.usage), group.key))
    return p.GetUsageResult(total=total.usage(), groups=found, cost=float(total.cost), unpriced_models=sorted(unpriced))


@attrs.frozen
class Source:
    """Rows shaped as usage_buckets (alias `b`), which of them, and the arguments."""

    table: str
    where: list[str]
    args: list[Any]

    def sql(self, columns: str) -> str:
        joined = f"{self.table} b JOIN sessions s ON s.id = b.session_id"
        return f"SELECT {columns} FROM {joined} WHERE {' AND '.join(self.where)}"


def sources(params: p.GetUsageParams, span: Span) -> list[Source]:
    """The buckets of whole quarter hours, then the messages of the parts."""
    where, args = session_filters(params)
    found = []
    if span.whole():
        bounds = (("b.quarter >= ?", span.first), ("b.quarter < ?", span.last))
        chosen = [(clause, value) for clause, value in bounds if value is not None]
        found.append(Source("usage_buckets", [*where, *(c for c, _ in chosen)], [*args, *(v for _, v in chosen)]))
    for since, until in span.edges():
        found.append(
            Source(buckets.of_messages("m.created_at >= ? AND m.created_at < ?"), where, [since, until, *args])
        )
    return found


def _rows(
    db: Database, params: p.GetUsageParams, span: Span, zone: tzinfo, time_format: str | None
) -> Iterator[tuple[Any, ...]]:
    """(group, model, UTC day, user's day, band, *buckets.SUMMED) of every source."""
    key = GROUP_KEYS.get(params.group_by, "''") if params.group_by is not None else "''"
    for source in sources(params, span):
        local_day = _local_day(db, zone, source) if time_format and zone is not UTC else UTC_DAY
        columns = f"{key}, {MODEL}, {UTC_DAY}, {local_day}, b.band, {SUMS}"
        yield from db.execute(f"{source.sql(columns)} GROUP BY 1, 2, 3, 4, 5", source.args)


def session_filters(params: p.GetUsageParams) -> tuple[list[str], list[Any]]:
    """WHERE clauses over `b` and `s`, and their arguments, for the session, project and agent asked for."""
    where, args = ["1"], list[Any]()
    for clause, value in (
        ("b.session_id = ?", params.session_id),
        ("s.project_id = ?", params.project_id),
        (f"{AGENT} = ?", params.agent),
    ):
        if value is not None:
            where.append(clause)
            args.append(value)
    return where, args


def span_of(params: p.GetUsageParams, zone: tzinfo) -> Span:
    since = None if params.since is None else utc_stamp(params.since, zone, "since")
    until = None if params.until is None else utc_stamp(params.until, zone, "until")
    first = None if since is None else math.ceil(_seconds(since) / buckets.QUARTER_SECONDS)
    last = None if until is None else math.floor(_seconds(until) / buckets.QUARTER_SECONDS)
    return Span(since, until, first, last)


def _local_day(db: Database, zone: tzinfo, source: Source) -> str:
    """SQL: the day in `zone` of bucket `b`'s quarter hour (days since the epoch), from the
    zone's offsets over the quarters `source` holds."""
    low, high = db.one(source.sql("min(b.quarter), max(b.quarter)"), source.args) or (None, None)
    changes = offsets(zone, low or 0, high or 0)
    cases = " ".join(
        f"WHEN b.quarter < {start} THEN {offset}" for (start, _), (_, offset) in zip(changes[1:], changes, strict=False)
    )
    shift = f"CASE {cases} ELSE {changes[-1][1]} END" if cases else str(changes[0][1])
    return f"(b.quarter + {shift}) / {buckets.QUARTERS_PER_DAY}"


def offsets(zone: tzinfo, low: int, high: int) -> list[tuple[int, int]]:
    """(first quarter hour, offset in quarter hours) of each offset `zone` has from quarter
    `low` to `high`: the first's start is `low`; each next begins where the zone changes."""

    def offset(quarter: int) -> int:
        moment = datetime.fromtimestamp(quarter * buckets.QUARTER_SECONDS, UTC)
        return int(moment.astimezone(zone).utcoffset().total_seconds()) // buckets.QUARTER_SECONDS  # type: ignore[union-attr]

    found = [(low, offset(low))]
    day = buckets.QUARTERS_PER_DAY
    for start in range(low, high + 1, day):
        end = min(start + day, high + 1)
        if offset(end - 1) == found[-1][1]:
            continue
        before, after = start, end - 1  # offset(before) is the current one, offset(after) not
        while after - before > 1:
            middle = (before + after) // 2
            before, after = (middle, after) if offset(middle) == found[-1][1] else (before, middle)
        found.append((after, offset(after)))
    return found


def ensure_bands(db: Database, needed: list[int]) -> None:
    """Sum the buckets again when a model of the history has a long-context start they do not
    split at (once per such model); a read-only store reports with the bands it has."""
    if set(needed) <= set(buckets.stored_bands(db)) or db.read_only:
        return
    with db.write():
        _extend_bands(db, needed)


def prepare_bands(db: Database, models: set[str]) -> None:
    """Before calls of `models` are written (inside that write): bands for any model new to
    the history, while the buckets hold none of its calls (an import of a new model's files
    then leaves its first report nothing to sum again)."""
    new = models - buckets.known_models(db, models) if models else set()
    if new:
        from . import cost  # as in get_usage: only when a model is new

        _extend_bands(db, cost.bands(new))
        buckets.note_models(db, new)


def _extend_bands(db: Database, needed: list[int]) -> None:
    stored = buckets.stored_bands(db)
    if not set(needed) <= set(stored):
        buckets.rebuild(db, sorted(set(needed) | set(stored)))


def time_zone(name: str | None) -> tzinfo:
    if name is None or name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid("timeZone", f"no time zone is named {name!r} (an IANA name, such as Europe/Paris)") from None


def moment_of(value: str, zone: tzinfo, field: str) -> datetime:
    """An ISO date or date-time; one without an offset is a time in `zone`."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(field, f"expected an ISO date or date-time, got {value!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def utc_stamp(value: str, zone: tzinfo, field: str) -> str:
    """An ISO date or date-time as stored timestamps read (UTC, milliseconds); one without an
    offset is a time in `zone`."""
    return _stamp(moment_of(value, zone, field))


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _quarter_stamp(quarter: int) -> str:
    return _stamp(datetime.fromtimestamp(quarter * buckets.QUARTER_SECONDS, UTC))
