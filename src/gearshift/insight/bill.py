"""What Anthropic says the organisation used and paid, as flat daily lines.

:func:`fetch_bill` reads the usage report (grouped by every dimension the comparison may need:
model, API key, workspace, service tier, context window, inference geo, speed) and the cost
report (grouped by workspace and description, which splits it by model and token type) for a
period of whole UTC days -- the API's buckets are UTC days, so the period is too. Each bucket row
becomes a :class:`UsageLine` or a :class:`CostLine`; money is exact: the cost report's decimal
cents become integer nano-dollars (``cents * 10**7``, half-even below a nano-dollar).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

from gearshift.errors import ProviderError

if TYPE_CHECKING:
    from gearshift.providers.admin import AdminClient
    from gearshift.providers.admin_types import CostBucket, UsageBucket

__all__ = ["Bill", "CostLine", "UsageLine", "cents_to_nanos", "fetch_bill", "utc_day_start"]

#: The cost report's token types -> the ledger's token kinds.
TOKEN_KINDS = {
    "uncached_input_tokens": "input",
    "output_tokens": "output",
    "cache_read_input_tokens": "cache_read",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write_5m",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write_1h",
}


def cents_to_nanos(cents: Decimal) -> int:
    """Exact decimal cents as integer nano-dollars (one cent is 10**7 nano-dollars)."""
    return int(cents.scaleb(7).to_integral_value(rounding=ROUND_HALF_EVEN))


def utc_day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class UsageLine:
    """Token counts of one usage-report row: a UTC day and one value of each dimension."""

    day: dt.date
    model: str
    api_key: str | None
    workspace: str | None
    service_tier: str
    context_window: str
    inference_geo: str | None
    speed: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    web_search_requests: int = 0

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
            + self.cache_read_tokens
        )


@dataclass(frozen=True, slots=True)
class CostLine:
    """One cost-report row: a UTC day, what was charged (``kind`` is the token kind for token
    costs) and the amount in nano-dollars."""

    day: dt.date
    workspace: str | None
    cost_type: str  # tokens | web_search | code_execution | another type the API adds
    model: str | None
    kind: str | None
    service_tier: str | None
    nanos: int


@dataclass(slots=True)
class Bill:
    """The usage and cost reports of the UTC days ``[since, until)``."""

    since: dt.date
    until: dt.date
    usage: list[UsageLine] = field(default_factory=list)
    costs: list[CostLine] = field(default_factory=list)


async def fetch_bill(client: AdminClient, since: dt.date, until: dt.date) -> Bill:
    """Both reports of the UTC days ``[since, until)``, read at the same time."""
    start, end = utc_day_start(since), utc_day_start(until)
    usage, costs = await asyncio.gather(
        client.usage_report(start, end), client.cost_report(start, end)
    )
    return Bill(since, until, usage_lines(usage), cost_lines(costs))


def _day(text: str) -> dt.date:
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ProviderError(
            f"the Admin API sent a bucket start that is not a time: {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).date()


def usage_lines(buckets: list[UsageBucket]) -> list[UsageLine]:
    out = []
    for bucket in buckets:
        day = _day(bucket.starting_at)
        for r in bucket.results:
            out.append(
                UsageLine(
                    day=day,
                    model=r.model or "(unknown model)",
                    api_key=r.api_key_id,
                    workspace=r.workspace_id,
                    service_tier=r.service_tier or "standard",
                    context_window=r.context_window or "0-200k",
                    inference_geo=r.inference_geo,
                    speed=r.speed or "standard",
                    input_tokens=r.uncached_input_tokens,
                    output_tokens=r.output_tokens,
                    cache_write_5m_tokens=r.cache_creation.ephemeral_5m_input_tokens,
                    cache_write_1h_tokens=r.cache_creation.ephemeral_1h_input_tokens,
                    cache_read_tokens=r.cache_read_input_tokens,
                    web_search_requests=r.web_search_requests,
                )
            )
    return out


def cost_lines(buckets: list[CostBucket]) -> list[CostLine]:
    out = []
    for bucket in buckets:
        day = _day(bucket.starting_at)
        for r in bucket.results:
            cost_type = r.cost_type or ("tokens" if r.token_type else "other")
            out.append(
                CostLine(
                    day=day,
                    workspace=r.workspace_id,
                    cost_type=cost_type,
                    model=r.model,
                    kind=TOKEN_KINDS.get(r.token_type or ""),
                    service_tier=r.service_tier,
                    nanos=cents_to_nanos(r.cents),
                )
            )
    return out
