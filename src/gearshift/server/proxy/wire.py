"""The Messages API as the proxy reads it: the few request fields it needs, and error answers
in Anthropic's shape.

A request body is decoded once into :class:`RequestHead`, which names only what metering,
budgets and routing need (msgspec skips the rest without building it: a Claude Code body is
often hundreds of kilobytes of conversation). Errors the proxy makes itself look exactly like
the API's own (``{"type":"error","error":{"type","message"},"request_id"}``), because Claude Code
reads the type and the wording to decide what to do.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gearshift.ledger.ids import new_id

__all__ = [
    "JSON",
    "Metadata",
    "RequestHead",
    "decode_head",
    "error_body",
    "error_headers",
    "local_request_id",
]

JSON = b"application/json"


class Metadata(msgspec.Struct):
    user_id: str | None = None


class RequestHead(msgspec.Struct):
    """The fields of a ``POST /v1/messages`` body the proxy reads (all others pass untouched)."""

    model: str
    max_tokens: int
    stream: bool = False
    metadata: Metadata | None = None


_HEAD = msgspec.json.Decoder(RequestHead)


class BadRequest(Exception):
    """A body the proxy cannot read; ``message`` is the API-style explanation."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def decode_head(body: bytes) -> RequestHead:
    """The head of a Messages request, or :class:`BadRequest` saying what is wrong."""
    try:
        head = _HEAD.decode(body)
    except msgspec.ValidationError as exc:
        raise BadRequest(_api_wording(str(exc))) from None
    except msgspec.DecodeError:
        raise BadRequest("The request body is not valid JSON.") from None
    if head.max_tokens < 1:
        raise BadRequest("max_tokens: Input should be greater than or equal to 1")
    return head


def _api_wording(problem: str) -> str:
    """msgspec's ``Object missing required field `model``` in the API's words."""
    if problem.startswith("Object missing required field `"):
        return f"{problem.split('`')[1]}: Field required"
    return problem.replace(" - at `$.", ": at ").replace("`", "")


def local_request_id() -> str:
    """A request id for answers the proxy makes itself (never confused with Anthropic's)."""
    return "req_gearshift_" + new_id()


def error_body(error_type: str, message: str, request_id: str) -> bytes:
    payload: dict[str, Any] = {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }
    return msgspec.json.encode(payload)


def error_headers(
    request_id: str, extra: list[tuple[bytes, bytes]] | None = None
) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", JSON), (b"request-id", request_id.encode())]
    return headers + (extra or [])
