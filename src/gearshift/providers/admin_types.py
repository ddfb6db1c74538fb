"""The Admin API's report pages as typed records, validated on the way in.

What the Usage & Cost Admin API sends is network data: every page is converted with
:func:`msgspec.convert` into the structs below, so a missing field, a negative token count or a
string where a number belongs is an error at the boundary (:func:`parse_page`) rather than a
wrong sum later. Fields the API adds later are ignored; dimensions are ``None`` when the report
was not grouped by them.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, TypeVar

import msgspec

from gearshift.errors import ProviderError

__all__ = [
    "ClaudeCodePage",
    "ClaudeCodeRecord",
    "CostPage",
    "CostResult",
    "UsagePage",
    "UsageResult",
    "parse_page",
]

Count = Annotated[int, msgspec.Meta(ge=0)]
P = TypeVar("P")


class CacheCreation(msgspec.Struct, frozen=True):
    ephemeral_5m_input_tokens: Count = 0
    ephemeral_1h_input_tokens: Count = 0


class ServerToolUse(msgspec.Struct, frozen=True):
    web_search_requests: Count = 0


class UsageResult(msgspec.Struct, frozen=True):
    """One row of a usage bucket: token counts for one combination of the grouped dimensions."""

    uncached_input_tokens: Count = 0
    cache_creation: CacheCreation = CacheCreation()
    cache_read_input_tokens: Count = 0
    output_tokens: Count = 0
    server_tool_use: ServerToolUse | None = None
    model: str | None = None
    api_key_id: str | None = None
    workspace_id: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None
    speed: str | None = None

    @property
    def web_search_requests(self) -> int:
        return self.server_tool_use.web_search_requests if self.server_tool_use else 0


class UsageBucket(msgspec.Struct, frozen=True):
    starting_at: str
    ending_at: str
    results: list[UsageResult]


class UsagePage(msgspec.Struct, frozen=True):
    data: list[UsageBucket]
    has_more: bool
    next_page: str | None = None


class CostResult(msgspec.Struct, frozen=True):
    """One row of a cost bucket. ``amount`` is a decimal string in cents (``"123.45"`` is
    $1.2345): read it with :attr:`cents`."""

    amount: str
    currency: str = "USD"
    workspace_id: str | None = None
    description: str | None = None
    cost_type: str | None = None
    model: str | None = None
    token_type: str | None = None
    service_tier: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None

    @property
    def cents(self) -> Decimal:
        """The amount in cents, exactly; a non-number or another currency is refused."""
        if self.currency != "USD":
            raise ProviderError(
                f"the cost report has an amount in {self.currency!r}; gearshift counts USD only"
            )
        try:
            value = Decimal(self.amount)
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite():
            raise ProviderError(
                f"the cost report has an amount that is not a number: {self.amount!r}"
            )
        return value


class CostBucket(msgspec.Struct, frozen=True):
    starting_at: str
    ending_at: str
    results: list[CostResult]


class CostPage(msgspec.Struct, frozen=True):
    data: list[CostBucket]
    has_more: bool
    next_page: str | None = None


class Actor(msgspec.Struct, frozen=True):
    """A user (``email_address``) or an API key (``api_key_name``)."""

    type: str
    email_address: str | None = None
    api_key_name: str | None = None

    @property
    def name(self) -> str:
        return self.email_address or self.api_key_name or f"({self.type})"


class CodeTokens(msgspec.Struct, frozen=True):
    input: Count = 0
    output: Count = 0
    cache_read: Count = 0
    cache_creation: Count = 0

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_creation


class EstimatedCost(msgspec.Struct, frozen=True):
    currency: str = "USD"
    amount: int | float | str = 0  # cents

    @property
    def cents(self) -> Decimal:
        try:
            value = Decimal(str(self.amount))
        except InvalidOperation:
            return Decimal(0)
        return value if value.is_finite() else Decimal(0)


class ModelUse(msgspec.Struct, frozen=True):
    model: str
    tokens: CodeTokens = CodeTokens()
    estimated_cost: EstimatedCost | None = None


class CoreMetrics(msgspec.Struct, frozen=True):
    num_sessions: Count = 0


class ClaudeCodeRecord(msgspec.Struct, frozen=True):
    """One actor's Claude Code day: sessions and the tokens of each model."""

    date: str
    actor: Actor
    customer_type: str | None = None
    terminal_type: str | None = None
    core_metrics: CoreMetrics = CoreMetrics()
    model_breakdown: list[ModelUse] = []


class ClaudeCodePage(msgspec.Struct, frozen=True):
    data: list[ClaudeCodeRecord]
    has_more: bool
    next_page: str | None = None


def parse_page(data: object, kind: type[P], what: str) -> P:
    """``data`` (a decoded JSON body) as ``kind``; a body of another shape is a ProviderError."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise ProviderError(
            f"the {what} came back in an unexpected shape: {exc}",
            hint="the Admin API may have changed; run again with --debug and report it",
        ) from None
