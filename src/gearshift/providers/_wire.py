"""The Anthropic API's wire shapes, without the SDK: statuses -> the error tree, usage -> Usage.

Shared by every provider that sees the API's HTTP statuses, error types or usage objects (the
SDK-based ``anthropic`` provider, its batch helpers and ``claude-code``, whose result object
repeats them), so the mapping exists once and importing it never imports the SDK.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Mapping
from typing import Any

from gearshift.catalog import Usage
from gearshift.errors import (
    AuthError,
    BadRequest,
    Overloaded,
    ProviderError,
    ProviderTimeout,
    RateLimited,
    SpendLimit,
)

__all__ = [
    "error_for_status",
    "message_text",
    "retry_after",
    "status_for_type",
    "usage_from_api",
]

_SPEND_CODES = frozenset(
    {
        "enforced_spend_limit_reached",
        "contract_spend_limit_reached",
        "linked_organization_spend_limit_reached",
    }
)
_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def status_for_type(error_type: object) -> int:
    """The HTTP status that goes with an API ``error.type`` (500 when unknown)."""
    return _TYPE_STATUS.get(str(error_type or ""), 500)


def error_for_status(
    status: int,
    message: str,
    *,
    request_id: str | None = None,
    error_code: str | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """The gearshift error for an HTTP status (and the body's ``error_code``)."""
    rid = request_id
    if error_code in _SPEND_CODES or status == 402:
        return SpendLimit(
            message,
            status=status,
            request_id=rid,
            hint="raise the spend limit in the Anthropic console",
        )
    if status == 429:
        return RateLimited(message, retry_after=retry_after, status=status, request_id=rid)
    if status in (401, 403):
        return AuthError(
            message,
            status=status,
            request_id=rid,
            hint="check ANTHROPIC_API_KEY and the key's workspace",
        )
    if status == 408:
        return ProviderTimeout(message, status=status, request_id=rid)
    if status >= 500 or status == 409:
        return Overloaded(message, status=status, request_id=rid)
    return BadRequest(message, status=status, request_id=rid)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        value = lowered.get("retry-after")
        if value is None:
            return None
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        if when is None:
            return None
        return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def usage_from_api(usage: Mapping[str, Any], *, batch: bool = False) -> Usage:
    """An API ``usage`` object as a catalog Usage (see :meth:`Usage.from_api`)."""
    return Usage.from_api(usage, batch=batch)


def message_text(message: Mapping[str, Any]) -> str:
    """The concatenated text blocks of an API message."""
    blocks = message.get("content") or []
    return "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
