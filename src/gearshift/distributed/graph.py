"""A run's DAG in the ledger: nodes with their unfinished-dependency counts, edges, and the one
transaction that finishes a job and enqueues the children it made ready.

Node states: ``waiting`` (dependencies unfinished) -> ``queued`` (in procrastinate) ->
``running`` -> ``succeeded`` | ``failed`` | ``error`` | ``blocked``; ``skipped`` when a
dependency did not succeed; ``cancelled`` by ``gearshift runs cancel``.

Exactly once where it can be: :func:`finish_in` moves a node to ``succeeded`` only if it is not
there yet (the row lock on its primary key ``(run_id, job_id)`` orders racing workers), and only
the transaction that moved it decrements its children and enqueues those that reached zero --
in the same transaction as the job's ``run_jobs`` row and its last attempt's ledger row
(:class:`DistributedRunStore`). A job executed twice (a worker killed mid-call, two workers
racing) may pay its call twice, but never records twice or enqueues a child twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, text

from gearshift.distributed.queue import ACK_SQL, QUEUE, Acks, defer_in
from gearshift.engine.run_state import FinishedJob, RunStore

if TYPE_CHECKING:
    from gearshift.engine.job import Job
    from gearshift.ledger.store import Ledger

log = logging.getLogger("gearshift.worker")

__all__ = [
    "ACTIVE",
    "TERMINAL",
    "DistributedRunStore",
    "RunRecord",
    "analyze",
    "end_in",
    "finish_in",
    "load_run",
    "submit",
]

ACTIVE = ("waiting", "queued", "running")
TERMINAL = ("succeeded", "failed", "error", "blocked", "skipped", "cancelled")


#: Workers finishing jobs of a run share this lock; a (re)submission of the run takes it
#: exclusively, so its recount of the waiting jobs' dependencies never races a finish.
_SHARED = text("SELECT pg_advisory_xact_lock_shared(hashtext(:r))")
# Every transaction that changes several nodes of a run locks them first, in job id order: two
# workers finishing parents of the same children (a fan-in), or one ending a job while another
# finishes its sibling, then wait for each other instead of deadlocking.
# (by primary key: an OR of the two sets would scan every node of the run, per commit)
_LOCK_FINISHING = text(
    "SELECT job_id, state FROM gs_dist_nodes WHERE run_id = :run AND job_id = ANY(ARRAY("
    "  SELECT child FROM gs_dist_edges WHERE run_id = :run AND parent IN :ids"
    ") || CAST(:jobs AS VARCHAR[])) ORDER BY job_id FOR UPDATE"
).bindparams(bindparam("ids", expanding=True))
_LOCK_ENDING = text(
    "WITH RECURSIVE below(job_id) AS ("
    "  SELECT CAST(:job AS VARCHAR)"
    "  UNION SELECT e.child FROM gs_dist_edges e JOIN below b ON e.parent = b.job_id"
    "  WHERE e.run_id = :run) "
    "SELECT n.job_id, n.state FROM gs_dist_nodes n JOIN below ON below.job_id = n.job_id "
    "WHERE n.run_id = :run ORDER BY n.job_id FOR UPDATE OF n"
)
_MARK = (
    "UPDATE gs_dist_nodes SET state = 'succeeded', finished_at = clock_timestamp(), reason = NULL "
    "WHERE run_id = :run AND job_id IN :ids AND state <> 'succeeded' RETURNING job_id"
)
_MARK_SUCCEEDED = text(_MARK).bindparams(bindparam("ids", expanding=True))
# ... and the queue rows of those executing here deleted in the same statement (a round trip
# fewer a job): the nodes are locked already, so the only lock it takes is on those rows, as
# the separate delete did (a data-modifying WITH runs to completion, read or not)
_MARK_SUCCEEDED_ACKED = text(f"WITH acked AS ({ACK_SQL}) {_MARK}").bindparams(
    bindparam("ids", expanding=True), bindparam("acks", expanding=True)
)
# Take one off each waiting child's unfinished count per parent moved (one row per child, however
# many of its parents finished here) and queue those that reached zero -- unless the run was
# cancelled. ``children``: the waiting ones, locked above, so found by primary key.
_DECREMENT = text(
    "WITH done AS (SELECT child, count(*) AS done FROM gs_dist_edges "
    "  WHERE run_id = :run AND parent IN :ids AND child IN :children GROUP BY child), "
    "run AS (SELECT EXISTS (SELECT 1 FROM gs_dist_runs r "
    "  WHERE r.run_id = :run AND r.status = 'cancelled') AS cancelled) "
    "UPDATE gs_dist_nodes n SET remaining_deps = n.remaining_deps - d.done, "
    "  state = CASE WHEN n.remaining_deps - d.done <= 0 AND NOT run.cancelled "
    "    THEN 'queued' ELSE n.state END "
    "FROM done d, run WHERE n.run_id = :run AND n.job_id IN :children AND n.job_id = d.child "
    "RETURNING n.job_id, n.state"
).bindparams(bindparam("ids", expanding=True), bindparam("children", expanding=True))
_END = text(
    "UPDATE gs_dist_nodes SET state = :state, reason = :reason, finished_at = clock_timestamp() "
    "WHERE run_id = :run AND job_id = :job AND state NOT IN ('succeeded', 'skipped', 'cancelled') "
    "RETURNING job_id"
)
# the waiting nodes below an ended job, locked (and their states read) by _LOCK_ENDING: by
# primary key (a condition on the state here let the planner scan every node of the run)
_SKIP_DESCENDANTS = text(
    "UPDATE gs_dist_nodes SET state = 'skipped', finished_at = clock_timestamp(), "
    "reason = :reason WHERE run_id = :run AND job_id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def finish_in(
    conn: Connection,
    run_id: str,
    job_ids: Sequence[str],
    queue: str = QUEUE,
    acks: Sequence[int] = (),
) -> int:
    """Mark ``job_ids`` succeeded, decrement their children and enqueue the ready ones -- all in
    ``conn``'s transaction; the number of children enqueued. Nodes already succeeded (a
    duplicate execution) change nothing. ``acks``: their queue rows, deleted with them."""
    if not job_ids:
        return 0
    conn.execute(_SHARED, {"r": run_id})
    ids = list(job_ids)
    locked = conn.execute(_LOCK_FINISHING, {"run": run_id, "ids": ids, "jobs": ids}).fetchall()
    if acks:
        mark = conn.execute(_MARK_SUCCEEDED_ACKED, {"run": run_id, "ids": ids, "acks": list(acks)})
    else:
        mark = conn.execute(_MARK_SUCCEEDED, {"run": run_id, "ids": ids})
    moved = [r[0] for r in mark]
    mine = set(ids)
    waiting = [job for job, state in locked if state == "waiting" and job not in mine]
    if not moved or not waiting:  # a duplicate execution, or no child left waiting
        return 0
    params = {"run": run_id, "ids": moved, "children": waiting}
    queued = [job for job, state in conn.execute(_DECREMENT, params) if state == "queued"]
    defer_in(conn, run_id, queued, queue=queue)
    return len(queued)


def end_in(conn: Connection, run_id: str, job_id: str, state: str, reason: str) -> bool:
    """End a job that did not succeed (``failed``, ``error``, ``blocked``) and skip everything
    below it that has not started; whether this call ended it."""
    conn.execute(_SHARED, {"r": run_id})
    locked = conn.execute(_LOCK_ENDING, {"run": run_id, "job": job_id}).fetchall()
    ended = conn.execute(
        _END, {"run": run_id, "job": job_id, "state": state, "reason": reason[:1000]}
    ).first()
    if ended is None:
        return False
    below = [job for job, now in locked if now == "waiting" and job != job_id]
    if below:
        reason = f"dependency {job_id} did not succeed"
        conn.execute(_SKIP_DESCENDANTS, {"run": run_id, "ids": below, "reason": reason})
    return True


class DistributedRunStore(RunStore):
    """The engine's run store, for a distributed run: a ``succeeded`` state written with an
    attempt's row (:class:`~gearshift.engine.run_state.GroupCommit`) also finishes the node and
    enqueues its ready children, in that same transaction. A job's ``succeeded`` row is never
    replaced: a duplicate execution (a stalled sweep, a second delivery) must not write its
    ``running`` progress or its own output over the result the children have read."""

    replaceable = "run_jobs.status <> 'succeeded'"

    def __init__(self, ledger: Ledger, queue: str = QUEUE, acks: Acks | None = None) -> None:
        super().__init__(ledger)
        self.queue = queue
        #: the queue rows of the jobs executing here: deleted with their success
        self.acks = acks

    def save_in(self, conn: Connection, run_id: str, jobs: Sequence[FinishedJob]) -> None:
        super().save_in(conn, run_id, jobs)
        done = [job.job_id for job in jobs if job.status == "succeeded"]
        acks = self.acks.handing(run_id, done) if self.acks is not None else ()
        finish_in(conn, run_id, done, self.queue, acks)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A distributed run as stored: its pipeline (path and text) and options."""

    run_id: str
    pipeline_path: str
    pipeline_text: str
    options: dict[str, Any]
    status: str
    #: ``updated_at``: changed by each submission of the run
    version: Any = None


def load_run(ledger: Ledger, run_id: str) -> RunRecord | None:
    query = text(
        "SELECT pipeline_path, pipeline_text, options, status, updated_at FROM gs_dist_runs "
        "WHERE run_id = :r"
    )
    with ledger.read() as conn:
        row = conn.execute(query, {"r": run_id}).first()
    if row is None:
        return None
    return RunRecord(run_id, row[0], row[1], json.loads(row[2]), row[3], row[4])


_UPSERT_RUN = text(
    "INSERT INTO gs_dist_runs (run_id, pipeline_path, pipeline_text, options, status, jobs) "
    "VALUES (:run, :path, :text, :options, 'running', :jobs) "
    "ON CONFLICT (run_id) DO UPDATE SET pipeline_path = excluded.pipeline_path, "
    "pipeline_text = excluded.pipeline_text, options = excluded.options, status = 'running', "
    "jobs = excluded.jobs, updated_at = clock_timestamp()"
)
_INSERT_NODE = text(
    "INSERT INTO gs_dist_nodes (run_id, job_id, remaining_deps) VALUES (:run, :job, :deps) "
    "ON CONFLICT (run_id, job_id) DO NOTHING"
)
_INSERT_EDGE = text(
    "INSERT INTO gs_dist_edges (run_id, parent, child) VALUES (:run, :parent, :child) "
    "ON CONFLICT DO NOTHING"
)
# a resume: what did not succeed waits again, counting only its parents that did not succeed
# (a queued or running node whose queue job is gone -- its worker died with it, or the queue
# job failed -- is queued again below)
_RESET = text(
    "UPDATE gs_dist_nodes n SET state = 'waiting', reason = NULL, finished_at = NULL, "
    "remaining_deps = (SELECT count(*) FROM gs_dist_edges e JOIN gs_dist_nodes p "
    "  ON p.run_id = e.run_id AND p.job_id = e.parent "
    "  WHERE e.run_id = n.run_id AND e.child = n.job_id AND p.state <> 'succeeded') "
    "WHERE n.run_id = :run AND n.state NOT IN ('succeeded', 'queued', 'running')"
)
_ORPHANS = text(
    "SELECT n.job_id FROM gs_dist_nodes n WHERE n.run_id = :run "
    "AND n.state IN ('queued', 'running') AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j "
    "  WHERE j.status IN ('todo', 'doing') AND j.args->>'run_id' = n.run_id "
    "  AND j.args->>'job_id' = n.job_id)"
)
_SUCCEEDED_BEFORE = text(
    "UPDATE gs_dist_nodes n SET state = 'succeeded', finished_at = clock_timestamp() "
    "FROM run_jobs r WHERE r.run_id = n.run_id AND r.job_id = n.job_id "
    "AND r.status = 'succeeded' AND n.run_id = :run AND n.state <> 'succeeded'"
)
_READY = text(
    "UPDATE gs_dist_nodes SET state = 'queued' WHERE run_id = :run AND state = 'waiting' "
    "AND remaining_deps <= 0 RETURNING job_id"
)


def submit(
    ledger: Ledger,
    run_id: str,
    jobs: Sequence[Job],
    *,
    pipeline_path: str,
    pipeline_text: str,
    options: Mapping[str, Any],
    queue: str = QUEUE,
) -> tuple[int, int]:
    """Store the run and its DAG and enqueue what is ready, in one transaction; ``(jobs enqueued
    now, jobs already succeeded)``. Submitting the same run id again is a resume: jobs that
    succeeded stay done, the rest wait or are queued again, nothing is enqueued twice."""
    with ledger.write() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:r))"), {"r": run_id})
        conn.execute(
            _UPSERT_RUN,
            {
                "run": run_id,
                "path": pipeline_path,
                "text": pipeline_text,
                "options": json.dumps(dict(options), sort_keys=True),
                "jobs": len(jobs),
            },
        )
        nodes = [{"run": run_id, "job": j.id, "deps": len(j.depends_on)} for j in jobs]
        edges = [
            {"run": run_id, "parent": parent, "child": j.id}
            for j in jobs
            for parent in j.depends_on
        ]
        if nodes:
            conn.execute(_INSERT_NODE, nodes)
        if edges:
            conn.execute(_INSERT_EDGE, edges)
        conn.execute(_SUCCEEDED_BEFORE, {"run": run_id})  # finished by --executor local
        conn.execute(_RESET, {"run": run_id})
        orphans = [r[0] for r in conn.execute(_ORPHANS, {"run": run_id})]
        ready = [r[0] for r in conn.execute(_READY, {"run": run_id})]
        defer_in(conn, run_id, [*orphans, *ready], queue=queue)
        done = conn.execute(
            text("SELECT count(*) FROM gs_dist_nodes WHERE run_id = :r AND state = 'succeeded'"),
            {"r": run_id},
        ).scalar_one()
    if len(orphans) + len(ready) >= ANALYZE_AFTER:
        try:  # the run is submitted: statistics are an optimisation, never a failed submit
            analyze(ledger)
        except Exception as exc:
            log.warning("could not refresh the queue's statistics (%s)", type(exc).__name__)
    return len(orphans) + len(ready), int(done)


#: a submission that enqueued this many jobs refreshes the queue's planner statistics
ANALYZE_AFTER = 1000
_ANALYZE = text("ANALYZE procrastinate_jobs, gs_dist_nodes, gs_dist_edges")


def analyze(ledger: Ledger) -> None:
    """Refresh the planner's statistics of the queue and the DAG after a large submission.

    procrastinate's fetch takes the first job in priority order; with statistics of an empty
    (or never analysed) queue the planner reads every queued job, sorts them and keeps one --
    5.5 ms a fetch with 10,000 jobs queued, against 0.05 ms through the priority index once
    analysed (EXPLAIN ANALYZE here). Autovacuum analyses eventually; workers start fetching at
    once. A database user that does not own the tables is only warned (nothing fails)."""
    with ledger.write() as conn:
        conn.execute(_ANALYZE)
