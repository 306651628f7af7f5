"""What tokens cost, in USD, from the genai-prices package's offline price data.

Within one model, one UTC day (prices change at UTC midnight in that data) and one
long-context band (a tier's price applies to all of a call's tokens once the call's input
passes the tier's start), cost is linear in the token counts. So usage summed over many
calls is priced by five per-token rates per (model, day, band), found once from the price
data itself, and no call needs pricing alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache

import attrs
from genai_prices import Usage, calc_price
from genai_prices.types import ModelInfo, ModelPrice, TieredPrices


@attrs.frozen
class Tokens:
    """A sum of calls' tokens as we store them: `prompt` excludes the cached tokens;
    `cache_write` counts every cache write, `cache_write_1h` those kept for an hour."""

    prompt: int
    completion: int
    cache_read: int
    cache_write: int
    cache_write_1h: int = 0


def call_input(tokens: Tokens) -> int:
    """A call's whole input, what a long-context tier looks at."""
    return tokens.prompt + tokens.cache_read + tokens.cache_write


def usage(tokens: Tokens) -> Usage:
    """genai-prices' usage of `tokens`: its `input_tokens` include the cached ones (ours do
    not, nor do Anthropic's)."""
    return Usage(
        input_tokens=call_input(tokens),
        output_tokens=tokens.completion,
        cache_read_tokens=tokens.cache_read,
        cache_write_tokens=tokens.cache_write,
        cache_write_1h_tokens=tokens.cache_write_1h,
    )


@cache
def model_info(model: str) -> ModelInfo | None:
    """The price data's entry for the model, or None when it does not know the model."""
    try:
        return calc_price(Usage(), model).model
    except LookupError:
        return None


def model_price(model: str, day: date) -> ModelPrice | None:
    """The model's prices in force on UTC `day`, or None when the data does not know the model."""
    info = model_info(model)
    return None if info is None else info.get_prices(datetime.combine(day, datetime.min.time(), UTC))


@cache
def tier_starts(model: str) -> frozenset[int]:
    """Every long-context tier start in the model's prices, at any date (none when unknown)."""
    info = model_info(model)
    if info is None:
        return frozenset()
    variants = [info.prices] if isinstance(info.prices, ModelPrice) else [c.prices for c in info.prices]
    return frozenset(
        tier.start
        for variant in variants
        for value in vars(variant).values()
        if isinstance(value, TieredPrices)
        for tier in value.tiers
    )


def bands(models: Iterable[str]) -> list[int]:
    """Band starts (0 first) that split calls so every call of a band pays the same tier,
    whichever of `models` it used."""
    return [0, *sorted(set().union(*(tier_starts(model) for model in models)))]


def band_of(model: str, tokens: Tokens) -> int:
    """The band of one call of `model`: the highest of its tier starts its whole input exceeds."""
    return max((start for start in tier_starts(model) if call_input(tokens) > start), default=0)


Rates = tuple[Decimal, Decimal, Decimal, Decimal, Decimal]
# By the identity of the data's price entry: most days of a model share one.
_RATES: dict[tuple[int, int], Rates] = {}


def _rates(price: ModelPrice, band: int) -> Rates:
    """USD per prompt, completion, cache-read, 5-minute and 1-hour cache-write token for
    calls of `band` (whose input is above `band`, or any size for band 0, up to the next band)."""
    key = (id(price), band)
    if key not in _RATES:
        size = band + 1  # a call's input inside the band, so the data picks the band's tier

        def total(tokens: Tokens) -> Decimal:
            return price.calc_price(usage(tokens))["total_price"]

        prompt = total(Tokens(size, 0, 0, 0)) / size
        completion = total(Tokens(size, size, 0, 0)) / size - prompt
        read, write = total(Tokens(0, 0, size, 0)) / size, total(Tokens(0, 0, 0, size)) / size
        _RATES[key] = (prompt, completion, read, write, total(Tokens(0, 0, 0, size, size)) / size)
    return _RATES[key]


def cost(model: str, day: date, band: int, tokens: Tokens) -> Decimal | None:
    """USD for calls of `model` on UTC `day` in `band` that used `tokens` in all, or None
    when the model has no price (unknown, never free)."""
    price = model_price(model, day)
    if price is None:
        return None
    rates = _rates(price, band)
    five_minutes = tokens.cache_write - tokens.cache_write_1h
    counts = (tokens.prompt, tokens.completion, tokens.cache_read, five_minutes, tokens.cache_write_1h)
    return sum((rate * count for rate, count in zip(rates, counts, strict=True)), Decimal(0))
