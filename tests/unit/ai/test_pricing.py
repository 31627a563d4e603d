import pytest

from app.ai.pricing import estimate_cost, price_for
from app.settings import Settings

PRICES = Settings(_env_file=None).ai_prices


def test_dated_model_names_are_priced_by_their_family() -> None:
    assert price_for("claude-sonnet-4-5-20250929", PRICES) == (3.0, 15.0)
    assert price_for("gpt-5.4-mini-2026-03-17", PRICES) == (0.75, 4.5)  # not gpt-5.4's price


def test_cost_of_a_call() -> None:
    # 1M input at $2 + 1M output at $10
    assert estimate_cost("anthropic", "claude-sonnet-5-5", 10**6, 10**6, 0, PRICES) == 12.0


def test_cached_input_is_cheaper() -> None:
    full = estimate_cost("anthropic", "claude-sonnet-5-5", 10**6, 0, 0, PRICES)
    cached = estimate_cost("anthropic", "claude-sonnet-5-5", 10**6, 0, 10**6, PRICES)
    assert cached == pytest.approx(full * 0.1)


def test_a_local_model_has_no_price() -> None:
    assert estimate_cost("openai-compatible", "llama3.1", 1000, 1000, 0, PRICES) is None
