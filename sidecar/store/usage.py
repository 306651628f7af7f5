"""Token usage summed over messages, whole or grouped."""

from __future__ import annotations

from typing import Any

from .. import protocol as p
from . import Store
from .records import session_usage

GROUP_KEYS = {
    p.UsageGroupBy.AGENT: "coalesce(m.agent_name, s.agent_name, 'unknown')",
    p.UsageGroupBy.MODEL: "coalesce(s.model, 'unknown')",
    p.UsageGroupBy.DAY: "substr(m.created_at, 1, 10)",
    p.UsageGroupBy.SESSION: "m.session_id",
    p.UsageGroupBy.PROJECT: "coalesce(s.project_id, 'none')",
}
SUMS = (
    "coalesce(sum(m.prompt_tokens), 0), coalesce(sum(m.completion_tokens), 0),"
    " coalesce(sum(m.cache_read_tokens), 0), coalesce(sum(m.cache_creation_tokens), 0),"
    " coalesce(sum(m.thinking_tokens), 0), count(m.prompt_tokens)"
)


def total_tokens(usage: p.SessionUsage) -> int:
    """Every token the calls moved: prompt, completion and both kinds of cache."""
    return usage.prompt_tokens + usage.completion_tokens + usage.cache_read_tokens + usage.cache_creation_tokens


def get_usage(store: Store, params: p.GetUsageParams) -> p.GetUsageResult:
    where, args = ["m.prompt_tokens IS NOT NULL"], list[Any]()
    for clause, value in (
        ("m.session_id = ?", params.session_id),
        ("s.project_id = ?", params.project_id),
        ("m.created_at >= ?", params.since),
        ("m.created_at < ?", params.until),
    ):
        if value is not None:
            where.append(clause)
            args.append(value)
    source = f"FROM messages m JOIN sessions s ON s.id = m.session_id WHERE {' AND '.join(where)}"
    total_row = store.db.one(f"SELECT {SUMS} {source}", args)
    assert total_row is not None
    groups: list[p.UsageGroup] = []
    if params.group_by is not None:
        key = GROUP_KEYS[params.group_by]
        rows = store.db.execute(f"SELECT {key}, {SUMS} {source} GROUP BY 1", args)
        groups = [p.UsageGroup(key=row[0], usage=session_usage(row[1:])) for row in rows]
        groups.sort(key=lambda group: (-total_tokens(group.usage), group.key))
    return p.GetUsageResult(total=session_usage(total_row), groups=groups)
