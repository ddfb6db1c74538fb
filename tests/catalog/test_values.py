"""The catalog's value classes: equality, hashing, repr, immutability, pickling, copying,
replacing, match arguments and constructor checks."""

from __future__ import annotations

import copy
import datetime as dt
import pickle
import re
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift.catalog import (
    Catalog,
    Cost,
    LongContext,
    Model,
    PricePeriod,
    PriceSet,
    Tier,
    Usage,
    load_catalog,
)
from gearshift.errors import PriceFileError


def prices(*values: str) -> PriceSet:
    return PriceSet(*(Decimal(v) for v in values))


SONNET = prices("3", "15", "3.75", "6", "0.3")
LONG = LongContext(200_000, prices("6", "22.50", "7.50", "12", "0.6"))
PERIOD = PricePeriod(dt.date(2025, 9, 29), SONNET, LONG)
MODEL = Model("m-1", Tier.SONNET, "M 1", "m", ("m1",), (PERIOD,), dt.date(2027, 1, 1))

VALUES = [
    Usage(1, 2, 3, 4, 5, True, False, "us"),
    SONNET,
    Cost(10**12, Fraction(3, 2), "anthropic@1", "m-1"),
    LONG,
    PERIOD,
    MODEL,
]


# -- construction -------------------------------------------------------------------------


def test_usage_constructor_keeps_order_defaults_and_keywords() -> None:
    u = Usage(1, 2, 3, 4, 5, True, True, "eu")
    assert (u.input_tokens, u.output_tokens, u.cache_write_5m_tokens) == (1, 2, 3)
    assert (u.cache_write_1h_tokens, u.cache_read_tokens) == (4, 5)
    assert (u.batch, u.fast, u.geo) == (True, True, "eu")
    assert Usage() == Usage(0, 0, 0, 0, 0, False, False, None)
    assert Usage(output_tokens=7, geo="us") == Usage(0, 7, 0, 0, 0, False, False, "us")
    with pytest.raises(TypeError):
        Usage(1, 2, 3, 4, 5, True, True, "eu", 9)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Usage(tokens=1)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_tokens": -1}, "input_tokens must be a non-negative integer, not -1"),
        ({"output_tokens": 1.0}, "output_tokens must be a non-negative integer, not 1.0"),
        ({"cache_read_tokens": "3"}, "cache_read_tokens must be a non-negative integer, not '3'"),
        (
            {"cache_write_1h_tokens": 10**10 + 1},
            "cache_write_1h_tokens 10000000001 is beyond any real call (at most 10,000,000,000)",
        ),
    ],
)
def test_usage_rejects_bad_counts(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        Usage(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_usage_checks_counts_in_field_order() -> None:
    with pytest.raises(ValueError, match=r"^input_tokens"):
        Usage(-1, -1)
    assert Usage(10**10).input_tokens == 10**10


def test_price_set_derives_femto_and_rejects_bad_prices() -> None:
    assert SONNET.femto == (3 * 10**9, 15 * 10**9, 3_750_000_000, 6 * 10**9, 300_000_000)
    assert PriceSet(
        input=Decimal(1),
        output=Decimal(2),
        cache_write_5m=Decimal(3),
        cache_write_1h=Decimal(4),
        cache_read=Decimal(5),
    ).femto == tuple(n * 10**9 for n in (1, 2, 3, 4, 5))
    with pytest.raises(ValueError) as info:
        prices("1", "-2", "1", "1", "1")
    assert str(info.value) == "output price must not be negative (-2)"
    with pytest.raises(ValueError) as info:
        prices("1", "1", "1", "1", "0.0000000001")
    assert str(info.value) == "cache_read price 1E-10 has more than 9 decimal places"
    with pytest.raises(TypeError):
        PriceSet(Decimal(1), Decimal(1), Decimal(1), Decimal(1))  # type: ignore[call-arg]


def test_period_and_model_defaults() -> None:
    period = PricePeriod(dt.date(2025, 1, 1), SONNET)
    assert (period.long_context, period.fast) == (None, None)
    model = Model("x", Tier.HAIKU, "X", "x")
    assert (model.aliases, model.periods, model.deprecated) == ((), (), None)
    assert Model(id="x", tier=Tier.HAIKU, name="X", family="x") == model


# -- value semantics ------------------------------------------------------------------------


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_equal_values_are_equal_and_hash_alike(value: object) -> None:
    twin = pickle.loads(pickle.dumps(value))
    assert twin is not value
    assert twin == value
    assert not twin != value  # noqa: SIM202 -- __ne__ too
    assert hash(twin) == hash(value)
    assert hash(value) == hash(tuple(getattr(value, name) for name in value.__match_args__))  # type: ignore[attr-defined]
    assert len({value, twin}) == 1
    assert value != object()
    assert value != tuple(getattr(value, name) for name in value.__match_args__)  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_values_are_immutable(value: object) -> None:
    name = value.__match_args__[0]  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        setattr(value, name, 1)
    with pytest.raises(AttributeError):
        delattr(value, name)
    # A new attribute is refused too (Python 3.11's frozen slotted dataclasses raise TypeError
    # for it, later ones AttributeError).
    with pytest.raises((AttributeError, TypeError)):
        value.extra = 1  # type: ignore[attr-defined]
    assert not hasattr(value, "__dict__")


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_values_pickle_and_copy(value: object) -> None:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(value, protocol)) == value
    assert copy.copy(value) == value
    deep = copy.deepcopy(value)
    assert deep == value
    assert repr(deep) == repr(value)


def test_reprs_are_the_dataclass_ones() -> None:
    assert repr(Usage(1, 2, geo="us")) == (
        "Usage(input_tokens=1, output_tokens=2, cache_write_5m_tokens=0, cache_write_1h_tokens=0,"
        " cache_read_tokens=0, batch=False, fast=False, geo='us')"
    )
    assert repr(SONNET) == (
        "PriceSet(input=Decimal('3'), output=Decimal('15'), cache_write_5m=Decimal('3.75'),"
        " cache_write_1h=Decimal('6'), cache_read=Decimal('0.3'))"
    )
    assert repr(Cost(5, Fraction(1, 2), "v", "m")) == (
        "Cost(femto=5, multiplier=Fraction(1, 2), price_version='v', model='m')"
    )
    assert repr(LongContext(10, SONNET)) == f"LongContext(threshold=10, prices={SONNET!r})"
    assert repr(PricePeriod(dt.date(2025, 1, 2), SONNET, None, Decimal(6))) == (
        f"PricePeriod(since=datetime.date(2025, 1, 2), base={SONNET!r}, long_context=None,"
        " fast=Decimal('6'))"
    )
    assert repr(Model("x", Tier.OPUS, "X", "x")) == (
        "Model(id='x', tier=<Tier.OPUS: 'opus'>, name='X', family='x', aliases=(), periods=(),"
        " deprecated=None, context_window=None, max_output=None, features=None)"
    )


def test_fields_are_compared() -> None:
    assert Usage(1) != Usage(2)
    assert Usage(1) != Usage(1, batch=True)
    assert Usage(1, geo="us") != Usage(1, geo="eu")
    assert prices("3", "15", "3.75", "6", "0.3") == prices("3.0", "15", "3.75", "6.00", "0.30")
    assert prices("3", "15", "3.75", "6", "0.31") != SONNET
    assert replace(MODEL, deprecated=None) != MODEL
    assert replace(PERIOD, long_context=None) != PERIOD


def test_price_set_femto_is_derived_not_a_field() -> None:
    assert "femto" not in repr(SONNET)
    assert "femto" not in SONNET.__match_args__
    clone = pickle.loads(pickle.dumps(SONNET))
    assert clone.femto == SONNET.femto
    cheaper = replace(SONNET, input=Decimal("1.5"))
    assert cheaper.femto[0] == 1_500_000_000
    assert cheaper.femto[1:] == SONNET.femto[1:]
    with pytest.raises(ValueError, match="femto"):
        replace(SONNET, femto=(0, 0, 0, 0, 0))  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        SONNET.femto = (0, 0, 0, 0, 0)  # type: ignore[misc]


def test_replace_makes_a_checked_copy() -> None:
    u = Usage(1, 2, 3, 4, 5, False, True, "us")
    batch = replace(u, batch=True)
    assert batch == Usage(1, 2, 3, 4, 5, True, True, "us")
    assert u.batch is False
    assert replace(u) == u
    with pytest.raises(ValueError, match="output_tokens must be a non-negative integer"):
        replace(u, output_tokens=-1)
    with pytest.raises(TypeError, match="tokens"):
        replace(u, tokens=1)  # type: ignore[call-arg]
    flat = replace(PERIOD, base=LONG.prices, long_context=None)
    assert (flat.since, flat.base, flat.long_context) == (PERIOD.since, LONG.prices, None)
    assert replace(MODEL, periods=()).periods == ()
    assert replace(MODEL, periods=()).aliases == MODEL.aliases
    assert replace(LONG, threshold=5) == LongContext(5, LONG.prices)
    assert replace(Cost(1, Fraction(1), "v", "m"), model="n").model == "n"


def test_match_class_patterns() -> None:
    match Usage(10, 20, batch=True):
        case Usage(i, o, _, _, _, True):
            assert (i, o) == (10, 20)
        case _:
            pytest.fail("positional pattern did not match")
    match MODEL:
        case Model(model_id, Tier.SONNET, periods=(PricePeriod(since, _, LongContext(n)),)):
            assert (model_id, since, n) == ("m-1", PERIOD.since, 200_000)
        case _:
            pytest.fail("nested pattern did not match")
    match Cost(1, Fraction(1), "v", "m"):
        case Cost(femto, multiplier, version, model):
            assert (femto, multiplier, version, model) == (1, 1, "v", "m")


def test_usage_arithmetic_still_works() -> None:
    assert Usage(1, 2, 3, 4, 5) + Usage(10, 20, 30, 40, 50) == Usage(11, 22, 33, 44, 55)
    with pytest.raises(ValueError, match="same batch/fast/geo"):
        Usage(1) + Usage(1, fast=True)
    assert Usage(1, 2, 3, 4, 5).total_tokens == 15


# -- the catalog ------------------------------------------------------------------------------


def test_catalog_constructor_repr_and_mutability() -> None:
    models = {MODEL.id: MODEL}
    cat = Catalog(
        name="t",
        revision="1",
        models=models,
        tier_defaults={Tier.SONNET: MODEL.id},
        batch_multiplier=Decimal("0.5"),
        geo_multipliers={"us": Decimal("1.1")},
    )
    same = Catalog(
        "t", "1", dict(models), {Tier.SONNET: MODEL.id}, Decimal("0.5"), {"us": Decimal("1.1")}
    )
    assert repr(cat) == (
        f"Catalog(name='t', revision='1', models={models!r}, tier_defaults={{<Tier.SONNET:"
        " 'sonnet'>: 'm-1'}, batch_multiplier=Decimal('0.5'), geo_multipliers={'us':"
        " Decimal('1.1')})"
    )
    assert cat == same
    assert cat.resolve("M1") is MODEL
    assert cat == same  # what was looked up does not matter
    assert cat != Catalog("t", "2", models, {}, Decimal("0.5"), {})
    with pytest.raises(TypeError):
        hash(cat)  # mutable: unhashable, as the dataclass was
    cat.revision = "2"
    assert cat.price_version == "t@2"
    assert not hasattr(cat, "__dict__")
    with pytest.raises(AttributeError):
        cat.extra = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        Catalog("t", "1", models, {}, Decimal(1))  # type: ignore[call-arg]


def test_catalog_resolves_prefixed_versioned_and_dated_names() -> None:
    cat = load_catalog()
    assert cat.find("claude-sonnet-4-5-20250929") is cat.find("CLAUDE-SONNET-4-5")
    expected = cat.resolve("claude-sonnet-4-5").id
    for name in (
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us.anthropic.claude-sonnet-4-5-20250929-v2",
        "bedrock/claude-sonnet-4-5",
        "vertex_ai/claude-sonnet-4-5@20250929",
        " claude-sonnet-4-5-20991231 ",
    ):
        assert cat.resolve(name).id == expected, name
    assert cat.find("claude-sonnet-4-5-v1:0-x") is None
    assert cat.find("gpt-4") is None


def test_catalog_models_pickle() -> None:
    cat = load_catalog()
    models = list(cat)
    assert pickle.loads(pickle.dumps(models)) == models
    assert copy.deepcopy(models) == models
    for model in models:
        for period in model.periods:
            assert pickle.loads(pickle.dumps(period)).base.femto == period.base.femto


def test_price_file_given_as_text_or_path(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "mine.v2.toml"
    path.parent.mkdir()
    path.write_text('[tiers]\nhaiku = "claude-haiku-4-5"\n')
    by_text = load_catalog(f"{tmp_path}//sub/./mine.v2.toml")
    by_path = load_catalog(path)
    assert by_text.name == by_path.name == "anthropic+mine.v2"
    assert by_text.default_for(Tier.HAIKU).id == "claude-haiku-4-5-20251001"
    (path.parent / "bad.toml").write_text("x = \n")
    message = f"{path.parent}/bad.toml: not valid TOML"
    with pytest.raises(PriceFileError, match="^" + re.escape(message)):
        load_catalog(f"{tmp_path}/./sub//bad.toml")


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_nanos_text_is_the_decimal_text(nanos: int) -> None:
    """usd_text writes integer nano-dollars without decimal, as the Decimal they are would be
    (over the 64-bit range the ledger stores; beyond 28 digits Decimal's context would round)."""
    from decimal import Decimal

    from gearshift.catalog.cost import usd_text
    from gearshift.catalog.units import nanos_text

    assert nanos_text(nanos) == usd_text(nanos) == format(Decimal(nanos).scaleb(-9), "f")
