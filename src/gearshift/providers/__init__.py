"""Model providers: one async Protocol, one retry loop, header-driven pacing, a lazy registry.

::

    from gearshift.providers import ModelRequest, RetryingProvider, get_provider

    provider = RetryingProvider(get_provider("sim", seed=7, time_scale=0))
    result = await provider.complete(ModelRequest.user("Summarise ...", model="haiku"))
    cost = catalog.cost(result.model, result.usage)

Built-ins: ``anthropic`` (official SDK), ``claude-code`` (``claude -p``), ``sim`` (offline
simulator); :class:`AdminClient` reads Anthropic's Usage & Cost Admin API. Importing this
package imports none of them and never the ``anthropic`` SDK; the classes named in ``__all__``
load on first access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gearshift._lazy import lazy_names
from gearshift.providers.base import (
    CacheTTL,
    ModelRequest,
    ModelResult,
    Provider,
    SyncProvider,
    estimate_tokens,
    input_token_bound,
)
from gearshift.providers.pacing import Bucket, Pacer, RateLimitSnapshot, parse_ratelimit
from gearshift.providers.registry import (
    ProviderRegistry,
    default_registry,
    get_provider,
    register_provider,
)
from gearshift.providers.retry import (
    RetryEvent,
    RetryingProvider,
    RetryPolicy,
    backoff_delay,
    call_with_retry,
    observe_retries,
)

if TYPE_CHECKING:
    from gearshift.providers.admin import AdminClient
    from gearshift.providers.anthropic import AnthropicProvider
    from gearshift.providers.batches import BatchOutcome, BatchStatus
    from gearshift.providers.claude_code import ClaudeCodeProvider
    from gearshift.providers.sim import SimProvider

__all__ = [
    "AdminClient",
    "AnthropicProvider",
    "BatchOutcome",
    "BatchStatus",
    "Bucket",
    "CacheTTL",
    "ClaudeCodeProvider",
    "ModelRequest",
    "ModelResult",
    "Pacer",
    "Provider",
    "ProviderRegistry",
    "RateLimitSnapshot",
    "RetryEvent",
    "RetryPolicy",
    "RetryingProvider",
    "SimProvider",
    "SyncProvider",
    "backoff_delay",
    "call_with_retry",
    "default_registry",
    "estimate_tokens",
    "get_provider",
    "input_token_bound",
    "observe_retries",
    "parse_ratelimit",
    "register_provider",
]

_LAZY = {
    "AdminClient": "gearshift.providers.admin",
    "AnthropicProvider": "gearshift.providers.anthropic",
    "BatchOutcome": "gearshift.providers.batches",
    "BatchStatus": "gearshift.providers.batches",
    "ClaudeCodeProvider": "gearshift.providers.claude_code",
    "SimProvider": "gearshift.providers.sim",
}


__getattr__, _ = lazy_names(__name__, _LAZY, __all__)
