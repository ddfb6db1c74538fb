"""The ``anthropic`` provider: the official SDK's ``AsyncAnthropic``, one attempt per call.

The SDK's own retries are off (``max_retries=0``): the one retry loop is
:mod:`gearshift.providers.retry`. Every SDK exception is mapped once, in :func:`map_error`
(statuses through :func:`gearshift.providers._wire.error_for_status`, shared with claude-code):

* 429 whose ``error.details.error_code`` is a spend-limit code, or 402 -> SpendLimit (never
  retried);
* other 429 -> RateLimited, with ``retry_after`` from ``retry-after-ms`` / ``retry-after``;
* 529, 500 and every other 5xx, and 409 -> Overloaded;
* 401, 403 and missing credentials -> AuthError;
* 400, 404, 413, 422 and every other 4xx -> BadRequest;
* 408, ``APITimeoutError``, ``APIConnectionError`` -> ProviderTimeout; a 200 whose body or
  stream breaks off before its end -> ResponseDropped (a ProviderTimeout: retried), with the
  usage the stream had already sent, since the API made -- and bills -- that response;
* an ``error`` event inside a 200 SSE stream -> by its ``error.type``, as if it were that status.

Each call reads the ``anthropic-ratelimit-*`` headers (``with_raw_response``) into the
provider's :class:`~gearshift.providers.pacing.Pacer`, which holds the next request back before
the server would answer 429. ``count_tokens`` asks the API once per distinct request (the
count is free but rate-limited; budgets ask before every call). Prompt caching:
``ModelRequest.cache_system`` puts ``cache_control`` (with ``ttl: "1h"`` when asked) on the
system block. Message Batches: see
:mod:`gearshift.providers.batches`; this class exposes them as methods.

Importing this module imports the SDK; :mod:`gearshift.providers` itself never does.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import anthropic
import httpx2

from gearshift.catalog import Catalog, Tier, load_catalog
from gearshift.errors import AuthError, ResponseDropped
from gearshift.providers import batches
from gearshift.providers._wire import message_text, usage_from_api
from gearshift.providers.base import ModelRequest, ModelResult
from gearshift.providers.batches import BatchOutcome, BatchStatus
from gearshift.providers.endpoint import base_url
from gearshift.providers.pacing import Pacer, RateLimitSnapshot, parse_ratelimit
from gearshift.providers.sdk import build_params, map_error, sdk_kwargs

__all__ = ["AnthropicProvider", "build_params", "map_error"]


class AnthropicProvider:
    """Calls the Messages API through ``AsyncAnthropic``; one attempt per call.

    ``api_key`` defaults to ``$ANTHROPIC_API_KEY`` and ``base_url`` to ``$ANTHROPIC_BASE_URL``
    (then the SDK's default). The client is built on first use, so constructing the provider
    never fails or touches the network; building it checks the base URL (a malformed one is a
    :class:`~gearshift.errors.ConfigError`, never retried). ``stream=True`` uses SSE (advisable
    for long outputs).
    ``pacer=None`` with ``pace=False`` turns pacing off; pass a shared :class:`Pacer` when
    several providers use the same key.
    """

    name = "anthropic"
    #: its count is the API's own (``POST /v1/messages/count_tokens``)
    counts_tokens = True
    #: distinct requests whose token count is remembered
    COUNT_CACHE_SIZE = 4096

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 600.0,
        stream: bool = False,
        pace: bool = True,
        pacer: Pacer | None = None,
        catalog: Catalog | None = None,
        client: anthropic.AsyncAnthropic | None = None,
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self.timeout = timeout
        self.stream = stream
        self.pacer = pacer if pacer is not None else (Pacer() if pace else None)
        self._catalog = catalog
        self._client = client
        self._counts: OrderedDict[str, int] = OrderedDict()

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            key = self._api_key or os.environ.get("ANTHROPIC_API_KEY")
            if not key:
                raise AuthError("no Anthropic API key", hint="set ANTHROPIC_API_KEY")
            self._client = anthropic.AsyncAnthropic(
                api_key=key,
                base_url=base_url(self._base_url),
                max_retries=0,
                timeout=self.timeout,
            )
        return self._client

    def model_id(self, name: str) -> str:
        """``name`` as sent to the API: bare tier aliases become the catalog's default model."""
        if name.strip().lower() in {t.value for t in Tier}:
            catalog = self._catalog or load_catalog()
            return catalog.default_for(Tier.parse(name)).id
        return name

    async def complete(self, request: ModelRequest) -> ModelResult:
        params = build_params(request, self.model_id(request.model))
        if self.pacer is not None:
            await self.pacer.acquire(
                input_tokens=request.estimated_input_tokens(), output_tokens=request.max_tokens
            )
        started = time.perf_counter()
        try:
            if self.stream:
                message, headers = await self._streamed(params, request.timeout)
            else:
                message, headers = await self._single(params, request.timeout)
        except (anthropic.AnthropicError, httpx2.TransportError) as err:
            self._observe(getattr(getattr(err, "response", None), "headers", None))
            raise map_error(err) from err
        latency_ms = round((time.perf_counter() - started) * 1000)
        snapshot = self._observe(headers)
        return ModelResult(
            text=message_text(message),
            usage=usage_from_api(message.get("usage") or {}),
            model=str(message.get("model") or params["model"]),
            latency_ms=latency_ms,
            stop_reason=message.get("stop_reason"),
            request_id=headers.get("request-id"),
            raw=message,
            ratelimit=snapshot,
            provider=self.name,
        )

    async def _single(
        self, params: dict[str, Any], timeout: float | None
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        """One JSON response. Its headers are read before its body, so a body that breaks off
        is told apart from a request that failed: the response was made, and is billed."""
        async with self.client.messages.with_streaming_response.create(
            **sdk_kwargs(params), timeout=timeout or self.timeout
        ) as raw:
            try:
                message = await raw.parse()
            except (anthropic.AnthropicError, httpx2.TransportError, ValueError) as err:
                raise ResponseDropped(
                    f"the response broke off before its end: {err}",
                    request_id=raw.headers.get("request-id"),
                ) from err
            return message.model_dump(mode="json"), raw.headers

    async def _streamed(
        self, params: dict[str, Any], timeout: float | None
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        raw = await self.client.messages.with_raw_response.create(
            **sdk_kwargs(params), stream=True, timeout=timeout or self.timeout
        )
        message: dict[str, Any] = {}
        text: list[str] = []
        finished = False
        try:
            async with await raw.parse() as events:
                async for event in events:
                    data = event.model_dump(mode="json")
                    if data["type"] == "message_start":
                        message = data["message"]
                    elif data["type"] == "content_block_delta" and "text" in data["delta"]:
                        text.append(data["delta"]["text"])
                    elif data["type"] == "message_delta":
                        message.update({k: v for k, v in data["delta"].items() if v is not None})
                        usage = message.setdefault("usage", {})
                        usage.update({k: v for k, v in data["usage"].items() if v is not None})
                    elif data["type"] == "message_stop":
                        finished = True
        except (anthropic.APIConnectionError, httpx2.TransportError) as err:
            raise self._dropped(f"the stream broke off: {err}", message, raw.headers) from err
        if not finished:
            raise self._dropped("the stream ended before message_stop", message, raw.headers)
        message["content"] = [{"type": "text", "text": "".join(text)}]
        return message, raw.headers

    @staticmethod
    def _dropped(why: str, message: Mapping[str, Any], headers: Mapping[str, str]) -> Exception:
        usage = message.get("usage")
        return ResponseDropped(
            why,
            usage=dict(usage) if isinstance(usage, Mapping) else None,
            request_id=headers.get("request-id"),
        )

    def _observe(self, headers: Mapping[str, str] | None) -> RateLimitSnapshot | None:
        snapshot = parse_ratelimit(headers) if headers is not None else None
        if self.pacer is not None:
            self.pacer.update(snapshot)
        return snapshot

    async def count_tokens(self, request: ModelRequest) -> int:
        """Input tokens by ``POST /v1/messages/count_tokens`` (free; own rate limit), asked once
        per distinct request: the answer is remembered by a digest of what is counted."""
        params = build_params(request, self.model_id(request.model))
        kwargs = {k: params[k] for k in ("model", "messages", "system") if k in params}
        digest = hashlib.sha256(
            json.dumps(kwargs, sort_keys=True, ensure_ascii=False, default=str).encode()
        ).hexdigest()
        known = self._counts.get(digest)
        if known is not None:
            self._counts.move_to_end(digest)
            return known
        try:
            counted = await self.client.messages.count_tokens(**kwargs)
        except anthropic.AnthropicError as err:
            raise map_error(err) from err
        tokens = int(counted.input_tokens)
        self._counts[digest] = tokens
        while len(self._counts) > self.COUNT_CACHE_SIZE:
            self._counts.popitem(last=False)
        return tokens

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    # -- Message Batches (50% off; results within 24 h) --------------------------------------
    async def submit_batch(self, items: Sequence[tuple[str, ModelRequest]]) -> str:
        return await batches.submit_batch(self, items)

    async def poll_batch(self, batch_id: str, **options: Any) -> BatchStatus:
        return await batches.poll_batch(self, batch_id, **options)

    async def collect_batch(self, batch_id: str) -> dict[str, BatchOutcome]:
        return await batches.collect_batch(self, batch_id)

    async def run_batch(
        self, items: Sequence[tuple[str, ModelRequest]], **options: Any
    ) -> dict[str, BatchOutcome]:
        return await batches.run_batch(self, items, **options)
