"""The ledger beside Anthropic's bill: per UTC day x model (or another grouping), both sides.

:func:`reconcile` takes a :class:`~gearshift.insight.bill.Bill` (the Admin API's usage and cost
reports) and the ledger's daily totals, and builds one :class:`Row` per group with

* the ledger side: records, tokens by kind and the cost recorded (each record priced when it was
  recorded, under its ``price_version``);
* the bill side: the usage report's tokens by kind and the cost report's amount -- or, grouped by
  API key (which the cost report cannot do), the catalog's price of those tokens;
* the catalog's price of the bill's tokens, by token kind, beside what the bill charged for each
  kind: the evidence for a wrong price;
* the difference (ledger minus bill), whether it is within the tolerance, and what explains it
  (:mod:`gearshift.insight.reconcile_explain`).

What the cost report cannot show is made explicit rather than silently mismatched: Priority Tier
costs are not in it (their tokens are priced at the catalog's rates on the bill side, and said
so), web search and code execution are charged without a model (rows of their own), and the
ledger records tokens only. Money is exact throughout: integer nano-dollars, exact fractions of
femto-dollars until the last rounding.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Catalog, Usage
from gearshift.catalog.cost import usd_text
from gearshift.errors import ConfigError
from gearshift.insight.reconcile_explain import PriceFinding, explain, price_findings
from gearshift.insight.reconcile_rows import (
    CODE_EXECUTION,
    DEFAULT_WORKSPACE,
    KINDS,
    UNTAGGED,
    WEB_SEARCH,
    Key,
    Row,
    Tolerance,
)

if TYPE_CHECKING:
    from gearshift.insight.bill import Bill, UsageLine
    from gearshift.ledger.queries import DayModelTotals

__all__ = ["GROUPINGS", "Reconciliation", "canonical", "line_femto", "reconcile"]

GROUPINGS = ("day-model", "day", "model", "workspace", "api-key")


@dataclass(slots=True)
class Reconciliation:
    """The whole comparison of the UTC days ``[since, until)``."""

    since: dt.date
    until: dt.date
    by: str
    tolerance: Tolerance
    rows: list[Row]
    price_version: str
    findings: list[PriceFinding] = field(default_factory=list)
    run_id: str | None = None

    @property
    def within(self) -> bool:
        return all(r.within for r in self.rows)

    @property
    def beyond(self) -> list[Row]:
        return [r for r in self.rows if not r.within]

    def totals(self) -> dict[str, int]:
        return {
            "ledger_nanos": sum(r.ledger_nanos for r in self.rows),
            "bill_nanos": sum(r.bill_nanos for r in self.rows),
            "ledger_tokens": sum(r.ledger_tokens.total for r in self.rows),
            "bill_tokens": sum(r.bill_tokens.total for r in self.rows),
        }

    def to_dict(self) -> dict[str, Any]:
        t = self.totals()
        return {
            "provider": "anthropic",
            "run_id": self.run_id,
            "period": {
                "since": self.since.isoformat(),
                "until": (self.until - dt.timedelta(days=1)).isoformat(),
                "time_zone": "UTC",
            },
            "by": self.by,
            "tolerance": self.tolerance.to_dict(),
            "price_version": self.price_version,
            "within_tolerance": self.within,
            "rows_beyond_tolerance": len(self.beyond),
            "totals": {
                "ledger_cost_usd": usd_text(t["ledger_nanos"]),
                "bill_cost_usd": usd_text(t["bill_nanos"]),
                "difference_usd": usd_text(t["ledger_nanos"] - t["bill_nanos"]),
                "ledger_tokens": t["ledger_tokens"],
                "bill_tokens": t["bill_tokens"],
            },
            "rows": [r.to_dict() for r in self.rows],
            "findings": [f.to_dict() for f in self.findings],
        }


def canonical(catalog: Catalog, model: str) -> str:
    """The catalog's id for ``model`` (dated ids and aliases meet), else the name as given."""
    found = catalog.find(model)
    return found.id if found is not None else model


def key_for(
    by: str, day: dt.date, model: str | None, workspace: str | None, api_key: str | None
) -> Key:
    if by == "day-model":
        return Key(day, model, None, None)
    if by == "day":
        return Key(day, None, None, None)
    if by == "model":
        return Key(None, model, None, None)
    if by == "workspace":
        return Key(None, None, workspace, None)
    if by == "api-key":
        return Key(None, None, None, api_key)
    raise ConfigError(f"--by: cannot group by {by!r}", hint=f"use one of: {', '.join(GROUPINGS)}")


def reconcile(
    bill: Bill,
    ledger: list[DayModelTotals],
    catalog: Catalog,
    *,
    by: str = "day-model",
    tolerance: Tolerance | None = None,
    server_tools: bool = True,
) -> Reconciliation:
    """Compare ``ledger`` (totals of the same UTC days) with ``bill``; see the module doc.
    ``server_tools=False`` leaves web search and code execution charges out of both sides."""
    tolerance = tolerance or Tolerance()
    rows = _rows(bill, ledger, catalog, by, server_tools)
    for row in rows:
        row.within = tolerance.within(row.difference_nanos, row.bill_nanos)
        row.explanations = explain(row, catalog, tolerance)
    day_model = rows if by == "day-model" else _rows(bill, ledger, catalog, "day-model", False)
    findings = price_findings(day_model, catalog, tolerance)
    return Reconciliation(
        bill.since, bill.until, by, tolerance, rows, catalog.price_version, findings
    )


def _rows(
    bill: Bill, ledger: list[DayModelTotals], catalog: Catalog, by: str, server_tools: bool
) -> list[Row]:
    rows: dict[Key, Row] = {}

    def row(key: Key) -> Row:
        found = rows.get(key)
        if found is None:
            found = rows[key] = Row(key, cost_from_catalog=by == "api-key")
        return found

    for line in bill.usage:
        model = canonical(catalog, line.model)
        r = row(key_for(by, line.day, model, line.workspace or DEFAULT_WORKSPACE, line.api_key))
        _add_usage(r, line, model, catalog)
    if by != "api-key":
        for cost in bill.costs:
            if cost.cost_type != "tokens" and not server_tools:
                continue
            model = canonical(catalog, cost.model) if cost.model else _pseudo(cost.cost_type)
            r = row(key_for(by, cost.day, model, cost.workspace or DEFAULT_WORKSPACE, None))
            _add_cost(r, cost.cost_type, cost.kind, cost.nanos)
    for t in ledger:
        tags = _tags(t.tags)
        model = canonical(catalog, t.model)
        workspace = tags.get("workspace_id", UNTAGGED)
        if workspace in ("", "default"):
            workspace = DEFAULT_WORKSPACE
        api_key = tags.get("api_key_id", UNTAGGED)
        r = row(key_for(by, t.day, model, workspace, api_key))
        r.ledger_tokens.add(t.input_tokens, t.output_tokens, t.cache_write_5m_tokens,
                            t.cache_write_1h_tokens, t.cache_read_tokens)  # fmt: skip
        r.ledger_nanos += t.cost_nanos
        r.ledger_records += t.records
        total = (t.input_tokens + t.output_tokens + t.cache_write_5m_tokens
                 + t.cache_write_1h_tokens + t.cache_read_tokens)  # fmt: skip
        r.ledger_sources[t.source] += total
        if t.price_version:
            r.ledger_price_versions.add(t.price_version)
        r.models.add(model)
    return [rows[k] for k in sorted(rows, key=_order)]


def _order(key: Key) -> tuple[str, ...]:
    return tuple("" if part is None else str(part) for part in key)


def _pseudo(cost_type: str) -> str:
    if cost_type == "web_search":
        return WEB_SEARCH
    if cost_type == "code_execution":
        return CODE_EXECUTION
    return f"({cost_type.replace('_', ' ')})"


def _tags(text: str) -> dict[str, str]:
    try:
        tags = json.loads(text or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {}


def _add_cost(row: Row, cost_type: str, kind: str | None, nanos: int) -> None:
    if cost_type == "tokens" and kind is not None:
        row.billed_nanos[kind] = row.billed_nanos.get(kind, 0) + nanos
    elif cost_type == "web_search":
        row.web_search_nanos += nanos
    elif cost_type == "code_execution":
        row.code_execution_nanos += nanos
    else:
        row.other_nanos += nanos


def _add_usage(row: Row, line: UsageLine, model: str, catalog: Catalog) -> None:
    counts = (line.input_tokens, line.output_tokens, line.cache_write_5m_tokens,
              line.cache_write_1h_tokens, line.cache_read_tokens)  # fmt: skip
    row.bill_tokens.add(*counts)
    row.web_search_requests += line.web_search_requests
    row.models.add(model)
    priced = line_femto(catalog, line)
    if priced is None:
        if line.total_tokens:
            row.unknown_models.add(model)
        return
    if line.service_tier == "priority":
        row.priority_tokens += line.total_tokens
        row.priority_femto += sum(priced.values(), Fraction(0))
        return
    for kind, femto in priced.items():
        row.catalog_femto[kind] = row.catalog_femto.get(kind, Fraction(0)) + femto


def line_femto(catalog: Catalog, line: UsageLine) -> dict[str, Fraction] | None:
    """The catalog's exact price of a usage line in femto-dollars, by token kind (``None``: an
    unknown model). A line sums many calls, so the long-context rate is chosen by the report's
    ``context_window`` (``200k-1M``), never by the line's summed prompt tokens."""
    model = catalog.find(line.model)
    if model is None:
        return None
    period = model.period_at(line.day)
    long = period.long_context if line.context_window == "200k-1M" else None
    prices = long.prices if long is not None else period.base
    geo = (
        line.inference_geo if line.inference_geo not in (None, "global", "not_available") else None
    )
    flags = Usage(batch=line.service_tier == "batch", fast=line.speed == "fast", geo=geo)
    factor = catalog.multiplier(model, period, flags)
    counts = (line.input_tokens, line.output_tokens, line.cache_write_5m_tokens,
              line.cache_write_1h_tokens, line.cache_read_tokens)  # fmt: skip
    return {
        kind: Fraction(n * rate) * factor
        for kind, n, rate in zip(KINDS, counts, prices.femto, strict=True)
        if n
    }
