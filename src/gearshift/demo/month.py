"""A realistic month of agent executions for the demo (deterministic per seed).

The team runs the article's agents: Haiku for linting, tests and boilerplate (tests escalate to
Sonnet when validation fails), Sonnet for review and bug analysis, Opus for architecture -- and,
as the mistakes worth finding, a doc-writer on Opus that only ever writes short outputs and a
summariser on Haiku whose results fail often enough to cost rework.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

from gearshift.catalog import Usage
from gearshift.ledger import Execution, Ledger, new_id

__all__ = ["DEMO_AGENTS", "DemoAgent", "fill_month"]


@dataclass(frozen=True, slots=True)
class DemoAgent:
    name: str
    model: str
    task_type: str
    per_weekday: int
    input_tokens: tuple[int, int]
    output_tokens: tuple[int, int]
    cache_read: tuple[int, int]
    failure_rate: float
    latency_ms: tuple[int, int]
    tasks: tuple[str, ...]
    escalate_to: str | None = None


DEMO_AGENTS: tuple[DemoAgent, ...] = (
    DemoAgent(
        "test-engineer",
        "claude-haiku-4-5",
        "test-writing",
        100,
        (700, 1500),
        (2200, 4200),
        (4000, 12000),
        0.10,
        (3000, 9000),
        ("Generate unit tests for {m}", "Write edge-case tests for {m}"),
        "claude-sonnet-4-5",
    ),
    DemoAgent(
        "style-enforcer",
        "claude-haiku-4-5",
        "linting",
        50,
        (120, 400),
        (250, 600),
        (2000, 6000),
        0.01,
        (1500, 4000),
        ("Lint {m} against the style guide",),
    ),
    DemoAgent(
        "boilerplate-generator",
        "claude-haiku-4-5",
        "boilerplate",
        15,
        (300, 900),
        (900, 2500),
        (2000, 5000),
        0.03,
        (2500, 7000),
        ("Scaffold CRUD handlers for {m}",),
    ),
    DemoAgent(
        "code-reviewer",
        "claude-sonnet-4-5",
        "code-review",
        20,
        (1800, 4000),
        (1000, 2200),
        (8000, 30000),
        0.04,
        (12000, 30000),
        ("Review the pull request touching {m}",),
    ),
    DemoAgent(
        "bug-analyzer",
        "claude-sonnet-4-5",
        "debugging",
        10,
        (2500, 4500),
        (1800, 3200),
        (10000, 40000),
        0.08,
        (15000, 40000),
        ("Analyse the failing CI run in {m}",),
    ),
    DemoAgent(
        "architect",
        "claude-opus-4-1",
        "architecture",
        2,
        (9000, 16000),
        (5000, 9000),
        (20000, 60000),
        0.05,
        (40000, 90000),
        ("Evaluate designs for the {m} service",),
    ),
    DemoAgent(
        "doc-writer",
        "claude-opus-4-1",
        "docs",
        8,
        (600, 1400),
        (150, 600),
        (3000, 8000),
        0.02,
        (15000, 35000),
        ("Write the docstring summary for {m}",),
    ),
    DemoAgent(
        "release-summarizer",
        "claude-haiku-4-5",
        "summaries",
        12,
        (3000, 6000),
        (400, 900),
        (0, 2000),
        0.22,
        (2000, 5000),
        ("Summarise release notes for {m}",),
    ),
)

_MODULES = ("auth", "billing", "search", "payments", "ingest", "notifications", "reports", "api")


def fill_month(
    ledger: Ledger, *, seed: int = 7, days: int = 30, end: dt.datetime | None = None
) -> int:
    """Record ``days`` days of executions ending at ``end`` (now); returns how many."""
    end = end or dt.datetime.now(dt.UTC)
    return ledger.add_many(_executions(ledger, random.Random(seed), days, end))


def _executions(
    ledger: Ledger, rng: random.Random, days: int, end: dt.datetime
) -> Iterator[Execution]:
    start = (end - dt.timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    for offset in range(days + 1):
        day = start + dt.timedelta(days=offset)
        weekend = day.weekday() >= 5
        for agent in DEMO_AGENTS:
            runs = agent.per_weekday // 5 if weekend else agent.per_weekday
            runs = max(0, round(runs * rng.uniform(0.8, 1.2)))
            for _ in range(runs):
                ts = day + dt.timedelta(seconds=rng.gauss(14 * 3600, 3 * 3600) % 86400)
                if ts > end:
                    continue
                yield from _run(ledger, rng, agent, ts)


def _run(
    ledger: Ledger, rng: random.Random, agent: DemoAgent, ts: dt.datetime
) -> Iterator[Execution]:
    task = rng.choice(agent.tasks).format(m=rng.choice(_MODULES))
    chain = new_id()
    failed = rng.random() < agent.failure_rate
    first = _attempt(ledger, rng, agent, agent.model, ts, task, chain, 1)
    if failed:
        first.status = "failure"
        first.validation = "validator: tests failed" if agent.escalate_to else "rework needed"
    first.strategy = "tiered" if agent.escalate_to else "single"
    yield first
    if failed and agent.escalate_to:
        ts2 = ts + dt.timedelta(milliseconds=(first.latency_ms or 0) + 500)
        second = _attempt(ledger, rng, agent, agent.escalate_to, ts2, task, chain, 2)
        second.strategy = "tiered"
        second.escalation_reason = "validation failed on haiku: tests failed"
        yield second


def _attempt(
    ledger: Ledger,
    rng: random.Random,
    agent: DemoAgent,
    model: str,
    ts: dt.datetime,
    task: str,
    chain: str,
    attempt: int,
) -> Execution:
    usage = Usage(
        input_tokens=rng.randint(*agent.input_tokens),
        output_tokens=rng.randint(*agent.output_tokens),
        cache_write_5m_tokens=rng.randint(0, 2000),
        cache_read_tokens=rng.randint(*agent.cache_read),
    )
    slow = 1 if attempt == 1 else 2
    return ledger.price(
        agent=agent.name,
        model=model,
        usage=usage,
        ts=ts,
        task=task,
        task_type=agent.task_type,
        project=rng.choice(("acme-api", "acme-web")),
        session=f"demo-{ts:%Y%m%d}",
        latency_ms=rng.randint(*agent.latency_ms) * slow,
        attempt=attempt,
        chain_id=chain,
        source="sim",
        id=new_id(int(ts.timestamp() * 1000)),
    )
