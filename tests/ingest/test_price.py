"""The price stage: what a response costs is what the catalog says it costs, in every cost mode."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift.catalog import Usage, load_catalog
from gearshift.ingest.claude_code import ingest_claude_code
from gearshift.ingest.price import EntryPricer
from gearshift.ledger.sqlite3_ledger import LiteLedger
from gearshift.ledger.urls import resolve_location

CATALOG = load_catalog()
MODELS = sorted(m.id for m in CATALOG)
_US_PER_DAY = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)

tokens = st.integers(min_value=0, max_value=400_000)


@given(
    st.sampled_from(MODELS),
    st.dates(min_value=dt.date(2023, 1, 1), max_value=dt.date(2027, 12, 31)),
    st.integers(min_value=0, max_value=_US_PER_DAY - 1),
    st.tuples(tokens, tokens, tokens, tokens, tokens),
    st.booleans(),
)
def test_a_computed_price_is_the_catalogs_cost(
    model: str, day: dt.date, into_day: int, counts: tuple[int, int, int, int, int], fast: bool
) -> None:
    ts_us = (day - _EPOCH).days * _US_PER_DAY + into_day
    for mode in ("auto", "calculate"):
        model_id, tier, nanos, version, known = EntryPricer(CATALOG, mode).price(
            model, ts_us, counts, fast, None, False
        )
        cost = CATALOG.cost(model, Usage(*counts, fast=fast), at=day)
        assert (model_id, nanos, version, known) == (
            cost.model,
            cost.nanos,
            cost.price_version,
            True,
        )
        assert tier == CATALOG.resolve(model).tier.value


def test_cost_modes_legacy_cost_unknown_models_and_api_errors() -> None:
    tokens5 = (100, 200, 0, 0, 1000)
    ts_us = (dt.date(2026, 3, 1) - _EPOCH).days * _US_PER_DAY
    auto, calculate, display = (EntryPricer(CATALOG, m) for m in ("auto", "calculate", "display"))
    computed = calculate.price("claude-sonnet-4-5", ts_us, tokens5, False, "0.5", False)
    assert computed[2] == CATALOG.cost("claude-sonnet-4-5", Usage(100, 200, 0, 0, 1000)).nanos
    assert auto.price("claude-sonnet-4-5", ts_us, tokens5, False, "0.5", False)[2:4] == (
        500_000_000,
        "costUSD",
    )
    assert display.price("claude-sonnet-4-5", ts_us, tokens5, False, None, False)[2:4] == (
        0,
        "costUSD",
    )
    assert auto.price("gpt-5", ts_us, tokens5, False, None, False) == (
        "gpt-5",
        "unknown",
        0,
        "",
        False,
    )
    assert auto.price("claude-opus-9", ts_us, tokens5, False, None, False)[:2] == (
        "claude-opus-9",
        "opus",
    )
    assert auto.price("<synthetic>", ts_us, tokens5, False, None, True) == (
        "<synthetic>",
        "unknown",
        0,
        "",
        True,
    )
    assert auto.price("claude-sonnet-4-5", ts_us, tokens5, False, "nonsense", False)[2] == 0


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
def test_a_timestamp_whose_utc_day_no_date_holds_is_priced_as_the_nearest(
    tmp_path: Path, stamp: str
) -> None:
    """Year 1 east of UTC (year 0 there) and year 9999 west of it: the first and the last price
    period, as on the nearest day a date holds -- never an error (a run stopped on it)."""
    reference = Path(__file__).parents[1] / "data" / "claude_code" / "reference"
    line = next(
        ln
        for f in sorted(reference.rglob("*.jsonl"))
        for ln in f.read_text().splitlines()
        if '"usage"' in ln and "costUSD" not in ln and "<synthetic>" not in ln
    )
    costs = []
    for when in (stamp, stamp[:4] + "-06-01T00:00:00Z"):
        record = json.loads(line)
        record["timestamp"] = when
        tree = tmp_path / when.replace(":", "") / "projects" / "p"
        tree.mkdir(parents=True)
        (tree / "s.jsonl").write_text(json.dumps(record) + "\n")
        ledger = LiteLedger.open_or_create(
            resolve_location(str(tree.parent.parent / "l.db")), lambda: load_catalog(None)
        )
        assert ledger is not None
        with ledger:
            assert ingest_claude_code(ledger, [tree.parent.parent]).new_records == 1
            costs.append(ledger.query("SELECT cost_nanos, price_version FROM executions")[0])
    assert costs[0] == costs[1] and costs[0][0] > 0
