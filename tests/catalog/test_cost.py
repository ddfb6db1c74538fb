from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift.catalog import Tier, Usage, load_catalog
from gearshift.catalog.cost import round_half_even

# Hand-computed (Fractions over the reference price table, not the catalog) for
# input 123,456 / output 7,890 / 5m write 10,000 / 1h write 2,000 / cache read 50,000.
HAND = [
    ("claude-3-haiku-20240307", "0.0462265"),
    ("claude-3-5-haiku-20241022", "0.1475248"),
    ("claude-haiku-4-5-20251001", "0.184406"),
    ("claude-sonnet-4-20250514", "0.553218"),
    ("claude-sonnet-4-5-20250929", "0.553218"),
    ("claude-sonnet-4-6", "0.553218"),
    ("claude-opus-4-20250514", "2.76609"),
    ("claude-opus-4-1-20250805", "2.76609"),
    ("claude-opus-4-5-20251101", "0.92203"),
    ("claude-opus-4-6", "0.92203"),
    ("claude-opus-4-7", "0.92203"),
    ("claude-opus-4-8", "0.92203"),
    ("claude-sonnet-5", "0.368812"),
    ("claude-opus-5", "0.92203"),
    ("claude-fable-5", "1.84406"),
    ("claude-mythos-5", "1.84406"),
    ("claude-fable-5-1", "1.80656"),
    ("claude-mythos-5-1", "1.80656"),
    ("claude-opus-5-5", "0.727624"),
    ("claude-sonnet-5-5", "0.363812"),
    ("claude-haiku-5-5", "0.092203"),  # 185,456 prompt tokens > 100k: whole request repriced
    ("claude-3-opus-20240229", "2.76609"),
    ("claude-3-sonnet-20240229", "0.553218"),
    ("claude-3-5-sonnet-20240620", "0.553218"),
    ("claude-3-5-sonnet-20241022", "0.553218"),
    ("claude-3-7-sonnet-20250219", "0.553218"),
]
USAGE = Usage(123_456, 7_890, 10_000, 2_000, 50_000)


@pytest.mark.parametrize(("model", "expected"), HAND)
def test_every_model_matches_hand_computed_table(model: str, expected: str) -> None:
    cost = load_catalog().cost(model, USAGE)
    assert cost.exact == Decimal(expected)
    assert cost.nanos == int(Decimal(expected) * 10**9)


def test_hand_table_covers_every_catalog_model() -> None:
    assert {m.id for m in load_catalog()} == {m for m, _ in HAND}


def test_article_worked_example() -> None:
    # Haiku at the article's $0.80 / $4: 1,250 in and 3,400 out -> $0.0146.
    cost = load_catalog("article").cost("haiku", Usage(1_250, 3_400))
    assert cost.exact == Decimal("0.0146")
    assert cost.usd == Decimal("0.014600000")


def test_sonnet_45_long_context_reprices_whole_request() -> None:
    cat = load_catalog()
    below = cat.cost("claude-sonnet-4-5", Usage(200_000, 1_000))
    above = cat.cost("claude-sonnet-4-5", Usage(250_000, 1_000))
    assert below.exact == Decimal("0.615")  # 200k x $3 + 1k x $15
    assert above.exact == Decimal("1.5225")  # 250k x $6 + 1k x $22.50
    # cache reads count towards the threshold: 150k input + 60k read is a long request
    mixed = cat.cost("claude-sonnet-4-5", Usage(150_000, 0, cache_read_tokens=60_000))
    assert mixed.exact == Decimal("0.936")  # 150k x $6 + 60k x $0.60


def test_fast_batch_and_geo_multipliers() -> None:
    cat = load_catalog()
    base = cat.cost("claude-opus-4-6", Usage(1_000_000, 0)).exact
    assert base == Decimal(5)
    assert cat.cost("claude-opus-4-6", Usage(1_000_000, 0, fast=True)).exact == Decimal(30)
    assert cat.cost("claude-opus-4-8", Usage(1_000_000, 0, fast=True)).exact == Decimal(10)
    assert cat.cost("claude-opus-4-6", Usage(1_000_000, 0, batch=True)).exact == Decimal("2.5")
    assert cat.cost("claude-opus-4-6", Usage(1_000_000, 0, geo="us")).exact == Decimal("5.5")
    assert cat.cost("claude-opus-4-6", Usage(1_000_000, 0, geo="global")).exact == Decimal(5)
    # a sub-nano-dollar exact amount is kept exactly, and rounded half-even only when stored
    tiny = cat.cost("claude-haiku-5-5", Usage(0, 0, cache_read_tokens=1, batch=True, geo="us"))
    assert tiny.exact == Decimal("0.0000000055")
    assert tiny.nanos == 6


def test_effective_dated_prices() -> None:
    import datetime as dt

    cat = load_catalog()
    usage = Usage(0, 0, cache_read_tokens=1_000_000)
    before = cat.cost("claude-sonnet-5-5", usage, at=dt.date(2026, 10, 6))
    after = cat.cost("claude-sonnet-5-5", usage, at=dt.datetime(2026, 10, 7, tzinfo=dt.UTC))
    assert (before.exact, after.exact) == (Decimal("0.2"), Decimal("0.1"))


def test_round_half_even() -> None:
    assert [round_half_even(n, 2) for n in (1, 3, 5, -1)] == [0, 2, 2, 0]
    assert round_half_even(7, 3) == 2


def test_tiers_are_ordered() -> None:
    assert Tier.HAIKU < Tier.SONNET < Tier.OPUS
    assert max([Tier.SONNET, Tier.OPUS, Tier.HAIKU]) is Tier.OPUS
    assert Tier.HAIKU.up() is Tier.SONNET and Tier.OPUS.up() is None
    assert Tier.SONNET.down() is Tier.HAIKU and Tier.HAIKU.down() is None


counts = st.integers(min_value=0, max_value=5_000_000)
usages = st.builds(Usage, counts, counts, counts, counts, counts)
models = st.sampled_from([m for m, _ in HAND])


@given(models, usages, usages)
def test_cost_is_additive(model: str, a: Usage, b: Usage) -> None:
    cat = load_catalog()
    if cat.resolve(model).periods[-1].long_context is not None:
        # whole-request repricing is additive only within one price band
        return
    assert cat.cost(model, a + b).exact == cat.cost(model, a).exact + cat.cost(model, b).exact


@given(models, usages, st.sampled_from(range(5)), st.integers(min_value=1, max_value=10_000))
def test_cost_is_monotone_in_every_count(model: str, u: Usage, field: int, extra: int) -> None:
    cat = load_catalog()
    values = [
        u.input_tokens,
        u.output_tokens,
        u.cache_write_5m_tokens,
        u.cache_write_1h_tokens,
        u.cache_read_tokens,
    ]
    values[field] += extra
    assert cat.cost(model, Usage(*values)).exact >= cat.cost(model, u).exact
