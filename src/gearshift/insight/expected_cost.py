"""The expected cost of a task on a tier: the model behind true cost, recommendations, plans
and replays.

One task on one tier costs its tokens, the waiting its latency imposes on people, and -- when it
fails -- the time a person spends investigating. Run tiered, a task also pays the next tier's
tokens and latency for the share that escalates. :class:`TrueCostRates` prices people's time;
:class:`Outlook` describes a task on a tier; :func:`static_cost` and :func:`tiered_cost` give the
expected true cost, exactly (:class:`~fractions.Fraction` USD). Success rates observed in the
ledger are :class:`Beta` posteriors, so a rate carries how much evidence stands behind it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from gearshift.catalog import Tier
from gearshift.catalog.cost import round_half_even
from gearshift.config import TrueCostConfig

__all__ = [
    "DEFAULT_SPEED",
    "DEFAULT_SUCCESS",
    "MONTH_DAYS",
    "Beta",
    "Outlook",
    "TrueCostRates",
    "nanos",
    "pct_text",
    "static_cost",
    "tiered_cost",
]

_MS_PER_HOUR = 3_600_000
_NANO = 10**9

#: A month, for monthly figures, is 30 days (as in the article's arithmetic).
MONTH_DAYS = 30
#: Success rates assumed for a tier the ledger has no record of: deliberately modest steps (the
#: article's own example, 95% vs 99.5%, would make every move up look like a bargain).
DEFAULT_SUCCESS: dict[Tier, Decimal] = {
    Tier.HAIKU: Decimal("0.90"),
    Tier.SONNET: Decimal("0.95"),
    Tier.OPUS: Decimal("0.97"),
}
#: Relative latency of the tiers, for a tier the ledger has no record of (the article: Haiku
#: "2-3x faster" than Opus, "45 seconds vs 15 seconds").
DEFAULT_SPEED: dict[Tier, Decimal] = {
    Tier.HAIKU: Decimal(1),
    Tier.SONNET: Decimal(2),
    Tier.OPUS: Decimal(3),
}


@dataclass(frozen=True, slots=True)
class TrueCostRates:
    """What people's time costs. Defaults follow the article: $50/hour fully loaded, thirty
    minutes to investigate a failure; a quarter of an agent's latency is assumed to block
    someone (most agent work runs in the background, some gates a merge)."""

    hourly_rate: Decimal = Decimal(50)
    investigate_minutes: Decimal = Decimal(30)
    blocking_factor: Decimal = Decimal("0.25")
    success: dict[Tier, Decimal] = field(default_factory=lambda: dict(DEFAULT_SUCCESS))
    speed: dict[Tier, Decimal] = field(default_factory=lambda: dict(DEFAULT_SPEED))

    @property
    def rework_per_failure(self) -> Fraction:
        """USD one failure costs to investigate."""
        return Fraction(self.investigate_minutes) / 60 * Fraction(self.hourly_rate)

    @property
    def waiting_per_ms(self) -> Fraction:
        """USD one millisecond of agent latency costs in blocked people."""
        return Fraction(self.blocking_factor) * Fraction(self.hourly_rate) / _MS_PER_HOUR

    @classmethod
    def from_config(cls, config: TrueCostConfig) -> TrueCostRates:
        """The rates of the config file's ``[true_cost]`` section."""
        return cls(config.hourly_rate_usd, config.minutes_to_investigate, config.blocking_factor)

    def to_dict(self) -> dict[str, str]:
        return {
            "hourly_rate_usd": str(self.hourly_rate),
            "investigate_minutes": str(self.investigate_minutes),
            "blocking_factor": str(self.blocking_factor),
        }


def nanos(amount: Fraction) -> int:
    """An exact USD rational as integer nano-dollars, rounded half to even."""
    return round_half_even(amount.numerator * _NANO, amount.denominator)


@dataclass(frozen=True, slots=True)
class Beta:
    """A success rate as the posterior Beta(1 + successes, 1 + failures) of a uniform prior.

    ``mean`` is exact; the credible interval is numeric (a float is fine for a probability
    bound; money never goes through it).
    """

    successes: int
    failures: int

    @property
    def n(self) -> int:
        return self.successes + self.failures

    @property
    def mean(self) -> Fraction:
        return Fraction(1 + self.successes, 2 + self.n)

    def cdf(self, x: float) -> float:
        return _betainc(1.0 + self.successes, 1.0 + self.failures, x)

    def quantile(self, q: float) -> float:
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if self.cdf(mid) < q:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    def interval(self, level: float = 0.9) -> tuple[float, float]:
        """The equal-tailed credible interval holding ``level`` of the posterior."""
        tail = (1 - level) / 2
        return self.quantile(tail), self.quantile(1 - tail)


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (continued fraction, Lentz)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny = 1e-300

    def guard(v: float) -> float:
        return v if abs(v) > tiny else tiny

    c, d = 1.0, 1 / guard(1 - (a + b) * x / (a + 1))
    h = d
    for m in range(1, 500):
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d = 1 / guard(1 + even * d)
        c = guard(1 + even / c)
        h *= d * c
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d = 1 / guard(1 + odd * d)
        c = guard(1 + odd / c)
        h *= d * c
        if abs(d * c - 1) < 1e-14:
            break
    return h


@dataclass(frozen=True, slots=True)
class Outlook:
    """What one execution on a tier is expected to cost and how it ends (exact USD)."""

    tier: Tier
    model: str
    tokens: Fraction
    latency_ms: Fraction
    success: Fraction
    observed: bool = False


def static_cost(o: Outlook, rates: TrueCostRates) -> Fraction:
    """Expected true cost of one task run on one tier, failures investigated by a person."""
    return (
        o.tokens + (1 - o.success) * rates.rework_per_failure + o.latency_ms * rates.waiting_per_ms
    )


def tiered_cost(
    first: Outlook, second: Outlook, escalation: Fraction, rates: TrueCostRates
) -> Fraction:
    """Expected true cost of one task run on ``first`` and escalated to ``second`` for a share
    ``escalation`` of tasks: both tiers' tokens and latency for escalated tasks, investigation
    for escalations that fail too and for failures the validator let through."""
    missed = max(Fraction(0), (1 - first.success) - escalation)
    failed = escalation * (1 - second.success) + missed
    latency = first.latency_ms + escalation * second.latency_ms
    return (
        first.tokens
        + escalation * second.tokens
        + failed * rates.rework_per_failure
        + latency * rates.waiting_per_ms
    )


def pct_text(part: int | Fraction, whole: int | Fraction) -> str:
    """``12.3%`` of a ratio of integers or rationals (no float on the way)."""
    if not whole:
        return "0%"
    ratio = Fraction(part) / Fraction(whole)
    tenths = round_half_even(ratio.numerator * 1000, ratio.denominator)
    return f"{tenths // 10}.{tenths % 10}%"
