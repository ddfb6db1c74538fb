"""Enforcement: reservations are atomic, so concurrent calls never overspend a budget."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from gearshift.budgets.model import Budget, make_budget, save_budget
from gearshift.budgets.reservations import (
    CallScope,
    Reservations,
    reserve,
    settle,
    worst_case_nanos,
)
from gearshift.catalog import Usage, load_catalog, nanos_to_decimal
from gearshift.config import Config
from gearshift.errors import BudgetExceeded
from gearshift.ledger import Ledger

NOW = dt.datetime(2026, 3, 18, 12, tzinfo=dt.UTC)
SONNET = "claude-sonnet-4-5"
ACME = CallScope(project="acme", agent="coder", model=SONNET, tier="sonnet")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "l.db") as led:
        yield led


def budget(amount: str, action: str = "block", **kw: str) -> Budget:
    fields = {"name": "acme", "scope": "project", "value": "acme", "period": "day", **kw}
    return make_budget(amount_usd=amount, action=action, **fields)


# -- worst case ---------------------------------------------------------------------------------


def test_worst_case_prices_input_at_the_dearest_input_rate_and_rounds_up() -> None:
    cat = load_catalog()
    worst = worst_case_nanos(cat, SONNET, 2000, 1000)
    as_1h_write = cat.cost(SONNET, Usage(cache_write_1h_tokens=2000, output_tokens=1000)).nanos
    assert worst == as_1h_write
    assert worst > cat.cost(SONNET, Usage(2000, 1000)).nanos
    assert worst_case_nanos(cat, "haiku", 1, 0) >= 1  # a fraction of a nano rounds up


@settings(max_examples=60, deadline=None)
@given(
    inp=st.integers(0, 400_000),
    out=st.integers(0, 64_000),
    split=st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100)),
    used_out=st.integers(0, 100),
    model=st.sampled_from(["haiku", "sonnet", "opus", "claude-sonnet-4-5"]),
)
def test_worst_case_bounds_any_real_usage(
    inp: int, out: int, split: tuple[int, int, int], used_out: int, model: str
) -> None:
    """However the input splits into plain, cached-write and cache-read tokens, and however
    much of ``max_tokens`` the answer uses, the real cost stays under the worst case."""
    cat = load_catalog()
    total = sum(split) or 1
    plain, w5 = inp * split[0] // total, inp * split[1] // total
    w1 = inp * split[2] // total
    usage = Usage(plain, out * used_out // 100, w5, w1, inp - plain - w5 - w1)
    assert cat.cost(model, usage).nanos <= worst_case_nanos(cat, model, inp, out)


# -- decisions ----------------------------------------------------------------------------------


def test_admits_within_budget_and_blocks_beyond(ledger: Ledger) -> None:
    guard = Reservations(ledger, [budget("1")], tz=dt.UTC)
    first = guard.reserve(ACME, 600_000_000, now=NOW)
    assert first.action == "ok" and first.admitted and first.reservation is not None
    assert first.reservation.budgets == ("acme",)
    second = guard.reserve(ACME, 600_000_000, now=NOW)
    assert second.action == "block" and not second.admitted
    assert "in flight" in second.reason and "$0.60" in second.reason
    with pytest.raises(BudgetExceeded, match="over budget: budget acme"):
        raise second.error()
    assert guard.release(first.reservation)
    assert guard.reserve(ACME, 600_000_000, now=NOW).admitted


def test_calls_outside_every_budget_skip_the_lock(ledger: Ledger) -> None:
    guard = Reservations(ledger, [budget("1")], tz=dt.UTC)
    other = CallScope(project="other", model=SONNET, tier="sonnet")
    decision = guard.reserve(other, 10**12, now=NOW)
    assert decision.action == "ok" and decision.reservation is not None
    assert decision.reservation.budgets == ()
    assert guard.settle(
        decision.reservation, ledger.price(agent="x", model="haiku", usage=Usage(1))
    )
    assert ledger.count() == 1


def test_alert_only_budgets_admit_and_report(ledger: Ledger) -> None:
    guard = Reservations(ledger, [budget("0.000001", action="alert")], tz=dt.UTC)
    decision = guard.reserve(ACME, 5_000, now=NOW)
    assert decision.action == "alert" and decision.admitted
    assert [b.budget.name for b in decision.breaches] == ["acme"]


def test_step_down_names_the_next_tier_and_blocks_at_the_bottom(ledger: Ledger) -> None:
    guard = Reservations(ledger, [budget("0.000001", action="step-down")], tz=dt.UTC)
    opus = CallScope(project="acme", model="claude-opus-4-5", tier="opus")
    decision = guard.reserve(opus, 5_000, now=NOW)
    assert decision.action == "step-down" and not decision.admitted
    assert decision.step_to is not None and decision.step_to.value == "sonnet"
    bottom = CallScope(project="acme", model="claude-haiku-4-5", tier="haiku")
    assert guard.reserve(bottom, 5_000, now=NOW).action == "block"


def test_block_beats_step_down_beats_alert_across_budgets(ledger: Ledger) -> None:
    budgets = [
        budget("0.000001", action="alert", name="a"),
        budget("0.000001", action="step-down", name="b"),
    ]
    assert Reservations(ledger, budgets, tz=dt.UTC).reserve(ACME, 5_000, now=NOW).action == (
        "step-down"
    )
    budgets.append(
        make_budget(
            name="c",
            scope="global",
            value="",
            period="month",
            amount_usd="0.000001",
            action="block",
        )
    )
    decision = Reservations(ledger, budgets, tz=dt.UTC).reserve(ACME, 5_000, now=NOW)
    assert decision.action == "block" and {b.budget.name for b in decision.breaches} == {
        "a",
        "b",
        "c",
    }


def test_recorded_spend_in_the_period_and_scope_counts(ledger: Ledger) -> None:
    guard = Reservations(ledger, [budget("1")], tz=dt.UTC)
    for ts, project in ((NOW, "acme"), (NOW - dt.timedelta(days=1), "acme"), (NOW, "other")):
        ledger.add(
            ledger.price(agent="x", model=SONNET, usage=Usage(0, 40_000), project=project, ts=ts)
        )
    # only the first counts: $0.60 of $1, so a $0.50 call no longer fits, a $0.40 one does
    assert guard.reserve(ACME, 500_000_000, now=NOW).action == "block"
    assert guard.reserve(ACME, 400_000_000, now=NOW).action == "ok"


def test_a_custom_budget_applies_only_inside_its_span(ledger: Ledger) -> None:
    sprint = budget("0.000001", period="custom", start="2026-03-01", end="2026-03-14")
    guard = Reservations(ledger, [sprint], tz=dt.UTC)
    assert guard.reserve(ACME, 5_000, now=dt.datetime(2026, 3, 14, 23, tzinfo=dt.UTC)).action == (
        "block"
    )
    assert guard.reserve(ACME, 5_000, now=NOW).action == "ok"


def test_settle_records_the_execution_and_frees_the_reservation(ledger: Ledger) -> None:
    guard = Reservations(ledger, [budget("1")], tz=dt.UTC)
    held = guard.reserve(ACME, 900_000_000, now=NOW).reservation
    assert held is not None
    actual = ledger.price(
        agent="coder", model=SONNET, usage=Usage(0, 10_000), project="acme", ts=NOW
    )
    assert actual.cost_nanos == 150_000_000
    assert guard.settle(held, actual)
    assert ledger.count() == 1
    assert guard.reserve(ACME, 850_000_000, now=NOW).admitted  # 0.15 spent + 0.85 = 1
    assert not guard.settle(held)  # already gone


def test_settle_records_a_dedup_key_once(ledger: Ledger) -> None:
    guard = Reservations(ledger, [budget("1")], tz=dt.UTC)
    for _ in range(2):
        held = guard.reserve(ACME, 1_000, now=NOW).reservation
        assert held is not None
        actual = ledger.price(agent="coder", model=SONNET, usage=Usage(0, 10), project="acme",
                              ts=NOW, dedup_key="cc:msg_1|req_1|m")  # fmt: skip
        assert guard.settle(held, actual)
    assert ledger.count() == 1


def test_stale_reservations_of_crashed_callers_expire(ledger: Ledger) -> None:
    guard = Reservations(ledger, [budget("1")], tz=dt.UTC, ttl=dt.timedelta(minutes=5))
    assert guard.reserve(ACME, 900_000_000, now=NOW).admitted  # the caller "crashes"
    assert not guard.reserve(ACME, 900_000_000, now=NOW + dt.timedelta(minutes=4)).admitted
    assert guard.reserve(ACME, 900_000_000, now=NOW + dt.timedelta(minutes=6)).admitted
    later = NOW + dt.timedelta(hours=3)  # long expired: purged by the next reservation
    assert guard.reserve(ACME, 1, now=later).admitted
    with ledger.read() as conn:
        left = conn.execute(text("SELECT COUNT(*) FROM budget_reservations")).scalar_one()
    assert left == 1


def test_ledger_budgets_apply_without_a_restart(ledger: Ledger) -> None:
    guard = Reservations(ledger, tz=dt.UTC)  # config (none) + the ledger's, read per call
    assert guard.reserve(ACME, 5_000, now=NOW).action == "ok"
    save_budget(ledger, budget("0.000001"), Config())
    assert reserve(ledger, ACME, 5_000, now=NOW).action == "block"
    assert guard.reserve(ACME, 5_000, now=NOW).action == "block"


def test_module_level_settle(ledger: Ledger) -> None:
    held = reserve(ledger, ACME, 10, budgets=[budget("1")], now=NOW).reservation
    assert held is not None
    assert settle(ledger, held, ledger.price(agent="a", model="haiku", usage=Usage(1)))


# -- the concurrency test the issue demands -----------------------------------------------------

CALLS = 200
ADMITS = 50


def _fire(url: str, *, exact: bool) -> tuple[int, int, int, set[str], int]:
    """Fire CALLS concurrent calls from 2 "processes" (separate engines and pools) at a
    blocking budget that holds ADMITS worst cases. Each admitted call "runs" a few ms and settles
    with its real cost: exactly the worst case, or (``exact=False``) a random 20-100% of it, which
    frees room for more calls. Returns (amount, spent, admitted, task keys recorded, reservations
    left)."""
    cat = load_catalog()
    worst = worst_case_nanos(cat, SONNET, 2000, 1000)
    today = dt.datetime.now(dt.UTC).date()  # a span around today: no period rolls over mid-test
    cap = make_budget(
        name="cap",
        scope="project",
        value="acme",
        period="custom",
        start=today - dt.timedelta(days=1),
        end=today + dt.timedelta(days=1),
        amount_usd=nanos_to_decimal(worst * ADMITS),
        action="block",
    )
    # Two engines: their pools cap this test at 30 PostgreSQL connections of a shared server.
    ledgers = [Ledger.open(url, catalog=cat) for _ in range(2)]
    try:
        save_budget(ledgers[0], cap, Config())
        admitted = _run_calls(ledgers, worst, exact)
        with ledgers[0].read() as conn:
            spent = conn.execute(
                text("SELECT COALESCE(SUM(cost_nanos), 0) FROM executions WHERE project = 'acme'")
            ).scalar_one()
            keys = {r[0] for r in conn.execute(text("SELECT task_key FROM executions"))}
            left = conn.execute(text("SELECT COUNT(*) FROM budget_reservations")).scalar_one()
    finally:
        for led in ledgers:
            led.close()
    return cap.amount_nanos, int(spent), len(admitted), keys, int(left)


def _run_calls(ledgers: list[Ledger], worst: int, exact: bool) -> list[str]:
    admitted: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(CALLS)
    errors: list[BaseException] = []

    def call(i: int) -> None:
        led = ledgers[i % len(ledgers)]
        rng = random.Random(i)
        try:
            guard = Reservations(led, tz=dt.UTC)
            start.wait()
            decision = guard.reserve(ACME, worst)
            if not decision.admitted:
                assert decision.action == "block"
                return
            assert decision.reservation is not None
            time.sleep(rng.uniform(0, 0.005))
            share = 100 if exact else rng.randint(20, 100)
            usage = Usage(0, 1000 * share // 100, cache_write_1h_tokens=2000 * share // 100)
            execution = led.price(
                agent="coder", model=SONNET, usage=usage, project="acme", task_key=f"call-{i}"
            )
            assert execution.cost_nanos <= worst
            guard.settle(decision.reservation, execution)
            with lock:
                admitted.append(f"call-{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(CALLS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[:3]
    return admitted


def test_200_concurrent_calls_admit_exactly_what_the_budget_holds(ledger_url: str) -> None:
    amount, spent, admitted, keys, left = _fire(ledger_url, exact=True)
    assert admitted == ADMITS  # every call costs its worst case: room for exactly 50
    assert spent == amount
    assert len(keys) == admitted and left == 0


def test_200_concurrent_calls_with_cheaper_actuals_never_overspend(ledger_url: str) -> None:
    amount, spent, admitted, keys, left = _fire(ledger_url, exact=False)
    assert spent <= amount
    assert admitted >= ADMITS  # settled calls hand back the unused part of their worst case
    assert len(keys) == admitted and left == 0


def test_settle_many_records_and_releases_in_one_go(tmp_path: Path) -> None:
    from gearshift.budgets import make_budget
    from gearshift.ledger import Execution

    with Ledger.open(tmp_path / "l.db") as ledger:
        budget = make_budget(
            name="all", scope="global", value="", period="day", amount_usd="1", action="block"
        )
        guard = Reservations(ledger, [budget])
        call = CallScope(agent="a")
        first = guard.reserve(call, 400_000_000)
        second = guard.reserve(call, 400_000_000)
        assert first.reservation and second.reservation
        assert not guard.reserve(call, 400_000_000).admitted  # 0.8 held + 0.4 > 1
        rows = [Execution(model="m", tier="haiku", agent="a", cost_nanos=100_000_000) for _ in "ab"]
        assert guard.settle_many(rows, [first.reservation, second.reservation]) == 2
        assert guard.reserve(call, 700_000_000).admitted  # 0.2 spent, nothing held
        assert guard.settle_many([], []) == 0
