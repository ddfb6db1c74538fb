"""Tiers, models, effective-dated prices and exact cost math.

Names load on first use (PEP 562), so importing one light submodule such as
``gearshift.catalog.cost`` does not load the price files' reader.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gearshift.catalog.cost import Cost, PriceSet, Usage, nanos_to_decimal
    from gearshift.catalog.models import Catalog, LongContext, Model, PricePeriod
    from gearshift.catalog.prices import PROFILES, load_catalog
    from gearshift.catalog.tiers import Tier

_WHERE = {
    "Cost": "cost",
    "PriceSet": "cost",
    "Usage": "cost",
    "nanos_to_decimal": "cost",
    "Catalog": "models",
    "LongContext": "models",
    "Model": "models",
    "PricePeriod": "models",
    "PROFILES": "prices",
    "load_catalog": "prices",
    "Tier": "tiers",
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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'gearshift.catalog' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gearshift.catalog.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
