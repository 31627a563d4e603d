"""Estimated cost of a call from the price table in settings (USD per million tokens)."""

from __future__ import annotations

from collections.abc import Mapping

# Cached input is billed at a fraction of the input price: 10% for Anthropic cache reads and
# for OpenAI's GPT-5 models (older GPT-4.1 models charge 25%). The table in settings holds only
# [input, output], so the fraction is per provider; the result is an estimate either way.
CACHED_INPUT_FACTOR = {"anthropic": 0.1, "openai": 0.1, "openai-compatible": 0.1}


def price_for(model: str, prices: Mapping[str, tuple[float, float]]) -> tuple[float, float] | None:
    """[input, output] per million tokens for a model, matching dated names by longest prefix.

    "claude-sonnet-4-5-20250929" is priced as "claude-sonnet-4-5"; an unknown model gives None.
    """
    if model in prices:
        return tuple(prices[model])  # type: ignore[return-value]
    matches = [name for name in prices if model.startswith(name)]
    if not matches:
        return None
    return tuple(prices[max(matches, key=len)])  # type: ignore[return-value]


def estimate_cost(
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int,
    prices: Mapping[str, tuple[float, float]],
) -> float | None:
    """USD for one call, or None when the model is not in the price table (a local model)."""
    price = price_for(model, prices)
    if price is None:
        return None
    per_input, per_output = price
    cached = min(cached_tokens, input_tokens)
    factor = CACHED_INPUT_FACTOR.get(provider, 1.0)
    dollars = (
        (input_tokens - cached) * per_input
        + cached * per_input * factor
        + output_tokens * per_output
    ) / 1_000_000
    return round(dollars, 6)
