"""What tokens cost, in USD, from the genai-prices package's offline price data.

Within one model, one UTC day (prices change at UTC midnight in that data) and one
long-context band (a tier's price applies to all of a call's tokens once the call's input
passes the tier's start), cost is linear in the token counts. So usage summed over many
calls is priced by four per-token rates per (model, day, band), found once from the price
data itself, and no call needs pricing alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache

import attrs
from genai_prices import Usage, calc_price
from genai_prices.types import ModelPrice, TieredPrices


@attrs.frozen
class Tokens:
    """A sum of calls' tokens as we store them: `prompt` excludes the cached tokens."""

    prompt: int
    completion: int
    cache_read: int
    cache_write: int


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
    )


@cache
def model_price(model: str, day: date) -> ModelPrice | None:
    """The model's prices in force on `day`, or None when the data does not know the model."""
    try:
        found = calc_price(Usage(), model, genai_request_timestamp=datetime.combine(day, datetime.min.time(), UTC))
    except LookupError:
        return None
    return found.model_price


@cache
def tier_starts(model: str) -> frozenset[int]:
    """Every long-context tier start in the model's prices, at any date."""
    try:
        prices = calc_price(Usage(), model).model.prices
    except LookupError:
        return frozenset()
    variants = [prices] if isinstance(prices, ModelPrice) else [conditional.prices for conditional in prices]
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


@cache
def _rates(model: str, day: date, band: int) -> tuple[Decimal, Decimal, Decimal, Decimal] | None:
    """USD per prompt, completion, cache-read and cache-write token for calls of `band`
    (whose input is above `band`, or any size for band 0, up to the next band)."""
    price = model_price(model, day)
    if price is None:
        return None
    size = band + 1  # a call's input inside the band, so the data picks the band's tier

    def total(tokens: Tokens) -> Decimal:
        return price.calc_price(usage(tokens))["total_price"]

    prompt = total(Tokens(size, 0, 0, 0)) / size
    completion = total(Tokens(size, size, 0, 0)) / size - prompt
    cache_read = total(Tokens(0, 0, size, 0)) / size
    cache_write = total(Tokens(0, 0, 0, size)) / size
    return prompt, completion, cache_read, cache_write


def cost(model: str, day: date, band: int, tokens: Tokens) -> Decimal | None:
    """USD for calls of `model` on UTC `day` in `band` that used `tokens` in all, or None
    when the model has no price (unknown, never free)."""
    rates = _rates(model, day, band)
    if rates is None:
        return None
    counts = (tokens.prompt, tokens.completion, tokens.cache_read, tokens.cache_write)
    return sum((rate * count for rate, count in zip(rates, counts, strict=True)), Decimal(0))
