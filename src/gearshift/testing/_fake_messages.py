"""Message, usage, prompt-cache and SSE bodies for the fake Anthropic server.

Kept apart from the HTTP plumbing in :mod:`gearshift.testing.fake_anthropic` so the shapes the
SDK parses are in one readable place. Token counts are ``ceil(chars / 4)`` per text segment, so
the parts of a prompt always add up to its total.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CacheBook",
    "Reply",
    "batch_object",
    "error_body",
    "message_body",
    "sse_events",
    "status_for_error_type",
]

_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


@dataclass(frozen=True, slots=True)
class Reply:
    """A scripted reply. ``output_tokens`` defaults to the text's estimate."""

    text: str
    stop_reason: str = "end_turn"
    output_tokens: int | None = None


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def status_for_error_type(error_type: str) -> int:
    return _STATUS.get(error_type, 500)


def error_body(
    error_type: str, message: str, request_id: str | None, *, error_code: str | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if error_code is not None:
        error["details"] = {"error_code": error_code}
    return {"type": "error", "error": error, "request_id": request_id}


def _segments(body: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any] | None]]:
    """The prompt as (text, cache_control) pieces in cache-prefix order: tools, system, messages."""
    out: list[tuple[str, Mapping[str, Any] | None]] = []
    for tool in body.get("tools") or []:
        out.append((json.dumps(tool, sort_keys=True), tool.get("cache_control")))
    system = body.get("system")
    blocks: list[Any] = [system] if isinstance(system, str) else list(system or [])
    for message in body.get("messages") or []:
        content = message.get("content", "")
        blocks.extend([content] if isinstance(content, str) else content)
    for block in blocks:
        if isinstance(block, str):
            out.append((block, None))
        elif isinstance(block, Mapping):
            out.append((str(block.get("text", "")), block.get("cache_control")))
    if body.get("cache_control") and out:
        out[-1] = (out[-1][0], body["cache_control"])
    return out


class CacheBook:
    """The fake's prompt cache: prefixes written on first sight, read until their TTL ends."""

    def __init__(self, *, min_tokens: int = 0) -> None:
        self.min_tokens = min_tokens
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def prompt_tokens(self, body: Mapping[str, Any]) -> int:
        return sum(tokens(text) for text, _ in _segments(body))

    def usage(self, body: Mapping[str, Any]) -> dict[str, Any]:
        segments = _segments(body)
        total = sum(tokens(text) for text, _ in segments)
        marks = [i for i, (_, cc) in enumerate(segments) if cc]
        write = {"5m": 0, "1h": 0}
        read = 0
        if marks:
            prefix = segments[: marks[-1] + 1]
            prefix_tokens = sum(tokens(text) for text, _ in prefix)
            ttl = "1h" if (prefix[-1][1] or {}).get("ttl") == "1h" else "5m"
            if prefix_tokens >= self.min_tokens:
                key = hashlib.sha256(
                    json.dumps([body.get("model"), [t for t, _ in prefix]]).encode()
                ).hexdigest()
                now = time.monotonic()
                with self._lock:
                    hit = self._expiry.get(key, 0.0) > now
                    self._expiry[key] = now + _TTL_SECONDS[ttl]
                if hit:
                    read = prefix_tokens
                else:
                    write[ttl] = prefix_tokens
        return {
            "input_tokens": total - read - write["5m"] - write["1h"],
            "cache_creation_input_tokens": write["5m"] + write["1h"],
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": write["5m"],
                "ephemeral_1h_input_tokens": write["1h"],
            },
        }


def message_body(
    body: Mapping[str, Any], reply: Reply, cache: CacheBook, *, batch: bool = False
) -> dict[str, Any]:
    """The Messages API response for ``body``: stop sequences and ``max_tokens`` applied."""
    text, stop_reason, stop_sequence = reply.text, reply.stop_reason, None
    for sequence in body.get("stop_sequences") or []:
        at = text.find(sequence)
        if at >= 0:
            text, stop_reason, stop_sequence = text[:at], "stop_sequence", sequence
    output_tokens = reply.output_tokens if reply.output_tokens is not None else tokens(text)
    max_tokens = int(body.get("max_tokens", 1024))
    if output_tokens > max_tokens:
        text, output_tokens, stop_reason = text[: max_tokens * 4], max_tokens, "max_tokens"
    usage = cache.usage(body)
    usage["output_tokens"] = max(1, output_tokens)
    usage["service_tier"] = "batch" if batch else "standard"
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": body.get("model"),
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
    }


def _chunks(text: str, size: int = 24) -> Iterator[str]:
    for start in range(0, max(len(text), 1), size):
        yield text[start : start + size]


def sse_events(message: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The event sequence of a streamed ``message``; the first delta is at index 3."""
    usage = dict(message["usage"])
    start = dict(message, content=[], stop_reason=None, stop_sequence=None)
    start["usage"] = dict(usage, output_tokens=1)
    text = message["content"][0]["text"]
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    for piece in _chunks(text):
        delta = {"type": "text_delta", "text": piece}
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    final_usage = {k: v for k, v in usage.items() if k not in ("cache_creation", "service_tier")}
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": delta, "usage": final_usage}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def batch_object(state: Mapping[str, Any], base_url: str, *, ended: bool) -> dict[str, Any]:
    """The MessageBatch JSON for a fake batch ``state``."""
    results = state["results"]
    counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    if ended:
        for item in results:
            counts[item["result"]["type"]] += 1
    else:
        counts["processing"] = len(results)
    created: dt.datetime = state["created"]
    batch_id = state["id"]
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": "ended" if ended else "in_progress",
        "request_counts": counts,
        "created_at": _iso(created),
        "expires_at": _iso(created + dt.timedelta(hours=24)),
        "ended_at": _iso(dt.datetime.now(dt.UTC)) if ended else None,
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": f"{base_url}/v1/messages/batches/{batch_id}/results" if ended else None,
    }
