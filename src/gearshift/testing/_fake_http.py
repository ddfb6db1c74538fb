"""The HTTP side of the fake Anthropic server: routing, faults on the wire, SSE framing.

HTTP/1.1 with keep-alive, as the SDK's connection pool expects: every response has a
``content-length`` except SSE streams, which use chunked encoding, so a dropped connection
mid-body is a protocol error the client notices.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, Protocol

from gearshift.testing._fake_admin import ROUTES as ADMIN_ROUTES
from gearshift.testing._fake_admin import AdminError
from gearshift.testing._fake_faults import Fault
from gearshift.testing._fake_messages import error_body, message_body, sse_events

if TYPE_CHECKING:
    import threading
    from collections import Counter
    from collections.abc import Callable

    from gearshift.testing._fake_admin import Organisation
    from gearshift.testing._fake_messages import CacheBook, Reply

__all__ = ["FakeServer", "Handler", "RecordedRequest"]


class FakeServer(Protocol):
    """What the handler needs of the server whose requests it answers
    (:class:`~gearshift.testing.fake_anthropic.FakeAnthropic` has it): its settings, counters
    and state, and the steps of an answer. Named here so this module does not import it."""

    api_key: str | None
    admin_key: str | None
    organisation: Organisation | None
    latency: float
    statuses: Counter[int]
    cache: CacheBook
    stream_events: Callable[[dict[str, Any]], list[tuple[str, dict[str, Any]]]] | None
    stream_delay: float
    _lock: threading.Lock
    _closing: threading.Event
    _batches: dict[str, dict[str, Any]]
    _conns: set[socket.socket]

    def models_page(self) -> dict[str, Any]: ...
    def _record(self, request: RecordedRequest) -> str: ...
    def _next_fault(self, path: str) -> Fault | None: ...
    def _admit(self, input_tokens: int) -> float | None: ...
    def _bill(self, request_id: str, message: Mapping[str, Any], delivered: bool) -> None: ...
    def _spend_output(self, output_tokens: int) -> None: ...
    def _ratelimit_headers(self) -> dict[str, str]: ...
    def _make_reply(self, body: Mapping[str, Any]) -> Reply: ...
    def _create_batch(self, body: Mapping[str, Any]) -> dict[str, Any]: ...
    def _batch(self, batch_id: str, *, poll: bool) -> dict[str, Any] | None: ...
    def _cancel_batch(self, batch_id: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake received it (headers lower-cased, body parsed from JSON, query
    parameters as lists of values)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any
    query: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @property
    def api_key(self) -> str | None:
        return _api_key(self.headers)


def _api_key(headers: Mapping[str, str]) -> str | None:
    """The key from ``x-api-key`` or, as the 2.x SDK sends it, ``authorization: Bearer``."""
    bearer = headers.get("authorization", "")
    return headers.get("x-api-key") or (bearer[7:] if bearer.startswith("Bearer ") else None)


class Handler(BaseHTTPRequestHandler):
    """One connection's requests; ``fake`` is bound per server by a subclass."""

    fake: FakeServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    request_id = ""
    query: Mapping[str, Sequence[str]] = {}  # replaced per request, never mutated

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read ``server.requests`` instead of a log."""

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake._conns.add(self.connection)
        if self.fake._closing.is_set():  # close() ran before this connection was registered
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        with self.fake._lock:
            self.fake._conns.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._dispatch(None)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        self._dispatch(body)

    def _dispatch(self, body: Any) -> None:
        path, _, raw_query = self.path.partition("?")
        path = path.rstrip("/")
        query = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.query = query
        recorded = RecordedRequest(self.command, path, headers, body, query)
        self.request_id = self.fake._record(recorded)
        if self.fake.latency:
            self.fake._closing.wait(self.fake.latency)
        admin = path.startswith("/v1/organizations/")
        expected = self.fake.admin_key if admin else self.fake.api_key
        if expected is not None and _api_key(headers) != expected:
            self._error(401, "authentication_error", "invalid x-api-key")
            return
        fault = self.fake._next_fault(path)
        if fault is not None and fault.kind == "slow":
            self.fake._closing.wait(fault.delay)
            fault = None
        if fault is not None and fault.kind == "status":
            self._error(
                fault.status,
                fault.error_type,
                fault.message,
                retry_after=fault.retry_after,
                error_code=fault.error_code,
            )
            return
        self._route(self.command, path, body, fault)

    def _route(self, method: str, path: str, body: Any, fault: Fault | None) -> None:
        parts = path.strip("/").split("/")
        if method == "GET" and path in ADMIN_ROUTES:
            self._admin(path)
        elif method == "POST" and path == "/v1/messages":
            self._messages(body, fault)
        elif method == "POST" and path == "/v1/messages/count_tokens":
            if not isinstance(body, dict) or "messages" not in body:
                self._error(400, "invalid_request_error", "messages: field required")
                return
            self._json(200, {"input_tokens": self.fake.cache.prompt_tokens(body)})
        elif method == "GET" and path == "/v1/models":
            self._json(200, self.fake.models_page())
        elif method == "POST" and path == "/v1/messages/batches":
            self._json(200, self.fake._create_batch(body or {}))
        elif parts[:3] == ["v1", "messages", "batches"] and len(parts) in (4, 5):
            self._batches(method, parts)
        else:
            self._error(404, "not_found_error", f"no route for {method} {path}")

    def _admin(self, path: str) -> None:
        """An Admin API report of ``fake.organisation`` (404 when the fake has none)."""
        org = self.fake.organisation
        if org is None:
            self._error(404, "not_found_error", "this fake server has no organisation")
            return
        query = self.query
        betas = [b.strip() for b in self.headers.get("anthropic-beta", "").split(",") if b.strip()]
        try:
            if path.endswith("/messages"):
                body = ADMIN_ROUTES[path](org, query, betas)
            else:
                body = ADMIN_ROUTES[path](org, query)
        except AdminError as exc:
            self._error(exc.status, exc.error_type, str(exc))
            return
        self._json(200, body)

    def _batches(self, method: str, parts: list[str]) -> None:
        batch_id, action = parts[3], (parts[4] if len(parts) == 5 else "")
        fake = self.fake
        if method == "POST" and action == "cancel":
            batch = fake._cancel_batch(batch_id)
        else:
            batch = fake._batch(batch_id, poll=(method == "GET" and not action))
        if batch is None:
            self._error(404, "not_found_error", f"no batch {batch_id}")
        elif method == "GET" and action == "results":
            if batch["processing_status"] != "ended":
                self._error(400, "invalid_request_error", "batch is still in progress")
                return
            lines = fake._batches[batch_id]["results"]
            data = "".join(json.dumps(line) + "\n" for line in lines).encode()
            self._send(200, data, "application/binary")
        else:
            self._json(200, batch)

    def _messages(self, body: Any, fault: Fault | None) -> None:
        if not isinstance(body, dict) or not {"model", "max_tokens", "messages"} <= body.keys():
            self._error(400, "invalid_request_error", "model, max_tokens and messages are required")
            return
        wait = self.fake._admit(self.fake.cache.prompt_tokens(body))
        if wait is not None:
            self._error(429, "rate_limit_error", "rate limit exceeded", retry_after=math.ceil(wait))
            return
        message = message_body(body, self.fake._make_reply(body), self.fake.cache)
        message["id"] = "msg_" + self.request_id
        self.fake._spend_output(message["usage"]["output_tokens"])
        streamed = bool(body.get("stream"))
        if not (fault is not None and fault.kind == "stream_error" and not streamed):
            cut = fault is not None and fault.kind in ("drop", "stream_error")
            self.fake._bill(self.request_id, message, delivered=not cut)  # a 200 goes out
        if streamed:
            self._stream(message, fault)
            return
        data = json.dumps(message).encode()
        if fault is not None and fault.kind == "stream_error":
            self._error(fault.status, fault.error_type, fault.message)
        elif fault is not None and fault.kind == "drop":
            self._send_head(200, "application/json", len(data))
            self.wfile.write(data[: len(data) // 2])
            self._cut()
        else:
            self._send(200, data, "application/json")

    def _stream(self, message: dict[str, Any], fault: Fault | None) -> None:
        with self.fake._lock:
            self.fake.statuses[200] += 1
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self._common_headers()
        self.end_headers()
        events = (self.fake.stream_events or sse_events)(message)
        for i, (event, data) in enumerate(events):
            if i and self.fake.stream_delay:
                self.fake._closing.wait(self.fake.stream_delay)
            if fault is not None and i == 4:
                if fault.kind == "drop":
                    self._cut()
                    return
                err = error_body(fault.error_type, fault.message, self.request_id)
                self._chunk(f"event: error\ndata: {json.dumps(err)}\n\n")
                break
            self._chunk(f"event: {event}\ndata: {json.dumps(data)}\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _cut(self) -> None:
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _error(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        retry_after: float | None = None,
        error_code: str | None = None,
    ) -> None:
        body = error_body(error_type, message, self.request_id, error_code=error_code)
        extra = {"retry-after": _seconds(retry_after)} if retry_after is not None else {}
        self._send(status, json.dumps(body).encode(), "application/json", extra)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(
        self, status: int, data: bytes, ctype: str, extra: Mapping[str, str] | None = None
    ) -> None:
        self._send_head(status, ctype, len(data), extra)
        self.wfile.write(data)

    def _send_head(
        self, status: int, ctype: str, length: int, extra: Mapping[str, str] | None = None
    ) -> None:
        with self.fake._lock:
            self.fake.statuses[status] += 1
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(length))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self._common_headers()
        self.end_headers()

    def _common_headers(self) -> None:
        self.send_header("request-id", self.request_id)
        for name, value in self.fake._ratelimit_headers().items():
            self.send_header(name, value)


def _seconds(value: float) -> str:
    """A ``retry-after`` value: whole seconds as the API sends them, unless scripted finer."""
    return str(int(value)) if value == int(value) else f"{value:g}"
