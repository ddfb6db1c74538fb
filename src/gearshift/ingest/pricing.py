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

from gearshift.catalog.units import round_half_even

TYPE_CHECKING = False  # not typing's: importing typing costs a hook-run ingest ~4 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from gearshift.catalog import Catalog, Model
    from gearshift.catalog.cost import PriceSet
    from gearshift.catalog.models import PricePeriod
    from gearshift.ingest.cards import SavedCards

__all__ = ["EntryPricer"]

_NANO_FEMTO = 10**6
_Priced = tuple[str, str, int, str, bool]


class EntryPricer:
    """Prices entries from ``catalog`` -- a :class:`~gearshift.catalog.Catalog`, or a function
    that loads one when it is first needed: with ``saved`` rate cards (see
    :mod:`gearshift.ingest.cards`) a run that finds every card it needs there never does."""

    def __init__(
        self,
        catalog: Catalog | Callable[[], Catalog],
        mode: str,
        *,
        saved: SavedCards | None = None,
    ) -> None:
        self._catalog: Catalog | None = None
        self._load: Callable[[], Catalog] | None = None
        if callable(catalog):
            self._load = catalog
        else:
            self._catalog = catalog
        self.mode = mode
        self.saved = saved
        self._models: dict[str, Model | None] = {}
        self._periods: dict[tuple[str, dt.date], PricePeriod] = {}
        #: The C parser's rate cards made from this pricer, by (mode, price version) (see
        #: gearshift.ingest.parse_native): they live and die with it.
        self.native_cards: dict[tuple[str, str], dict[object, Any]] = {}
        #: The same cards by price period rather than day (parse_native makes one per period).
        self.period_cards: dict[tuple[object, ...], Any] = {}

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            assert self._load is not None
            self._catalog = self._load()
        return self._catalog

    @property
    def loaded_sources(self) -> str | None:
        """The :attr:`~gearshift.catalog.Catalog.sources` of the catalog, if it was loaded."""
        return None if self._catalog is None else self._catalog.sources

    @property
    def version(self) -> str:
        """The catalog's price version (the saved cards', as long as the catalog is not loaded:
        they were made from the same price files)."""
        if self._catalog is None and self.saved is not None and self.saved.version is not None:
            return self.saved.version
        return self.catalog.price_version

    def price(
        self,
        model_name: str,
        ts: dt.datetime,
        tokens: tuple[int, int, int, int, int],
        fast: bool,
        cost_usd: str | None,
        api_error: bool,
    ) -> _Priced:
        """``(model id, tier, cost nanos, price version, model known)`` for one response;
        ``tokens`` are (input, output, 5m writes, 1h writes, cache reads)."""
        if api_error:
            return model_name or "<synthetic>", "unknown", 0, "", True
        model = self._model(model_name)
        model_id = model.id if model else model_name
        tier = model.tier.value if model else _guess_tier(model_name)
        if cost_usd is not None and self.mode in ("auto", "display"):
            return model_id, tier, _nanos(cost_usd), "costUSD", model is not None
        if self.mode == "display":
            return model_id, tier, 0, "costUSD", model is not None
        if model is None:
            return model_id, tier, 0, "", False
        period = self._period(model, ts)
        i_n, o_n, w5_n, w1_n, r_n = tokens
        lc = period.long_context
        prompt = i_n + w5_n + w1_n + r_n
        prices: PriceSet = lc.prices if lc is not None and prompt > lc.threshold else period.base
        i, o, w5, w1, r = prices.femto
        femto = i_n * i + o_n * o + w5_n * w5 + w1_n * w1 + r_n * r
        if fast and period.fast is not None:
            # The exact ratio, in lowest terms as Fraction(period.fast) has it (fractions costs
            # ~1.5 ms to load: its pattern is compiled at import).
            num, den = period.fast.as_integer_ratio()
            nanos = round_half_even(femto * num, den * _NANO_FEMTO)
        else:
            nanos = round_half_even(femto, _NANO_FEMTO)
        return model_id, tier, nanos, self.version, True

    def _model(self, name: str) -> Model | None:
        if name not in self._models:
            self._models[name] = self.catalog.find(name) if name else None
        return self._models[name]

    def _period(self, model: Model, ts: dt.datetime) -> PricePeriod:
        day = _utc_date(ts)
        key = (model.id, day)
        period = self._periods.get(key)
        if period is None:
            period = model.period_at(day)
            self._periods[key] = period
        return period


def _utc_date(ts: dt.datetime) -> dt.date:
    """The UTC day of ``ts``; a time whose UTC day a date cannot hold (year 1 east of UTC, 9999
    west of it) has the nearest one (prices are the same there: every period starts well
    inside)."""
    if not ts.tzinfo:
        return ts.date()
    try:
        return ts.astimezone(dt.UTC).date()
    except OverflowError:
        return dt.date.min if ts.year == 1 else dt.date.max


def _nanos(text: str) -> int:
    from decimal import Decimal, InvalidOperation  # here: only a legacy costUSD line needs it

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
