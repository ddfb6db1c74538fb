"""The official Anthropic SDK at gearshift's boundary: the Messages API body of a request, and
the one mapping from SDK exceptions to the gearshift error tree (used by every caller of the SDK:
messages, token counts, Message Batches)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anthropic
import httpx2

from gearshift.errors import AuthError, ProviderError, ProviderTimeout
from gearshift.providers._wire import error_for_status, retry_after, status_for_type
from gearshift.providers.base import ModelRequest

__all__ = ["build_params", "map_error", "sdk_kwargs"]


def map_error(err: Exception) -> ProviderError:
    """The one mapping from an SDK exception to the gearshift error tree."""
    if isinstance(err, ProviderError):
        return err
    if isinstance(err, anthropic.APITimeoutError):
        return ProviderTimeout("the Anthropic API did not answer in time")
    if isinstance(err, anthropic.APIConnectionError):
        cause = err.__cause__ or err
        return ProviderTimeout(f"connection to the Anthropic API failed: {cause}")
    if isinstance(err, anthropic.APIStatusError):
        return _map_status(err)
    if isinstance(err, httpx2.TransportError):  # raised as is while reading a stream's body
        return ProviderTimeout(f"the connection to the Anthropic API broke: {err}")
    if isinstance(err, anthropic.CredentialsError):
        return AuthError(str(err), hint="set ANTHROPIC_API_KEY")
    return ProviderError(f"Anthropic SDK error: {err}")


def _map_status(err: anthropic.APIStatusError) -> ProviderError:
    status = err.status_code
    if status < 400:  # an error event inside a 200 stream: classify by its type
        status = status_for_type(err.type)
    return error_for_status(
        status,
        f"{status} {err.type or 'error'}: {err.api_message or err.message}",
        request_id=err.request_id,
        error_code=err.error_code,
        retry_after=retry_after(err.response.headers) if status == 429 else None,
    )


def build_params(request: ModelRequest, model: str) -> dict[str, Any]:
    """The Messages API body for ``request`` (``temperature`` included when set)."""
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": [dict(m) for m in request.messages],
    }
    if request.system is not None:
        if request.cache_system:
            control: dict[str, str] = {"type": "ephemeral"}
            if request.cache_ttl == "1h":
                control["ttl"] = "1h"
            params["system"] = [{"type": "text", "text": request.system, "cache_control": control}]
        else:
            params["system"] = request.system
    if request.stop_sequences:
        params["stop_sequences"] = list(request.stop_sequences)
    user_id = request.metadata.get("user_id")
    if user_id is not None:
        params["metadata"] = {"user_id": str(user_id)}
    if request.temperature is not None:
        params["temperature"] = request.temperature
    return params


def sdk_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` as ``messages.create`` keywords: the SDK 2.x signature has no
    ``temperature``, so it travels in ``extra_body`` (the API still accepts it)."""
    kwargs = dict(params)
    if "temperature" in kwargs:
        kwargs["extra_body"] = {"temperature": kwargs.pop("temperature")}
    return kwargs
