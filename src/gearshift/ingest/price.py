"""Price stage: each recorded response -> its model, tier and exact cost, in ccusage's cost modes.

Modes (as ccusage has them): ``auto`` uses a line's legacy ``costUSD`` when present and computes
from tokens otherwise; ``calculate`` always computes; ``display`` only uses ``costUSD`` (0 when
absent). Computing uses the catalog's exact integer rates (femto-dollars per token) for the
model's price period on the response's UTC day, with its long-context and fast-mode rules.

Transcripts name models gearshift may not price (gateways, new releases): such a response is
kept with its tokens, costs 0 and is reported; its tier is guessed from the name when it says
haiku/sonnet/opus.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Literal, NamedTuple

from gearshift.catalog.cost import femto_to_nanos

if TYPE_CHECKING:
    from gearshift.catalog import Catalog, Model, PricePeriod

__all__ = ["CostMode", "EntryPricer", "Priced"]

CostMode = Literal["auto", "calculate", "display"]
#: ``(model id, tier, cost nanos, price version, model known)``
Priced = tuple[str, str, int, str, bool]

_US_PER_DAY = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)
_FIRST_DAY = (dt.date.min - _EPOCH).days
_LAST_DAY = (dt.date.max - _EPOCH).days


class EntryPricer:
    """Prices responses from ``catalog`` in cost mode ``mode``. What the catalog says of a model
    name on a UTC day (its model, tier and price period) is looked up once."""

    def __init__(self, catalog: Catalog, mode: CostMode) -> None:
        self.catalog = catalog
        self.mode = mode
        self.version = catalog.price_version
        self._models: dict[str, Model | None] = {}
        self._days: dict[tuple[str, int], _Day] = {}

    def price(
        self,
        model_name: str,
        ts_us: int,
        tokens: tuple[int, int, int, int, int],
        fast: bool,
        cost_usd: str | None,
        api_error: bool,
    ) -> Priced:
        """The price of one response at microsecond ``ts_us`` (since the epoch, UTC); ``tokens``
        are (input, output, 5m writes, 1h writes, cache reads)."""
        if api_error:
            return model_name or "<synthetic>", "unknown", 0, "", True
        key = (model_name, ts_us // _US_PER_DAY)
        day = self._days.get(key) or self._day(*key)
        known = day.period is not None
        if cost_usd is not None and self.mode in ("auto", "display"):
            return day.model_id, day.tier, _nanos(cost_usd), "costUSD", known
        if self.mode == "display":
            return day.model_id, day.tier, 0, "costUSD", known
        if day.period is None:
            return day.model_id, day.tier, 0, "", False
        i, _, w5, w1, r = tokens
        femto = day.period.prices_at(i + w5 + w1 + r).femto_of(tokens)
        num, den = day.fast_ratio if fast else (1, 1)
        return day.model_id, day.tier, femto_to_nanos(femto, num, den), self.version, True

    def _day(self, model_name: str, day: int) -> _Day:
        if model_name not in self._models:
            self._models[model_name] = self.catalog.find(model_name) if model_name else None
        model = self._models[model_name]
        if model is None:
            found = _Day(model_name, _guess_tier(model_name), None, (1, 1))
        else:
            # A day no date can hold (a year-1 time east of UTC, 9999 west of it) is priced as
            # the nearest one: every price period starts well inside.
            date = _EPOCH + dt.timedelta(days=min(max(day, _FIRST_DAY), _LAST_DAY))
            period = model.period_at(date)
            found = _Day(model.id, model.tier.value, period, period.fast_ratio(True))
        self._days[model_name, day] = found
        return found


class _Day(NamedTuple):
    """What the catalog says of a model name on one UTC day (``period`` None: no such model)."""

    model_id: str
    tier: str
    period: PricePeriod | None
    fast_ratio: tuple[int, int]


def _nanos(text: str) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return 0
    if not value.is_finite():
        return 0
    return int(value.scaleb(9).to_integral_value())


def _guess_tier(name: str) -> str:
    lowered = name.lower()
    return next((tier for tier in ("haiku", "sonnet", "opus") if tier in lowered), "unknown")
