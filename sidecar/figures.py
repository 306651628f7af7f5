"""Figures, times and paths as people read them, one way everywhere (the terminal, exports)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

SPAN = re.compile(r"(\d+)\s*([mhdw])")  # 7d, 12h, 2w, 30m before now
SPAN_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def is_span(text: str) -> bool:
    return SPAN.fullmatch(text.strip()) is not None


def moment(text: str) -> str:
    """`7d`, `12h`, `2w`, `30m` before now, or an ISO 8601 date or time (one without an offset
    is UTC), as the contract's timestamp. ValueError when it is neither (or out of range)."""
    span = SPAN.fullmatch(text.strip())
    try:
        if span:
            at = datetime.now(UTC) - timedelta(**{SPAN_UNITS[span[2]]: int(span[1])})
        else:
            at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except OverflowError as error:
        raise ValueError(str(error)) from None
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def tokens(count: int) -> str:
    """A token figure, short: 617, 12.3k, 1.2M, 3.4G."""
    if count < 1000:
        return str(count)
    value = count / 1000
    for unit in ("k", "M"):
        if f"{value:.1f}" != "1000.0" and value < 1000:  # 999,960 reads 1.0M, not 1000.0k
            return f"{value:.1f}{unit}"
        value /= 1000
    return f"{value:.1f}G"


def size(count: int) -> str:
    """A byte count, short: 152.4 kB, 2.2 MB."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def ago(timestamp: str, now: datetime | None = None) -> str:
    """`2 h ago` for the last week, then the date (`Nov 17`, or `2024-11-17` in another year)."""
    when = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    now = now or datetime.now(UTC)
    seconds = (now - when).total_seconds()
    for limit, unit, label in ((60, 1, None), (3600, 60, "min"), (86400, 3600, "h"), (7 * 86400, 86400, "d")):
        if seconds < limit:
            return "just now" if label is None else f"{int(seconds // unit)} {label} ago"
    return when.strftime("%b %d" if when.year == now.year else "%Y-%m-%d")


def middle(text: str, width: int) -> str:
    """`text` in at most `width` characters, its middle left out: a path keeps its start and
    its project's name."""
    if len(text) <= width:
        return text
    head = (width - 1) // 3
    return f"{text[:head]}…{text[len(text) - (width - 1 - head) :]}"


def one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def dollars(amount: float, *, unknown: bool = False) -> str:
    """USD, cents shown (`$0.07`, `$1,234.50`); `+?` when some calls had no known price."""
    return f"${amount:,.2f}{'+?' if unknown else ''}"
