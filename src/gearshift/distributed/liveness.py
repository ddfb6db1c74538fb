"""Which workers are alive: one row per worker process in ``gs_dist_workers``, its start and
its heartbeat, beaten from the worker's upkeep until the process has really returned -- through
a SIGTERM's grace period too, when procrastinate's own heartbeat task has already stopped.

A node ``running`` under a worker is *held* while that worker beats and started before the
node did (a worker restarted under the same ``host:pid`` name does not hold the nodes its
previous life left behind).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger

__all__ = ["HELD", "beat_worker", "forget_worker", "prune_workers", "register_worker"]

#: SQL condition, over a node aliased ``n``: its worker beats (``:stalled`` seconds) and was
#: already running when the node started on it.
HELD = (
    "EXISTS (SELECT 1 FROM gs_dist_workers w WHERE w.name = n.worker "
    "AND w.started_at <= n.started_at "
    "AND w.heartbeat_at > clock_timestamp() - make_interval(secs => :stalled))"
)

_REGISTER = text(
    "INSERT INTO gs_dist_workers (name) VALUES (:name) ON CONFLICT (name) DO UPDATE "
    "SET started_at = clock_timestamp(), heartbeat_at = clock_timestamp()"
)
_BEAT = text(
    "INSERT INTO gs_dist_workers (name) VALUES (:name) ON CONFLICT (name) DO UPDATE "
    "SET heartbeat_at = clock_timestamp()"
)
_FORGET = text("DELETE FROM gs_dist_workers WHERE name = :name")


def register_worker(ledger: Ledger, name: str) -> None:
    """A worker starts (again, if its name was used before): nodes started earlier are not its."""
    with ledger.write() as conn:
        conn.execute(_REGISTER, {"name": name})


def beat_worker(ledger: Ledger, name: str) -> None:
    with ledger.write() as conn:
        conn.execute(_BEAT, {"name": name})


def forget_worker(ledger: Ledger, name: str) -> None:
    """The worker has returned: nothing it ran is held any more."""
    with ledger.write() as conn:
        conn.execute(_FORGET, {"name": name})


def prune_workers(ledger: Ledger, silent_s: float) -> int:
    """Delete the rows of workers silent for ``silent_s`` seconds (killed, never to return under
    their name); they hold nothing already. How many."""
    query = text(
        "DELETE FROM gs_dist_workers "
        "WHERE heartbeat_at < clock_timestamp() - make_interval(secs => :silent)"
    )
    with ledger.write() as conn:
        return int(conn.execute(query, {"silent": silent_s}).rowcount or 0)
