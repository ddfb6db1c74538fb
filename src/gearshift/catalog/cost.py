"""Exact cost math: token usage -> money, with no float anywhere.

Prices are decimals in USD per million tokens. Internally a price becomes an integer number of
*femto-dollars per token* ($1 per million tokens = 10**9 femto-dollars per token), so the cost of a
usage is an integer sum; multipliers (fast mode, batch, data residency) are exact rationals. A cost
is reported two ways:

* :attr:`Cost.exact` -- the exact decimal amount in USD, additive over usages;
* :attr:`Cost.nanos` -- that amount rounded half-to-even to integer nano-dollars, which is what
  the ledger stores (one nano-dollar is $0.000000001, far below any cent).
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from gearshift.catalog.units import FEMTO_PER_MTOK_DOLLAR, MAX_TOKENS, nanos_text, round_half_even

__all__ = [
    "FEMTO_PER_MTOK_DOLLAR",
    "MAX_TOKENS",
    "Cost",
    "PriceSet",
    "Usage",
    "femto_to_nanos",
    "nanos_to_decimal",
    "round_half_even",
    "usd_text",
]

_FEMTO_PER_NANO = 10**6
_EXACT = decimal.Context(prec=60)
_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
)
_PRICE_FIELDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")


def nanos_to_decimal(nanos: int) -> Decimal:
    """Integer nano-dollars as an exact ``Decimal`` in USD."""
    return Decimal(nanos).scaleb(-9)


def femto_to_nanos(femto: int, numerator: int = 1, denominator: int = 1) -> int:
    """``femto`` femto-dollars times ``numerator / denominator``, rounded half-to-even to the
    nano-dollars the ledger stores."""
    return round_half_even(femto * numerator, denominator * _FEMTO_PER_NANO)


def usd_text(amount: int | Decimal) -> str:
    """Money as a plain decimal string for JSON: integer nanos -> ``"0.014600000"``; a Decimal
    keeps its digits. Never scientific notation (``str(Decimal("0E-9"))`` would be)."""
    if isinstance(amount, int):
        return nanos_text(amount)
    return format(amount, "f")


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one model call (or a sum of calls made under the same flags).

    ``input_tokens`` are the uncached input tokens, as the API reports them; cache writes are split
    by TTL, since a 1-hour write costs more than a 5-minute one.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    batch: bool = False
    fast: bool = False
    geo: str | None = None

    def __post_init__(self) -> None:
        for name in _TOKEN_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, not {value!r}")
            if value > MAX_TOKENS:
                raise ValueError(f"{name} {value} is beyond any real call (at most {MAX_TOKENS:,})")

    @classmethod
    def from_api(cls, usage: Any, *, batch: bool = False) -> Usage:
        """An Anthropic ``usage`` (a dict or an SDK object) as a Usage, cache writes split by TTL.

        Without the ``cache_creation`` split every cache write counts as 5-minute (the default
        TTL); when the split is short of the total, the rest is 5-minute too.
        """

        def get(obj: Any, key: str) -> Any:
            return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)

        written = int(get(usage, "cache_creation_input_tokens") or 0)
        split = get(usage, "cache_creation") or {}
        w1 = int(get(split, "ephemeral_1h_input_tokens") or 0)
        w5 = int(get(split, "ephemeral_5m_input_tokens") or 0)
        w5 += max(0, written - w5 - w1)
        return cls(
            input_tokens=int(get(usage, "input_tokens") or 0),
            output_tokens=int(get(usage, "output_tokens") or 0),
            cache_write_5m_tokens=w5,
            cache_write_1h_tokens=w1,
            cache_read_tokens=int(get(usage, "cache_read_input_tokens") or 0),
            batch=batch or get(usage, "service_tier") == "batch",
            fast=get(usage, "speed") == "fast",
            geo=get(usage, "inference_geo") or None,
        )

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def prompt_tokens(self) -> int:
        """Every input token of the request: uncached, cache writes and cache reads."""
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        if (self.batch, self.fast, self.geo) != (other.batch, other.fast, other.geo):
            raise ValueError("only usages made under the same batch/fast/geo flags can be added")
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_5m_tokens + other.cache_write_5m_tokens,
            self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.batch,
            self.fast,
            self.geo,
        )


@dataclass(frozen=True, slots=True)
class PriceSet:
    """Five per-million-token prices in USD, kept as exact decimals; ``femto`` holds them in
    femto-dollars per token, derived (not compared, shown or given)."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    femto: tuple[int, int, int, int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rates = []
        for name in _PRICE_FIELDS:
            value: Decimal = getattr(self, name)
            scaled = value * FEMTO_PER_MTOK_DOLLAR
            if value < 0:
                raise ValueError(f"{name} price must not be negative ({value})")
            if scaled != scaled.to_integral_value():
                raise ValueError(f"{name} price {value} has more than 9 decimal places")
            rates.append(int(scaled))
        object.__setattr__(self, "femto", tuple(rates))  # a frozen dataclass's derived field

    def femto_cost(self, usage: Usage) -> int:
        """The cost of ``usage`` at these prices, in femto-dollars, before any multiplier."""
        return self.femto_of(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_write_5m_tokens,
                usage.cache_write_1h_tokens,
                usage.cache_read_tokens,
            )
        )

    def femto_of(self, tokens: tuple[int, int, int, int, int]) -> int:
        """:meth:`femto_cost` of (input, output, 5m writes, 1h writes, cache reads)."""
        i, o, w5, w1, r = self.femto
        i_n, o_n, w5_n, w1_n, r_n = tokens
        return i_n * i + o_n * o + w5_n * w5 + w1_n * w1 + r_n * r

    def as_dict(self) -> dict[str, str]:
        return {
            "input": str(self.input),
            "output": str(self.output),
            "cache_write_5m": str(self.cache_write_5m),
            "cache_write_1h": str(self.cache_write_1h),
            "cache_read": str(self.cache_read),
        }


@dataclass(frozen=True, slots=True)
class Cost:
    """An exact cost: ``femto * multiplier`` femto-dollars, with the price version used."""

    femto: int
    multiplier: Fraction
    price_version: str
    model: str

    @property
    def nanos(self) -> int:
        return femto_to_nanos(self.femto, self.multiplier.numerator, self.multiplier.denominator)

    @property
    def exact(self) -> Decimal:
        """The exact amount in USD (finite: every multiplier's denominator is 2^a*5^b)."""
        num = Decimal(self.femto * self.multiplier.numerator)
        return _EXACT.divide(num, Decimal(self.multiplier.denominator)).scaleb(-15)

    @property
    def usd(self) -> Decimal:
        """The stored amount: nano-dollars as a ``Decimal``."""
        return nanos_to_decimal(self.nanos)
