"""The fake organisation behind the fake server's Admin API: usage, cost and Claude Code reports.

An :class:`Organisation` is a list of :class:`Call` (one Messages API request each, as the bill
sees it), optional code-execution charges, optional Claude Code analytics and the prices the bill
charges (the catalog's unless ``bill_prices`` overrides a model). The report builders turn it into
the Admin API's response shapes, as the API documents them:

* ``GET /v1/organizations/usage_report/messages``: time buckets (``1m``/``1h``/``1d``, at most
  1440/168/31 a page), ``group_by[]`` over the documented dimensions (``speed`` only with the
  ``fast-mode-2026-02-01`` beta), token counts with the ``cache_creation`` split and
  ``server_tool_use.web_search_requests``;
* ``GET /v1/organizations/cost_report``: daily buckets only, ``group_by[]`` of ``workspace_id``
  and ``description``, ``amount`` a decimal string in cents, Priority Tier left out, web search
  and code execution as their own ``cost_type``;
* ``GET /v1/organizations/usage_report/claude_code``: one day (``YYYY-MM-DD``), one record per
  actor with a per-model breakdown and an estimated cost in cents; 20 records a page by default,
  1000 at most.

Every report pages with ``has_more`` / ``next_page`` (an opaque token). A bad parameter is a 400
``invalid_request_error`` naming it, as the API answers.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from gearshift.catalog import Catalog, PriceSet, Usage, load_catalog

__all__ = [
    "USAGE_GROUPS",
    "AdminError",
    "Call",
    "ClaudeCodeUse",
    "CodeExecution",
    "Organisation",
    "claude_code_report",
    "cost_report",
    "usage_report",
]

USAGE_GROUPS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "speed",
    "account_id",
    "service_account_id",
)
COST_GROUPS = ("workspace_id", "description")
FAST_BETA = "fast-mode-2026-02-01"
_WIDTHS = {"1m": dt.timedelta(minutes=1), "1h": dt.timedelta(hours=1), "1d": dt.timedelta(days=1)}
#: (default, maximum) buckets a page, by width.
_LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}
_TOKEN_TYPES = (
    ("input_tokens", "uncached_input_tokens", "Input Tokens"),
    ("output_tokens", "output_tokens", "Output Tokens"),
    ("cache_read_tokens", "cache_read_input_tokens", "Cache Read"),
    ("cache_write_5m_tokens", "cache_creation.ephemeral_5m_input_tokens", "Cache Write (5m)"),
    ("cache_write_1h_tokens", "cache_creation.ephemeral_1h_input_tokens", "Cache Write (1h)"),
)
_EXACT = decimal.Context(prec=60)
_COST_DIMENSIONS = (
    "workspace_id",
    "description",
    "cost_type",
    "model",
    "token_type",
    "service_tier",
    "context_window",
    "inference_geo",
)
#: What grouping by ``description`` fills in (``inference_geo`` needs its own grouping).
_DESCRIBED = ("description", "cost_type", "model", "token_type", "service_tier", "context_window")


class AdminError(Exception):
    """A request the Admin API refuses: the handler answers ``status`` with this message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = {400: "invalid_request_error", 404: "not_found_error"}.get(
            status, "api_error"
        )


@dataclass(frozen=True, slots=True)
class Call:
    """One Messages API request of the organisation, with the dimensions the reports group by."""

    ts: dt.datetime
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    web_search_requests: int = 0
    workspace_id: str | None = None
    api_key_id: str = "apikey_01SampleKeyDefault"
    service_tier: str = "standard"  # standard | batch | priority
    inference_geo: str = "global"
    speed: str = "standard"

    @property
    def prompt_tokens(self) -> int:
        return (
            self.input_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
            + self.cache_read_tokens
        )

    @property
    def context_window(self) -> str:
        return "200k-1M" if self.prompt_tokens > 200_000 else "0-200k"

    def usage(self) -> Usage:
        """The call as a catalog Usage (the ledger prices a recorded call from this)."""
        return Usage(
            self.input_tokens,
            self.output_tokens,
            self.cache_write_5m_tokens,
            self.cache_write_1h_tokens,
            self.cache_read_tokens,
            batch=self.service_tier == "batch",
            fast=self.speed == "fast",
            geo=self.inference_geo
            if self.inference_geo not in ("global", "not_available")
            else None,
        )


@dataclass(frozen=True, slots=True)
class CodeExecution:
    """A day's code-execution charge in one workspace, in cents."""

    day: dt.date
    cents: Decimal
    workspace_id: str | None = None


@dataclass(frozen=True, slots=True)
class ClaudeCodeUse:
    """One actor's Claude Code use of one model on one day (what the analytics report holds)."""

    day: dt.date
    actor: str  # an email address (a user) or an API key's name
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    sessions: int = 1
    customer_type: str = "api"  # api | subscription
    terminal_type: str = "vscode"


@dataclass
class Organisation:
    """Everything the fake's Admin API reports. ``claude_code=None``: no Claude Code analytics
    (the endpoint answers 404, as for an organisation without them)."""

    calls: list[Call] = field(default_factory=list)
    code_execution: list[CodeExecution] = field(default_factory=list)
    claude_code: list[ClaudeCodeUse] | None = field(default_factory=list)
    bill_prices: dict[str, PriceSet] = field(default_factory=dict)
    web_search_cents: Decimal = Decimal("1")
    catalog: Catalog = field(default_factory=load_catalog)
    organization_id: str = "8a4f1c3e-0000-4000-8000-00000000fake"

    def call_cents(self, call: Call) -> dict[str, Decimal]:
        """What the bill charges for ``call``, in cents, by API token type."""
        model = self.catalog.find(call.model)
        usage = call.usage()
        override = self.bill_prices.get(model.id if model else call.model)
        if model is None:
            if override is None:
                raise ValueError(f"no bill price for unknown model {call.model!r}")
            prices, factor = override, Fraction(1)
        else:
            period = model.period_at(call.ts.astimezone(dt.UTC).date())
            prices = override or period.prices_for(usage)
            factor = self.catalog.multiplier(model, period, usage)
        out = {}
        for (attr, token_type, _), rate in zip(_TOKEN_TYPES, _rates(prices), strict=True):
            femto = getattr(call, attr) * rate * factor.numerator
            out[token_type] = _EXACT.divide(Decimal(femto), Decimal(factor.denominator))
        return {k: v.scaleb(-13) for k, v in out.items() if v}


def _rates(prices: PriceSet) -> tuple[int, int, int, int, int]:
    """Femto-dollar rates in the order of ``_TOKEN_TYPES``."""
    i, o, w5, w1, r = prices.femto
    return i, o, r, w5, w1


# -- parameters ---------------------------------------------------------------------------------


def _one(query: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _instant(text: str | None, name: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AdminError(f"{name}: invalid RFC 3339 timestamp {text!r}") from None
    if moment.tzinfo is None:
        raise AdminError(f"{name}: a time zone is required")
    return moment.astimezone(dt.UTC)


def _limit(query: Mapping[str, Sequence[str]], default: int, maximum: int) -> int:
    text = _one(query, "limit")
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise AdminError(f"limit: {text!r} is not an integer") from None
    if not 1 <= value <= maximum:
        raise AdminError(f"limit: must be between 1 and {maximum}")
    return value


def _groups(query: Mapping[str, Sequence[str]], allowed: tuple[str, ...]) -> list[str]:
    groups = list(query.get("group_by[]", [])) + list(query.get("group_by", []))
    for group in groups:
        if group not in allowed:
            raise AdminError(f"group_by: {group!r} is not one of {', '.join(allowed)}")
    return groups


def page_token(kind: str, index: int) -> str:
    return "page_" + base64.urlsafe_b64encode(f"{kind}:{index}".encode()).decode().rstrip("=")


def _page_index(query: Mapping[str, Sequence[str]], kind: str) -> int:
    token = _one(query, "page")
    if token is None:
        return 0
    try:
        raw = token.removeprefix("page_")
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        got, _, index = text.partition(":")
        if got != kind:
            raise ValueError(got)
        return int(index)
    except ValueError:
        raise AdminError("page: invalid page token") from None


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _buckets(
    query: Mapping[str, Sequence[str]], width_name: str, kind: str
) -> tuple[list[dt.datetime], dt.timedelta, bool, str | None]:
    """This page's bucket starts, the width, ``has_more`` and ``next_page``."""
    width = _WIDTHS[width_name]
    default, maximum = _LIMITS[width_name]
    start = _instant(_one(query, "starting_at"), "starting_at")
    if start is None:
        raise AdminError("starting_at: field required")
    start = _floor(start, width)
    end = _instant(_one(query, "ending_at"), "ending_at")
    limit = _limit(query, default, maximum)
    if end is None:
        end = start + width * limit
    if end <= start:
        raise AdminError("ending_at: must be after starting_at")
    starts = []
    moment = start
    while moment < end:
        starts.append(moment)
        moment += width
    first = _page_index(query, kind)
    page = starts[first : first + limit]
    more = first + limit < len(starts)
    return page, width, more, page_token(kind, first + limit) if more else None


def _floor(moment: dt.datetime, width: dt.timedelta) -> dt.datetime:
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return epoch + ((moment - epoch) // width) * width


def _in(call: Call, start: dt.datetime, width: dt.timedelta) -> bool:
    return start <= call.ts < start + width


# -- reports ------------------------------------------------------------------------------------


def usage_report(
    org: Organisation, query: Mapping[str, Sequence[str]], betas: Iterable[str] = ()
) -> dict[str, Any]:
    """The body of ``GET /v1/organizations/usage_report/messages``."""
    width_name = _one(query, "bucket_width") or "1d"
    if width_name not in _WIDTHS:
        raise AdminError("bucket_width: must be one of 1m, 1h, 1d")
    groups = _groups(query, USAGE_GROUPS)
    if "speed" in groups and FAST_BETA not in set(betas):
        raise AdminError(f"group_by: speed needs the {FAST_BETA} beta header")
    page, width, more, token = _buckets(query, width_name, "usage")
    models = set(query.get("models[]", []))
    data = []
    for start in page:
        sums: dict[tuple[Any, ...], dict[str, Any]] = {}
        for call in org.calls:
            if not _in(call, start, width) or (models and call.model not in models):
                continue
            key = tuple(_dimension(call, g) for g in groups)
            row = sums.setdefault(key, _empty_usage(dict(zip(groups, key, strict=True))))
            _add_usage(row, call)
        results = [sums[k] for k in sorted(sums, key=lambda k: tuple(str(v) for v in k))]
        data.append(
            {
                "starting_at": _rfc3339(start),
                "ending_at": _rfc3339(start + width),
                "results": results,
            }
        )
    return {"data": data, "has_more": more, "next_page": token}


def _dimension(call: Call, group: str) -> str | None:
    if group in ("account_id", "service_account_id"):
        return None
    value: str | None = getattr(call, group)
    return value


def _empty_usage(dims: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(USAGE_GROUPS)
    row.update(dims)
    row.update(
        {
            "uncached_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "cache_read_input_tokens": 0,
            "output_tokens": 0,
            "server_tool_use": {"web_search_requests": 0},
        }
    )
    return row


def _add_usage(row: dict[str, Any], call: Call) -> None:
    row["uncached_input_tokens"] += call.input_tokens
    row["cache_creation"]["ephemeral_5m_input_tokens"] += call.cache_write_5m_tokens
    row["cache_creation"]["ephemeral_1h_input_tokens"] += call.cache_write_1h_tokens
    row["cache_read_input_tokens"] += call.cache_read_tokens
    row["output_tokens"] += call.output_tokens
    row["server_tool_use"]["web_search_requests"] += call.web_search_requests


def cost_report(org: Organisation, query: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The body of ``GET /v1/organizations/cost_report`` (Priority Tier costs left out)."""
    if (_one(query, "bucket_width") or "1d") != "1d":
        raise AdminError("bucket_width: the cost report has only 1d")
    groups = _groups(query, COST_GROUPS)
    page, width, more, token = _buckets(query, "1d", "cost")
    data = []
    for start in page:
        sums: dict[tuple[Any, ...], dict[str, Any]] = {}
        for item in _cost_items(org, start, width):
            shown: dict[str, Any] = dict.fromkeys(_COST_DIMENSIONS)
            if "workspace_id" in groups:
                shown["workspace_id"] = item["workspace_id"]
            if "description" in groups:
                shown.update({k: item[k] for k in _DESCRIBED})
            key = tuple(str(shown[k]) for k in _COST_DIMENSIONS)
            row = sums.setdefault(key, {**shown, "currency": "USD", "amount": Decimal(0)})
            row["amount"] += item["amount"]
        results = []
        for key in sorted(sums):
            row = sums[key]
            results.append({**row, "amount": format(row["amount"].normalize(), "f")})
        data.append(
            {
                "starting_at": _rfc3339(start),
                "ending_at": _rfc3339(start + width),
                "results": results,
            }
        )
    return {"data": data, "has_more": more, "next_page": token}


def _cost_items(
    org: Organisation, start: dt.datetime, width: dt.timedelta
) -> Iterable[dict[str, Any]]:
    """Every charge of the bucket with all its dimensions (the report groups them)."""
    blank: dict[str, Any] = dict.fromkeys(_COST_DIMENSIONS)
    for call in org.calls:
        if not _in(call, start, width) or call.service_tier == "priority":
            continue
        model = org.catalog.find(call.model)
        name = model.name if model else call.model
        labels = {token_type: label for _, token_type, label in _TOKEN_TYPES}
        for token_type, cents in org.call_cents(call).items():
            yield {
                **blank,
                "workspace_id": call.workspace_id,
                "description": f"{name} Usage - {labels[token_type]}",
                "cost_type": "tokens",
                "model": call.model,
                "token_type": token_type,
                "service_tier": call.service_tier,
                "context_window": call.context_window,
                "amount": cents,
            }
        if call.web_search_requests:
            yield {
                **blank,
                "workspace_id": call.workspace_id,
                "description": "Web Search",
                "cost_type": "web_search",
                "amount": org.web_search_cents * call.web_search_requests,
            }
    for charge in org.code_execution:
        if charge.day == start.date():
            yield {
                **blank,
                "workspace_id": charge.workspace_id,
                "description": "Code Execution Usage",
                "cost_type": "code_execution",
                "amount": charge.cents,
            }


def claude_code_report(org: Organisation, query: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The body of ``GET /v1/organizations/usage_report/claude_code`` for one UTC day."""
    if org.claude_code is None:
        raise AdminError("Claude Code analytics are not available for this organization", 404)
    text = _one(query, "starting_at")
    try:
        day = dt.date.fromisoformat(text or "")
    except ValueError:
        raise AdminError("starting_at: must be a date in YYYY-MM-DD format") from None
    limit = _limit(query, 20, 1000)
    actors: dict[str, list[ClaudeCodeUse]] = {}
    for use in org.claude_code:
        if use.day == day:
            actors.setdefault(use.actor, []).append(use)
    records = [_claude_code_record(org, day, uses) for _, uses in sorted(actors.items())]
    first = _page_index(query, "claude_code")
    more = first + limit < len(records)
    return {
        "data": records[first : first + limit],
        "has_more": more,
        "next_page": page_token("claude_code", first + limit) if more else None,
    }


def _claude_code_record(
    org: Organisation, day: dt.date, uses: list[ClaudeCodeUse]
) -> dict[str, Any]:
    first = uses[0]
    if "@" in first.actor:
        actor = {"type": "user_actor", "email_address": first.actor}
    else:
        actor = {"type": "api_actor", "api_key_name": first.actor}
    breakdown = []
    for use in uses:
        usage = Usage(use.input_tokens, use.output_tokens, use.cache_creation_tokens, 0,
                      use.cache_read_tokens)  # fmt: skip
        model = org.catalog.find(use.model)
        cents = org.catalog.cost(model, usage, at=day).exact * 100 if model else Decimal(0)
        breakdown.append(
            {
                "model": use.model,
                "tokens": {
                    "input": use.input_tokens,
                    "output": use.output_tokens,
                    "cache_read": use.cache_read_tokens,
                    "cache_creation": use.cache_creation_tokens,
                },
                "estimated_cost": {"currency": "USD", "amount": int(cents.to_integral_value())},
            }
        )
    added = sum(u.output_tokens for u in uses) // 40
    return {
        "date": _rfc3339(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)),
        "actor": actor,
        "organization_id": org.organization_id,
        "customer_type": first.customer_type,
        "terminal_type": first.terminal_type,
        "core_metrics": {
            "num_sessions": sum(u.sessions for u in uses),
            "lines_of_code": {"added": added, "removed": added // 3},
            "commits_by_claude_code": len(uses),
            "pull_requests_by_claude_code": 0,
        },
        "tool_actions": {
            name: {"accepted": len(uses), "rejected": 0}
            for name in ("edit_tool", "multi_edit_tool", "write_tool", "notebook_edit_tool")
        },
        "model_breakdown": breakdown,
    }


#: ``path -> report builder``; the builders that read beta headers take them as a third argument.
ROUTES: dict[str, Callable[..., dict[str, Any]]] = {
    "/v1/organizations/usage_report/messages": usage_report,
    "/v1/organizations/cost_report": cost_report,
    "/v1/organizations/usage_report/claude_code": claude_code_report,
}
