"""Pricing transcript entries fast and exactly, with ccusage's cost modes.

Modes (as ccusage has them): ``auto`` uses a line's legacy ``costUSD`` when present and computes
from tokens otherwise; ``calculate`` always computes; ``display`` only uses ``costUSD`` (0 when
absent). Computing uses the catalog's exact integer rates, cached per (model, UTC day), so a
million entries cost a million integer sums rather than a million catalog look-ups.

Transcripts name models gearshift may not price (gateways, new releases): such an entry is kept
with its tokens, costs 0 and is reported; its tier is guessed from the name when it says
haiku/sonnet/opus.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import TYPE_CHECKING

from gearshift.catalog.cost import PriceSet, round_half_even

if TYPE_CHECKING:
    from gearshift.catalog import Catalog, Model
    from gearshift.catalog.models import PricePeriod
    from gearshift.ingest.parse import Entry

__all__ = ["EntryPricer"]

_NANO_FEMTO = 10**6
_Priced = tuple[str, str, int, str, bool]


class EntryPricer:
    def __init__(self, catalog: Catalog, mode: str) -> None:
        self.catalog = catalog
        self.mode = mode
        self.version = catalog.price_version
        self._models: dict[str, Model | None] = {}
        self._periods: dict[tuple[str, str], PricePeriod] = {}

    def price(self, e: Entry, ts: dt.datetime) -> _Priced:
        """``(model id, tier, cost nanos, price version, model known)`` for one entry."""
        if e.api_error:
            return e.model or "<synthetic>", "unknown", 0, "", True
        model = self._model(e.model)
        model_id = model.id if model else e.model
        tier = model.tier.value if model else _guess_tier(e.model)
        if e.cost_usd is not None and self.mode in ("auto", "display"):
            return model_id, tier, _nanos(e.cost_usd), "costUSD", model is not None
        if self.mode == "display":
            return model_id, tier, 0, "costUSD", model is not None
        if model is None:
            return model_id, tier, 0, "", False
        period = self._period(model, e.timestamp[:10], ts)
        prompt = e.input_tokens + e.cache_5m + e.cache_1h + e.cache_read
        lc = period.long_context
        prices: PriceSet = lc.prices if lc is not None and prompt > lc.threshold else period.base
        i, o, w5, w1, r = prices.femto
        femto = (
            e.input_tokens * i
            + e.output_tokens * o
            + e.cache_5m * w5
            + e.cache_1h * w1
            + e.cache_read * r
        )
        if e.fast and period.fast is not None:
            ratio = Fraction(period.fast)
            nanos = round_half_even(femto * ratio.numerator, ratio.denominator * _NANO_FEMTO)
        else:
            nanos = round_half_even(femto, _NANO_FEMTO)
        return model_id, tier, nanos, self.version, True

    def _model(self, name: str) -> Model | None:
        if name not in self._models:
            self._models[name] = self.catalog.find(name) if name else None
        return self._models[name]

    def _period(self, model: Model, day_text: str, ts: dt.datetime) -> PricePeriod:
        key = (model.id, day_text)
        period = self._periods.get(key)
        if period is None:
            period = model.period_at(ts.astimezone(dt.UTC).date())
            self._periods[key] = period
        return period


def _nanos(text: str) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return 0
    if not value.is_finite():
        return 0
    scaled = value.scaleb(9)
    return int(scaled.to_integral_value())


def _guess_tier(name: str) -> str:
    lowered = name.lower()
    for tier in ("haiku", "sonnet", "opus"):
        if tier in lowered:
            return tier
    return "unknown"
