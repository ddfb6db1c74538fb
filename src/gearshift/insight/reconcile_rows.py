"""The rows of a reconciliation: both sides of one group, and the tolerance they are held to.

Shared by :mod:`gearshift.insight.reconcile` (which builds rows) and
:mod:`gearshift.insight.reconcile_explain` (which explains them). Money is in nano-dollars, and
the catalog's side stays an exact fraction of femto-dollars until it is shown.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple

from gearshift.catalog.cost import usd_text
from gearshift.catalog.units import round_half_even
from gearshift.errors import ConfigError

__all__ = [
    "CODE_EXECUTION",
    "DEFAULT_WORKSPACE",
    "KINDS",
    "UNTAGGED",
    "WEB_SEARCH",
    "Explanation",
    "Key",
    "Row",
    "Tokens",
    "Tolerance",
    "femto_nanos",
]

KINDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
WEB_SEARCH = "(web search)"
CODE_EXECUTION = "(code execution)"
DEFAULT_WORKSPACE = "(default workspace)"
UNTAGGED = "(untagged)"
_FEMTO_PER_NANO = 10**6


def femto_nanos(femto: Fraction) -> int:
    """Exact femto-dollars as nano-dollars, half-even."""
    return round_half_even(femto.numerator, femto.denominator * _FEMTO_PER_NANO)


class Key(NamedTuple):
    """A row's group: the parts its grouping uses are set, the others ``None``."""

    day: dt.date | None
    model: str | None
    workspace: str | None
    api_key: str | None

    def text(self) -> str:
        parts = [self.day.isoformat() if self.day else None, self.model, self.workspace,
                 self.api_key]  # fmt: skip
        return "|".join(p for p in parts if p is not None)

    def label(self) -> str:
        """The group for people: its parts separated by spaces (``total`` when none)."""
        return self.text().replace("|", " ") or "total"


@dataclass(frozen=True, slots=True)
class Tolerance:
    """A row is within tolerance when ``|difference| <= usd`` or ``<= pct`` % of the bill."""

    pct: Decimal = Decimal("1")
    usd: Decimal = Decimal("0.01")

    def __post_init__(self) -> None:
        if not (self.pct.is_finite() and self.usd.is_finite()) or self.pct < 0 or self.usd < 0:
            raise ConfigError("a tolerance must be a non-negative number")

    @property
    def usd_nanos(self) -> int:
        return int(self.usd.scaleb(9).to_integral_value())

    def within(self, difference: int, bill: int) -> bool:
        gap = abs(difference)
        return gap <= self.usd_nanos or Decimal(gap) * 100 <= self.pct * abs(bill)

    def to_dict(self) -> dict[str, str]:
        return {"pct": format(self.pct, "f"), "usd": format(self.usd, "f")}


@dataclass(slots=True)
class Tokens:
    """Token counts by kind (uncached input, output, 5-minute and 1-hour cache writes, reads)."""

    input: int = 0
    output: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0

    @property
    def total(self) -> int:
        return (
            self.input + self.output + self.cache_write_5m + self.cache_write_1h + self.cache_read
        )

    def add(self, *counts: int) -> None:
        for kind, n in zip(KINDS, counts, strict=True):
            setattr(self, kind, getattr(self, kind) + n)

    def get(self, kind: str) -> int:
        value: int = getattr(self, kind)
        return value

    def to_dict(self) -> dict[str, int]:
        return {f"{kind}_tokens": self.get(kind) for kind in KINDS}


@dataclass(frozen=True, slots=True)
class Explanation:
    """Where a difference comes from: a stable ``kind`` for machines and a sentence for people."""

    kind: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


@dataclass(slots=True)
class Row:
    """Both sides of one group. Money in nano-dollars; see the module doc for each part."""

    key: Key
    ledger_tokens: Tokens = field(default_factory=Tokens)
    ledger_nanos: int = 0
    ledger_records: int = 0
    ledger_sources: Counter[str] = field(default_factory=Counter)  # tokens by source
    ledger_price_versions: set[str] = field(default_factory=set)
    bill_tokens: Tokens = field(default_factory=Tokens)
    billed_nanos: dict[str, int] = field(default_factory=dict)  # tokens, by kind
    web_search_requests: int = 0
    web_search_nanos: int = 0
    code_execution_nanos: int = 0
    other_nanos: int = 0
    priority_tokens: int = 0
    catalog_femto: dict[str, Fraction] = field(default_factory=dict)  # non-priority, by kind
    priority_femto: Fraction = Fraction(0)
    models: set[str] = field(default_factory=set)
    unknown_models: set[str] = field(default_factory=set)
    cost_from_catalog: bool = False  # grouped by API key: no cost report for it
    explanations: list[Explanation] = field(default_factory=list)
    within: bool = True

    @property
    def bill_token_nanos(self) -> int:
        if self.cost_from_catalog:
            return self.catalog_nanos or 0
        return sum(self.billed_nanos.values())

    @property
    def server_tool_nanos(self) -> int:
        return self.web_search_nanos + self.code_execution_nanos + self.other_nanos

    @property
    def priority_nanos(self) -> int:
        """The catalog's standard price of the priority-tier tokens (not in the cost report)."""
        return femto_nanos(self.priority_femto)

    @property
    def bill_nanos(self) -> int:
        """The bill side: the cost report's amount plus the priority-tier estimate."""
        return self.bill_token_nanos + self.server_tool_nanos + self.priority_nanos

    @property
    def catalog_nanos(self) -> int | None:
        """The catalog's price of the bill's non-priority tokens (``None``: a model it does not
        know)."""
        if self.unknown_models:
            return None
        return femto_nanos(sum(self.catalog_femto.values(), Fraction(0)))

    def catalog_kind_nanos(self, kind: str) -> int:
        return femto_nanos(self.catalog_femto.get(kind, Fraction(0)))

    @property
    def difference_nanos(self) -> int:
        return self.ledger_nanos - self.bill_nanos

    @property
    def difference_pct(self) -> Decimal | None:
        if not self.bill_nanos:
            return None
        return (Decimal(self.difference_nanos) * 100 / Decimal(self.bill_nanos)).quantize(
            Decimal("0.01")
        )

    def to_dict(self) -> dict[str, Any]:
        catalog = self.catalog_nanos
        pct = self.difference_pct
        return {
            "day": self.key.day.isoformat() if self.key.day else None,
            "model": self.key.model,
            "workspace": self.key.workspace,
            "api_key": self.key.api_key,
            "ledger": {
                "records": self.ledger_records,
                **self.ledger_tokens.to_dict(),
                "cost_usd": usd_text(self.ledger_nanos),
                "price_versions": sorted(self.ledger_price_versions),
                "tokens_by_source": dict(sorted(self.ledger_sources.items())),
            },
            "bill": {
                **self.bill_tokens.to_dict(),
                "web_search_requests": self.web_search_requests,
                "cost_usd": usd_text(self.bill_nanos),
                "cost_source": "catalog" if self.cost_from_catalog else "cost_report",
                "token_cost_usd": usd_text(self.bill_token_nanos),
                "token_cost_by_kind_usd": {
                    k: usd_text(v) for k, v in sorted(self.billed_nanos.items())
                },
                "web_search_usd": usd_text(self.web_search_nanos),
                "code_execution_usd": usd_text(self.code_execution_nanos),
                "other_usd": usd_text(self.other_nanos),
                "priority_tier_tokens": self.priority_tokens,
                "priority_tier_estimate_usd": usd_text(self.priority_nanos),
                "catalog_cost_usd": usd_text(catalog) if catalog is not None else None,
                "unknown_models": sorted(self.unknown_models),
            },
            "difference_usd": usd_text(self.difference_nanos),
            "difference_pct": format(pct, "f") if pct is not None else None,
            "within_tolerance": self.within,
            "explanations": [e.to_dict() for e in self.explanations],
        }
