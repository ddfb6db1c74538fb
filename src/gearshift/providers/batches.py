"""Message Batches helpers for the ``anthropic`` provider: submit, poll, collect.

Batches cost half the standard input and output price and finish within 24 hours, which suits
work that can wait. Each request carries a ``custom_id``; results come back in any order, keyed
by it, as a :class:`BatchOutcome` holding either a :class:`~gearshift.providers.base.ModelResult`
priced at batch rates (``usage.batch`` is true) or the mapped error.

Submitting is never retried (a retried create could start a second, paid batch); polling and
collecting go through the one retry loop, so a 429 or 529 while waiting costs nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import anthropic

from gearshift.errors import ProviderError, ProviderTimeout
from gearshift.providers._wire import (
    error_for_status,
    message_text,
    status_for_type,
    usage_from_api,
)
from gearshift.providers.base import ModelRequest, ModelResult
from gearshift.providers.retry import RetryPolicy, call_with_retry
from gearshift.providers.sdk import build_params, map_error

__all__ = [
    "BatchClient",
    "BatchOutcome",
    "BatchStatus",
    "collect_batch",
    "poll_batch",
    "run_batch",
    "submit_batch",
]

Outcome = Literal["succeeded", "errored", "canceled", "expired"]


class BatchClient(Protocol):
    """What the batch calls need of a provider: the SDK client and model id resolution
    (:class:`~gearshift.providers.anthropic.AnthropicProvider` has both)."""

    name: str

    @property
    def client(self) -> anthropic.AsyncAnthropic: ...

    def model_id(self, tier_or_model: str) -> str: ...


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """A batch's processing state and per-outcome request counts."""

    id: str
    processing_status: str
    counts: Mapping[str, int] = field(default_factory=dict)
    latency_ms: int = 0

    @property
    def ended(self) -> bool:
        return self.processing_status == "ended"


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """One request's outcome: ``result`` when it succeeded, else ``error`` (if any)."""

    custom_id: str
    status: Outcome
    result: ModelResult | None = None
    error: ProviderError | None = None


async def submit_batch(provider: BatchClient, items: Sequence[tuple[str, ModelRequest]]) -> str:
    """Create a batch of ``(custom_id, request)`` pairs; return its id. Never retried."""
    ids = [custom_id for custom_id, _ in items]
    if len(set(ids)) != len(ids):
        raise ValueError("custom_id values in a batch must be unique")
    requests: list[Any] = [
        {"custom_id": custom_id, "params": build_params(request, provider.model_id(request.model))}
        for custom_id, request in items
    ]
    try:
        batch = await provider.client.messages.batches.create(requests=requests)
    except anthropic.AnthropicError as err:
        raise map_error(err) from err
    return batch.id


async def poll_batch(
    provider: BatchClient,
    batch_id: str,
    *,
    interval: float = 30.0,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> BatchStatus:
    """Wait until the batch has ended, checking every ``interval`` seconds.

    Raises ProviderTimeout after ``timeout`` seconds of waiting; the batch keeps running on the
    server, so calling this again (or :func:`collect_batch` later) is safe.
    """
    waited = 0.0
    while True:
        status = await call_with_retry(lambda: _status(provider, batch_id), retry, sleep=sleep)
        if status.ended:
            return status
        if timeout is not None and waited + interval > timeout:
            raise ProviderTimeout(
                f"batch {batch_id} still {status.processing_status} after {waited:.0f}s",
                hint="the batch continues server-side; collect it later by its id",
            )
        await sleep(interval)
        waited += interval


async def _status(provider: BatchClient, batch_id: str) -> BatchStatus:
    try:
        batch = await provider.client.messages.batches.retrieve(batch_id)
    except anthropic.AnthropicError as err:
        raise map_error(err) from err
    latency = 0
    if batch.ended_at is not None:
        latency = round((batch.ended_at - batch.created_at).total_seconds() * 1000)
    return BatchStatus(
        batch.id, batch.processing_status, batch.request_counts.model_dump(), max(0, latency)
    )


async def collect_batch(
    provider: BatchClient, batch_id: str, *, retry: RetryPolicy | None = None
) -> dict[str, BatchOutcome]:
    """Every result of an ended batch, by ``custom_id``."""
    status = await call_with_retry(lambda: _status(provider, batch_id), retry)
    return await call_with_retry(lambda: _results(provider, status), retry)


async def _results(provider: BatchClient, status: BatchStatus) -> dict[str, BatchOutcome]:
    outcomes: dict[str, BatchOutcome] = {}
    try:
        decoder = await provider.client.messages.batches.results(status.id)
        try:
            async for line in decoder:
                item = line.model_dump(mode="json")
                outcomes[item["custom_id"]] = _outcome(provider, item, status.latency_ms)
        finally:
            await decoder.close()
    except anthropic.AnthropicError as err:
        raise map_error(err) from err
    return outcomes


def _outcome(provider: BatchClient, item: Mapping[str, Any], latency_ms: int) -> BatchOutcome:
    custom_id, result = item["custom_id"], item["result"]
    kind: Outcome = result["type"]
    if kind == "succeeded":
        message = result["message"]
        model_result = ModelResult(
            text=message_text(message),
            usage=usage_from_api(message.get("usage") or {}, batch=True),
            model=str(message.get("model")),
            latency_ms=latency_ms,
            stop_reason=message.get("stop_reason"),
            raw=message,
            provider=provider.name,
        )
        return BatchOutcome(custom_id, kind, result=model_result)
    error = None
    if kind == "errored":
        body = result.get("error") or {}
        detail = body.get("error") or {}
        error = _error_from_body(detail)
    return BatchOutcome(custom_id, kind, error=error)


def _error_from_body(detail: Mapping[str, Any]) -> ProviderError:
    """A batch item's error object, mapped like a live response with that error type."""
    message = f"{detail.get('type', 'error')}: {detail.get('message', '')}"
    return error_for_status(status_for_type(detail.get("type")), message)


async def run_batch(
    provider: BatchClient,
    items: Sequence[tuple[str, ModelRequest]],
    *,
    interval: float = 30.0,
    timeout: float | None = None,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> dict[str, BatchOutcome]:
    """Submit, wait and collect; every ``custom_id`` of ``items`` is in the answer."""
    batch_id = await submit_batch(provider, items)
    await poll_batch(
        provider, batch_id, interval=interval, timeout=timeout, retry=retry, sleep=sleep
    )
    outcomes = await collect_batch(provider, batch_id, retry=retry)
    for custom_id, _ in items:
        outcomes.setdefault(custom_id, BatchOutcome(custom_id, "expired"))
    return outcomes
