"""Injected failures of the fake Anthropic server (:class:`Fault`), shared by the server and its
HTTP handler."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gearshift.testing._fake_messages import status_for_error_type

__all__ = ["Fault"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected failure. Build with the class methods; ``path`` limits where it applies."""

    kind: str
    status: int = 500
    error_type: str = "api_error"
    message: str = "injected fault"
    retry_after: float | None = None
    delay: float = 0.0
    error_code: str | None = None
    path: str | None = "/v1/messages"

    def at(self, path: str | None) -> Fault:
        """This fault on another path (``None``: the next request on any path)."""
        return dataclasses.replace(self, path=path)

    @classmethod
    def rate_limit(cls, retry_after: float | None = 1.0) -> Fault:
        return cls("status", 429, "rate_limit_error", "Rate limited", retry_after)

    @classmethod
    def spend_limit(cls) -> Fault:
        return cls(
            "status",
            429,
            "rate_limit_error",
            "Spend limit reached",
            error_code="enforced_spend_limit_reached",
        )

    @classmethod
    def overloaded(cls) -> Fault:
        return cls("status", 529, "overloaded_error", "Overloaded")

    @classmethod
    def server_error(cls) -> Fault:
        return cls("status", 500, "api_error", "Internal server error")

    @classmethod
    def error(cls, status: int, error_type: str, message: str = "injected") -> Fault:
        """Any error status, e.g. ``Fault.error(401, "authentication_error")``."""
        return cls("status", status, error_type, message)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Answer normally, after ``seconds`` (longer than the client's timeout: a timeout)."""
        return cls("slow", delay=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Send the headers and part of the body, then close the connection."""
        return cls("drop")

    @classmethod
    def stream_error(cls, error_type: str = "overloaded_error") -> Fault:
        """A 200 SSE stream that breaks off with an ``error`` event after the first delta."""
        return cls("stream_error", status_for_error_type(error_type), error_type, "Overloaded")
