"""A fake Anthropic Messages API: a real HTTP server on 127.0.0.1 for tests, demos and benchmarks.

It speaks enough of the API for the official SDK to talk to it unchanged::

    with FakeAnthropic() as server:
        client = AsyncAnthropic(api_key="test", base_url=server.base_url, max_retries=0)

Endpoints: ``POST /v1/messages`` (JSON, or SSE when ``stream`` is true), ``POST
/v1/messages/count_tokens``, the Message Batches endpoints (create, retrieve, results as
JSONL, cancel), and the Admin API's usage, cost and Claude Code reports of
``server.organisation`` (an :class:`Organisation`; see :mod:`gearshift.testing._fake_admin`),
checked against ``admin_key`` when it is set. Every response carries ``request-id`` and the
four ``anthropic-ratelimit-*`` families; usage includes the cache fields (a prefix marked with
``cache_control`` is written on first sight -- split by TTL -- and read afterwards).

Faults, for ``/v1/messages`` unless a :class:`Fault` names another path, come from

* a scripted queue: ``server.script(Fault.rate_limit(retry_after=2), Fault.overloaded())`` --
  each request takes the next fault, then requests succeed again;
* rates: ``server.fault_rates = {"rate_limit": 0.1, "overloaded": 0.1}``, drawn from a seeded RNG;
* enforced rate limits: ``server.limits = RateLimits(requests=2, window=0.5, enforce=True)``.

Replies come from ``reply``, a callable taking the request body and returning text or a
:class:`Reply`; the default is deterministic. ``server.requests`` records every request
(method, path, headers, JSON body), ``server.counts`` counts them by path and
``server.statuses`` counts the statuses sent and ``server.billed`` lists every message the
server made -- what the real API would bill, a response cut off mid-body included (see
:class:`Billed`). Other knobs: ``latency`` (seconds added to every
response), ``batch_polls`` (how many retrieves still see a new batch ``in_progress``),
``fail_custom_ids`` (batch items that come back ``errored``), ``cache.min_tokens``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import socket
import sys
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from gearshift.testing._fake_admin import (
    Call,
    ClaudeCodeUse,
    CodeExecution,
    Organisation,
)
from gearshift.testing._fake_faults import Fault
from gearshift.testing._fake_http import FakeServer, Handler, RecordedRequest
from gearshift.testing._fake_messages import (
    CacheBook,
    Reply,
    batch_object,
    error_body,
    message_body,
)

__all__ = [
    "RATE_FAULT_KINDS",
    "Billed",
    "Call",
    "ClaudeCodeUse",
    "CodeExecution",
    "FakeAnthropic",
    "Fault",
    "Organisation",
    "RateLimits",
    "RecordedRequest",
    "Reply",
    "claude_code_events",
    "models_page",
]

ReplyFn = Callable[[Mapping[str, Any]], "str | Reply"]


@dataclass(frozen=True, slots=True)
class Billed:
    """One message the server made: its request id, its usage as sent, and whether the client
    got all of it (``False``: the body or stream was cut off -- still billable)."""

    request_id: str
    model: str
    usage: Mapping[str, Any]
    delivered: bool


#: The fault kinds ``fault_rates`` accepts.
RATE_FAULT_KINDS = ("rate_limit", "overloaded", "server_error", "drop", "slow")


@dataclass(slots=True)
class RateLimits:
    """Per-window limits reported in headers (and enforced with 429 when ``enforce``)."""

    requests: int = 4000
    input_tokens: int = 2_000_000
    output_tokens: int = 400_000
    window: float = 60.0
    enforce: bool = False


def default_reply(body: Mapping[str, Any]) -> str:
    """A deterministic reply echoing the start of the last user message."""
    messages = body.get("messages") or [{}]
    content = messages[-1].get("content", "")
    if not isinstance(content, str):
        content = " ".join(b.get("text", "") for b in content if isinstance(b, dict))
    return f"Fake reply from {body.get('model', '?')}: {content[:80]}"


@dataclass
class _Window:
    start: dt.datetime
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class FakeAnthropic:
    """The server. Start it with ``with`` (or :meth:`start`/:meth:`close`)."""

    def __init__(
        self,
        *,
        reply: ReplyFn | None = None,
        seed: int = 0,
        api_key: str | None = None,
        organisation: Organisation | None = None,
        admin_key: str | None = None,
    ) -> None:
        self.reply: ReplyFn = reply or default_reply
        self.api_key = api_key
        self.organisation = organisation
        self.admin_key = admin_key
        self.limits = RateLimits()
        self._fault_rates: dict[str, float] = {}
        self.rate_limit_retry_after: float | None = 1.0
        self.slow_seconds = 1.0
        self.latency = 0.0
        self.batch_polls = 1
        self.fail_custom_ids: set[str] = set()
        self.requests: list[RecordedRequest] = []
        self.counts: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.billed: list[Billed] = []
        self.cache = CacheBook()
        #: Gateway tests: the SSE events of a streamed message (default: text only, see
        #: :func:`claude_code_events` for thinking and tool use) and a pause between events.
        self.stream_events: Callable[[dict[str, Any]], list[tuple[str, dict[str, Any]]]] | None = (
            None
        )
        self.stream_delay = 0.0
        self._queue: list[Fault] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ids = 0
        self._window = _Window(_now())
        self._batches: dict[str, dict[str, Any]] = {}
        self._conns: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the fake server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, port: int = 0) -> FakeAnthropic:
        """Serve on 127.0.0.1 (``port`` 0: any free port; see :attr:`base_url`)."""
        server: FakeServer = self  # checked: what the handler uses, the server has
        handler = type("_BoundHandler", (Handler,), {"fake": server})
        self._httpd = _Server(("127.0.0.1", port), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, cut open connections and join every thread."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._closing.set()
        httpd.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- scripting ---------------------------------------------------------------------------
    @property
    def fault_rates(self) -> dict[str, float]:
        """Per-request chances of a fault on ``/v1/messages``, e.g. ``{"rate_limit": 0.1}``.

        Kinds: :data:`RATE_FAULT_KINDS`. Drawn from the server's seeded RNG, so the sequence of
        faults is reproducible for a sequential client. A drawn 429 says
        ``retry-after: rate_limit_retry_after``; a drawn slow answer waits ``slow_seconds``.
        """
        return dict(self._fault_rates)

    @fault_rates.setter
    def fault_rates(self, rates: Mapping[str, float]) -> None:
        unknown = set(rates) - set(RATE_FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; use {RATE_FAULT_KINDS}")
        if sum(rates.values()) > 1 or min(rates.values(), default=0) < 0:
            raise ValueError("fault rates must be >= 0 and sum to at most 1")
        with self._lock:
            self._fault_rates = dict(rates)

    def script(self, *faults: Fault) -> None:
        """Queue faults; each matching request takes the next one."""
        with self._lock:
            self._queue.extend(faults)

    @property
    def request_count(self) -> int:
        return len(self.requests)

    def bodies(self, path: str = "/v1/messages") -> list[Any]:
        """The JSON bodies received on ``path``, in order."""
        return [r.body for r in self.requests if r.path == path]

    def models_page(self) -> dict[str, Any]:
        """``GET /v1/models``: a few models in the API's list shape."""
        return models_page()

    # -- internals used by the handler -----------------------------------------------------
    def _record(self, request: RecordedRequest) -> str:
        with self._lock:
            self.requests.append(request)
            self.counts[request.path] += 1
            self._ids += 1
            return f"req_fake_{self._ids:06d}"

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._queue):
                if fault.path is None or fault.path == path:
                    return self._queue.pop(i)
            if path != "/v1/messages":
                return None
            draw = self._rng.random()
            for kind, rate in sorted(self._fault_rates.items()):
                if draw < rate:
                    return self._rate_fault(kind)
                draw -= rate
        return None

    def _rate_fault(self, kind: str) -> Fault:
        if kind == "rate_limit":
            return Fault.rate_limit(self.rate_limit_retry_after)
        if kind == "slow":
            return Fault.slow(self.slow_seconds)
        made: Fault = getattr(Fault, kind)()
        return made

    def _admit(self, input_tokens: int) -> float | None:
        """Count a request against the window; seconds to wait when an enforced limit is hit."""
        with self._lock:
            self._roll_window()
            w, lim = self._window, self.limits
            if lim.enforce and (
                w.requests + 1 > lim.requests or w.input_tokens + input_tokens > lim.input_tokens
            ):
                return max(0.0, (self._reset_at() - _now()).total_seconds())
            w.requests += 1
            w.input_tokens += input_tokens
            return None

    def _bill(self, request_id: str, message: Mapping[str, Any], delivered: bool) -> None:
        with self._lock:
            usage = dict(message["usage"])
            self.billed.append(Billed(request_id, str(message.get("model")), usage, delivered))

    def _spend_output(self, output_tokens: int) -> None:
        with self._lock:
            self._window.output_tokens += output_tokens

    def _roll_window(self) -> None:
        if _now() >= self._reset_at():
            self._window = _Window(_now())

    def _reset_at(self) -> dt.datetime:
        return self._window.start + dt.timedelta(seconds=self.limits.window)

    def _ratelimit_headers(self) -> dict[str, str]:
        with self._lock:
            self._roll_window()
            w, lim = self._window, self.limits
            reset = _rfc3339(self._reset_at())
            total = lim.input_tokens + lim.output_tokens
            used = {
                "requests": (lim.requests, w.requests),
                "tokens": (total, w.input_tokens + w.output_tokens),
                "input-tokens": (lim.input_tokens, w.input_tokens),
                "output-tokens": (lim.output_tokens, w.output_tokens),
            }
        headers = {}
        for name, (limit, spent) in used.items():
            prefix = f"anthropic-ratelimit-{name}-"
            headers[prefix + "limit"] = str(limit)
            headers[prefix + "remaining"] = str(max(0, limit - spent))
            headers[prefix + "reset"] = reset
        return headers

    def _make_reply(self, body: Mapping[str, Any]) -> Reply:
        reply = self.reply(body)
        return reply if isinstance(reply, Reply) else Reply(reply)

    def _create_batch(self, body: Mapping[str, Any]) -> dict[str, Any]:
        results = []
        for item in body.get("requests", []):
            custom_id, params = item["custom_id"], item["params"]
            if custom_id in self.fail_custom_ids:
                err = error_body("invalid_request_error", "injected batch item error", None)
                result: dict[str, Any] = {"type": "errored", "error": err}
            else:
                message = message_body(params, self._make_reply(params), self.cache, batch=True)
                result = {"type": "succeeded", "message": message}
            results.append({"custom_id": custom_id, "result": result})
        with self._lock:
            batch_id = f"msgbatch_fake_{len(self._batches) + 1:04d}"
            state = {
                "id": batch_id,
                "created": _now(),
                "polls": 0,
                "results": results,
                "canceled": False,
            }
            self._batches[batch_id] = state
        return batch_object(state, self.base_url, ended=False)

    def _batch(self, batch_id: str, *, poll: bool) -> dict[str, Any] | None:
        with self._lock:
            state = self._batches.get(batch_id)
            if state is None:
                return None
            if poll:
                state["polls"] += 1
            ended = state["canceled"] or state["polls"] > self.batch_polls
        return batch_object(state, self.base_url, ended=ended)

    def _cancel_batch(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            state = self._batches.get(batch_id)
            if state is not None and state["polls"] <= self.batch_polls:
                state["canceled"] = True
                for item in state["results"]:
                    item["result"] = {"type": "canceled"}
        return self._batch(batch_id, poll=False)


class _Server(ThreadingHTTPServer):
    """Handler threads are joined on close, so no test leaks a thread or a socket."""

    daemon_threads = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about a client that went away mid-request (killed, or timed out): what a real
        server shrugs off; anything else is reported as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _rfc3339(moment: dt.datetime) -> str:
    """RFC 3339 in UTC, rounded *up* to the millisecond so a client never wakes too early."""
    rounded = moment + dt.timedelta(microseconds=(-moment.microsecond) % 1000)
    return rounded.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- gateway tests: Claude Code shaped streams and model discovery ---------------------------


def models_page() -> dict[str, Any]:
    """The ``GET /v1/models`` answer: ``data[]`` with ``id``, ``display_name``, ``created_at``."""
    ids = ("claude-opus-4-8", "claude-sonnet-4-6", "claude-haiku-4-5-20251001")
    data = [
        {"type": "model", "id": i, "display_name": i.replace("-", " ").title(),
         "created_at": "2026-01-01T00:00:00Z"}
        for i in ids
    ]  # fmt: skip
    return {"data": data, "has_more": False, "first_id": ids[0], "last_id": ids[-1]}


def claude_code_events(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The events of a turn as Claude Code gets them: a thinking block (thinking deltas, then a
    signature), a text block, a ``tool_use`` block streamed as partial JSON, pings between, and
    a ``message_delta`` whose cumulative usage ends the turn with ``stop_reason: tool_use``.
    Use as ``server.stream_events = claude_code_events``."""
    usage = dict(message["usage"])
    start = dict(message, content=[], stop_reason=None, stop_sequence=None)
    start["usage"] = dict(usage, output_tokens=1)
    text = message["content"][0]["text"]

    def delta(index: int, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_delta", {"type": "content_block_delta", "index": index,
                                       "delta": payload}  # fmt: skip

    def block(index: int, content: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_start", {"type": "content_block_start", "index": index,
                                       "content_block": content}  # fmt: skip

    def stop(index: int) -> tuple[str, dict[str, Any]]:
        return "content_block_stop", {"type": "content_block_stop", "index": index}

    tool_input = '{"command": "ls -la src/", "description": "List the sources"}'
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        block(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "The user wants the files listed. "}),
        ("ping", {"type": "ping"}),
        delta(0, {"type": "thinking_delta", "thinking": "I will run ls."}),
        delta(0, {"type": "signature_delta", "signature": "EqQBCkYIBxgCKkD" + "x" * 40}),
        stop(0),
        block(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": text}),
        stop(1),
        block(2, {"type": "tool_use", "id": "toolu_01Fake", "name": "Bash", "input": {}}),
        delta(2, {"type": "input_json_delta", "partial_json": ""}),
        delta(2, {"type": "input_json_delta", "partial_json": tool_input[:20]}),
        delta(2, {"type": "input_json_delta", "partial_json": tool_input[20:]}),
        stop(2),
        ("ping", {"type": "ping"}),
    ]
    final = {k: v for k, v in usage.items() if k not in ("cache_creation", "service_tier")}
    final["output_tokens"] = usage["output_tokens"] + 40
    events += [
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                           "usage": final}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return events
