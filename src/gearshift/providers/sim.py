"""The ``sim`` provider: an offline, deterministic model simulator for demos, tests and planning.

Each tier has a *quality curve* -- the chance its answer passes the task's validator as a
function of the task's complexity score (3..9, from ``metadata["complexity"]``; the labels
``low``/``medium``/``high`` count as 4/6/8) -- plus a latency model and a verbosity range, all in
the bundled ``data/sim_profile.toml`` (or a file passed as ``profile=``).

Determinism: every random draw is a hash of ``(seed, model, prompt, attempt, purpose)``, never a
shared RNG, so the same seed and task give the same answer whatever else runs and in whatever
order. Only two things depend on history, as they do for real: injected faults also hash the
number of times this exact call was made (so a retried 429 can succeed), and prompt-cache
reads need an earlier write of the same system prompt.

The answer text is machine-checkable::

    [sim claude-haiku-5-5 | complexity 6 | attempt 1]
    verdict: PASS
    ... filler sized to the drawn output length ...
    confidence: 0.87

so a regex validator on :data:`PASS_PATTERN` stands in for the task's real validator, the
confidence validator reads the stated confidence, and an LLM judge run on ``sim`` parses the
verdict. ``time_scale=0`` skips the sleeps (benchmarks) while still reporting the latency.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import tomllib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from gearshift.catalog import Catalog, Tier, Usage, load_catalog
from gearshift.errors import (
    BadRequest,
    ConfigError,
    Overloaded,
    ProviderTimeout,
    RateLimited,
    UnknownModel,
)
from gearshift.providers.base import ModelRequest, ModelResult, estimate_tokens

__all__ = ["PASS_PATTERN", "SimProfile", "SimProvider", "TierProfile", "load_profile"]

#: A regex that matches a passing sim answer.
PASS_PATTERN = r"(?m)^verdict: PASS$"

_LABELS = {"low": 4.0, "medium": 6.0, "high": 8.0}
_FAULTS = ("rate_limit", "overloaded", "timeout")
_TIER_KEYS = {
    "quality",
    "latency_ms",
    "ms_per_output_token",
    "output_tokens",
    "confidence_pass",
    "confidence_fail",
}
_FILLER = "the simulated model works through the task step by step and reports " * 400


@dataclass(frozen=True, slots=True)
class TierProfile:
    quality: tuple[float, ...]
    latency_ms: float
    ms_per_output_token: float
    output_tokens: tuple[int, int]
    confidence_pass: tuple[float, float]
    confidence_fail: tuple[float, float]

    def pass_rate(self, complexity: float) -> float:
        """Quality at ``complexity``, interpolated between integer scores, clamped to 3..9."""
        x = min(max(complexity, 3.0), 3.0 + len(self.quality) - 1) - 3.0
        low = int(x)
        high = min(low + 1, len(self.quality) - 1)
        return self.quality[low] + (self.quality[high] - self.quality[low]) * (x - low)


@dataclass(frozen=True, slots=True)
class SimProfile:
    tiers: Mapping[Tier, TierProfile]
    default_complexity: float
    retry_after: float
    faults: Mapping[str, float]


def load_profile(path: str | Path | None = None) -> SimProfile:
    """The bundled profile, or the TOML file at ``path``; ConfigError names the bad key."""
    where = str(path) if path else "sim_profile.toml (bundled)"
    try:
        if path is None:
            text = resources.files("gearshift.providers").joinpath("data/sim_profile.toml")
            doc = tomllib.loads(text.read_text(encoding="utf-8"))
        else:
            doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        tiers = {
            Tier.parse(name): _tier(spec, f"{where}: tier.{name}")
            for name, spec in doc["tier"].items()
        }
        missing = set(Tier) - tiers.keys()
        if missing:
            raise ConfigError(f"{where}: no profile for tier {sorted(t.value for t in missing)}")
        faults = {k: float(v) for k, v in doc.get("faults", {}).items()}
        unknown = faults.keys() - set(_FAULTS)
        if unknown:
            raise ConfigError(
                f"{where}: unknown fault {sorted(unknown)}", hint=f"use {', '.join(_FAULTS)}"
            )
        return SimProfile(
            tiers,
            float(doc.get("default_complexity", 5)),
            float(doc.get("retry_after", 1.0)),
            faults,
        )
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"{where}: cannot load the sim profile ({err})") from err


def _tier(spec: Mapping[str, Any], where: str) -> TierProfile:
    unknown = spec.keys() - _TIER_KEYS
    if unknown or _TIER_KEYS - spec.keys():
        raise ConfigError(f"{where}: keys must be {sorted(_TIER_KEYS)}; got {sorted(spec)}")
    quality = tuple(float(q) for q in spec["quality"])
    if len(quality) != 7 or not all(0.0 <= q <= 1.0 for q in quality):
        raise ConfigError(f"{where}.quality: 7 probabilities in 0..1 (complexity 3..9)")
    lo, hi = spec["output_tokens"]
    return TierProfile(
        quality,
        float(spec["latency_ms"]),
        float(spec["ms_per_output_token"]),
        (int(lo), int(hi)),
        _pair(spec["confidence_pass"]),
        _pair(spec["confidence_fail"]),
    )


def _pair(value: Any) -> tuple[float, float]:
    a, b = value
    return float(a), float(b)


class SimProvider:
    """The simulator. ``faults`` overrides the profile's rates, e.g. ``{"rate_limit": 0.1}``."""

    name = "sim"
    #: its count is exact: it bills by the same estimate it counts with
    counts_tokens = True

    def __init__(
        self,
        *,
        seed: int = 0,
        profile: str | Path | SimProfile | None = None,
        time_scale: float = 1.0,
        faults: Mapping[str, float] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.seed = seed
        self.profile = profile if isinstance(profile, SimProfile) else load_profile(profile)
        self.time_scale = time_scale
        self.faults = {**self.profile.faults, **(faults or {})}
        unknown = self.faults.keys() - set(_FAULTS)
        if unknown:
            raise ConfigError(f"unknown sim fault {sorted(unknown)}", hint=", ".join(_FAULTS))
        self.catalog = catalog or load_catalog()
        self._calls: Counter[tuple[str, str, int]] = Counter()
        self._cached: set[tuple[str, str]] = set()
        self.calls = 0

    def _draw(self, *parts: object) -> float:
        """A uniform number in [0, 1) determined by ``parts`` and the seed alone."""
        digest = hashlib.blake2b(repr((self.seed, *parts)).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def complexity(self, request: ModelRequest) -> float:
        value = request.metadata.get("complexity")
        if isinstance(value, str):
            return _LABELS.get(value.strip().lower(), self.profile.default_complexity)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return self.profile.default_complexity

    async def complete(self, request: ModelRequest) -> ModelResult:
        self.calls += 1
        try:
            model = self.catalog.resolve(request.model)
        except UnknownModel as err:
            raise BadRequest(
                f"404 not_found_error: model {request.model!r}", status=404, hint=err.hint
            ) from None
        prompt, attempt = request.prompt, request.attempt
        key = (model.id, prompt, attempt)
        self._calls[key] += 1
        self._maybe_fault(key, self._calls[key])
        tier = self.profile.tiers[model.tier]
        complexity = self.complexity(request)
        passed = self._draw(*key, "pass") < tier.pass_rate(complexity)
        text = self._answer(model.id, complexity, attempt, passed, tier, key)
        usage = self._usage(request, model.id, text)
        jitter = 0.8 + 0.4 * self._draw(*key, "latency")
        latency = (tier.latency_ms + tier.ms_per_output_token * usage.output_tokens) * jitter
        if self.time_scale > 0:
            await asyncio.sleep(latency / 1000 * self.time_scale)
        return ModelResult(
            text=text,
            usage=usage,
            model=model.id,
            latency_ms=round(latency),
            stop_reason="end_turn",
            request_id=f"sim_{hashlib.blake2b(repr(key).encode(), digest_size=6).hexdigest()}",
            raw={"passed": passed, "complexity": complexity, "tier": model.tier.value},
            provider=self.name,
        )

    def _maybe_fault(self, key: tuple[str, str, int], nth: int) -> None:
        draw = self._draw(*key, "fault", nth)
        for kind in _FAULTS:
            rate = self.faults.get(kind, 0.0)
            if draw < rate:
                if kind == "rate_limit":
                    raise RateLimited(
                        "429 rate_limit_error (simulated)", retry_after=self.profile.retry_after
                    )
                if kind == "overloaded":
                    raise Overloaded("529 overloaded_error (simulated)", status=529)
                raise ProviderTimeout("timed out (simulated)")
            draw -= rate

    def _answer(
        self,
        model: str,
        complexity: float,
        attempt: int,
        passed: bool,
        tier: TierProfile,
        key: tuple[str, str, int],
    ) -> str:
        lo, hi = tier.output_tokens
        share = (min(max(complexity, 3.0), 9.0) - 3.0) / 6.0
        target = (lo + (hi - lo) * share) * (0.75 + 0.5 * self._draw(*key, "length"))
        low, high = tier.confidence_pass if passed else tier.confidence_fail
        confidence = low + (high - low) * self._draw(*key, "confidence")
        head = (
            f"[sim {model} | complexity {complexity:g} | attempt {attempt}]\n"
            f"verdict: {'PASS' if passed else 'FAIL'}\n"
        )
        tail = f"\nconfidence: {confidence:.2f}\n"
        room = max(0, math.ceil(target) * 4 - len(head) - len(tail))
        return head + _FILLER[: min(room, len(_FILLER))].strip() + tail

    def _usage(self, request: ModelRequest, model: str, text: str) -> Usage:
        system_tokens = estimate_tokens(request.system or "")
        prompt_tokens = estimate_tokens(request.prompt)
        write = read = 0
        if request.cache_system and request.system:
            cache_key = (model, hashlib.sha256(request.system.encode()).hexdigest())
            if cache_key in self._cached:
                read = system_tokens
            else:
                write = system_tokens
                self._cached.add(cache_key)
            system_tokens = 0
        one_hour = request.cache_ttl == "1h"
        return Usage(
            input_tokens=system_tokens + prompt_tokens,
            output_tokens=estimate_tokens(text),
            cache_write_5m_tokens=0 if one_hour else write,
            cache_write_1h_tokens=write if one_hour else 0,
            cache_read_tokens=read,
        )

    async def count_tokens(self, request: ModelRequest) -> int:
        return estimate_tokens(request.system or "") + estimate_tokens(request.prompt)

    async def close(self) -> None:
        """Nothing to release."""
