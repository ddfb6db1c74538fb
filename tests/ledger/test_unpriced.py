"""A call on a model the price catalog does not know is never lost: it is recorded at $0,
flagged unpriced with a note, and priced later by `gearshift ledger reprice` once the price
file knows the model."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gearshift.catalog import Usage, load_catalog
from gearshift.ledger import Ledger
from gearshift.ledger.record import FLAG_UNPRICED

NEW_MODEL = "claude-nova-9-20270101"
PRICES = f"""
name = "nova"
[[model]]
id = "{NEW_MODEL}"
tier = "sonnet"
[[model.price]]
since = 2020-01-01
input = "2"
output = "10"
"""


def test_track_records_an_unknown_model_at_zero_with_a_flag(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.db", catalog=load_catalog())
    with ledger.track(agent="writer", model=NEW_MODEL, task="draft") as call:
        call.set_usage(Usage(1000, 500))
    (row,) = list(ledger.executions())
    assert row.model == NEW_MODEL and row.cost_nanos == 0 and row.price_version == ""
    assert row.flags & FLAG_UNPRICED
    assert "no price" in row.tags["unpriced"] and row.input_tokens == 1000
    assert call.execution is not None and call.execution.id == row.id


def test_record_and_an_error_inside_track_are_kept_too(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.db", catalog=load_catalog())
    ledger.record(agent="a", model="claude-typo", input_tokens=10, output_tokens=5)
    with pytest.raises(RuntimeError), ledger.track(agent="a", model="claude-typo") as call:
        call.set_usage(Usage(3, 4))
        raise RuntimeError("the call failed")
    rows = sorted(ledger.executions(), key=lambda e: e.input_tokens)
    assert [(r.input_tokens, r.status, r.cost_nanos) for r in rows] == [
        (3, "error", 0), (10, "success", 0),
    ]  # fmt: skip
    assert all(r.flags & FLAG_UNPRICED for r in rows)


def test_reprice_prices_unpriced_rows_once_the_prices_know_the_model(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    prices = tmp_path / "nova.toml"
    prices.write_text(PRICES)
    with Ledger.open(db, catalog=load_catalog()) as ledger:
        old = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
        ledger.record(agent="a", model=NEW_MODEL, input_tokens=1_000_000, output_tokens=0, ts=old)
        ledger.record(agent="a", model=NEW_MODEL, input_tokens=0, output_tokens=1_000_000)
        ledger.record(agent="a", model="haiku", input_tokens=100, output_tokens=100)
        priced_before = {e.id: e.cost_nanos for e in ledger.executions() if e.model != NEW_MODEL}

    gs = [sys.executable, "-m", "gearshift.cli.main", "--ledger", str(db)]
    env = {**os.environ}
    # without the new prices there is nothing to do, and it says why
    nothing = subprocess.run([*gs, "ledger", "reprice", "--json"], capture_output=True, text=True,
                             env=env, timeout=120)  # fmt: skip
    assert nothing.returncode == 0, nothing.stderr
    assert json.loads(nothing.stdout)["repriced"] == 0
    assert json.loads(nothing.stdout)["still_unpriced"] == {NEW_MODEL: 2}
    done = subprocess.run([*gs, "--prices", str(prices), "ledger", "reprice", "--since",
                           "2026-01-10", "--json"], capture_output=True, text=True, env=env,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["repriced"] == 1  # --since left the January row out
    everything = subprocess.run([*gs, "--prices", str(prices), "ledger", "reprice"],
                                capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert everything.returncode == 0, everything.stderr
    assert "repriced 1 execution" in everything.stdout

    with Ledger.open(db, catalog=load_catalog(prices)) as ledger:
        rows = {e.id: e for e in ledger.executions()}
    nova = sorted((e for e in rows.values() if e.model == NEW_MODEL), key=lambda e: e.ts)
    assert [e.cost_nanos for e in nova] == [2 * 10**9, 10 * 10**9]
    assert all(not e.flags & FLAG_UNPRICED and e.price_version for e in nova)
    assert all(e.tier == "sonnet" and "unpriced" not in e.tags for e in nova)
    assert {i: rows[i].cost_nanos for i in priced_before} == priced_before  # untouched


def test_spend_says_how_to_price_unpriced_rows(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    with Ledger.open(db, catalog=load_catalog()) as ledger:
        ledger.record(agent="a", model=NEW_MODEL, input_tokens=10, output_tokens=10)
    out = subprocess.run([sys.executable, "-m", "gearshift.cli.main", "--ledger", str(db),
                          "spend", "--by", "model"], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"1 execution has no price ({NEW_MODEL})" in out.stdout + out.stderr
    assert "gearshift --prices FILE ledger reprice" in out.stdout + out.stderr
