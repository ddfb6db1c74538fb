"""Tiers, models, effective-dated prices and exact cost math.

Names load on first use (PEP 562), so importing one light submodule such as
``gearshift.catalog.cost`` does not load the price files' reader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gearshift._lazy import lazy_names

if TYPE_CHECKING:
    from gearshift.catalog.cost import Cost, PriceSet, Usage, nanos_to_decimal
    from gearshift.catalog.models import Catalog, LongContext, Model, PricePeriod
    from gearshift.catalog.prices import PROFILES, load_catalog
    from gearshift.catalog.tiers import Tier

_WHERE = {
    "Cost": ".cost",
    "PriceSet": ".cost",
    "Usage": ".cost",
    "nanos_to_decimal": ".cost",
    "Catalog": ".models",
    "LongContext": ".models",
    "Model": ".models",
    "PricePeriod": ".models",
    "PROFILES": ".prices",
    "load_catalog": ".prices",
    "Tier": ".tiers",
}

__all__ = [
    "PROFILES",
    "Catalog",
    "Cost",
    "LongContext",
    "Model",
    "PricePeriod",
    "PriceSet",
    "Tier",
    "Usage",
    "load_catalog",
    "nanos_to_decimal",
]


__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)
