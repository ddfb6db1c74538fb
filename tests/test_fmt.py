"""Money for people: a cost that is not zero never reads as zero, in every table, as in `record`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gearshift.catalog.cost import nanos_to_decimal
from gearshift.fmt import usd, usd_nanos


def test_small_amounts_keep_their_significant_digits() -> None:
    assert usd(Decimal("0.000156")) == "$0.000156"
    assert usd_nanos(3_700_000) == "$0.0037"
    assert usd_nanos(14_600_000) == "$0.0146"
    assert usd_nanos(1) == "$0.000000001"
    assert usd(Decimal("0.5")) == "$0.5000"
    assert usd(Decimal("1234.567")) == "$1,234.57"
    assert usd(Decimal(0)) == "$0.00"
    assert usd(Decimal("-0.000156")) == "-$0.000156"


@given(st.integers(min_value=1, max_value=10**15))
def test_a_cost_never_reads_as_zero_and_is_within_half_a_percent(nanos: int) -> None:
    text = usd_nanos(nanos)
    shown = Decimal(text.replace("$", "").replace(",", ""))
    exact = nanos_to_decimal(nanos)
    assert shown > 0
    if exact < 1:  # three significant digits at least
        assert abs(shown - exact) <= exact / 200


def test_spend_and_record_show_the_same_small_cost(tmp_path: Path) -> None:
    db = str(tmp_path / "l.db")
    gs = [sys.executable, "-m", "gearshift.cli.main", "--ledger", db]
    env = {**os.environ, "COLUMNS": "120"}
    # 52 input tokens on Haiku 4.5 ($1/M in, $5/M out) and 21 output: $0.000157
    recorded = subprocess.run(
        [*gs, "record", "-a", "tiny", "-m", "claude-haiku-4-5", "--input-tokens", "51",
         "--output-tokens", "21"], capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    exact = json.loads(
        subprocess.run(
            [*gs, "spend", "--by", "agent", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        ).stdout
    )["total"]["cost_usd"]
    assert exact == "0.000156000"
    assert "$0.000156 " in recorded.stdout
    for args in (["spend", "--by", "agent"], ["spend", "--by", "day"], ["report"]):
        out = subprocess.run([*gs, *args], capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "$0.000156" in out.stdout, args
        if args[0] == "spend":  # its only money is this cost
            assert "$0.00 " not in out.stdout, args
