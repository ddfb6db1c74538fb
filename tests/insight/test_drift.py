"""Drift as a signal: stored comparisons feed ``ledger_vs_bill`` and the alert sinks."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from rich.console import Console

from gearshift.budgets.alerts import ConsoleSink, LogSink, WebhookSink
from gearshift.catalog import load_catalog
from gearshift.config import ReconcileConfig
from gearshift.insight.drift import drifting, ledger_vs_bill, save, send_drift_alerts
from gearshift.insight.reconcile import Reconciliation
from gearshift.insight.reconcile_explain import price_findings
from gearshift.insight.reconcile_rows import Explanation, Key, Row, Tolerance
from gearshift.ledger import Ledger

SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
D1 = dt.date(2026, 10, 1)
USD = 10**9


def row(day: int, model: str, ledger: int, billed: int, catalog: int | None = None) -> Row:
    r = Row(Key(D1 + dt.timedelta(days=day), model, None, None))
    r.ledger_nanos, r.billed_nanos = ledger, {"input": billed}
    r.bill_tokens.add(1_000_000, 0, 0, 0, 0)
    r.ledger_tokens.add(1_000_000, 0, 0, 0, 0)
    r.catalog_femto = {"input": Fraction((catalog if catalog is not None else billed) * 10**6)}
    r.within = Tolerance().within(r.difference_nanos, r.bill_nanos)
    if not r.within:
        r.explanations = [Explanation("catalog-price", "priced differently")]
    return r


def rec(rows: list[Row], days: int = 3) -> Reconciliation:
    catalog = load_catalog()
    findings = price_findings(rows, catalog, Tolerance())
    return Reconciliation(D1, D1 + dt.timedelta(days=days), "day-model", Tolerance(), rows,
                          catalog.price_version, findings)  # fmt: skip


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.open(tmp_path / "drift.db")


def test_stored_runs_feed_ledger_vs_bill_with_the_wrong_price_named(ledger: Ledger) -> None:
    # the bill is 1.25x the catalog's price every day; the ledger (priced by the catalog) agrees
    # with the catalog: a wrong price, not missing calls
    rows = [row(d, SONNET, 3 * USD, 375 * USD // 100, 3 * USD) for d in range(3)]
    rows += [row(d, HAIKU, USD, USD) for d in range(3)]
    run_id = save(ledger, rec(rows), now=dt.datetime(2026, 10, 5, tzinfo=dt.UTC))
    got = ledger_vs_bill(ledger, ledger.catalog)
    assert got is not None and got.runs[0].run_id == run_id
    sonnet, haiku = got.models
    assert sonnet.model == SONNET and sonnet.days == 3 and sonnet.beyond_days == 3
    assert sonnet.difference_nanos == -Decimal("2.25") * USD and sonnet.drift_pct == Decimal(
        "-20.00"
    )
    assert sonnet.prices["input"].ratio == Decimal("1.25")
    assert sonnet.catalog_entry is not None and sonnet.catalog_entry.startswith(SONNET)
    assert sonnet.reasons == {"catalog-price"}
    assert haiku.prices == {} and haiku.beyond_days == 0
    (note,) = got.notes()
    assert "input 1.25x: $3.00/MTok in the catalog, $3.75/MTok billed" in note
    assert "wrong price" in note
    data = got.to_dict()
    assert data["models"][0]["constant_price_ratios"]["input"]["ratio"] == "1.25"
    assert data["last_run"]["run_id"] == run_id


def test_the_newest_run_of_each_day_wins_and_days_filter(ledger: Ledger) -> None:
    save(ledger, rec([row(0, SONNET, 0, USD), row(1, SONNET, 0, USD)]),
         now=dt.datetime(2026, 10, 3, tzinfo=dt.UTC))  # fmt: skip
    save(ledger, rec([row(1, SONNET, USD, USD)]), now=dt.datetime(2026, 10, 4, tzinfo=dt.UTC))
    got = ledger_vs_bill(ledger, ledger.catalog)
    assert got is not None
    (m,) = got.models
    assert (m.days, m.ledger_nanos, m.bill_nanos, m.beyond_days) == (2, USD, 2 * USD, 1)
    later = ledger_vs_bill(ledger, ledger.catalog, since=D1 + dt.timedelta(days=1))
    assert later is not None and later.models[0].days == 1 and later.models[0].beyond_days == 0
    assert len(later.runs) == 2


def test_no_stored_comparison_means_nothing_to_show(ledger: Ledger) -> None:
    assert ledger_vs_bill(ledger, ledger.catalog) is None


def test_drift_passes_both_thresholds() -> None:
    rows = [
        row(0, SONNET, 0, 2 * USD),
        row(1, SONNET, 0, USD // 2),
        row(2, SONNET, 96 * USD, 100 * USD),
    ]
    r = rec(rows)
    config = ReconcileConfig(alert_pct=Decimal(5), alert_usd=Decimal(1))
    assert [x.key.day for x in drifting(r, config)] == [D1]  # $0.50 too small; 4% too little
    loose = ReconcileConfig(alert_pct=Decimal(4), alert_usd=Decimal("0.5"))
    assert len(drifting(r, loose)) == 3


def test_an_alert_goes_to_every_sink_once_per_row_and_day(ledger: Ledger, tmp_path: Path) -> None:
    rows = [row(d, SONNET, 3 * USD, 375 * USD // 100, 3 * USD) for d in range(3)]
    r = rec(rows)
    out = io.StringIO()
    log = tmp_path / "alerts.log"
    sinks = [ConsoleSink(Console(file=out, width=300)), LogSink(log)]
    config = ReconcileConfig(alert_pct=Decimal(5), alert_usd=Decimal("0.5"))
    ((alert, deliveries),) = send_drift_alerts(ledger, r, sinks, config)
    assert [d.ok for d in deliveries] == [True, True]
    assert "3 rows drift by -$2.25" in out.getvalue() and "1.25x" in out.getvalue()
    assert alert.severity == "critical"  # a price finding
    entry = json.loads(log.read_text().splitlines()[0])
    assert entry["kind"] == "reconcile-drift" and len(entry["rows"]) == 3
    assert entry["findings"] and entry["deliveries"][0]["sink"] == "console"
    assert send_drift_alerts(ledger, r, sinks, config) == []  # claimed: not again
    wider = rec([*rows, row(3, SONNET, 0, 2 * USD)], days=4)
    ((again, _),) = send_drift_alerts(ledger, wider, sinks, config)
    assert len(again.rows) == 1 and again.rows[0]["day"] == str(D1 + dt.timedelta(days=3))


def test_a_failed_webhook_withdraws_the_claim(ledger: Ledger) -> None:
    r = rec([row(0, SONNET, 0, 2 * USD)], days=1)
    config = ReconcileConfig()
    dead = WebhookSink("http://127.0.0.1:9/hook", timeout_s=0.5, retries=0)
    ((_, deliveries),) = send_drift_alerts(ledger, r, [dead], config)
    assert not deliveries[0].ok
    ((_, retried),) = send_drift_alerts(ledger, r, [dead], config)  # tried again
    assert retried[0].sink == "webhook"
