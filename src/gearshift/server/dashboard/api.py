"""What the dashboard's JSON API answers, as plain functions of the ledger and a query.

Each ``*_payload`` function returns the JSON-ready body of one endpoint (money as decimal
strings); the pages are rendered from the same functions, so a page and its endpoint never
disagree. The numbers come from :mod:`gearshift.ledger` (spend, rollups, executions) and
:mod:`gearshift.insight` (true cost, recommendations) and :mod:`gearshift.budgets`
(forecasts); nothing here queries the database itself. See docs/api.md.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gearshift.budgets.forecast import forecast
from gearshift.budgets.model import load_budgets
from gearshift.catalog.cost import usd_text
from gearshift.insight.expected_cost import TrueCostRates
from gearshift.insight.roster import Predictor, roster, tiers_of
from gearshift.ledger.browse import chain, find, recent
from gearshift.ledger.reprice import unpriced_models
from gearshift.ledger.views import (
    SPEND_SUMS,
    Totals,
    data_version,
    period_totals,
    range_totals,
    report_of,
    report_of_rows,
    spend_report,
)

if TYPE_CHECKING:
    from gearshift.catalog import Catalog
    from gearshift.config import Config
    from gearshift.ledger.record import Execution
    from gearshift.ledger.store import Ledger
    from gearshift.server.dashboard.background import Background
    from gearshift.server.dashboard.params import Query

__all__ = [
    "Dashboard",
    "agents_page_payload",
    "agents_payload",
    "budgets_payload",
    "dumps",
    "execution_payload",
    "executions_payload",
    "overview_payload",
    "routing_of",
    "spend_payload",
    "summary_payload",
]

#: Budgets shown at most (each is a forecast: a query and a chart).
MAX_BUDGETS = 12


@dataclass(frozen=True, slots=True)
class Dashboard:
    """What every endpoint reads: the ledger (opened read-only), the user's config (budgets,
    true-cost rates), the price catalog, the default zone, and the learned predictor if any."""

    ledger: Ledger
    config: Config
    catalog: Catalog
    tz: str | None = None
    predictor: Predictor | None = None


def spend_payload(d: Dashboard, q: Query, by: str, stack: str | None = None) -> dict[str, Any]:
    """``gearshift spend --by BY --json`` for the query, and with ``stack`` each period's spend
    per value of that column (keys ordered by spend, biggest first)."""
    with d.ledger.reading() as reader:
        if stack is None:
            out = spend_report(reader, by, q.filters, q.tz).to_dict()
            unpriced = unpriced_models(reader, q.filters)
            if unpriced:  # as `spend --json` has it
                out["unpriced"] = unpriced
            return out
        periods = period_totals(reader, by, (stack,), q.filters, q.tz, sums=SPEND_SUMS)
    rows = []
    overall: dict[str, int] = {}
    for key, groups in periods.items():
        summed = Totals()
        for (value,), totals in groups.items():
            summed.merge(totals)
            overall[value] = overall.get(value, 0) + totals.cost_nanos
        rows.append(summed.spend_row(key))
    report = report_of_rows(by, rows)
    out = report.to_dict()
    out["stack"] = {
        "by": stack,
        "keys": sorted(overall, key=lambda k: (-overall[k], k)),
        "periods": [
            {
                "key": key,
                "cost_usd": {v: usd_text(t.cost_nanos) for (v,), t in sorted(groups.items())},
                "executions": {v: t.executions for (v,), t in sorted(groups.items())},
            }
            for key, groups in periods.items()
        ],
    }
    return out


def summary_payload(d: Dashboard, q: Query) -> dict[str, Any]:
    """Everything the rollups count for the query: executions by outcome, escalations,
    tokens by kind, cost, latency."""
    with d.ledger.reading() as reader:
        totals = range_totals(reader, (), q.filters).get((), Totals())
    return _summary(totals)


def _summary(totals: Totals) -> dict[str, Any]:
    out = totals.to_dict()
    ended = totals.successes + totals.failures
    out["success_rate"] = _ratio(totals.successes, ended)
    out["mean_latency_ms"] = totals.latency_ms // totals.latencies if totals.latencies else None
    return out


#: The columns the overview splits spend by, besides time.
_SPLITS = ("tier", "agent", "model")


def overview_payload(d: Dashboard, q: Query, by: str, stack: str) -> dict[str, Any]:
    """What the Overview page shows, each part as its own endpoint gives it: ``spend`` (by
    period, stacked), ``tiers``, ``agents``, ``models`` (``/api/spend?by=...``), ``summary``
    and ``budgets`` -- the splits and the summary from one read of the rollups."""
    with d.ledger.reading() as reader:
        grouped = range_totals(reader, _SPLITS, q.filters)
    total = Totals()
    for totals in grouped.values():
        total.merge(totals)
    return {
        "spend": spend_payload(d, q, by, stack),
        "tiers": report_of(grouped, _SPLITS, "tier").to_dict(),
        "agents": report_of(grouped, _SPLITS, "agent").to_dict(),
        "models": report_of(grouped, _SPLITS, "model").to_dict(),
        "summary": _summary(total),
        "budgets": budgets_payload(d, q),
    }


def budgets_payload(d: Dashboard, q: Query, now: dt.datetime | None = None) -> dict[str, Any]:
    """Each budget in force (config file and ledger) with its forecast: spent, projected, the
    90% band, the verdict, and the cumulative burn a chart draws."""
    now = now or dt.datetime.now(dt.UTC)
    found = [b for b in load_budgets(d.ledger, d.config) if b.active(now, q.tz)]
    out = []
    for budget in found[:MAX_BUDGETS]:
        fc = forecast(d.ledger, budget, now, q.tz)
        item = fc.to_dict()
        item["burn"] = [
            {
                "day": p.day.isoformat(),
                "actual_usd": _usd_or_none(p.actual_nanos),
                "expected_usd": _usd_or_none(p.expected_nanos),
                "low_usd": _usd_or_none(p.low_nanos),
                "high_usd": _usd_or_none(p.high_nanos),
            }
            for p in fc.burn()
        ]
        out.append(item)
    return {"budgets": out, "more": max(0, len(found) - MAX_BUDGETS)}


def agents_payload(d: Dashboard, q: Query) -> dict[str, Any]:
    """Per agent: executions and success per tier, true cost, recommendations with their
    evidence and saving, and P(success) per tier when a predictor is trained."""
    rates = TrueCostRates.from_config(d.config.true_cost)
    views, monthly = roster(d.ledger, q.filters, rates, predictor=d.predictor)
    return {
        "agents": [v.to_dict(monthly) for v in views],
        "predictor": d.predictor is not None,
        "rates": rates.to_dict(),
    }


def agents_page_payload(
    d: Dashboard, q: Query, background: Background, wait: float
) -> dict[str, Any]:
    """What the Agents page shows: each agent's tiers read now (quick), with its true cost,
    advice and predictions from :func:`agents_payload` as worked out in the background --
    for the ledger as it is, or the last answer while a new one is worked out (``insight``
    says which)."""
    with d.ledger.reading() as reader:
        version = data_version(reader)
    views = tiers_of(d.ledger, q.filters)
    f = q.filters
    key = ("agents", f.since, f.until, f.project, f.agent, f.model, f.tier, f.source, f.tag)
    answer = background.get(key, version, lambda: agents_payload(d, q), wait=wait)
    known = {a["agent"]: a for a in (answer.value or {}).get("agents", [])}
    agents = []
    for view in views:
        row = view.to_dict(lambda amount: amount)
        slow = known.get(view.agent)
        for part in ("true_cost", "recommendations", "p_success"):
            row[part] = slow[part] if slow is not None else row[part]
        agents.append(row)
    return {
        "agents": agents,
        "predictor": d.predictor is not None,
        "insight": {
            "ready": answer.value is not None,
            "fresh": answer.fresh,
            "working_for_s": None
            if answer.running is None
            else round(time.monotonic() - answer.running, 1),
            "error": answer.error,
        },
    }


def executions_payload(
    d: Dashboard, q: Query, search: str | None, limit: int, before: str | None
) -> dict[str, Any]:
    """The newest executions the query selects that match ``search``, a page at a time."""
    page = recent(d.ledger, q.filters, search, limit=limit, before=before)
    return {"executions": [e.to_dict() for e in page.executions], "next": page.next}


def execution_payload(d: Dashboard, execution_id: str) -> dict[str, Any] | None:
    """One execution, every attempt of its escalation chain, and its routing decision when
    one was stored with it; ``None`` when there is no such execution."""
    found = find(d.ledger, execution_id)
    if found is None:
        return None
    attempts = chain(d.ledger, found)
    return {
        "execution": found.to_dict(),
        "chain": [e.to_dict() for e in attempts],
        "chain_cost_usd": usd_text(sum(e.cost_nanos for e in attempts)),
        "routing": routing_of(attempts),
    }


#: Tags that may hold a routing decision (:meth:`gearshift.routing.RouteDecision.to_dict`
#: as JSON) recorded with an execution.
ROUTING_TAGS = ("route", "routing")


def routing_of(attempts: list[Execution]) -> dict[str, Any] | None:
    """The routing decision stored with the chain's first attempt that has one: a JSON object
    with its ``steps`` in a ``route`` tag. ``None`` when none was stored (the ledger does not
    record every decision)."""
    for execution in attempts:
        for name in ROUTING_TAGS:
            raw = execution.tags.get(name)
            if not raw:
                continue
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            if isinstance(value, dict) and isinstance(value.get("steps"), list):
                return value
    return None


def _ratio(part: int, whole: int) -> str | None:
    return str((Decimal(part) / whole).quantize(Decimal("0.0001"))) if whole else None


def _usd_or_none(nanos: int | None) -> str | None:
    return None if nanos is None else usd_text(nanos)


def dumps(payload: Any) -> bytes:
    """JSON as the CLI writes it: decimals as strings, dates in ISO 8601."""
    return json.dumps(payload, ensure_ascii=False, default=_default).encode("utf-8")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")
