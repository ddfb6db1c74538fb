"""Why a ledger row and the bill differ, when the data can tell.

:func:`explain` reads one :class:`~gearshift.insight.reconcile_rows.Row` and names the causes it
can see, each an :class:`Explanation` with a stable ``kind``:

* ``missing-from-ledger`` / ``unseen-calls`` -- the bill counts tokens the ledger never recorded;
* ``ledger-only`` / ``ledger-extra`` -- the ledger counts tokens the bill does not (Claude Code on
  a subscription, simulated or hand-made records, another organisation);
* ``unknown-model`` -- a model the catalog cannot price;
* ``priority-tier`` -- tokens whose cost the cost report leaves out;
* ``server-tools`` -- web search and code execution, charged without tokens;
* ``catalog-price`` -- same tokens, but the catalog prices them differently from the bill (per
  token kind, with the catalog entry named and the price the bill implies);
* ``ledger-price`` -- the bill agrees with today's catalog but the records were priced otherwise;
* ``token-kinds``, ``context-tier``, ``rounding``, ``unexplained``.

:func:`price_findings` looks across days: a model whose bill is the same multiple of the
catalog's price every day has a wrong price in the catalog, not missing calls (missing calls
come and go with the traffic), and the finding names the entry to fix.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gearshift.fmt import tokens, usd, usd_nanos
from gearshift.insight.reconcile_rows import (
    CODE_EXECUTION,
    KINDS,
    WEB_SEARCH,
    Explanation,
    Row,
    Tolerance,
)

if TYPE_CHECKING:
    from gearshift.catalog import Catalog, Model

__all__ = [
    "CONSTANT_SPREAD",
    "KindPrice",
    "PriceFinding",
    "constant_kinds",
    "constant_ratio",
    "entry_text",
    "explain",
    "finding_text",
    "kind_points",
    "price_differs",
    "price_findings",
    "ratio_text",
]

#: Daily billed/catalog ratios that stay within this relative spread count as constant.
CONSTANT_SPREAD = Decimal("0.01")
_CENT_NANOS = 10**7
_PRICE_FLOOR_NANOS = 10**5
_LABELS = {
    "input": "input",
    "output": "output",
    "cache_write_5m": "5-minute cache writes",
    "cache_write_1h": "1-hour cache writes",
    "cache_read": "cache reads",
}
_FIELDS = {
    "input": "input",
    "output": "output",
    "cache_write_5m": "cache_write_5m",
    "cache_write_1h": "cache_write_1h",
    "cache_read": "cache_read",
}
_SOURCE_NOTES = {
    "claude-code": "Claude Code used on a subscription (Pro, Max, Team or Enterprise seats) is "
    "not on an API bill",
    "sim": "sim records are simulated calls",
    "manual": "records added by hand may not be real calls",
    "import": "imported records may come from another organisation",
}


def _what(row: Row) -> str:
    k = row.key
    parts = [k.model or "", f"in workspace {k.workspace}" if k.workspace else "",
             f"on key {k.api_key}" if k.api_key else "",
             f"on {k.day.isoformat()}" if k.day else ""]  # fmt: skip
    return " ".join(p for p in parts if p) or "this group"


def price_differs(billed: int, catalog: int, tol: Tolerance) -> bool:
    """Whether a bill and the catalog disagree on the price of the same tokens: by more than the
    tolerance's share, and by more than the cost report's own precision (a hundredth of a cent).
    The tolerance's dollar floor does not apply: a wrong price shows on a few cents too."""
    gap = abs(billed - catalog)
    return gap > _PRICE_FLOOR_NANOS and Decimal(gap) * 100 > tol.pct * abs(billed)


def _tokens_match(a: int, b: int, tol: Tolerance) -> bool:
    return Decimal(abs(a - b)) * 100 <= tol.pct * max(a, b)


def _sources(row: Row) -> str:
    parts = [f"{source} ({tokens(n)})" for source, n in row.ledger_sources.most_common() if n]
    notes = [
        _SOURCE_NOTES[s] for s, n in row.ledger_sources.most_common() if n and s in _SOURCE_NOTES
    ]
    text = ", ".join(parts) or "no source"
    return text + (f"; {'; '.join(notes)}" if notes else "")


def explain(row: Row, catalog: Catalog, tol: Tolerance) -> list[Explanation]:
    """The causes of ``row``'s difference that the data shows (empty: nothing to explain)."""
    out: list[Explanation] = []
    out += _coverage(row, tol)
    if row.unknown_models:
        names = ", ".join(sorted(row.unknown_models))
        out.append(Explanation(
            "unknown-model",
            f"the catalog does not know {names}: the bill's tokens cannot be priced and the "
            "ledger records such calls at $0; add the model with a price file (--prices FILE)",
        ))  # fmt: skip
    if row.priority_tokens:
        out.append(Explanation(
            "priority-tier",
            f"{tokens(row.priority_tokens)} priority-tier tokens: the cost report leaves Priority "
            "Tier out, so the bill side counts them at the catalog's standard rates "
            f"({usd_nanos(row.priority_nanos)})",
        ))  # fmt: skip
    if row.server_tool_nanos:
        out.append(_server_tools(row))
    out += _prices(row, catalog, tol)
    if not out and row.difference_nanos and abs(row.difference_nanos) < _CENT_NANOS:
        out.append(Explanation(
            "rounding",
            "under a cent: the cost report's amounts are cents, and the ledger rounds each record "
            "to a nano-dollar",
        ))  # fmt: skip
    if not out and not row.within:
        out.append(Explanation(
            "unexplained",
            "tokens and prices agree but the costs do not: look at this period's records "
            "(gearshift spend --by source) and the cost report in the Console",
        ))  # fmt: skip
    return out


def _coverage(row: Row, tol: Tolerance) -> list[Explanation]:
    """Tokens on one side and not the other."""
    lt, bt = row.ledger_tokens.total, row.bill_tokens.total
    what = _what(row)
    if bt and not lt:
        return [Explanation(
            "missing-from-ledger",
            f"the ledger has no records for {what}: {tokens(bt)} tokens "
            f"({usd_nanos(row.bill_nanos)}) on the bill are calls it never saw (a machine, key "
            "or tool that does not record, or an ingest that did not run)",
        )]  # fmt: skip
    if lt and not bt and row.key.model not in (WEB_SEARCH, CODE_EXECUTION):
        return [Explanation(
            "ledger-only",
            f"the bill has no usage for {what}; the ledger has {tokens(lt)} tokens "
            f"({usd_nanos(row.ledger_nanos)}) from {_sources(row)}",
        )]  # fmt: skip
    if not lt or _tokens_match(lt, bt, tol):
        return _kinds(row, tol) if lt else []
    share = f"{Decimal(abs(bt - lt)) * 100 / Decimal(max(bt, lt)):.1f}%"
    if bt > lt:
        return [Explanation(
            "unseen-calls",
            f"the bill counts {tokens(bt - lt)} tokens more than the ledger ({share} of them): "
            "calls the ledger never saw",
        )]  # fmt: skip
    return [Explanation(
        "ledger-extra",
        f"the ledger counts {tokens(lt - bt)} tokens more than the bill ({share} of them): "
        f"records not on this organisation's API bill, from {_sources(row)}",
    )]  # fmt: skip


def _kinds(row: Row, tol: Tolerance) -> list[Explanation]:
    """Same total, different split between kinds (usually 5-minute vs 1-hour cache writes)."""
    split = [
        f"{_LABELS[k]} {row.ledger_tokens.get(k):,} vs {row.bill_tokens.get(k):,}"
        for k in KINDS
        if not _tokens_match(row.ledger_tokens.get(k), row.bill_tokens.get(k), tol)
    ]
    if not split:
        return []
    return [Explanation(
        "token-kinds",
        f"the ledger splits the tokens differently from the bill (ledger vs bill: "
        f"{'; '.join(split)})",
    )]  # fmt: skip


def _server_tools(row: Row) -> Explanation:
    parts = []
    if row.web_search_nanos:
        parts.append(f"web search {usd_nanos(row.web_search_nanos)}")
    if row.code_execution_nanos:
        parts.append(f"code execution {usd_nanos(row.code_execution_nanos)}")
    if row.other_nanos:
        parts.append(f"other charges {usd_nanos(row.other_nanos)}")
    return Explanation(
        "server-tools",
        f"{', '.join(parts)} on the bill: charged per search or per hour, not per token, and not "
        "in the usage report; the ledger records tokens only (--tokens-only leaves them out)",
    )


def _prices(row: Row, catalog: Catalog, tol: Tolerance) -> list[Explanation]:
    catalog_nanos = row.catalog_nanos
    if catalog_nanos is None or not row.bill_tokens.total:
        return []
    out = []
    billed = row.bill_token_nanos
    if not row.cost_from_catalog and price_differs(billed, catalog_nanos, tol):
        out.append(_catalog_price(row, catalog, tol))
    elif _same_tokens(row) and not tol.within(
        row.ledger_nanos - catalog_nanos - row.priority_nanos, row.ledger_nanos
    ):
        versions = ", ".join(sorted(row.ledger_price_versions)) or "an unknown price version"
        out.append(Explanation(
            "ledger-price",
            f"the ledger recorded {usd_nanos(row.ledger_nanos)} for the tokens the catalog "
            f"({catalog.price_version}) prices at {usd_nanos(catalog_nanos + row.priority_nanos)}: "
            f"its records were priced under {versions}",
        ))  # fmt: skip
    if out:
        out += _context_tier(row, catalog)
    return out


def _same_tokens(row: Row) -> bool:
    return all(row.ledger_tokens.get(k) == row.bill_tokens.get(k) for k in KINDS)


def _catalog_price(row: Row, catalog: Catalog, tol: Tolerance) -> Explanation:
    model = catalog.find(row.key.model) if row.key.model else None
    details = []
    for kind in KINDS:
        cat, billed = row.catalog_kind_nanos(kind), row.billed_nanos.get(kind, 0)
        if (cat or billed) and price_differs(billed, cat, tol):
            text = f"{_LABELS[kind]} {usd_nanos(cat)} by the catalog, {usd_nanos(billed)} billed"
            if model is not None and cat:
                listed, implied = _list_and_implied(model, row.key.day, kind, billed, cat)
                text += f" ({usd(listed)}/MTok listed, {usd(implied)}/MTok implied)"
            details.append(text)
    entry = f"; catalog entry {entry_text(model, row.key.day, catalog)}" if model else ""
    split = "; ".join(details) or "no kind alone differs"
    return Explanation(
        "catalog-price",
        f"the catalog prices the bill's tokens at {usd_nanos(row.catalog_nanos or 0)}, the bill "
        f"charged {usd_nanos(row.bill_token_nanos)}: {split}{entry}",
    )


def _context_tier(row: Row, catalog: Catalog) -> list[Explanation]:
    out = []
    for name in sorted(row.models):
        model = catalog.find(name)
        if model is None:
            continue
        for period in model.periods:
            lc = period.long_context
            if lc is not None and lc.threshold < 200_000:
                out.append(Explanation(
                    "context-tier",
                    f"{model.id} reprices requests above {lc.threshold:,} prompt tokens, which the "
                    "usage report cannot tell apart (it splits at 200k): the catalog side counts "
                    "them at the base rate",
                ))  # fmt: skip
                break
    return out


def entry_text(model: Model, day: dt.date | None, catalog: Catalog) -> str:
    """``claude-x (anthropic@rev, prices since 2025-09-29)``: the entry a price came from."""
    period = model.period_at(day)
    return f"{model.id} ({catalog.price_version}, prices since {period.since.isoformat()})"


def _list_and_implied(
    model: Model, day: dt.date | None, kind: str, billed: int, catalog_nanos: int
) -> tuple[Decimal, Decimal]:
    listed: Decimal = getattr(model.period_at(day).base, _FIELDS[kind])
    implied = listed * Decimal(billed) / Decimal(catalog_nanos)
    return listed, implied.quantize(Decimal("0.0001")).normalize()


@dataclass(frozen=True, slots=True)
class KindPrice:
    """One token kind of a model, billed at ``ratio`` times the catalog's ``listed`` price."""

    ratio: Decimal
    listed: Decimal  # USD per million tokens, in the catalog
    implied: Decimal  # USD per million tokens, as billed

    def to_dict(self) -> dict[str, str]:
        return {
            "ratio": ratio_text(self.ratio),
            "catalog_per_mtok": format(self.listed, "f"),
            "billed_per_mtok": format(self.implied, "f"),
        }


@dataclass(frozen=True, slots=True)
class PriceFinding:
    """A model whose bill charged some token kind at the same multiple of the catalog's price on
    every day compared: a wrong price in the catalog entry, not missing calls."""

    model: str
    days: tuple[dt.date, ...]
    catalog_entry: str
    kinds: dict[str, KindPrice]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "constant-price-drift",
            "model": self.model,
            "days": [d.isoformat() for d in self.days],
            "catalog_entry": self.catalog_entry,
            "kinds": {k: v.to_dict() for k, v in self.kinds.items()},
            "message": self.message,
        }


def ratio_text(ratio: Decimal) -> str:
    """``1.25`` for a ratio kept to four places (``1.2500``), never in exponent form."""
    return format(ratio.normalize(), "f")


def constant_ratio(points: list[tuple[int, int]], tol: Tolerance) -> Decimal | None:
    """The billed/catalog ratio of ``(billed, catalog)`` days when it is constant: at least two
    days with a cent or more at catalog prices, every one of them off by more than ``tol``, by
    the same factor (within :data:`CONSTANT_SPREAD`). Smaller days are left out: their amounts
    are too coarse to tell a ratio. ``None`` otherwise."""
    priced = [(b, c) for b, c in points if b > 0 and c >= _CENT_NANOS]
    if len(priced) < 2 or not all(price_differs(b, c, tol) for b, c in priced):
        return None
    ratios = [Decimal(b) / Decimal(c) for b, c in priced]
    low, high = min(ratios), max(ratios)
    if (high - low) > CONSTANT_SPREAD * low:
        return None
    total = Decimal(sum(b for b, _ in priced)) / Decimal(sum(c for _, c in priced))
    return total.quantize(Decimal("0.0001"))


def kind_points(rows: list[Row]) -> dict[str, list[tuple[int, int]]]:
    """Per token kind, each row's ``(billed, catalog)`` nano-dollars."""
    return {
        kind: [(r.billed_nanos.get(kind, 0), r.catalog_kind_nanos(kind)) for r in rows]
        for kind in KINDS
    }


def constant_kinds(
    points: dict[str, list[tuple[int, int]]], model: Model, day: dt.date | None, tol: Tolerance
) -> dict[str, KindPrice]:
    """The token kinds whose billed/catalog ratio is constant (see :func:`constant_ratio`)."""
    out = {}
    for kind, pairs in points.items():
        ratio = constant_ratio(pairs, tol)
        if ratio is not None:
            listed: Decimal = getattr(model.period_at(day).base, _FIELDS[kind])
            implied = (listed * ratio).quantize(Decimal("0.0001")).normalize()
            out[kind] = KindPrice(ratio, listed, implied)
    return out


def price_findings(rows: list[Row], catalog: Catalog, tol: Tolerance) -> list[PriceFinding]:
    """Constant per-model, per-kind drift between the bill and the catalog, over day x model
    ``rows``: a wrong price shows as the same ratio every day on the kind it applies to, even
    when the day's total ratio moves with the mix of kinds."""
    by_model: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        priced = row.catalog_nanos and row.bill_token_nanos and not row.cost_from_catalog
        if row.key.day and row.key.model and priced:
            by_model[row.key.model].append(row)
    out = []
    for name, days in sorted(by_model.items()):
        model = catalog.find(name)
        dates = sorted(r.key.day for r in days if r.key.day)
        if model is None or not dates:
            continue
        kinds = constant_kinds(kind_points(days), model, dates[-1], tol)
        if kinds:
            entry = entry_text(model, dates[-1], catalog)
            out.append(PriceFinding(model.id, tuple(dates), entry, kinds,
                                    finding_text(model.id, kinds, len(dates), entry)))  # fmt: skip
    return out


def finding_text(model: str, kinds: dict[str, KindPrice], days: int, entry: str) -> str:
    prices = "; ".join(
        f"{_LABELS[k]} {ratio_text(p.ratio)}x: {usd(p.listed)}/MTok in the catalog, "
        f"{usd(p.implied)}/MTok billed"
        for k, p in kinds.items()
    )
    return (
        f"{model} was billed at a constant multiple of the catalog's price on each of {days} "
        f"days ({prices}): that points to a wrong price, not missing calls; check the catalog "
        f"entry {entry}"
    )
