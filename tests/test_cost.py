"""Cost in getUsage: real Claude Code transcripts priced against genai-prices' own
calc_price, call by call; unknown models; months and the user's time zone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from genai_prices import Usage, calc_price
from pygls.exceptions import JsonRpcException

from sidecar import protocol as p
from sidecar.errors import InvalidParams
from sidecar.store import Store, blocks, messages, sessions, usage
from sidecar.transcripts import importer
from sidecar.wire import structure_params

from .helpers import SAMPLES, HistoryClient, assistant
from .npm_tools import CCUSAGE_PACKAGES, npm_installed

CLAUDE = SAMPLES / "claude-code"
pytestmark = pytest.mark.skipif(not CLAUDE.is_dir(), reason="the shared sample transcripts are not here")


def imported(store: Store, *names: str) -> list[Path]:
    paths = [next(CLAUDE.glob(f"*{name}*.jsonl")) for name in names]
    for path in paths:
        importer.import_transcript(store, structure_params({"path": str(path)}, p.ImportTranscriptParams))
    return paths


def calls(paths: list[Path]) -> list[dict[str, Any]]:
    """Each API call once (its rows repeat the usage; the last is final), straight from the files."""
    found: dict[str, dict[str, Any]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            message = row.get("message")
            if row.get("type") == "assistant" and isinstance(message, dict) and message.get("usage"):
                found[f"{path}:{message.get('id') or row['uuid']}"] = {**message, "timestamp": row["timestamp"]}
    return list(found.values())


def moment(call: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(call["timestamp"].replace("Z", "+00:00"))


def reference_cost(call: dict[str, Any]) -> Decimal:
    """One call priced by genai-prices itself, at its time; its input_tokens count the cached ones."""
    counts = call["usage"]
    read, write = counts.get("cache_read_input_tokens") or 0, counts.get("cache_creation_input_tokens") or 0
    priced = Usage(
        input_tokens=counts["input_tokens"] + read + write,
        output_tokens=counts["output_tokens"],
        cache_read_tokens=read,
        cache_write_tokens=write,
    )
    return calc_price(priced, call["model"], genai_request_timestamp=moment(call)).total_price


def get(store: Store, **raw: Any) -> p.GetUsageResult:
    return usage.get_usage(store, structure_params(raw, p.GetUsageParams))


def test_a_claude_code_day_costs_what_calc_price_gives_call_by_call(store: Store) -> None:
    # Two sessions of Claude Sonnet 4 on 2025-09-03.
    paths = imported(store, "1af7fc5e", "fe5e1c67")
    expected = sum(map(reference_cost, calls(paths)), Decimal(0))
    day = {group.key: group for group in get(store, groupBy="day").groups}["2025-09-03"]
    assert day.cost == pytest.approx(float(expected), rel=1e-12)
    assert day.cost > 1  # the figure is dollars, not a rounding error
    assert day.unpriced_calls == 0


def test_long_context_tiers_and_days_match_calc_price(store: Store) -> None:
    # Claude Sonnet 4.5 prices a call past 200k input tokens at its tier; the session spans two days.
    paths = imported(store, "7acd37a8")
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for call in calls(paths):
        expected[call["timestamp"][:10]] += reference_cost(call)
    result = get(store, groupBy="day")
    assert {group.key: group.cost for group in result.groups} == {
        day: pytest.approx(float(cost), rel=1e-12) for day, cost in expected.items()
    }
    assert result.cost == pytest.approx(float(sum(expected.values())), rel=1e-12)
    assert result.unpriced_models == []


def test_a_time_zone_makes_days_the_users_days(store: Store) -> None:
    paths = imported(store, "7acd37a8")
    zone = ZoneInfo("Asia/Kolkata")  # +05:30: quarter hours, not hours, mark its midnight
    local_days = Counter(moment(call).astimezone(zone).date().isoformat() for call in calls(paths))
    utc_days = Counter(call["timestamp"][:10] for call in calls(paths))
    assert local_days != utc_days  # some calls move to another day
    by_local_day = get(store, groupBy="day", timeZone="Asia/Kolkata").groups
    assert {group.key: group.usage.api_calls for group in by_local_day} == dict(local_days)
    assert sum(group.cost for group in by_local_day) == pytest.approx(get(store).cost, rel=1e-12)
    # since/until without an offset are local times too.
    first_local_day = min(local_days)
    in_it = get(store, since=first_local_day, until=f"{first_local_day}T23:59:59.999", timeZone="Asia/Kolkata")
    assert in_it.total.api_calls == local_days[first_local_day]


def test_months_group_every_call_of_theirs(store: Store) -> None:
    paths = imported(store, "1af7fc5e", "7acd37a8", "fe869ecb")
    months = Counter(call["timestamp"][:7] for call in calls(paths))
    assert len(months) == 3
    result = get(store, groupBy="month")
    assert {group.key: group.usage.api_calls for group in result.groups} == dict(months)
    assert sum(group.cost for group in result.groups) == pytest.approx(result.cost, rel=1e-12)


def test_a_model_without_a_price_is_listed_unpriced_not_free(store: Store) -> None:
    for model in ("claude-sonnet-4-20250514", "no-such-model-9000"):
        session = sessions.create_session(
            store, structure_params({"kind": "agent", "model": model}, p.CreateSessionParams)
        )
        batch = [assistant("a", usage={"promptTokens": 1000, "completionTokens": 100})]
        messages.append_messages(
            store, structure_params({"sessionId": session.id, "messages": batch}, p.AppendMessagesParams)
        )
    result = get(store, groupBy="model")
    assert result.unpriced_models == ["no-such-model-9000"]
    by_model = {group.key: group for group in result.groups}
    assert (by_model["no-such-model-9000"].cost, by_model["no-such-model-9000"].unpriced_calls) == (0, 1)
    assert by_model["claude-sonnet-4-20250514"].cost == pytest.approx(1000 * 3e-6 + 100 * 15e-6)
    assert result.cost == by_model["claude-sonnet-4-20250514"].cost


def test_an_unknown_time_zone_names_the_field(store: Store) -> None:
    with pytest.raises(InvalidParams) as raised:
        get(store, timeZone="Mars/Olympus_Mons")
    assert raised.value.problems[0].field == "timeZone"


def test_a_call_past_a_long_context_tier_pays_the_tier_and_only_it(store: Store) -> None:
    model = "claude-sonnet-4-5-20250929"
    session = sessions.create_session(store, structure_params({"kind": "agent", "model": model}, p.CreateSessionParams))
    big = {"promptTokens": 10, "completionTokens": 2000, "cacheReadTokens": 250_000, "cacheCreationTokens": 1000}
    small = {"promptTokens": 500, "completionTokens": 300, "cacheReadTokens": 150_000}
    batch = [assistant("big", usage=big), assistant("small", usage=small)]
    messages.append_messages(
        store, structure_params({"sessionId": session.id, "messages": batch}, p.AppendMessagesParams)
    )

    def priced(counts: dict[str, int]) -> Decimal:
        read, write = counts.get("cacheReadTokens", 0), counts.get("cacheCreationTokens", 0)
        reported = Usage(
            input_tokens=counts["promptTokens"] + read + write,
            output_tokens=counts["completionTokens"],
            cache_read_tokens=read,
            cache_write_tokens=write,
        )
        return calc_price(reported, model).total_price

    assert get(store).cost == pytest.approx(float(priced(big) + priced(small)), rel=1e-12)


def test_a_sonnet_4_day_costs_what_ccusage_reports_for_it(store: Store) -> None:
    imported(store, "fe869ecb")  # ccusage daily --offline: $0.6982101 for 2025-06-14
    day = {group.key: group for group in get(store, groupBy="day").groups}["2025-06-14"]
    assert day.cost == pytest.approx(0.6982101, abs=1e-9)


def test_blocks_are_five_hours_from_the_hour_of_their_first_call(store: Store) -> None:
    paths = imported(store, "7acd37a8", "fe5e1c67")
    importer.import_transcript(
        store, structure_params({"path": str(next((SAMPLES / "codex").glob("*.jsonl")))}, p.ImportTranscriptParams)
    )
    found = blocks.usage_blocks(store, p.GetUsageParams())
    claude = calls(paths)
    assert sum(block.figures.counts[5] for block in found) == len(claude)  # Codex's calls are not Claude's
    for call in claude:
        block = next(block for block in found if block.start <= moment(call) < block.end)
        assert block.start == min(b.first_call for b in found if b is block).replace(minute=0, second=0, microsecond=0)
    assert [b.start for b in found] == sorted(b.start for b in found) and len(found) == 2
    claude_cost = sum(map(reference_cost, claude), Decimal(0))
    assert float(sum(b.figures.cost for b in found)) == pytest.approx(float(claude_cost), rel=1e-12)


def test_the_active_block_projects_its_burn_rate_to_its_end() -> None:
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)

    def call(minutes_ago: int, prompt: int) -> tuple[str, str, int, int, int, int, int, int]:
        stamp = (now - timedelta(minutes=minutes_ago)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return stamp, "claude-sonnet-4-20250514", prompt, 0, 0, 0, 0, 0

    # 7 h ago, then 20 and 10 minutes ago: the old call is a block of its own.
    old, current = blocks.blocks_of([call(420, 5), call(20, 1000), call(10, 2000)])
    assert not old.active(now) and current.active(now) and current.start == now.replace(minute=0)
    rate, tokens, cost = current.projection(now)
    assert rate == 300  # 3,000 tokens over the 10 minutes between its calls
    assert tokens == 3000 + 300 * (4 * 60 + 30)  # 4 h 30 min left of the block
    assert float(cost) == pytest.approx(tokens * 3e-6)


async def test_get_usage_over_stdio_gives_cost_months_and_refuses_a_bad_zone(client: HistoryClient) -> None:
    for model in ("claude-opus-4-5-20251101", "made-up-model"):
        sid = (await client.call("history/createSession", {"kind": "agent", "model": model}))["id"]
        batch = [assistant("a", usage={"promptTokens": 2000, "completionTokens": 400, "cacheReadTokens": 10_000})]
        await client.call("history/appendMessages", {"sessionId": sid, "messages": batch})
    result = await client.call("history/getUsage", {"groupBy": "month", "timeZone": "Pacific/Auckland"})
    assert result["unpricedModels"] == ["made-up-model"]
    assert result["cost"] == pytest.approx(2000 * 5e-6 + 400 * 25e-6 + 10_000 * 0.5e-6)
    (month,) = result["groups"]
    assert month["key"] == datetime.now(ZoneInfo("Pacific/Auckland")).strftime("%Y-%m")
    assert (month["cost"], month["unpricedCalls"], month["usage"]["apiCalls"]) == (result["cost"], 1, 2)
    with pytest.raises(JsonRpcException) as raised:
        await client.call("history/getUsage", {"timeZone": "Nowhere/Land"})
    assert raised.value.code == -32602 and raised.value.data["field"] == "timeZone"
    assert (await client.call("history/getUsage", {}))["total"]["apiCalls"] == 2  # still serving


# Days where ccusage 20.0.24 and we differ (README, Cost against ccusage): on 2026-02-01
# ccusage also counts the 31 calls of a sub-agent that Claude Code 2.1 streams into its
# parent's file as `progress` rows (data.message.message.usage); we count a sub-agent's
# calls from its own file (agent-<id>.jsonl), which the samples lack for that one.
CCUSAGE_DIFFERENT_TOKENS = {"2026-02-01"}
CCUSAGE_DIFFERENT_COST = {"2026-02-01"}


@pytest.fixture(scope="session")
def ccusage() -> Path:
    """ccusage 20.0.24 and its native binary (20.0.26 publishes none for Linux), from npm."""
    return npm_installed("ccusage", *CCUSAGE_PACKAGES) / ".bin" / "ccusage"


def test_daily_totals_equal_ccusages_on_the_shared_samples(store: Store, tmp_path: Path, ccusage: Path) -> None:
    projects = tmp_path / "projects" / "samples"
    projects.mkdir(parents=True)
    for path in CLAUDE.glob("*.jsonl"):
        shutil.copy(path, projects)
    importer.import_transcript(store, structure_params({"path": str(projects)}, p.ImportTranscriptParams))
    env = {**os.environ, "TZ": "UTC", "CLAUDE_CONFIG_DIR": str(tmp_path)}
    reported = subprocess.run(
        [str(ccusage), "daily", "--json", "--offline"], env=env, capture_output=True, text=True, check=True, timeout=300
    )
    theirs = {day["period"]: day for day in json.loads(reported.stdout)["daily"]}
    ours = {group.key: group for group in get(store, groupBy="day").groups}
    assert set(ours) == set(theirs)
    for day, their in theirs.items():
        mine = ours[day].usage
        same = (mine.prompt_tokens, mine.completion_tokens, mine.cache_read_tokens, mine.cache_creation_tokens) == (
            their["inputTokens"],
            their["outputTokens"],
            their["cacheReadTokens"],
            their["cacheCreationTokens"],
        )
        assert same != (day in CCUSAGE_DIFFERENT_TOKENS), day
        close = ours[day].cost == pytest.approx(their["totalCost"], rel=0.01)
        assert close != (day in CCUSAGE_DIFFERENT_COST), (day, ours[day].cost, their["totalCost"])
