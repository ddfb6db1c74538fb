"""The ledger beside the bill: a real fake server, a real ledger, the comparison and its causes."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import pytest

from gearshift.catalog import PriceSet, load_catalog
from gearshift.insight.bill import Bill, fetch_bill, utc_day_start
from gearshift.insight.reconcile import Reconciliation, reconcile
from gearshift.insight.reconcile_explain import constant_ratio
from gearshift.insight.reconcile_rows import Tolerance
from gearshift.ledger import Execution, Ledger
from gearshift.ledger.queries import daily_model_totals
from gearshift.providers.admin import AdminClient
from gearshift.testing.fake_anthropic import Call, CodeExecution, FakeAnthropic, Organisation

KEY = "sk-ant-admin01-reconcile-tests"
D1 = dt.date(2026, 10, 12)
SONNET, HAIKU = "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(D1 + dt.timedelta(days=day), dt.time(hour), tzinfo=dt.UTC)


def traffic(days: int = 3) -> list[Call]:
    out = []
    for d in range(days):
        out += [
            Call(at(d, 9), "claude-sonnet-4-5", 12_000 + d, 3_000, 2_000, 0, 40_000,
                 api_key_id="apikey_a"),
            Call(at(d, 15), "claude-sonnet-4-5-20250929", 8_000, 1_000, api_key_id="apikey_b",
                 workspace_id="wrkspc_x"),
            Call(at(d, 16), "claude-haiku-4-5", 50_000, 800, cache_read_tokens=9_000,
                 api_key_id="apikey_b"),
        ]  # fmt: skip
    return out


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.db") as opened:
        yield opened


def record(ledger: Ledger, calls: Sequence[Call], source: str = "api") -> None:
    ledger.add_many(
        ledger.price(
            agent="svc",
            model=c.model,
            usage=c.usage(),
            ts=c.ts,
            source=source,
            tags={"api_key_id": c.api_key_id, "workspace_id": c.workspace_id or "default"},
        )
        for c in calls
    )


def bill_of(org: Organisation, days: int = 3) -> Bill:
    async def main() -> Bill:
        with FakeAnthropic(organisation=org, admin_key=KEY) as server:
            async with AdminClient(KEY, server.base_url) as client:
                return await fetch_bill(client, D1, D1 + dt.timedelta(days=days))

    return asyncio.run(main())


def compare(ledger: Ledger, org: Organisation, days: int = 3, **options: object) -> Reconciliation:
    bill = bill_of(org, days)
    tagged = options.get("by") in ("workspace", "api-key")
    cells = daily_model_totals(ledger, utc_day_start(bill.since), utc_day_start(bill.until),
                               with_tags=tagged)  # fmt: skip
    return reconcile(bill, cells, ledger.catalog, **options)  # type: ignore[arg-type]


def kinds(rec: Reconciliation) -> dict[str, list[str]]:
    return {r.key.text(): [e.kind for e in r.explanations] for r in rec.rows}


def test_an_exact_match_is_within_tolerance_to_the_nano(ledger: Ledger) -> None:
    calls = traffic()
    record(ledger, calls)
    rec = compare(ledger, Organisation(calls=calls))
    assert rec.within
    assert [r.key.text() for r in rec.rows] == [
        f"{D1 + dt.timedelta(days=d)}|{m}" for d in range(3) for m in (HAIKU, SONNET)
    ]
    for row in rec.rows:
        assert row.difference_nanos == 0 and row.explanations == []
        assert row.ledger_tokens == row.bill_tokens
        assert row.catalog_nanos == row.bill_token_nanos == row.ledger_nanos
    assert rec.findings == []
    assert rec.totals()["ledger_nanos"] == rec.totals()["bill_nanos"] > 0


def test_a_missing_day_is_calls_the_ledger_never_saw(ledger: Ledger) -> None:
    calls = traffic()
    record(ledger, [c for c in calls if c.ts.date() != D1 + dt.timedelta(days=1)])
    rec = compare(ledger, Organisation(calls=calls))
    beyond = {r.key.text(): r for r in rec.beyond}
    day2 = D1 + dt.timedelta(days=1)
    assert set(beyond) == {f"{day2}|{HAIKU}", f"{day2}|{SONNET}"}
    row = beyond[f"{day2}|{SONNET}"]
    assert row.ledger_nanos == 0 and row.difference_nanos == -row.bill_nanos
    assert [e.kind for e in row.explanations] == ["missing-from-ledger"]
    assert f"{SONNET} on {day2}" in row.explanations[0].message


def test_a_partly_recorded_day_is_unseen_calls(ledger: Ledger) -> None:
    calls = traffic(1)
    record(ledger, calls[1:])
    rec = compare(ledger, Organisation(calls=calls), days=1)
    assert kinds(rec)[f"{D1}|{SONNET}"] == ["unseen-calls"]


def test_a_wrong_catalog_price_is_a_constant_ratio_naming_the_entry(ledger: Ledger) -> None:
    calls = traffic()
    record(ledger, calls)
    base = load_catalog().resolve(SONNET).periods[-1].base
    billed = PriceSet(Decimal("3.75"), base.output, base.cache_write_5m, base.cache_write_1h,
                      base.cache_read)  # fmt: skip
    rec = compare(ledger, Organisation(calls=calls, bill_prices={SONNET: billed}))
    (finding,) = rec.findings
    assert finding.model == SONNET and len(finding.days) == 3
    assert finding.catalog_entry.startswith(f"{SONNET} (anthropic@")
    assert "prices since 2025-09-29" in finding.catalog_entry
    (input_price,) = finding.kinds.values()
    assert list(finding.kinds) == ["input"]
    assert (input_price.ratio, input_price.listed, input_price.implied) == (
        Decimal("1.25"), Decimal("3"), Decimal("3.75")
    )  # fmt: skip
    assert "wrong price" in finding.message and "$3.75/MTok billed" in finding.message
    sonnet = [r for r in rec.rows if r.key.model == SONNET]
    assert all("catalog-price" in [e.kind for e in r.explanations] for r in sonnet)
    assert all(r.ledger_tokens == r.bill_tokens for r in sonnet)  # tokens agree: a price


def test_a_ratio_that_changes_from_day_to_day_is_no_price_finding() -> None:
    tol = Tolerance()
    assert constant_ratio([(110, 100), (220, 200), (1100, 1000)], tol) is None  # under a cent
    big = 10**9
    assert constant_ratio([(125 * big, 100 * big), (250 * big, 200 * big), (5, 2)], tol) == (
        Decimal("1.25")
    )  # a day of a few nano-dollars tells nothing either way
    assert constant_ratio([(125 * big, 100 * big), (250 * big, 200 * big)], tol) == Decimal("1.25")
    assert constant_ratio([(125 * big, 100 * big), (300 * big, 200 * big)], tol) is None
    assert constant_ratio([(125 * big, 100 * big)], tol) is None  # one day is not a pattern
    assert constant_ratio([(125 * big, 100 * big), (100 * big, 100 * big)], tol) is None


def test_an_unknown_model_is_named_and_left_unpriced(ledger: Ledger) -> None:
    calls = [Call(at(0), "claude-nova-1", 1_000, 100)]
    prices = PriceSet(Decimal(1), Decimal(5), Decimal("1.25"), Decimal(2), Decimal("0.1"))
    rec = compare(ledger, Organisation(calls=calls, bill_prices={"claude-nova-1": prices}), days=1)
    (row,) = rec.rows
    assert row.key.model == "claude-nova-1" and row.catalog_nanos is None
    assert [e.kind for e in row.explanations] == ["missing-from-ledger", "unknown-model"]
    assert row.to_dict()["bill"]["catalog_cost_usd"] is None
    assert row.bill_nanos == 1_500_000  # 1000 x $1 + 100 x $5 per MTok, from the cost report


def test_ledger_only_records_name_their_sources(ledger: Ledger) -> None:
    calls = traffic(1)
    record(ledger, calls)
    subscription = [Call(at(0, 20), "claude-opus-4-6", 3_000, 500)]
    record(ledger, subscription, source="claude-code")
    rec = compare(ledger, Organisation(calls=calls), days=1)
    row = next(r for r in rec.rows if r.key.model == "claude-opus-4-6")
    (e,) = row.explanations
    assert e.kind == "ledger-only" and "claude-code" in e.message and "subscription" in e.message
    assert not row.within


def test_priority_tier_is_counted_at_catalog_rates_and_said_so(ledger: Ledger) -> None:
    calls = [*traffic(1), Call(at(0, 18), "claude-sonnet-4-5", 9_000, 900, service_tier="priority")]
    record(ledger, calls)
    rec = compare(ledger, Organisation(calls=calls), days=1)
    row = next(r for r in rec.rows if r.key.model == SONNET)
    assert row.priority_tokens == 9_900 and row.priority_nanos == 40_500_000
    assert row.within and row.difference_nanos == 0
    assert [e.kind for e in row.explanations] == ["priority-tier"]


def test_server_tools_are_rows_of_their_own_unless_left_out(ledger: Ledger) -> None:
    calls = [Call(at(0), "claude-haiku-4-5", 1_000, 100, web_search_requests=4)]
    record(ledger, calls)
    org = Organisation(calls=calls, code_execution=[CodeExecution(D1, Decimal("20"))])
    rec = compare(ledger, org, days=1)
    assert {r.key.model: r.bill_nanos for r in rec.rows if not r.within} == {
        "(web search)": 40_000_000,
        "(code execution)": 200_000_000,
    }
    assert all(e.kind == "server-tools" for r in rec.beyond for e in r.explanations)
    assert compare(ledger, org, days=1, server_tools=False).within
    by_day = compare(ledger, org, days=1, by="day")
    (day,) = by_day.rows
    assert day.server_tool_nanos == 240_000_000 and "server-tools" in kinds(by_day)[str(D1)]


@pytest.mark.parametrize(
    ("by", "keys"),
    [
        ("day", [str(D1 + dt.timedelta(days=d)) for d in range(3)]),
        ("model", [HAIKU, SONNET]),
        ("workspace", ["(default workspace)", "wrkspc_x"]),
        ("api-key", ["apikey_a", "apikey_b"]),
    ],
)
def test_other_groupings(ledger: Ledger, by: str, keys: list[str]) -> None:
    calls = traffic()
    record(ledger, calls)
    rec = compare(ledger, Organisation(calls=calls), by=by)
    assert [r.key.text() for r in rec.rows] == keys
    assert rec.within
    assert all(r.cost_from_catalog == (by == "api-key") for r in rec.rows)


def test_records_without_a_workspace_tag_are_untagged(ledger: Ledger) -> None:
    calls = traffic(1)
    ledger.add_many(ledger.price(agent="a", model=c.model, usage=c.usage(), ts=c.ts) for c in calls)
    rec = compare(ledger, Organisation(calls=calls), days=1, by="workspace")
    assert [r.key.workspace for r in rec.rows] == ["(default workspace)", "(untagged)", "wrkspc_x"]


def test_records_priced_under_another_catalog_are_said_to_be(ledger: Ledger) -> None:
    (call,) = traffic(1)[:1]
    priced = ledger.price(agent="a", model=call.model, usage=call.usage(), ts=call.ts)
    priced.cost_nanos += 50_000_000
    priced.price_version = "anthropic@2025-01-01"
    ledger.add(priced)
    rec = compare(ledger, Organisation(calls=[call]), days=1)
    (row,) = rec.rows
    assert [e.kind for e in row.explanations] == ["ledger-price"]
    assert "anthropic@2025-01-01" in row.explanations[0].message


def test_tolerance_boundaries(ledger: Ledger) -> None:
    """$1.00 billed; the ledger $0.01 or 1% over is within, a nano-dollar more is not."""
    call = Call(at(0), "claude-sonnet-4-5", 0, 66_667)  # 66,667 x $15/MTok = $1.000005
    bill = bill_of(Organisation(calls=[call]), 1)
    billed = 1_000_005_000

    def row_for(tol: Tolerance) -> bool:
        cells = daily_model_totals(ledger, utc_day_start(D1), utc_day_start(D1) + dt.timedelta(1))
        return reconcile(bill, cells, ledger.catalog, tolerance=tol).rows[0].within

    ledger.add(Execution(model=SONNET, tier="sonnet", output_tokens=66_667,
                         cost_nanos=billed + 10_000_050, ts=call.ts))  # fmt: skip
    assert row_for(Tolerance(Decimal(1), Decimal("0.01")))  # exactly 1% of the bill
    assert not row_for(Tolerance(Decimal("0.99"), Decimal("0.01")))
    assert row_for(Tolerance(Decimal(0), Decimal("0.010000050")))  # exactly the dollar floor
    assert not row_for(Tolerance(Decimal(0), Decimal("0.010000049")))
    assert Tolerance().within(-10_000_000, 0) and not Tolerance().within(10_000_001, 0)
    with pytest.raises(Exception, match="non-negative"):
        Tolerance(Decimal(-1))


def test_the_json_shape(ledger: Ledger) -> None:
    calls = traffic(1)
    record(ledger, calls[:2])
    data = compare(ledger, Organisation(calls=calls), days=1).to_dict()
    assert set(data) == {"provider", "run_id", "period", "by", "tolerance", "price_version",
                         "within_tolerance", "rows_beyond_tolerance", "totals", "rows",
                         "findings"}  # fmt: skip
    assert data["period"] == {"since": str(D1), "until": str(D1), "time_zone": "UTC"}
    row = data["rows"][0]
    assert set(row) == {"day", "model", "workspace", "api_key", "ledger", "bill",
                        "difference_usd", "difference_pct", "within_tolerance",
                        "explanations"}  # fmt: skip
    assert set(row["ledger"]) >= {"records", "input_tokens", "output_tokens",
                                  "cache_write_5m_tokens", "cache_write_1h_tokens",
                                  "cache_read_tokens", "cost_usd"}  # fmt: skip
    assert row["bill"]["cost_source"] == "cost_report"
    assert isinstance(row["difference_usd"], str) and "." in row["difference_usd"]
    assert row["explanations"][0] == {"kind": "missing-from-ledger",
                                      "message": row["explanations"][0]["message"]}  # fmt: skip
