"""Formatting numbers for people: money, percentages, token counts."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from gearshift.catalog.cost import nanos_to_decimal

__all__ = ["MAX_PLACES", "pct", "tokens", "usd", "usd_nanos"]

#: Nano-dollars: no amount has more places than this.
MAX_PLACES = 9


def usd(amount: Decimal, *, places: int | None = None) -> str:
    """``$1,234.57`` for amounts of a dollar or more; below, four places or as many as three
    significant digits need (``$0.0151``, ``$0.0037``, ``$0.000156``), so that a cost that is
    not zero never reads as zero. ``places`` fixes the places instead."""
    if places is None:
        places = _places(amount)
    quantum = Decimal(1).scaleb(-places)
    value = amount.quantize(quantum, rounding=ROUND_HALF_EVEN)
    sign = "-" if value < 0 else ""
    text = f"{abs(value):,.{places}f}"
    if places > 4:  # the digits beyond four places are there for significance, not show
        text = text.rstrip("0")
        text = text if len(text.partition(".")[2]) >= 4 else f"{abs(value):,.4f}"
    return f"{sign}${text}"


def _places(amount: Decimal) -> int:
    if amount == 0 or abs(amount) >= 1:
        return 2
    first = -abs(amount).adjusted()  # the place of the first significant digit
    return min(MAX_PLACES, max(4, first + 2))


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
