"""Formatting numbers for people: money, percentages, token counts."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from gearshift.catalog.cost import nanos_to_decimal

__all__ = ["pct", "tokens", "usd", "usd_nanos"]


def usd(amount: Decimal, *, places: int | None = None) -> str:
    """``$1,234.57`` for amounts of a dollar or more, ``$0.0151`` below (4 places)."""
    if places is None:
        places = 2 if abs(amount) >= 1 or amount == 0 else 4
    quantum = Decimal(1).scaleb(-places)
    value = amount.quantize(quantum, rounding=ROUND_HALF_EVEN)
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{places}f}"


def usd_nanos(nanos: int, *, places: int | None = None) -> str:
    return usd(nanos_to_decimal(nanos), places=places)


def pct(part: int | Decimal, whole: int | Decimal, places: int = 1) -> str:
    if not whole:
        return "0%"
    value = (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal(1).scaleb(-places))
    return f"{value}%"


def tokens(n: int) -> str:
    """``1.2M``, ``34.5k``, ``812``."""
    if n >= 1_000_000_000:
        return f"{n / 1e9:.2f}B"
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M"
    if n >= 10_000:
        return f"{n / 1e3:.1f}k"
    return f"{n:,}"
