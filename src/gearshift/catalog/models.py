"""The model registry: ids and aliases -> a model with its tier, family and dated prices."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from gearshift.catalog.cost import Cost, PriceSet, Usage
from gearshift.catalog.tiers import Tier
from gearshift.errors import UnknownModel

__all__ = ["Catalog", "LongContext", "Model", "PricePeriod"]

_DATE_SUFFIX = re.compile(r"[-@]\d{8}$")
_VENDOR_PREFIX = re.compile(
    r"^(?:anthropic[./]|bedrock/|vertex_ai/|us\.anthropic\.|eu\.anthropic\.)"
)
_VERSION_SUFFIX = re.compile(r"-v\d+(?::\d+)?$")


@dataclass(frozen=True, slots=True)
class LongContext:
    """Whole-request repricing above ``threshold`` prompt tokens."""

    threshold: int
    prices: PriceSet


@dataclass(frozen=True, slots=True)
class PricePeriod:
    """The prices of one model from ``since`` (UTC date) until the next period."""

    since: dt.date
    base: PriceSet
    long_context: LongContext | None = None
    fast: Decimal | None = None

    def prices_for(self, usage: Usage) -> PriceSet:
        lc = self.long_context
        if lc is not None and usage.prompt_tokens > lc.threshold:
            return lc.prices
        return self.base


@dataclass(frozen=True, slots=True)
class Model:
    """One model: canonical id, tier, family, aliases and its effective-dated prices."""

    id: str
    tier: Tier
    name: str
    family: str
    aliases: tuple[str, ...] = ()
    periods: tuple[PricePeriod, ...] = ()
    deprecated: dt.date | None = None

    def period_at(self, day: dt.date | None) -> PricePeriod:
        """The price period in force on ``day`` (latest when ``None``)."""
        chosen = self.periods[0]
        for period in self.periods:
            if day is None or period.since <= day:
                chosen = period
            else:
                break
        return chosen


@dataclass(slots=True)
class Catalog:
    """Models and prices. Build one with :func:`gearshift.catalog.load_catalog`."""

    name: str
    revision: str
    models: dict[str, Model]
    tier_defaults: dict[Tier, str]
    batch_multiplier: Decimal
    geo_multipliers: Mapping[str, Decimal]
    _index: dict[str, str] = field(default_factory=dict, repr=False)
    _cache: dict[str, Model] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {}
        for model in self.models.values():
            for key in (model.id, *model.aliases):
                self._index[key.lower()] = model.id

    @property
    def price_version(self) -> str:
        return f"{self.name}@{self.revision}"

    def __iter__(self) -> Iterator[Model]:
        return iter(sorted(self.models.values(), key=lambda m: (m.tier.rank, m.id)))

    def resolve(self, name: str) -> Model:
        """Find a model by id, alias, tier name, dated id or vendor-prefixed id.

        Raises :class:`UnknownModel` with the closest known names as a hint.
        """
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        model = self._lookup(name)
        if model is None:
            import difflib

            close = difflib.get_close_matches(name.lower(), list(self._index), n=3, cutoff=0.6)
            hint = f"did you mean {', '.join(close)}?" if close else None
            raise UnknownModel(
                f"unknown model {name!r}",
                hint=(hint or "") + " `gearshift prices` lists the models; a price file "
                "(--prices FILE) can add one",
            )
        self._cache[name] = model
        return model

    def find(self, name: str) -> Model | None:
        """Like :meth:`resolve` but returns ``None`` for an unknown model (without working out
        the names it resembles)."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        model = self._lookup(name)
        if model is not None:
            self._cache[name] = model
        return model

    def _lookup(self, name: str) -> Model | None:
        key = name.strip().lower()
        if key in {t.value for t in Tier}:
            return self.models[self.tier_defaults[Tier(key)]]
        candidates = [key]
        stripped = _VERSION_SUFFIX.sub("", _VENDOR_PREFIX.sub("", key))
        candidates += [stripped, _DATE_SUFFIX.sub("", stripped)]
        for candidate in candidates:
            model_id = self._index.get(candidate)
            if model_id is not None:
                return self.models[model_id]
        return None

    def default_for(self, tier: Tier) -> Model:
        """The model a bare tier alias stands for."""
        return self.models[self.tier_defaults[tier]]

    def multiplier(self, model: Model, period: PricePeriod, usage: Usage) -> Fraction:
        factor = Fraction(1)
        if usage.fast and period.fast is not None:
            factor *= Fraction(period.fast)
        if usage.batch:
            factor *= Fraction(self.batch_multiplier)
        if usage.geo:
            geo = self.geo_multipliers.get(usage.geo.lower())
            if geo is not None:
                factor *= Fraction(geo)
        return factor

    def cost(
        self, model: str | Model, usage: Usage, at: dt.date | dt.datetime | None = None
    ) -> Cost:
        """The exact cost of ``usage`` on ``model`` at the prices in force on ``at`` (UTC)."""
        m = model if isinstance(model, Model) else self.resolve(model)
        day = _utc_day(at)
        period = m.period_at(day)
        femto = period.prices_for(usage).femto_cost(usage)
        return Cost(femto, self.multiplier(m, period, usage), self.price_version, m.id)


def _utc_day(at: dt.date | dt.datetime | None) -> dt.date | None:
    if isinstance(at, dt.datetime):
        if at.tzinfo is None:
            return at.date()
        return at.astimezone(dt.UTC).date()
    return at
