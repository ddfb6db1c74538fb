"""Reading usage from a response on the side, while its bytes are relayed untouched.

A streamed answer is parsed event by event from a copy of what was relayed: ``message_start``
gives the model and the first usage, each ``message_delta`` overwrites it (usage there is
cumulative: non-null fields win, as the official SDK reads it), ``content_block_delta`` events
are counted for an estimate should the stream be cut, and an ``error`` event is remembered. Other
events (``ping``, block starts and stops, thinking and tool-use deltas' content) are not decoded
beyond what the estimate needs. A JSON answer is read once it is complete.

A stream that ends before its final ``message_delta`` is billed as Anthropic's own gateway bills
one: output estimated at about four characters per token of what was already sent, so that
cutting a stream short does not evade a budget.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

__all__ = ["ResponseUsage", "StreamUsage", "json_usage"]

_CHARS_PER_TOKEN = 4
#: Bytes of a ``content_block_delta`` data line that are not content:
#: ``data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}``.
_DELTA_WRAPPING = 80


class _Delta(msgspec.Struct):
    stop_reason: str | None = None


class _Message(msgspec.Struct):
    id: str = ""
    model: str = ""
    usage: dict[str, Any] = {}
    stop_reason: str | None = None


class _Error(msgspec.Struct):
    type: str = ""
    message: str = ""


class _Event(msgspec.Struct):
    type: str = ""
    message: _Message | None = None
    delta: _Delta | None = None
    usage: dict[str, Any] | None = None
    error: _Error | None = None


_EVENT = msgspec.json.Decoder(_Event)
_MESSAGE = msgspec.json.Decoder(_Message)


class ResponseUsage:
    """What a response said about itself: served model, message id, usage, how it ended."""

    __slots__ = ("error", "estimated", "first_token_at", "message_id", "model", "stop_reason",
                 "usage")  # fmt: skip

    def __init__(self) -> None:
        self.model = ""
        self.message_id = ""
        self.usage: dict[str, Any] = {}
        self.stop_reason: str | None = None
        self.error: tuple[str, str] | None = None
        self.first_token_at: float | None = None
        self.estimated = False

    @property
    def complete(self) -> bool:
        """Whether the final usage arrived (a ``message_delta`` with a stop reason)."""
        return self.stop_reason is not None


class StreamUsage(ResponseUsage):
    """Feed it every chunk of an SSE body as relayed; read the fields afterwards."""

    __slots__ = ("_buffer", "_chars")

    def __init__(self) -> None:
        super().__init__()
        self._buffer = b""
        self._chars = 0

    def feed(self, chunk: bytes) -> None:
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        start = 0
        while (end := buffer.find(b"\n\n", start)) >= 0:
            self._event(buffer[start:end])
            start = end + 2
        self._buffer = buffer[start:]

    def finish(self) -> None:
        """The body ended: read a last event without its blank line, estimate if cut short."""
        if self._buffer.strip():
            self._event(self._buffer)
            self._buffer = b""
        if not self.complete:
            self.estimated = True
            out = -(-self._chars // _CHARS_PER_TOKEN)
            self.usage["output_tokens"] = max(int(self.usage.get("output_tokens") or 0), out)

    def _event(self, raw: bytes) -> None:
        at = raw.find(b"data:")
        if at < 0:
            return
        name = raw[:at]
        if b"content_block_delta" in name:
            # Counted, not decoded (most events of a stream are deltas): what an estimate needs
            # is the length of the text, thinking or JSON sent, less the event's own wrapping.
            self._chars += max(0, len(raw) - at - _DELTA_WRAPPING)
            if self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            return
        if b"ping" in name or b"content_block_st" in name:
            return
        try:
            event = _EVENT.decode(raw[at + 5 :])
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        kind = event.type
        if kind == "message_start" and event.message is not None:
            m = event.message
            self.model, self.message_id = m.model, m.id
            self.usage = dict(m.usage)
        elif kind == "message_delta":
            if event.usage:
                for key, value in event.usage.items():
                    if value is not None:
                        self.usage[key] = value
            if event.delta is not None and event.delta.stop_reason is not None:
                self.stop_reason = event.delta.stop_reason
        elif kind == "error" and event.error is not None:
            self.error = (event.error.type, event.error.message)


def json_usage(body: bytes) -> ResponseUsage:
    """The usage of a complete JSON Messages answer (empty when it is not one)."""
    found = ResponseUsage()
    try:
        message = _MESSAGE.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return found
    found.model, found.message_id, found.usage = message.model, message.id, message.usage
    found.stop_reason = message.stop_reason or ("" if message.usage else None)
    return found
