"""Distributed runs as they stand: counts per state, paid re-runs, cost; list; cancel.

``restarts`` counts job executions beyond the first (a worker died mid-job, a duplicate
delivery): each may have paid its in-flight attempt again. ``duplicate_calls`` is the ledger's
side of it: attempts of the same job, attempt number and model recorded more than once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from gearshift.distributed.graph import ACTIVE
from gearshift.errors import ConfigError
from gearshift.ledger.queries import repeated_calls, run_costs

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger

__all__ = ["RunStatus", "cancel", "list_runs", "status"]


@dataclass(slots=True)
class RunStatus:
    run_id: str
    status: str
    jobs: int
    states: dict[str, int] = field(default_factory=dict)
    restarts: int = 0
    duplicate_calls: int = 0
    cost_nanos: int = 0
    workers: list[str] = field(default_factory=list)
    created_at: str = ""

    @property
    def done(self) -> bool:
        return not any(self.states.get(s, 0) for s in ACTIVE)

    def to_dict(self) -> dict[str, Any]:
        from gearshift.catalog.cost import usd_text

        data = asdict(self)
        data["cost_usd"] = usd_text(self.cost_nanos)
        data["done"] = self.done
        return data


_COUNTS = text(
    "SELECT state, count(*), coalesce(sum(greatest(starts - 1, 0)), 0) FROM gs_dist_nodes "
    "WHERE run_id = :r GROUP BY state"
)
_WORKERS = text(
    "SELECT DISTINCT worker FROM gs_dist_nodes WHERE run_id = :r AND state = 'running' "
    "AND worker IS NOT NULL ORDER BY worker"
)


def status(ledger: Ledger, run_id: str, *, with_cost: bool = True) -> RunStatus:
    """Where ``run_id`` stands, or a ConfigError when it is not a distributed run here."""
    with ledger.read() as conn:
        head = conn.execute(
            text("SELECT status, jobs, created_at FROM gs_dist_runs WHERE run_id = :r"),
            {"r": run_id},
        ).first()
        if head is None:
            raise ConfigError(
                f"no distributed run {run_id!r} in {ledger.location.display}",
                hint="gearshift runs list shows the runs it has",
            )
        result = RunStatus(run_id, head[0], int(head[1]), created_at=str(head[2]))
        for state, count, restarts in conn.execute(_COUNTS, {"r": run_id}):
            result.states[state] = int(count)
            result.restarts += int(restarts)
        result.workers = [r[0] for r in conn.execute(_WORKERS, {"r": run_id})]
    if with_cost:
        result.cost_nanos = sum(run_costs(ledger, run_id).values())
        result.duplicate_calls = repeated_calls(ledger, run_id)
    if result.status == "running" and result.done:
        result.status = "finished"
    return result


def list_runs(ledger: Ledger, limit: int = 20) -> list[RunStatus]:
    with ledger.read() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                text("SELECT run_id FROM gs_dist_runs ORDER BY created_at DESC LIMIT :n"),
                {"n": limit},
            )
        ]
    return [status(ledger, run_id, with_cost=False) for run_id in ids]


def cancel(ledger: Ledger, run_id: str) -> int:
    """Stop ``run_id``: queued and waiting jobs are cancelled (their queue jobs too), running
    ones finish their current call and enqueue nothing; how many jobs were cancelled."""
    status(ledger, run_id, with_cost=False)  # exists, or a clear error
    with ledger.write() as conn:
        conn.execute(
            text(
                "UPDATE gs_dist_runs SET status = 'cancelled', updated_at = clock_timestamp() "
                "WHERE run_id = :r"
            ),
            {"r": run_id},
        )
        conn.execute(  # in job id order, as every transaction changing several nodes
            text(
                "SELECT job_id FROM gs_dist_nodes WHERE run_id = :r "
                "AND state IN ('waiting', 'queued') ORDER BY job_id FOR UPDATE"
            ),
            {"r": run_id},
        )
        conn.execute(
            text(
                "UPDATE procrastinate_jobs SET status = 'cancelled' WHERE status = 'todo' "
                "AND args->>'run_id' = :r"
            ),
            {"r": run_id},
        )
        cancelled = conn.execute(
            text(
                "UPDATE gs_dist_nodes SET state = 'cancelled', finished_at = clock_timestamp() "
                "WHERE run_id = :r AND state IN ('waiting', 'queued')"
            ),
            {"r": run_id},
        ).rowcount
    return int(cancelled or 0)
