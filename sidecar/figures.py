"""Figures, times and paths as people read them, one way everywhere (the terminal, exports)."""

from __future__ import annotations

from datetime import UTC, datetime


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
