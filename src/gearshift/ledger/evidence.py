"""What the ledger knows about outcomes: the evidence behind true cost, advice and replays.

Each function is one aggregate query over ``executions`` (through a
:class:`~gearshift.ledger.bulk.Reader`), returning plain rows for the read side
(:mod:`gearshift.insight`) to interpret. Errors (``status = 'error'``) are left out of success
counts: a failed call says nothing about whether the tier could do the task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gearshift.ledger.queries import Filters

if TYPE_CHECKING:
    from gearshift.ledger.bulk import Reader

__all__ = [
    "ChainStats",
    "Outcomes",
    "TaskRun",
    "agent_sources",
    "chain_stats",
    "outcomes",
    "task_runs",
]


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Successes and failures of one (agent, task type, tier)."""

    agent: str
    task_type: str  # "" when the executions carry none
    tier: str
    successes: int
    failures: int


def outcomes(ledger: Reader, filters: Filters) -> list[Outcomes]:
    """Successes and failures per (agent, task type, tier) of the executions of a known tier
    that ``filters`` selects."""
    where, params = filters.sql(tiered=True)
    sql = (
        "SELECT agent, COALESCE(task_type, ''), tier, "
        "SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status = 'failure' THEN 1 ELSE 0 END) "
        f"FROM executions WHERE {where} GROUP BY agent, COALESCE(task_type, ''), tier"
    )
    return [
        Outcomes(str(agent), str(task_type), str(tier), int(ok or 0), int(bad or 0))
        for agent, task_type, tier, ok, bad in ledger.query(sql, params)
    ]


@dataclass(frozen=True, slots=True)
class ChainStats:
    """How the attempts of one (agent, tier, task type) fared within their escalation chains."""

    agent: str
    tier: str
    task_type: str | None
    first_attempts: int  # attempts that started a chain (or stood alone): tasks
    redone: int  # attempts a later attempt of the same chain redid
    redone_nanos: int  # what those redone attempts cost
    terminal_failures: int  # failures nobody redid
    batch_executions: int
    executions: int


_CHAIN_SQL = """
WITH last AS (
    SELECT chain_id, MAX(attempt) AS top FROM executions
    WHERE chain_id IS NOT NULL GROUP BY chain_id
)
SELECT e.agent, e.tier, e.task_type,
    SUM(CASE WHEN e.attempt = 1 AND NOT {retry} THEN 1 ELSE 0 END),
    SUM(CASE WHEN l.top > e.attempt AND NOT {retry} THEN 1 ELSE 0 END),
    SUM(CASE WHEN l.top > e.attempt THEN e.cost_nanos ELSE 0 END),
    SUM(CASE WHEN e.status = 'failure' AND (l.top IS NULL OR l.top <= e.attempt)
        THEN 1 ELSE 0 END),
    SUM(CASE WHEN (e.flags & 1) = 1 AND NOT {retry} THEN 1 ELSE 0 END),
    SUM(CASE WHEN {retry} THEN 0 ELSE 1 END)
FROM executions e LEFT JOIN last l ON l.chain_id = e.chain_id
WHERE {where}
GROUP BY e.agent, e.tier, e.task_type
"""


def chain_stats(ledger: Reader, filters: Filters) -> list[ChainStats]:
    """Per (agent, tier, task type): first attempts, attempts redone later in their chain and
    what they cost, failures nobody redid, batch runs, all attempts. Retried and dropped HTTP
    attempts are not attempts here (their cost is the bill's, and a redone attempt's)."""
    where, params = filters.sql(tiered=True)
    sql = _CHAIN_SQL.format(where=where, retry="e.status IN ('retried', 'dropped')")
    return [
        ChainStats(str(agent), str(tier), task_type, *(int(v or 0) for v in nums))
        for agent, tier, task_type, *nums in ledger.query(sql, params)
    ]


@dataclass(frozen=True, slots=True)
class TaskRun:
    """One execution of a task text (by its hash), in time order within (agent, task hash)."""

    agent: str
    task_hash: str
    chain: str  # the chain id, or the execution's own id
    ts_us: int
    status: str
    cost_nanos: int
    prompt_tokens: int  # input of every kind: the size of the prompt


def task_runs(ledger: Reader, filters: Filters) -> list[TaskRun]:
    """Every execution with a task hash that ``filters`` selects, ordered by agent, task hash,
    time: the raw material for finding repeated tasks."""
    where, params = filters.sql(tiered=True)
    sql = (
        "SELECT agent, task_hash, COALESCE(chain_id, id), ts_us, status, cost_nanos, "
        "input_tokens + cache_write_5m_tokens + cache_write_1h_tokens + cache_read_tokens "
        f"FROM executions WHERE task_hash IS NOT NULL AND {where} "
        "ORDER BY agent, task_hash, ts_us, id"
    )
    return [
        TaskRun(str(a), str(h), str(c), int(ts), str(st), int(cost), int(prompt))
        for a, h, c, ts, st, cost, prompt in ledger.query(sql, params)
    ]


def agent_sources(ledger: Reader, filters: Filters) -> dict[str, set[str]]:
    """Where each agent's executions came from (``claude-code``, ``api``, ...)."""
    where, params = filters.sql(tiered=True)
    sql = f"SELECT DISTINCT agent, source FROM executions WHERE {where}"
    out: dict[str, set[str]] = {}
    for agent, source in ledger.query(sql, params):
        out.setdefault(str(agent), set()).add(str(source))
    return out
