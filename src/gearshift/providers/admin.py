"""A small client for Anthropic's Usage & Cost Admin API and its Claude Code analytics.

Three reports, each read page by page (``has_more`` / ``next_page``) within the API's own
limits, every page through the one retry loop (:func:`gearshift.providers.retry.call_with_retry`,
so a 429 waits at least its ``retry-after``):

* :meth:`AdminClient.usage_report` -- ``GET /v1/organizations/usage_report/messages``: token
  counts per time bucket, grouped by the dimensions asked for; at most 31 daily, 168 hourly or
  1440 one-minute buckets a page;
* :meth:`AdminClient.cost_report` -- ``GET /v1/organizations/cost_report``: what was billed, in
  cents as decimal strings, daily buckets only (31 a page); Priority Tier is not in it;
* :meth:`AdminClient.claude_code_report` -- ``GET /v1/organizations/usage_report/claude_code``:
  one UTC day of per-user Claude Code usage, up to 1000 records a page.

The HTTP side is the official SDK's client (the stack the ``anthropic`` provider uses), with its
own retries off and its errors mapped by :func:`gearshift.providers.anthropic.map_error`. The
admin key comes from the caller or ``$ANTHROPIC_ADMIN_KEY`` only (never ``ANTHROPIC_API_KEY``,
a profile or any other credential the SDK would find); it travels as ``X-Api-Key``, the header
the Admin API documents, and is never stored, printed or put in an error message. The base URL
comes from the caller or ``$ANTHROPIC_BASE_URL``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import os
import random as _random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import anthropic

from gearshift.errors import AuthError, BadRequest, ProviderError
from gearshift.providers.admin_types import (
    ClaudeCodePage,
    ClaudeCodeRecord,
    CostBucket,
    CostPage,
    UsageBucket,
    UsagePage,
    parse_page,
)
from gearshift.providers.anthropic import map_error
from gearshift.providers.endpoint import BASE_URL_ENV, base_url
from gearshift.providers.retry import RetryEvent, RetryPolicy, call_with_retry

__all__ = [
    "ADMIN_KEY_ENV",
    "BUCKET_LIMITS",
    "CLAUDE_CODE_PATH",
    "COST_GROUPS",
    "COST_PATH",
    "USAGE_GROUPS",
    "USAGE_PATH",
    "AdminClient",
    "PageEvent",
]

ADMIN_KEY_ENV = "ANTHROPIC_ADMIN_KEY"
USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
CLAUDE_CODE_PATH = "/v1/organizations/usage_report/claude_code"
API_VERSION = "2023-06-01"
#: The beta that grouping the usage report by ``speed`` needs.
FAST_MODE_BETA = "fast-mode-2026-02-01"
#: Most buckets the API returns a page, by bucket width.
BUCKET_LIMITS = {"1m": 1440, "1h": 168, "1d": 31}
CLAUDE_CODE_PAGE_LIMIT = 1000
USAGE_GROUPS = (
    "model",
    "api_key_id",
    "workspace_id",
    "service_tier",
    "context_window",
    "inference_geo",
    "speed",
)
COST_GROUPS = ("workspace_id", "description")
#: A next_page token seen twice means a server going round in circles: stop rather than loop.
_MAX_PAGES = 10_000

P = TypeVar("P", UsagePage, CostPage, ClaudeCodePage)


@dataclass(frozen=True, slots=True)
class PageEvent:
    """One page read: which report, its number (from 1) and how many items it held."""

    report: str
    page: int
    items: int


class AdminClient:
    """The Admin API's reports. Build it, ``await`` its methods, then :meth:`close` it.

    ``sleep``, ``rand`` and ``clock`` go to the retry loop (tests make retries instant);
    ``on_retry`` sees each retry and ``on_page`` each page read (progress for people). Building
    the client never touches the network or fails; a missing key is an error on first use.
    """

    def __init__(
        self,
        admin_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 60.0,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rand: Callable[[], float] = _random.random,
        clock: Callable[[], float] = time.monotonic,
        on_retry: Callable[[RetryEvent], object] | None = None,
        on_page: Callable[[PageEvent], object] | None = None,
    ) -> None:
        self._key = admin_key
        self._base_url = base_url
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self._sleep, self._rand, self._clock = sleep, rand, clock
        self.on_retry = on_retry
        self.on_page = on_page
        self._client: anthropic.AsyncAnthropic | None = None

    def __repr__(self) -> str:  # never the key
        return f"AdminClient(base_url={self._base_url or os.environ.get(BASE_URL_ENV)!r})"

    @property
    def base_url(self) -> str:
        """The chosen base URL; raises ConfigError when it is malformed."""
        return base_url(self._base_url, "https://api.anthropic.com") or "https://api.anthropic.com"

    def _admin_key(self) -> str:
        key = self._key or os.environ.get(ADMIN_KEY_ENV, "").strip()
        if not key:
            raise AuthError(
                f"no Admin API key: set {ADMIN_KEY_ENV}",
                hint="create an Admin key (sk-ant-admin01-...) in the Claude Console under "
                "Settings > Admin keys; only organisation admins can",
            )
        return key

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            self._client = _AdminHTTP(
                api_key=self._admin_key(),  # explicit: the SDK then reads no other credential
                base_url=self.base_url,
                max_retries=0,
                timeout=self.timeout,
            )
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def __aenter__(self) -> AdminClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- reports -------------------------------------------------------------------------------

    async def usage_report(
        self,
        starting_at: dt.datetime,
        ending_at: dt.datetime,
        *,
        group_by: Iterable[str] = USAGE_GROUPS,
        bucket_width: str = "1d",
    ) -> list[UsageBucket]:
        """Every usage bucket in ``[starting_at, ending_at)``, grouped by ``group_by``."""
        if bucket_width not in BUCKET_LIMITS:
            raise ValueError(f"bucket_width must be one of {', '.join(BUCKET_LIMITS)}")
        groups = list(group_by)
        params = _window(starting_at, ending_at) | {
            "bucket_width": bucket_width,
            "limit": BUCKET_LIMITS[bucket_width],
            "group_by": groups,
        }
        betas = [FAST_MODE_BETA] if "speed" in groups else []
        pages = await self._pages(USAGE_PATH, params, UsagePage, "usage report", betas)
        return [bucket for page in pages for bucket in page.data]

    async def cost_report(
        self,
        starting_at: dt.datetime,
        ending_at: dt.datetime,
        *,
        group_by: Iterable[str] = COST_GROUPS,
    ) -> list[CostBucket]:
        """Every daily cost bucket in ``[starting_at, ending_at)``, grouped by ``group_by``."""
        params = _window(starting_at, ending_at) | {
            "bucket_width": "1d",
            "limit": BUCKET_LIMITS["1d"],
            "group_by": list(group_by),
        }
        pages = await self._pages(COST_PATH, params, CostPage, "cost report", [])
        return [bucket for page in pages for bucket in page.data]

    async def claude_code_report(self, day: dt.date) -> list[ClaudeCodeRecord]:
        """Every Claude Code analytics record of the UTC ``day``."""
        params: dict[str, Any] = {
            "starting_at": day.isoformat(),
            "limit": CLAUDE_CODE_PAGE_LIMIT,
        }
        pages = await self._pages(
            CLAUDE_CODE_PATH, params, ClaudeCodePage, "Claude Code report", []
        )
        return [record for page in pages for record in page.data]

    # -- paging and errors -----------------------------------------------------------------------

    async def _pages(
        self,
        path: str,
        params: Mapping[str, Any],
        kind: type[P],
        what: str,
        betas: list[str],
    ) -> list[P]:
        pages: list[P] = []
        seen: set[str] = set()
        token: str | None = None
        while True:
            query = dict(params) if token is None else {**params, "page": token}
            body = await call_with_retry(
                functools.partial(self._get, path, query, betas),
                self.policy,
                sleep=self._sleep,
                rand=self._rand,
                clock=self._clock,
                on_retry=self.on_retry,
            )
            page = parse_page(body, kind, what)
            pages.append(page)
            if self.on_page is not None:
                self.on_page(PageEvent(what, len(pages), len(page.data)))
            if not page.has_more:
                return pages
            if not page.next_page or page.next_page in seen or len(pages) >= _MAX_PAGES:
                raise ProviderError(
                    f"the {what} says it has more pages but gave no new page token",
                    hint="try a shorter period with --since / --until",
                )
            seen.add(page.next_page)
            token = page.next_page

    async def _get(self, path: str, params: Mapping[str, Any], betas: list[str]) -> object:
        headers: dict[str, Any] = {"anthropic-version": API_VERSION}
        if betas:
            headers["anthropic-beta"] = ",".join(betas)
        try:
            body: object = await self.client.get(
                path, cast_to=object, options={"params": dict(params), "headers": headers}
            )
        except anthropic.AnthropicError as err:
            raise _admin_error(map_error(err), path) from None
        return body


class _AdminHTTP(anthropic.AsyncAnthropic):
    """The SDK's client with the key in ``X-Api-Key``, the header the Admin API documents,
    instead of ``Authorization``. Client-level, not per request: the SDK logs each request's
    own options (headers included) at debug level, never its client headers."""

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.api_key} if self.api_key else {}


def _window(starting_at: dt.datetime, ending_at: dt.datetime) -> dict[str, Any]:
    if starting_at.tzinfo is None or ending_at.tzinfo is None:
        raise ValueError("starting_at and ending_at must be aware datetimes")
    if ending_at <= starting_at:
        raise ValueError("ending_at must be after starting_at")
    return {"starting_at": _rfc3339(starting_at), "ending_at": _rfc3339(ending_at)}


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _admin_error(error: ProviderError, path: str) -> ProviderError:
    """Admin-specific messages for the errors whose fix differs from a Messages call's."""
    if isinstance(error, AuthError):
        refused = "refused the admin key" if error.status == 401 else "did not allow this request"
        return AuthError(
            f"the Admin API {refused} ({error.message})",
            status=error.status,
            request_id=error.request_id,
            hint=f"{ADMIN_KEY_ENV} must hold an Admin API key (sk-ant-admin01-...) of the "
            "organisation, not a workspace API key; only organisation admins can create one",
        )
    if isinstance(error, BadRequest) and error.status == 404 and path == CLAUDE_CODE_PATH:
        return BadRequest(
            f"this organisation has no Claude Code analytics ({error.message})",
            status=404,
            request_id=error.request_id,
            hint="the analytics exist for organisations using Claude Code with the Anthropic API",
        )
    return error
