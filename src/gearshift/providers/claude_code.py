"""The ``claude-code`` provider: one headless ``claude -p`` run per call.

Runs ``claude -p --model M --output-format json`` (plus ``--append-system-prompt`` and
``--agents JSON`` when the request has a system prompt or agent definitions) with the prompt on
stdin, under a timeout, and parses the single result object Claude Code prints:

* ``result`` -> text; ``usage`` -> the main model's Usage (5m/1h cache split kept);
* ``modelUsage`` -> ``by_model`` (helper and sub-agent models too), and the costliest entry
  names the main model;
* ``total_cost_usd`` -> ``reported_cost_usd``, parsed as ``Decimal`` straight from the JSON text
  (it is Claude Code's client-side estimate; the ledger prices ``usage`` with the catalog);
* ``is_error`` with ``api_error_status`` -> the same status mapping as the API provider; other
  errors (``error_max_turns``, a crash, unparsable output) -> a non-retryable ProviderError.

The binary is ``binary=``, else ``$GEARSHIFT_CLAUDE_BIN``, else ``claude`` on ``PATH``. A run
that outlives ``timeout`` is killed with its whole process group (tools may spawn children).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from gearshift.catalog import Usage
from gearshift.errors import ProviderError, ProviderTimeout
from gearshift.providers._wire import error_for_status, usage_from_api
from gearshift.providers.base import ModelRequest, ModelResult, estimate_tokens, message_text

__all__ = ["ClaudeCodeProvider", "parse_result"]

_TAIL = 2000


class ClaudeCodeProvider:
    """Runs Claude Code headless. ``extra_args`` are appended verbatim (e.g. ``--max-turns``)."""

    name = "claude-code"

    def __init__(
        self,
        *,
        binary: str | None = None,
        timeout: float = 600.0,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.binary = binary or os.environ.get("GEARSHIFT_CLAUDE_BIN") or "claude"
        self.timeout = timeout
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.extra_args = tuple(extra_args)

    def command(self, request: ModelRequest) -> list[str]:
        """The argv for ``request`` (the prompt itself goes to stdin)."""
        argv = [self.binary, "-p", "--model", request.model, "--output-format", "json"]
        if request.system:
            argv += ["--append-system-prompt", request.system]
        if request.agents:
            argv += ["--agents", json.dumps(request.agents, sort_keys=True)]
        agent = request.metadata.get("agent")
        if isinstance(agent, str) and agent:
            argv += ["--agent", agent]
        return argv + list(self.extra_args)

    async def complete(self, request: ModelRequest) -> ModelResult:
        started = time.perf_counter()
        stdout, stderr, code = await self._run(
            self.command(request), _prompt(request), request.timeout or self.timeout
        )
        latency_ms = round((time.perf_counter() - started) * 1000)
        if not stdout.strip():
            raise ProviderError(
                f"claude exited with status {code} and printed no result",
                hint=_tail(stderr) or "run the command by hand to see what it says",
            )
        obj = parse_result(stdout)
        _raise_for_error(obj, code, stderr)
        return _to_result(obj, request, latency_ms, self.name)

    async def _run(self, argv: list[str], prompt: str, timeout: float) -> tuple[str, str, int]:
        env = {**os.environ, **self.env} if self.env is not None else None
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.cwd,
                env=env,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise ProviderError(
                f"Claude Code binary not found: {self.binary}",
                hint="install Claude Code, or set GEARSHIFT_CLAUDE_BIN to its path",
            ) from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(prompt.encode()), timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            _kill_group(proc)
            await proc.wait()
            if isinstance(exc, TimeoutError):
                raise ProviderTimeout(f"claude did not finish within {timeout:g}s") from None
            raise
        return out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), proc.returncode or 0

    async def count_tokens(self, request: ModelRequest) -> int:
        """An estimate: Claude Code has no token-counting call."""
        return estimate_tokens((request.system or "") + _prompt(request))

    async def close(self) -> None:
        """Nothing to release: every call's process is reaped before it returns."""


def _prompt(request: ModelRequest) -> str:
    """A single-turn prompt as is; several turns as a labelled transcript."""
    if len(request.messages) == 1:
        return message_text(request.messages[0])
    return "\n\n".join(
        f"{m.get('role', 'user').capitalize()}: {message_text(m)}" for m in request.messages
    )


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _tail(text: str) -> str:
    return text.strip()[-_TAIL:]


def parse_result(stdout: str) -> dict[str, Any]:
    """The result object in Claude Code's output, numbers with decimals as ``Decimal``.

    Accepts the single object of ``--output-format json``, a JSON array of events (``--verbose``)
    or JSON lines (``stream-json``), taking the last ``type: "result"`` object.
    """
    text = stdout.strip()
    candidates: list[Any] = []
    try:
        candidates = [json.loads(text, parse_float=Decimal)]
    except ValueError:
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                candidates.append(json.loads(line, parse_float=Decimal))
    flat: list[Any] = []
    for item in candidates:
        flat.extend(item if isinstance(item, list) else [item])
    results = [o for o in flat if isinstance(o, dict) and o.get("type") == "result"]
    if not results:
        raise ProviderError("no result object in Claude Code's output", hint=_tail(stdout))
    result: dict[str, Any] = results[-1]
    return result


def _raise_for_error(obj: Mapping[str, Any], code: int, stderr: str) -> None:
    if not obj.get("is_error") and not str(obj.get("subtype", "success")).startswith("error"):
        return
    detail = str(obj.get("result") or obj.get("errors") or obj.get("subtype") or "unknown error")
    status = obj.get("api_error_status")
    if isinstance(status, int):
        raise error_for_status(
            status, f"claude: API error {status}: {detail[:300]}", request_id=obj.get("session_id")
        )
    raise ProviderError(
        f"claude reported an error ({obj.get('subtype', 'error')}, exit {code}): {detail[:300]}",
        hint=_tail(stderr) or None,
    )


def _model_usage(entry: Mapping[str, Any]) -> Usage:
    return Usage(
        input_tokens=int(entry.get("inputTokens") or 0),
        output_tokens=int(entry.get("outputTokens") or 0),
        cache_write_5m_tokens=int(entry.get("cacheCreationInputTokens") or 0),
        cache_read_tokens=int(entry.get("cacheReadInputTokens") or 0),
    )


def _cost(value: Any) -> Decimal | None:
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        return Decimal(value)
    return None


def _to_result(
    obj: Mapping[str, Any], request: ModelRequest, latency_ms: int, provider: str
) -> ModelResult:
    by_model_raw: Mapping[str, Any] = obj.get("modelUsage") or {}
    by_model = {name: _model_usage(entry) for name, entry in by_model_raw.items()}
    model = request.model
    if by_model_raw:
        model = max(by_model_raw, key=lambda n: _cost(by_model_raw[n].get("costUSD")) or 0)
    usage = usage_from_api(obj.get("usage") or {})
    if not obj.get("usage") and model in by_model:
        usage = by_model[model]
    cost = _cost(obj.get("total_cost_usd", obj.get("total_cost")))
    duration = obj.get("duration_ms")
    return ModelResult(
        text=str(obj.get("result") or ""),
        usage=usage,
        model=model,
        latency_ms=duration if isinstance(duration, int) else latency_ms,
        stop_reason=obj.get("stop_reason") or obj.get("subtype"),
        request_id=obj.get("session_id"),
        raw=obj,
        provider=provider,
        by_model=by_model,
        reported_cost_usd=cost,
    )
