"""Tiers, models, effective-dated prices and exact cost math."""

from gearshift.catalog.cost import Cost, PriceSet, Usage, nanos_to_decimal
from gearshift.catalog.models import Catalog, LongContext, Model, PricePeriod
from gearshift.catalog.prices import PROFILES, load_catalog
from gearshift.catalog.tiers import Tier

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
