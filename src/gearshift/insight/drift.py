"""Ledger-vs-bill drift as a signal: stored runs, the history ``report`` shows, and alerts.

* :func:`save` stores a :class:`~gearshift.insight.reconcile.Reconciliation` in the ledger
  (:mod:`gearshift.ledger.reconciliations`), so every machine sharing the ledger sees it.
* :func:`ledger_vs_bill` reads back, for each day and model, the newest comparison of it, and
  sums it per model: what the ledger said, what the bill said, the drift, how many days were
  beyond tolerance, and whether the bill was the same multiple of the catalog's price every day
  (a wrong price in the catalog, named).
* :func:`send_drift_alerts` sends one :class:`DriftAlert` through the alert sinks (console,
  webhook, log) for the rows whose drift passes the ``[reconcile]`` threshold, each (row, day)
  once: the claim is kept in ``alerts_sent`` as budget alerts' are, so a daily cron over a
  month does not repeat yesterday's alert.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gearshift.budgets import sql as budget_sql
from gearshift.budgets.alerts import Delivery, LogSink, Sink
from gearshift.catalog.cost import usd_text
from gearshift.fmt import usd_nanos
from gearshift.insight.reconcile_explain import (
    KindPrice,
    constant_kinds,
    entry_text,
    finding_text,
)
from gearshift.insight.reconcile_rows import KINDS, Tolerance
from gearshift.ledger.ids import new_id
from gearshift.ledger.reconciliations import (
    StoredRow,
    StoredRun,
    latest_rows,
    recent_runs,
    save_run,
)

if TYPE_CHECKING:
    from gearshift.catalog import Catalog
    from gearshift.config import ReconcileConfig
    from gearshift.insight.reconcile import Reconciliation
    from gearshift.insight.reconcile_rows import Row
    from gearshift.ledger.bulk import Reader
    from gearshift.ledger.store import Ledger

__all__ = [
    "DriftAlert",
    "LedgerVsBill",
    "ModelDrift",
    "drift_alert",
    "drifting",
    "ledger_vs_bill",
    "save",
    "send_drift_alerts",
]


def save(ledger: Ledger, rec: Reconciliation, now: dt.datetime | None = None) -> str:
    """Store ``rec`` as a new run; return (and set on ``rec``) its id."""
    moment = now or dt.datetime.now(dt.UTC)
    run_id = new_id(int(moment.timestamp() * 1000))
    totals = rec.totals()
    run = StoredRun(
        run_id=run_id,
        created_at=moment.astimezone(dt.UTC).isoformat(),
        provider="anthropic",
        since_day=rec.since.isoformat(),
        last_day=(rec.until - dt.timedelta(days=1)).isoformat(),
        grouping=rec.by,
        tolerance_pct=format(rec.tolerance.pct, "f"),
        tolerance_usd=format(rec.tolerance.usd, "f"),
        row_count=len(rec.rows),
        beyond_count=len(rec.beyond),
        ledger_nanos=totals["ledger_nanos"],
        bill_nanos=totals["bill_nanos"],
        price_version=rec.price_version,
    )
    save_run(ledger, run, [_stored(r) for r in rec.rows])
    rec.run_id = run_id
    return run_id


def _stored(row: Row) -> StoredRow:
    k = row.key
    return StoredRow(
        group_key=k.text() or "total",
        day=k.day.isoformat() if k.day else None,
        model=k.model,
        workspace=k.workspace,
        api_key=k.api_key,
        ledger_tokens=row.ledger_tokens.total,
        bill_tokens=row.bill_tokens.total,
        ledger_nanos=row.ledger_nanos,
        bill_nanos=row.bill_nanos,
        bill_token_nanos=row.bill_token_nanos,
        catalog_nanos=row.catalog_nanos,
        within_tolerance=row.within,
        reasons=tuple(e.kind for e in row.explanations),
        prices={
            kind: (row.billed_nanos.get(kind, 0), row.catalog_kind_nanos(kind))
            for kind in KINDS
            if row.billed_nanos.get(kind) or row.catalog_femto.get(kind)
        },
    )


# -- history ------------------------------------------------------------------------------------


@dataclass(slots=True)
class ModelDrift:
    """One model over the days compared: both sides, the days beyond tolerance, and the bill's
    constant multiple of the catalog price when there is one."""

    model: str
    days: int = 0
    beyond_days: int = 0
    ledger_nanos: int = 0
    bill_nanos: int = 0
    first_day: str = ""
    last_day: str = ""
    reasons: set[str] = field(default_factory=set)
    prices: dict[str, KindPrice] = field(default_factory=dict)  # kinds at a constant ratio
    catalog_entry: str | None = None

    @property
    def difference_nanos(self) -> int:
        return self.ledger_nanos - self.bill_nanos

    @property
    def drift_pct(self) -> Decimal | None:
        if not self.bill_nanos:
            return None
        return (Decimal(self.difference_nanos) * 100 / Decimal(self.bill_nanos)).quantize(
            Decimal("0.01")
        )

    def to_dict(self) -> dict[str, Any]:
        pct = self.drift_pct
        return {
            "model": self.model,
            "days": self.days,
            "first_day": self.first_day,
            "last_day": self.last_day,
            "days_beyond_tolerance": self.beyond_days,
            "ledger_cost_usd": usd_text(self.ledger_nanos),
            "bill_cost_usd": usd_text(self.bill_nanos),
            "difference_usd": usd_text(self.difference_nanos),
            "drift_pct": format(pct, "f") if pct is not None else None,
            "reasons": sorted(self.reasons),
            "constant_price_ratios": {k: v.to_dict() for k, v in self.prices.items()},
            "catalog_entry": self.catalog_entry,
        }


@dataclass(slots=True)
class LedgerVsBill:
    """What ``report`` shows: per model, the newest comparison of each day, and recent runs."""

    models: list[ModelDrift]
    runs: list[StoredRun]

    @property
    def ledger_nanos(self) -> int:
        return sum(m.ledger_nanos for m in self.models)

    @property
    def bill_nanos(self) -> int:
        return sum(m.bill_nanos for m in self.models)

    def notes(self) -> list[str]:
        out = []
        for m in self.models:
            if m.prices and m.catalog_entry:
                out.append(finding_text(m.model, m.prices, m.days, m.catalog_entry))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "ledger_cost_usd": usd_text(self.ledger_nanos),
            "bill_cost_usd": usd_text(self.bill_nanos),
            "difference_usd": usd_text(self.ledger_nanos - self.bill_nanos),
            "models": [m.to_dict() for m in self.models],
            "notes": self.notes(),
            "last_run": {
                "run_id": self.runs[0].run_id,
                "at": self.runs[0].created_at,
                "since": self.runs[0].since_day,
                "until": self.runs[0].last_day,
                "rows_beyond_tolerance": self.runs[0].beyond_count,
            }
            if self.runs
            else None,
        }


def ledger_vs_bill(
    reader: Reader,
    catalog: Catalog,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> LedgerVsBill | None:
    """The stored comparisons of the UTC days ``[since, until)`` per model; ``None`` when the
    ledger holds no comparison."""
    runs = recent_runs(reader)
    if not runs:
        return None
    per_model: dict[str, ModelDrift] = {}
    points: dict[str, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
    tolerance: dict[str, Tolerance] = {}
    for run, row in latest_rows(reader, since, until):
        name = row.model or "(none)"
        m = per_model.setdefault(name, ModelDrift(name, first_day=row.day or ""))
        m.days += 1
        m.beyond_days += not row.within_tolerance
        m.ledger_nanos += row.ledger_nanos
        m.bill_nanos += row.bill_nanos
        m.last_day = max(m.last_day, row.day or "")
        m.first_day = min(m.first_day, row.day or "")
        m.reasons.update(row.reasons)
        for kind, pair in row.prices.items():
            points[name][kind].append(pair)
        tolerance[name] = Tolerance(Decimal(run.tolerance_pct), Decimal(run.tolerance_usd))
    for name, m in per_model.items():
        model = catalog.find(name)
        if model is None or not m.last_day:
            continue
        last = dt.date.fromisoformat(m.last_day)
        m.prices = constant_kinds(dict(points[name]), model, last, tolerance[name])
        if m.prices:
            m.catalog_entry = entry_text(model, last, catalog)
    models = sorted(per_model.values(), key=lambda m: (-abs(m.difference_nanos), m.model))
    return LedgerVsBill(models, runs)


# -- alerts -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DriftAlert:
    """Rows of one comparison whose drift passed the threshold (a :class:`Notice` for sinks)."""

    text: str
    severity: str
    since: str
    last_day: str
    rows: tuple[dict[str, Any], ...]
    findings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "reconcile-drift",
            "provider": "anthropic",
            "severity": self.severity,
            "period_start": self.since,
            "period_end": self.last_day,
            "rows": list(self.rows),
            "findings": list(self.findings),
            "text": self.text,
        }


def drifting(rec: Reconciliation, config: ReconcileConfig) -> list[Row]:
    """The rows whose difference passes both ``alert_usd`` and ``alert_pct`` of the bill."""
    floor = int(config.alert_usd.scaleb(9).to_integral_value())
    out = []
    for row in rec.rows:
        gap = abs(row.difference_nanos)
        if gap >= floor and Decimal(gap) * 100 >= config.alert_pct * abs(row.bill_nanos):
            out.append(row)
    return out


def drift_alert(rec: Reconciliation, rows: Sequence[Row]) -> DriftAlert:
    """One alert for ``rows`` of ``rec`` (the largest first), with the price findings."""
    ordered = sorted(rows, key=lambda r: -abs(r.difference_nanos))
    total = sum(r.difference_nanos for r in ordered)
    last = (rec.until - dt.timedelta(days=1)).isoformat()
    top = "; ".join(
        f"{r.key.label()}: ledger {usd_nanos(r.ledger_nanos)} vs bill {usd_nanos(r.bill_nanos)}"
        for r in ordered[:3]
    )
    more = f" (and {len(ordered) - 3} more)" if len(ordered) > 3 else ""
    findings = tuple(f.message for f in rec.findings)
    text = (
        f"gearshift ledger vs Anthropic bill ({rec.since}..{last}): {len(ordered)} rows drift by "
        f"{usd_nanos(total)} in all -- {top}{more}" + (f". {findings[0]}" if findings else "")
    )
    severity = "critical" if findings or len(ordered) > 3 else "warning"
    return DriftAlert(
        text=text,
        severity=severity,
        since=rec.since.isoformat(),
        last_day=last,
        rows=tuple(r.to_dict() for r in ordered),
        findings=findings,
    )


def send_drift_alerts(
    ledger: Ledger,
    rec: Reconciliation,
    sinks: Sequence[Sink],
    config: ReconcileConfig,
    now: dt.datetime | None = None,
) -> list[tuple[DriftAlert, list[Delivery]]]:
    """Deliver one alert for the drifting rows not alerted before; return what went out."""
    rows = drifting(rec, config)
    if not rows:
        return []
    sent_at = (now or dt.datetime.now(dt.UTC)).isoformat()
    span = f"{rec.since}..{rec.until - dt.timedelta(days=1)}"
    claims = [(_claim_name(r), r.key.day.isoformat() if r.key.day else span) for r in rows]
    with ledger.write() as conn:
        fresh = [
            (row, claim)
            for row, claim in zip(rows, claims, strict=True)
            if budget_sql.claim_alert(conn, claim[0], claim[1], "drift", sent_at)
        ]
    if not fresh:
        return []
    alert = drift_alert(rec, [row for row, _ in fresh])
    deliveries = [sink.send(alert) for sink in sinks if not isinstance(sink, LogSink)]
    deliveries += [s.send(alert, deliveries) for s in sinks if isinstance(s, LogSink)]
    if any(not d.ok for d in deliveries if d.sink == "webhook"):
        with ledger.write() as conn:
            for _, (name, period) in fresh:
                budget_sql.unclaim_alert(conn, name, period, "drift")
    return [(alert, deliveries)]


def _claim_name(row: Row) -> str:
    k = row.key
    name = "|".join(p for p in (k.model, k.workspace, k.api_key) if p) or "total"
    return f"reconcile:{name}"[:100]
