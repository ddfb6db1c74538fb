"""The integer units of cost and exact rounding between them, in integers only (a price is
femto-dollars per token, a stored cost nano-dollars). :mod:`gearshift.catalog.cost` re-exports
them."""

from __future__ import annotations

__all__ = ["FEMTO_PER_MTOK_DOLLAR", "MAX_TOKENS", "nanos_text", "round_half_even"]

#: More tokens than any single call (or sum of calls in one record) could carry: the cap keeps
#: every stored count and cost inside a 64-bit integer.
MAX_TOKENS = 10**10

#: $1 per million tokens, in femto-dollars per token.
FEMTO_PER_MTOK_DOLLAR = 10**9


def round_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to an integer, ties to even, in integers only."""
    q, r = divmod(numerator, denominator)
    twice = 2 * r
    if twice > denominator or (twice == denominator and q % 2 == 1):
        q += 1
    return q


def nanos_text(nanos: int) -> str:
    """Integer nano-dollars as a plain decimal string of USD with nine decimals (``14600000``
    -> ``"0.014600000"``): exactly ``format(Decimal(nanos).scaleb(-9), "f")``, without
    :mod:`decimal` (:func:`gearshift.catalog.cost.usd_text` writes integers with it)."""
    sign = "-" if nanos < 0 else ""
    whole, frac = divmod(abs(nanos), 10**9)
    return f"{sign}{whole}.{frac:09d}"
