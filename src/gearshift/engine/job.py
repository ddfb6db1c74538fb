"""What the engine runs (a :class:`Job`) and what it reports (attempts and an outcome)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gearshift.catalog import Tier, Usage

if TYPE_CHECKING:
    from gearshift.engine.validators import ValidationResult, Validator
    from gearshift.routing.decision import RouteDecision
    from gearshift.routing.task import Task

__all__ = ["Attempt", "Job", "JobOutcome", "JobStatus"]

JobStatus = Literal["succeeded", "failed", "error", "skipped", "blocked", "cancelled"]


@dataclass(slots=True)
class Job:
    """One task for the engine: the routing :class:`~gearshift.routing.task.Task` plus how to run
    and check it.

    ``strategy`` names a strategy (``single``, ``tiered``, ``confidence``, ``batch``,
    ``exemplar``); ``options`` are its settings. ``ladder_top`` caps escalation. Outputs of the
    jobs in ``depends_on`` are appended to the prompt (the hybrid pipeline's hand-over).
    ``cache_ttl_s`` > 0 turns on exact response reuse for this job's calls. Command validators
    run in ``workdir`` (else a fresh folder), where the model's files may take only the paths
    ``outputs`` declares (:mod:`gearshift.engine.output_files`).
    """

    id: str
    task: Task
    system: str | None = None
    strategy: str = "single"
    validators: tuple[Validator, ...] = ()
    ladder_top: Tier = Tier.OPUS
    max_tokens: int = 4096
    temperature: float | None = None
    depends_on: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    workdir: Path | None = None
    outputs: tuple[str, ...] | None = None
    cache_ttl_s: int = 0
    cache_system: bool = False

    @property
    def agent(self) -> str:
        return self.task.agent or "default"


@dataclass(slots=True)
class Attempt:
    """One model call of a job (validator calls are folded into their attempt's cost).

    ``stop_reason`` is the provider's (``max_tokens`` means the output was cut off); ``tags``
    are copied onto the attempt's ledger record (the batch strategies put the item id there),
    with the provider's ``request_id`` for the call.
    """

    number: int
    tier: Tier
    model: str
    text: str = ""
    usage: Usage = field(default_factory=Usage)
    cost_nanos: int = 0
    latency_ms: int = 0
    status: Literal["success", "failure", "error"] = "success"
    validation: ValidationResult | None = None
    escalation_reason: str | None = None
    error: str | None = None
    cached: bool = False
    role: str = "generate"
    stop_reason: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None

    @property
    def evidence(self) -> str:
        if self.error:
            return self.error
        return self.validation.evidence if self.validation else ""


@dataclass(slots=True)
class JobOutcome:
    """How a job ended: its status, its attempts (the tier path) and its final output.

    ``earlier_cost_nanos`` and ``earlier_tier_path`` are what earlier sessions of the same run
    id paid for this job and where they ran it (a resumed job, or one whose chain continued);
    ``recorded_nanos`` is what this session recorded for it, retries and judges included (the
    runner sets it from :attr:`RunContext.job_costs`; without it, the attempts' costs).
    ``marked``: its state was committed with its last attempt's row.
    """

    job_id: str
    status: JobStatus
    attempts: list[Attempt] = field(default_factory=list)
    output: str | None = None
    reason: str = ""
    route: RouteDecision | None = None
    chain_id: str = ""
    resumed: bool = False
    earlier_cost_nanos: int = 0
    earlier_tier_path: str = ""
    recorded_nanos: int | None = None
    marked: bool = False

    @property
    def cost_nanos(self) -> int:
        session = (
            self.recorded_nanos
            if self.recorded_nanos is not None
            else sum(a.cost_nanos for a in self.attempts)
        )
        return self.earlier_cost_nanos + session

    @property
    def latency_ms(self) -> int:
        return sum(a.latency_ms for a in self.attempts)

    @property
    def tier_path(self) -> str:
        path = [t for t in self.earlier_tier_path.split(" -> ") if t]
        for a in self.attempts:
            if not path or path[-1] != a.tier.value:
                path.append(a.tier.value)
        return " -> ".join(path)

    @property
    def escalations(self) -> int:
        return sum(1 for a in self.attempts if a.escalation_reason)

    def usage_total(self) -> Usage:
        total = Usage()
        for a in self.attempts:
            u = a.usage
            total = total + Usage(
                u.input_tokens,
                u.output_tokens,
                u.cache_write_5m_tokens,
                u.cache_write_1h_tokens,
                u.cache_read_tokens,
            )
        return total

    def to_dict(self) -> dict[str, Any]:
        from gearshift.catalog.cost import usd_text

        return {
            "job": self.job_id,
            "status": self.status,
            "tier_path": self.tier_path,
            "attempts": [
                {
                    "attempt": a.number,
                    "role": a.role,
                    "tier": a.tier.value,
                    "model": a.model,
                    "status": a.status,
                    "cost_usd": usd_text(a.cost_nanos),
                    "latency_ms": a.latency_ms,
                    "validation": (
                        {
                            "passed": a.validation.passed,
                            "score": a.validation.score,
                            "evidence": a.validation.evidence[:500],
                        }
                        if a.validation
                        else None
                    ),
                    "escalation_reason": a.escalation_reason,
                    "cached": a.cached,
                    "error": a.error,
                }
                for a in self.attempts
            ],
            "cost_usd": usd_text(self.cost_nanos),
            "latency_ms": self.latency_ms,
            "reason": self.reason,
            "resumed": self.resumed,
            "route": self.route.to_dict() if self.route else None,
        }
