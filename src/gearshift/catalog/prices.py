"""Price files: the bundled catalog, named profiles and user overlays, validated on load.

A price file is TOML (see ``data/anthropic.toml``). The bundled catalog is always the base; a
profile (``article``) or a user file is an *overlay* that may

* add models or replace the price periods of known ones (``[[model]]``),
* re-point the bare tier aliases (``[tiers]``),
* change ratios or modifiers (``[ratios]``, ``[modifiers]``),
* price every model of a tier at one flat price (``[tier_price.<tier>]``).

Every problem is reported as a :class:`PriceFileError` naming the file and the key.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from gearshift._files import read_package_file
from gearshift.catalog.cost import PriceSet
from gearshift.catalog.models import FEATURES, Catalog, LongContext, Model, PricePeriod
from gearshift.catalog.tiers import Tier
from gearshift.errors import PriceFileError

__all__ = ["PROFILES", "catalog_from_text", "load_catalog", "price_spec"]

#: Named price profiles bundled with gearshift.
PROFILES = ("anthropic", "article")


_TOP_KEYS = {
    "schema",
    "name",
    "revision",
    "currency",
    "ratios",
    "modifiers",
    "tiers",
    "model",
    "tier_price",
}
_MODEL_KEYS = {
    "id",
    "aliases",
    "tier",
    "name",
    "family",
    "deprecated",
    "price",
    "context_window",
    "max_output",
    "features",
}
_PRICE_KEYS = {
    "since",
    "input",
    "output",
    "cache_write_5m",
    "cache_write_1h",
    "cache_read",
    "long_context",
    "fast",
}
_LC_KEYS = {"threshold", "input", "output", "cache_write_5m", "cache_write_1h", "cache_read"}
_RATIO_KEYS = {"cache_write_5m", "cache_write_1h", "cache_read"}

_CACHE: dict[str, Catalog] = {}


def price_spec(prices: str | os.PathLike[str] | None) -> str:
    """The price profile or file ``prices`` names: itself, else ``$GEARSHIFT_PRICES``, else
    the bundled ``anthropic`` catalog."""
    spec = os.fspath(prices) if prices is not None else os.environ.get("GEARSHIFT_PRICES", "")
    return spec or "anthropic"


def load_catalog(prices: str | os.PathLike[str] | None = None) -> Catalog:
    """The bundled catalog, with a profile name or a user price file laid over it.

    ``prices`` defaults to ``$GEARSHIFT_PRICES``, then to the bundled ``anthropic`` catalog.
    """
    spec = price_spec(prices)
    cached = _CACHE.get(spec)
    if cached is not None:
        return cached
    builder = _Builder("anthropic.toml (bundled)")
    builder.apply(_read_bundled("anthropic"), base=True)
    if spec != "anthropic":
        if spec in PROFILES:
            builder.source = f"{spec}.toml (bundled profile)"
            builder.apply(_read_bundled(spec), base=False)
        else:
            from pathlib import Path  # (a user's price file: not the usual run's path)

            path = str(Path(spec).expanduser())  # normalised: the name errors show
            builder.source = path
            builder.apply(_read_file(path), base=False)
    catalog = builder.build()
    _CACHE[spec] = catalog
    return catalog


def catalog_from_text(text: str, source: str) -> Catalog:
    """The bundled catalog with a price file's text laid over it: the prices a distributed run
    was submitted with, read back from the ledger on a worker that may not have the file.
    ``source`` names it in errors (e.g. the file's path and the run)."""
    builder = _Builder("anthropic.toml (bundled)")
    builder.apply(_read_bundled("anthropic"), base=True)
    builder.source = source
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PriceFileError(f"{source}: not valid TOML: {exc}") from None
    builder.apply(document, base=False)
    return builder.build()


def _read_bundled(name: str) -> dict[str, Any]:
    return tomllib.loads(read_package_file("gearshift.catalog", __file__, "data", f"{name}.toml"))


def _read_file(path: str) -> dict[str, Any]:
    """A user's price file's document."""
    if not os.path.exists(path):
        raise PriceFileError(
            f"price file {path} does not exist",
            hint=f"--prices takes a profile ({', '.join(PROFILES)}) or a TOML price file",
        )
    try:
        with open(path, encoding="utf-8") as fh:  # text mode: any line ending reads as one
            return tomllib.loads(fh.read())
    except tomllib.TOMLDecodeError as exc:
        raise PriceFileError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PriceFileError(f"{path}: cannot be read: {exc}") from None


class _Builder:
    """Accumulates a base document and overlays, validating as it goes."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.names: list[str] = []
        self.revision = ""
        self.ratios: dict[str, Decimal] = {}
        self.batch = Decimal("0.5")
        self.geo: dict[str, Decimal] = {}
        self.tiers: dict[Tier, str] = {}
        self.models: dict[str, Model] = {}
        self.tier_prices: dict[Tier, PriceSet] = {}

    def fail(self, key: str, problem: str) -> PriceFileError:
        return PriceFileError(
            f"{self.source}: {key}: {problem}",
            hint="see docs/pricing.md for the price file format",
        )

    def apply(self, doc: dict[str, Any], *, base: bool) -> None:
        self._check_keys(doc, _TOP_KEYS, "top level")
        if doc.get("schema", 1) != 1:
            raise self.fail("schema", f"unsupported schema {doc.get('schema')!r} (expected 1)")
        stem = os.path.splitext(os.path.basename(self.source.split()[0]))[0]
        self.names.append(str(doc.get("name", stem)))
        self.revision = str(doc.get("revision", self.revision))
        for key, value in _table(self, doc, "ratios").items():
            self.ratios[key] = self._ratio(f"ratios.{key}", value, low=Decimal(0), high=Decimal(10))
        self._check_keys(_table(self, doc, "ratios"), _RATIO_KEYS, "ratios")
        self._modifiers(_table(self, doc, "modifiers"))
        for i, raw in enumerate(_list(self, doc, "model")):
            model = self._model(f"model[{i}]", raw, base=base)
            self.models[model.id] = model
        for key, value in _table(self, doc, "tiers").items():
            tier = self._tier(f"tiers.{key}", key)
            self.tiers[tier] = str(value)
        for key, value in _table(self, doc, "tier_price").items():
            tier = self._tier(f"tier_price.{key}", key)
            if not isinstance(value, dict):
                raise self.fail(f"tier_price.{key}", "must be a table of prices")
            self._check_keys(value, _RATIO_KEYS | {"input", "output"}, f"tier_price.{key}")
            self.tier_prices[tier] = self._price_set(f"tier_price.{key}", value)

    def build(self) -> Catalog:
        models = dict(self.models)
        for tier, prices in self.tier_prices.items():
            for model_id, model in models.items():
                if model.tier is tier:
                    flat = tuple(replace(p, base=prices, long_context=None) for p in model.periods)
                    models[model_id] = replace(model, periods=flat[-1:])
        for tier in Tier.ordered():
            target = self.tiers.get(tier)
            if target is None:
                raise self.fail("tiers", f"no default model for tier {tier}")
            found = Catalog("check", "", models, {}, Decimal(1), {}).find(target)
            if found is None:
                raise self.fail(f"tiers.{tier}", f"unknown model {target!r}")
            self.tiers[tier] = found.id
        return Catalog(
            name="+".join(self.names),
            revision=self.revision,
            models=models,
            tier_defaults=dict(self.tiers),
            batch_multiplier=self.batch,
            geo_multipliers=dict(self.geo),
        )

    # -- pieces ---------------------------------------------------------------------------

    def _check_keys(self, table: dict[str, Any], allowed: set[str], where: str) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.fail(
                where, f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
            )

    def _modifiers(self, table: dict[str, Any]) -> None:
        self._check_keys(table, {"batch", "geo"}, "modifiers")
        if "batch" in table:
            self.batch = self._ratio("modifiers.batch", table["batch"], Decimal(0), Decimal(1))
            if self.batch == 0:
                raise self.fail(
                    "modifiers.batch", "a batch multiplier of 0 would make batches free"
                )
        geo = table.get("geo", {})
        if not isinstance(geo, dict):
            raise self.fail("modifiers.geo", "must be a table of region = multiplier")
        for region, value in geo.items():
            self.geo[region.lower()] = self._ratio(
                f"modifiers.geo.{region}", value, Decimal(1), Decimal(10)
            )

    def _tier(self, key: str, value: Any) -> Tier:
        try:
            return Tier(str(value).lower())
        except ValueError:
            raise self.fail(key, f"unknown tier {value!r} (use haiku, sonnet or opus)") from None

    def _decimal(self, key: str, value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(key, f"expected a number, got {value!r}")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise self.fail(key, f"{value!r} is not a number") from None
        if not number.is_finite():
            raise self.fail(key, f"{value!r} is not a finite number")
        return number

    def _ratio(self, key: str, value: Any, low: Decimal, high: Decimal) -> Decimal:
        number = self._decimal(key, value)
        if not low <= number <= high:
            raise self.fail(key, f"{number} makes no sense here (expected {low}..{high})")
        return number

    def _price_set(
        self, where: str, raw: dict[str, Any], base_input: Decimal | None = None
    ) -> PriceSet:
        values: dict[str, Decimal] = {}
        for key in ("input", "output"):
            if key not in raw:
                raise self.fail(where, f"missing {key!r} price")
            values[key] = self._decimal(f"{where}.{key}", raw[key])
        for key in _RATIO_KEYS:
            if key in raw:
                values[key] = self._decimal(f"{where}.{key}", raw[key])
            else:
                ratio = self.ratios.get(key, _DEFAULT_RATIOS[key])
                values[key] = values["input"] * ratio
        for key, number in values.items():
            if number < 0:
                raise self.fail(f"{where}.{key}", f"negative price {number}")
            if number > _MAX_PRICE:
                raise self.fail(f"{where}.{key}", f"{number} per million tokens makes no sense")
        if values["cache_read"] > values["input"] > 0:
            raise self.fail(
                f"{where}.cache_read", "a cache read dearer than uncached input makes no sense"
            )
        if values["input"] > 0 and values["cache_write_5m"] < values["input"] * Decimal("0.5"):
            raise self.fail(
                f"{where}.cache_write_5m", "a cache write far cheaper than input makes no sense"
            )
        try:
            return PriceSet(**values)
        except ValueError as exc:
            raise self.fail(where, str(exc)) from None

    def _model(self, where: str, raw: Any, *, base: bool) -> Model:
        if not isinstance(raw, dict):
            raise self.fail(where, "each [[model]] must be a table")
        self._check_keys(raw, _MODEL_KEYS, where)
        model_id = raw.get("id")
        if not isinstance(model_id, str) or not model_id:
            raise self.fail(f"{where}.id", "every model needs an id")
        where = f"model {model_id!r}"
        known = self.models.get(model_id)
        if "tier" in raw:
            tier = self._tier(f"{where}.tier", raw["tier"])
        elif known is not None:
            tier = known.tier
        else:
            raise self.fail(f"{where}.tier", "a new model needs a tier (haiku, sonnet or opus)")
        aliases = raw.get("aliases", list(known.aliases) if known else [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise self.fail(f"{where}.aliases", "must be a list of strings")
        periods = self._periods(where, raw.get("price"))
        if not periods:
            if known is None:
                raise self.fail(f"{where}.price", "a new model needs at least one [[model.price]]")
            periods = known.periods
        deprecated = raw.get("deprecated", known.deprecated if known else None)
        if deprecated is not None and not isinstance(deprecated, dt.date):
            raise self.fail(f"{where}.deprecated", "must be a date (YYYY-MM-DD)")
        del base
        return Model(
            id=model_id,
            tier=tier,
            name=str(raw.get("name", known.name if known else model_id)),
            family=str(raw.get("family", known.family if known else tier.value)),
            aliases=tuple(aliases),
            periods=periods,
            deprecated=deprecated,
            context_window=self._limit(where, raw, "context_window", known),
            max_output=self._limit(where, raw, "max_output", known),
            features=self._features(where, raw, known),
        )

    def _limit(self, where: str, raw: dict[str, Any], key: str, known: Model | None) -> int | None:
        if key not in raw:
            return getattr(known, key) if known is not None else None
        value = raw[key]
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 100_000_000:
            raise self.fail(f"{where}.{key}", "must be a positive token count")
        return value

    def _features(
        self, where: str, raw: dict[str, Any], known: Model | None
    ) -> tuple[str, ...] | None:
        if "features" not in raw:
            return known.features if known is not None else None
        value = raw["features"]
        if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
            raise self.fail(f"{where}.features", "must be a list of strings")
        unknown = sorted(set(value) - set(FEATURES))
        if unknown:
            raise self.fail(
                f"{where}.features", f"unknown feature {unknown[0]!r} (use: {', '.join(FEATURES)})"
            )
        return tuple(sorted(set(value)))

    def _periods(self, where: str, raw: Any) -> tuple[PricePeriod, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            raise self.fail(f"{where}.price", "must be an array of tables ([[model.price]])")
        periods: list[PricePeriod] = []
        for j, entry in enumerate(raw):
            at = f"{where}.price[{j}]"
            if not isinstance(entry, dict):
                raise self.fail(at, "must be a table")
            self._check_keys(entry, _PRICE_KEYS, at)
            since = entry.get("since")
            if isinstance(since, dt.datetime) or not isinstance(since, dt.date):
                raise self.fail(
                    f"{at}.since", "every price period needs a date `since = YYYY-MM-DD`"
                )
            base = self._price_set(at, entry)
            lc = None
            if "long_context" in entry:
                lc_raw = entry["long_context"]
                if not isinstance(lc_raw, dict):
                    raise self.fail(f"{at}.long_context", "must be a table")
                self._check_keys(lc_raw, _LC_KEYS, f"{at}.long_context")
                threshold = lc_raw.get("threshold")
                if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold <= 0:
                    raise self.fail(
                        f"{at}.long_context.threshold", "must be a positive token count"
                    )
                lc_prices = self._price_set(f"{at}.long_context", lc_raw)
                if lc_prices.input < base.input:
                    raise self.fail(
                        f"{at}.long_context.input", "long-context input cheaper than base"
                    )
                lc = LongContext(threshold, lc_prices)
            fast = None
            if "fast" in entry:
                fast = self._ratio(f"{at}.fast", entry["fast"], Decimal(1), Decimal(20))
            periods.append(PricePeriod(since, base, lc, fast))
        dates = [p.since for p in periods]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise self.fail(f"{where}.price", "periods must have distinct `since` dates in order")
        return tuple(periods)


#: USD per million tokens; far above any real model, low enough to keep costs in 64 bits.
_MAX_PRICE = Decimal(1_000)

_DEFAULT_RATIOS = {
    "cache_write_5m": Decimal("1.25"),
    "cache_write_1h": Decimal("2"),
    "cache_read": Decimal("0.1"),
}


def _table(builder: _Builder, doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise builder.fail(key, "must be a table")
    return value


def _list(builder: _Builder, doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise builder.fail(key, "must be an array of tables ([[model]])")
    return value
