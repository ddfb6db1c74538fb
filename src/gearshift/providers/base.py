"""The provider contract: one request shape, one result shape, one async Protocol.

Every way gearshift calls a model (the Anthropic API, the Claude Code CLI, the offline simulator)
is a :class:`Provider`: ``await provider.complete(request)`` makes *one* attempt and either returns
a :class:`ModelResult` or raises a :class:`~gearshift.errors.ProviderError` subclass, mapped once
inside the provider. Retrying is not a provider's job: the one retry loop lives in
:mod:`gearshift.providers.retry` and wraps any provider, so every strategy gets the same policy.

Everything is async inside; :class:`SyncProvider` is the one thin synchronous facade.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, Protocol, runtime_checkable

from gearshift.catalog import Usage
from gearshift.providers.pacing import RateLimitSnapshot

__all__ = [
    "CacheTTL",
    "ModelRequest",
    "ModelResult",
    "Provider",
    "SyncProvider",
    "estimate_tokens",
    "input_token_bound",
    "message_text",
]

CacheTTL = Literal["5m", "1h"]

#: A rough characters-per-token ratio for English prose and code; used only for estimates.
CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """A quick token estimate (``ceil(len / 4)``) where no tokenizer is available; for display
    and planning only -- never a bound (CJK, code and base64 run two to four times denser)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


#: Tokens around each message (role and turn markers) and around the request as a whole.
MESSAGE_FRAMING_TOKENS = 16
REQUEST_FRAMING_TOKENS = 64
#: The most an image costs: the API scales a larger one down to about 1,600 tokens.
IMAGE_TOKENS = 1_600
#: The most a PDF page costs: its text plus an image of the page.
PDF_PAGE_TOKENS = 3_000
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")


def input_token_bound(request: ModelRequest) -> int:
    """An upper bound on the input tokens of ``request`` that no text can exceed.

    A Claude tokenizer's every token covers at least one byte of UTF-8, so the bytes of the
    system prompt and the messages, plus a generous allowance for message framing, bound the
    text; an image counts as the most the API charges for one, a PDF as the most per page. What
    budgets reserve when the provider cannot count tokens itself: chars / 4 underestimates CJK,
    code and base64 by a factor of two to four.
    """
    total = REQUEST_FRAMING_TOKENS + len((request.system or "").encode("utf-8"))
    for message in request.messages:
        total += MESSAGE_FRAMING_TOKENS
        content = message.get("content", "")
        blocks = [content] if isinstance(content, str) else content
        for block in blocks if isinstance(blocks, Sequence) else ():
            total += _block_bound(block)
    return total


def _block_bound(block: object) -> int:
    if isinstance(block, str):
        return len(block.encode("utf-8"))
    if not isinstance(block, Mapping):
        return len(repr(block).encode("utf-8"))
    kind = block.get("type")
    if kind == "text":
        return len(str(block.get("text", "")).encode("utf-8"))
    if kind == "image":
        return IMAGE_TOKENS
    source = block.get("source")
    if kind == "document" and isinstance(source, Mapping) and source.get("type") == "base64":
        try:
            pdf = base64.b64decode(str(source.get("data", "")), validate=False)
        except (binascii.Error, ValueError):
            pdf = b""
        pages = max(1, len(_PDF_PAGE.findall(pdf)))
        return pages * PDF_PAGE_TOKENS + len(pdf)
    return len(json.dumps(block, ensure_ascii=False, default=str).encode("utf-8"))


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One model call, independent of the provider that makes it.

    ``model`` is a model id or a bare tier alias (``haiku``/``sonnet``/``opus``), which providers
    resolve through the catalog. ``messages`` use the Messages API shape
    (``{"role": "user", "content": "..."}``; content may also be a list of blocks).

    ``cache_system`` asks the provider to mark the system prompt as a prompt-cache breakpoint
    with ``cache_ttl``; it is a hint -- providers that cannot cache ignore it.

    ``metadata`` is gearshift's own side channel and is *not* sent to the model: task id, chain
    id, ``attempt`` number and the task's ``complexity`` (which the simulator reads). The
    Anthropic provider forwards only ``metadata["user_id"]``, the one field the API accepts.

    ``agents`` are sub-agent definitions in Claude Code's ``--agents`` JSON shape; only
    providers that run agents (``claude-code``) use them.
    """

    model: str
    messages: tuple[Mapping[str, Any], ...]
    system: str | None = None
    max_tokens: int = 4096
    temperature: float | None = None
    cache_system: bool = False
    cache_ttl: CacheTTL = "5m"
    stop_sequences: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    agents: Mapping[str, Mapping[str, Any]] | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        given: Sequence[Mapping[str, Any]] = self.messages
        if not isinstance(given, tuple):  # a caller's list: freeze it
            object.__setattr__(self, "messages", tuple(given))
        if not self.messages:
            raise ValueError("a ModelRequest needs at least one message")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if self.cache_ttl not in ("5m", "1h"):
            raise ValueError(f"cache_ttl must be '5m' or '1h', not {self.cache_ttl!r}")

    @classmethod
    def user(
        cls, prompt: str, *, model: str, system: str | None = None, **options: Any
    ) -> ModelRequest:
        """A single-turn request: one user message with ``prompt``."""
        return cls(
            model=model, messages=({"role": "user", "content": prompt},), system=system, **options
        )

    @property
    def prompt(self) -> str:
        """The text of every message, joined: what simulators and estimators look at."""
        return "\n\n".join(message_text(m) for m in self.messages)

    @property
    def attempt(self) -> int:
        """The strategy's attempt number from ``metadata`` (1 when not given)."""
        value = self.metadata.get("attempt", 1)
        return value if isinstance(value, int) else 1

    def estimated_input_tokens(self) -> int:
        """A chars/4 estimate, for pacing and display; budgets use :func:`input_token_bound`."""
        return estimate_tokens((self.system or "") + self.prompt)


def message_text(message: Mapping[str, Any]) -> str:
    """The text of one message whether ``content`` is a string or a list of blocks."""
    content = message.get("content", "")
    if isinstance(content, str):
        return content
    parts: list[str] = []
    if isinstance(content, Sequence):
        for block in content:
            if isinstance(block, Mapping) and isinstance(block.get("text"), str):
                parts.append(block["text"])
    return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class ModelResult:
    """What one successful call produced, with everything the ledger needs to price it.

    ``usage`` is the main model's token usage as a catalog :class:`~gearshift.catalog.Usage`
    (cache writes split by TTL; ``batch=True`` for Message Batches results), so
    ``catalog.cost(result.model, result.usage)`` is the exact cost. ``by_model`` breaks usage
    down when one call used several models (Claude Code's helper and sub-agent models).
    ``reported_cost_usd`` is the provider's own figure when it states one (Claude Code's
    client-side estimate), kept for comparison and never used for billing.
    """

    text: str
    usage: Usage
    model: str
    latency_ms: int
    stop_reason: str | None = None
    request_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    ratelimit: RateLimitSnapshot | None = field(default=None, repr=False)
    provider: str = ""
    by_model: Mapping[str, Usage] = field(default_factory=dict)
    reported_cost_usd: Decimal | None = None


@runtime_checkable
class Provider(Protocol):
    """A way to call a model. Each call is one attempt; errors come from the error tree."""

    name: str

    async def complete(self, request: ModelRequest) -> ModelResult:
        """Make one call; raise a :class:`~gearshift.errors.ProviderError` on failure."""
        ...

    async def count_tokens(self, request: ModelRequest) -> int:
        """The input tokens ``request`` would use (an estimate where the provider has no API).

        A provider whose count is its own -- what it will bill, as the Messages API's
        ``count_tokens`` says -- sets a class attribute ``counts_tokens = True``; budgets
        reserve on that count, and on :func:`input_token_bound` for every other provider.
        """
        ...

    async def close(self) -> None:
        """Release connections and subprocesses. Safe to call twice."""
        ...


class SyncProvider:
    """The one synchronous facade: runs a provider on a private event loop.

    The loop lives as long as the facade, so providers that hold connections (the SDK's HTTP
    pool) keep them between calls. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self._runner = asyncio.Runner()
        self._closed = False

    def complete(self, request: ModelRequest) -> ModelResult:
        return self._runner.run(self.provider.complete(request))

    def count_tokens(self, request: ModelRequest) -> int:
        return self._runner.run(self.provider.count_tokens(request))

    def close(self) -> None:
        """Close the provider, then the loop. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._runner.run(self.provider.close())
        finally:
            self._runner.close()

    def __enter__(self) -> SyncProvider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
