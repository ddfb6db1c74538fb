"""The model registry: ids and aliases -> a model with its tier, family and dated prices."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from gearshift.catalog.cost import Cost, PriceSet, Usage
from gearshift.catalog.tiers import Tier
from gearshift.errors import UnknownModel

__all__ = ["FEATURES", "Catalog", "LongContext", "Model", "PricePeriod"]


_VENDOR_PREFIX = re.compile(
    r"^(?:anthropic[./]|bedrock/|vertex_ai/|us\.anthropic\.|eu\.anthropic\.)"
)
_VERSION_SUFFIX = re.compile(r"-v\d+(?::\d+)?$")
_DATE_SUFFIX = re.compile(r"[-@]\d{8}$")


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
        return self.prices_at(usage.prompt_tokens)

    def prices_at(self, prompt_tokens: int) -> PriceSet:
        """The prices of a request of ``prompt_tokens`` (input, cache writes and reads): the
        long-context ones for the whole request above its threshold."""
        lc = self.long_context
        if lc is not None and prompt_tokens > lc.threshold:
            return lc.prices
        return self.base

    def fast_ratio(self, fast: bool) -> tuple[int, int]:
        """The multiplier of a request in fast mode (``fast``) as an exact ratio in lowest
        terms; ``(1, 1)`` when the model has none."""
        if fast and self.fast is not None:
            return self.fast.as_integer_ratio()
        return 1, 1


#: What a model's ``features`` may name: request fields it accepts (see docs/pricing.md).
FEATURES = (
    "adaptive-thinking",  # thinking: {type: "adaptive"}
    "enabled-thinking",  # thinking: {type: "enabled", budget_tokens: N}
    "thinking-required",  # thinking cannot be turned off ({type: "disabled"} is refused)
    "effort",  # output_config.effort
    "fast",  # speed: "fast"
    "system-messages",  # role "system" messages inside the conversation
)


@dataclass(frozen=True, slots=True)
class Model:
    """One model: canonical id, tier, family, aliases and its effective-dated prices.

    ``context_window`` (prompt tokens) and ``max_output`` (tokens) are its limits, ``features``
    the request fields it accepts (names from :data:`FEATURES`); ``None`` where unknown, which
    callers must treat as "do not assume either way".
    """

    id: str
    tier: Tier
    name: str
    family: str
    aliases: tuple[str, ...] = ()
    periods: tuple[PricePeriod, ...] = ()
    deprecated: dt.date | None = None
    context_window: int | None = None
    max_output: int | None = None
    features: tuple[str, ...] | None = None

    def accepts(self, feature: str) -> bool | None:
        """Whether the model accepts ``feature`` (one of :data:`FEATURES`); ``None`` when its
        features are not known."""
        return None if self.features is None else feature in self.features

    def period_at(self, day: dt.date | None) -> PricePeriod:
        """The price period in force on ``day`` (latest when ``None``)."""
        chosen = self.periods[0]
        for period in self.periods:
            if day is None or period.since <= day:
                chosen = period
            else:
                break
        return chosen


class Catalog:
    """Models and prices. Build one with :func:`gearshift.catalog.load_catalog`."""

    __slots__ = (
        "_cache",
        "_index",
        "batch_multiplier",
        "geo_multipliers",
        "models",
        "name",
        "revision",
        "tier_defaults",
    )
    _SHOWN = ("name", "revision", "models", "tier_defaults", "batch_multiplier", "geo_multipliers")

    name: str
    revision: str
    models: dict[str, Model]
    tier_defaults: dict[Tier, str]
    batch_multiplier: Decimal
    geo_multipliers: Mapping[str, Decimal]
    _index: dict[str, str]
    _cache: dict[str, Model]

    def __init__(
        self,
        name: str,
        revision: str,
        models: dict[str, Model],
        tier_defaults: dict[Tier, str],
        batch_multiplier: Decimal,
        geo_multipliers: Mapping[str, Decimal],
    ) -> None:
        self.name = name
        self.revision = revision
        self.models = models
        self.tier_defaults = tier_defaults
        self.batch_multiplier = batch_multiplier
        self.geo_multipliers = geo_multipliers
        self._cache = {}
        self._index = {}
        for model in models.values():
            for key in (model.id, *model.aliases):
                self._index[key.lower()] = model.id

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._SHOWN)
        return f"{type(self).__name__}({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._SHOWN)

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass with eq=True

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
        model_id = self._index.get(key)
        if model_id is None:
            stripped = _VERSION_SUFFIX.sub("", _VENDOR_PREFIX.sub("", key))
            model_id = self._index.get(stripped)
            if model_id is None:
                model_id = self._index.get(_DATE_SUFFIX.sub("", stripped))
                if model_id is None:
                    return None
        return self.models[model_id]

    def default_for(self, tier: Tier) -> Model:
        """The model a bare tier alias stands for."""
        return self.models[self.tier_defaults[tier]]

    def multiplier(self, model: Model, period: PricePeriod, usage: Usage) -> Fraction:
        factor = Fraction(*period.fast_ratio(usage.fast))
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
