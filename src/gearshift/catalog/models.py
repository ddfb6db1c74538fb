"""The model registry: ids and aliases -> a model with its tier, family and dated prices."""

from __future__ import annotations

import datetime as dt
import functools

from gearshift._frozen import Frozen, _set
from gearshift.catalog.cost import Cost, PriceSet, Usage
from gearshift.catalog.tiers import Tier
from gearshift.errors import UnknownModel

TYPE_CHECKING = False  # not typing's: importing typing costs a hook-run ingest ~4 ms
if TYPE_CHECKING:
    import re
    from collections.abc import Iterator, Mapping
    from decimal import Decimal
    from fractions import Fraction

__all__ = ["FEATURES", "Catalog", "LongContext", "Model", "PricePeriod"]


@functools.cache
def _name_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """``(vendor prefix, version suffix, date suffix)``, compiled on first use: compiling them at
    import cost every run ~1 ms, and a name the index holds as written needs none of them (nor
    re, ~2 ms to load)."""
    import re

    return (
        re.compile(r"^(?:anthropic[./]|bedrock/|vertex_ai/|us\.anthropic\.|eu\.anthropic\.)"),
        re.compile(r"-v\d+(?::\d+)?$"),
        re.compile(r"[-@]\d{8}$"),
    )


class LongContext(Frozen):
    """Whole-request repricing above ``threshold`` prompt tokens."""

    __slots__ = ("prices", "threshold")
    #: The constructor's fields, in order (``__slots__`` is sorted).
    __match_args__ = ("threshold", "prices")
    _fields = __match_args__

    threshold: int
    prices: PriceSet

    def __init__(self, threshold: int, prices: PriceSet) -> None:
        _set(self, "threshold", threshold)
        _set(self, "prices", prices)


class PricePeriod(Frozen):
    """The prices of one model from ``since`` (UTC date) until the next period."""

    __slots__ = ("base", "fast", "long_context", "since")
    #: The constructor's fields, in order (``__slots__`` is sorted).
    __match_args__ = ("since", "base", "long_context", "fast")
    _fields = __match_args__

    since: dt.date
    base: PriceSet
    long_context: LongContext | None
    fast: Decimal | None

    def __init__(
        self,
        since: dt.date,
        base: PriceSet,
        long_context: LongContext | None = None,
        fast: Decimal | None = None,
    ) -> None:
        _set(self, "since", since)
        _set(self, "base", base)
        _set(self, "long_context", long_context)
        _set(self, "fast", fast)

    def prices_for(self, usage: Usage) -> PriceSet:
        lc = self.long_context
        if lc is not None and usage.prompt_tokens > lc.threshold:
            return lc.prices
        return self.base


#: What a model's ``features`` may name: request fields it accepts (see docs/pricing.md).
FEATURES = (
    "adaptive-thinking",  # thinking: {type: "adaptive"}
    "enabled-thinking",  # thinking: {type: "enabled", budget_tokens: N}
    "thinking-required",  # thinking cannot be turned off ({type: "disabled"} is refused)
    "effort",  # output_config.effort
    "fast",  # speed: "fast"
    "system-messages",  # role "system" messages inside the conversation
)


class Model(Frozen):
    """One model: canonical id, tier, family, aliases and its effective-dated prices.

    ``context_window`` (prompt tokens) and ``max_output`` (tokens) are its limits, ``features``
    the request fields it accepts (names from :data:`FEATURES`); ``None`` where unknown, which
    callers must treat as "do not assume either way".
    """

    __slots__ = (
        "aliases",
        "context_window",
        "deprecated",
        "family",
        "features",
        "id",
        "max_output",
        "name",
        "periods",
        "tier",
    )
    #: The constructor's fields, in order (``__slots__`` is sorted).
    __match_args__ = (
        "id",
        "tier",
        "name",
        "family",
        "aliases",
        "periods",
        "deprecated",
        "context_window",
        "max_output",
        "features",
    )
    _fields = __match_args__

    id: str
    tier: Tier
    name: str
    family: str
    aliases: tuple[str, ...]
    periods: tuple[PricePeriod, ...]
    deprecated: dt.date | None
    context_window: int | None
    max_output: int | None
    features: tuple[str, ...] | None

    def __init__(
        self,
        id: str,
        tier: Tier,
        name: str,
        family: str,
        aliases: tuple[str, ...] = (),
        periods: tuple[PricePeriod, ...] = (),
        deprecated: dt.date | None = None,
        context_window: int | None = None,
        max_output: int | None = None,
        features: tuple[str, ...] | None = None,
    ) -> None:
        _set(self, "id", id)
        _set(self, "tier", tier)
        _set(self, "name", name)
        _set(self, "family", family)
        _set(self, "aliases", aliases)
        _set(self, "periods", periods)
        _set(self, "deprecated", deprecated)
        _set(self, "context_window", context_window)
        _set(self, "max_output", max_output)
        _set(self, "features", features)

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
        "sources",
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
    #: A digest of the price files' bytes it was made from, when ``load_catalog`` made it (saved
    #: rate cards are kept only under the identity of the same bytes); ``""`` otherwise.
    sources: str

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
        self.sources = ""
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
        model_id = self._index.get(key)
        if model_id is None:
            vendor_prefix, version_suffix, date_suffix = _name_patterns()
            stripped = version_suffix.sub("", vendor_prefix.sub("", key))
            model_id = self._index.get(stripped)
            if model_id is None:
                model_id = self._index.get(date_suffix.sub("", stripped))
                if model_id is None:
                    return None
        return self.models[model_id]

    def default_for(self, tier: Tier) -> Model:
        """The model a bare tier alias stands for."""
        return self.models[self.tier_defaults[tier]]

    def multiplier(self, model: Model, period: PricePeriod, usage: Usage) -> Fraction:
        from fractions import Fraction  # here: an ingest never multiplies (~1.5 ms to load)

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
