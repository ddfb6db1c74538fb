"""Several `gearshift worker` processes run one DAG; a worker killed with SIGKILL, and then the
whole fleet with its submitter, lose nothing and pay nothing finished twice."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.distributed.conftest import Fleet, dag_pipeline, wait_for

pytestmark = pytest.mark.postgres

#: sim latency x 0.1: calls of ~50-500 ms
TIME_SCALE = "0.1"


def _rows(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def _one(url: str, sql: str, *params: Any) -> Any:
    return _rows(url, sql, *params)[0][0]


def _states(url: str, run: str) -> dict[str, int]:
    try:
        rows = _rows(
            url, "SELECT state, count(*) FROM gs_dist_nodes WHERE run_id = %s GROUP BY 1", run
        )
    except psycopg.errors.UndefinedTable:  # the submitter has not migrated the ledger yet
        return {}
    return {state: int(n) for state, n in rows}


def _submit(fleet: Fleet, path: Path, run: str, *extra: str) -> None:
    proc = fleet.start(
        "run", str(path), "--provider", "sim", "--time-scale", TIME_SCALE,
        "--executor", "postgres", "--run-id", run, *extra,
    )  # fmt: skip
    if "--detach" in extra:
        assert proc.wait(60) == 0, fleet.logs()


def _finished(url: str, run: str) -> bool:
    states = _states(url, run)
    return bool(states) and not any(states.get(s) for s in ("waiting", "queued", "running"))


def _paid_twice(url: str, run: str) -> int:
    """Model calls recorded more than once: same job, attempt number, model and tags."""
    return int(
        _one(
            url,
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM executions "
            "WHERE run_id = %s AND status NOT IN ('retried', 'dropped') "
            "GROUP BY task_key, attempt, model, tags) d WHERE n > 1",
            run,
        )
    )


def _check_exactly_once(url: str, run: str, jobs: int) -> None:
    nodes = _rows(
        url,
        "SELECT job_id, state, remaining_deps, started_at, finished_at FROM gs_dist_nodes "
        "WHERE run_id = %s",
        run,
    )
    assert len(nodes) == jobs
    by_id = {n[0]: n for n in nodes}
    # every job ran to an end, most of them to success (the sim fails a few even on opus)
    assert all(n[1] in ("succeeded", "failed", "skipped") for n in nodes)
    succeeded = {n[0] for n in nodes if n[1] == "succeeded"}
    assert len(succeeded) >= jobs * 0.9
    # one result per job: a run_jobs row marked succeeded exactly for the succeeded nodes
    results = _rows(
        url, "SELECT job_id FROM run_jobs WHERE run_id = %s AND status = 'succeeded'", run
    )
    assert {r[0] for r in results} == succeeded
    # no dependency counted down twice (a duplicate finish would push a count below zero)
    assert all(n[2] == 0 for n in nodes if n[1] != "skipped")
    assert all(n[2] >= 0 for n in nodes)
    # every child started after each of its parents finished
    edges = _rows(url, "SELECT parent, child FROM gs_dist_edges WHERE run_id = %s", run)
    for parent, child in edges:
        if by_id[child][3] is not None:
            assert by_id[child][3] >= by_id[parent][4], (parent, child)
    # each succeeded job passed validation exactly once in the ledger
    passes = _rows(
        url,
        "SELECT task_key, count(*) FROM executions WHERE run_id = %s "
        "AND validation LIKE 'pass%%' AND tags NOT LIKE '%%judge%%' GROUP BY task_key",
        run,
    )
    assert {k for k, _ in passes} == succeeded


def test_a_killed_worker_loses_nothing_and_repays_only_its_calls_in_flight(
    fleet: Fleet, tmp_path: Path
) -> None:
    path = tmp_path / "dag.yaml"
    jobs = dag_pipeline(path, diamonds=25, fan=100, chains=8, chain_len=10)
    assert jobs == 282
    run = "kill-one"
    _submit(fleet, path, run, "--detach")
    workers = [fleet.worker() for _ in range(3)]
    url = fleet.url
    wait_for(lambda: _states(url, run).get("succeeded", 0) >= 50, 90, "50 jobs done", fleet)
    victim = workers[1]
    name = _one(
        url, "SELECT worker FROM gs_dist_nodes WHERE worker LIKE %s LIMIT 1", f"%:{victim.pid}"
    )
    fleet.kill(victim)
    in_flight = int(
        _one(
            url,
            "SELECT count(*) FROM gs_dist_nodes WHERE run_id = %s AND worker = %s "
            "AND state = 'running'",
            run,
            name,
        )
    )
    # submitting the run again while the others work on it changes nothing finished or queued
    _submit(fleet, path, run, "--detach")
    wait_for(lambda: _finished(url, run), 120, "the run to finish", fleet)
    _check_exactly_once(url, run, jobs)
    restarts = int(
        _one(url, "SELECT coalesce(sum(starts - 1), 0) FROM gs_dist_nodes WHERE run_id = %s", run)
    )
    restarted = _rows(url, "SELECT job_id, starts, worker FROM gs_dist_nodes WHERE starts > 1")
    assert restarts <= in_flight, (in_flight, name, restarted)
    assert _paid_twice(url, run) <= in_flight
    # the jobs the killed worker held were taken over by the others
    assert _one(url, "SELECT count(*) FROM gs_dist_nodes WHERE state = 'running'") == 0


def test_killing_every_worker_and_the_submitter_then_resuming_pays_nothing_finished_again(
    fleet: Fleet, tmp_path: Path
) -> None:
    path = tmp_path / "dag.yaml"
    jobs = dag_pipeline(path, diamonds=10, fan=40, chains=6, chain_len=8)
    run = "kill-all"
    _submit(fleet, path, run)  # watching: killed below with the workers
    workers = [fleet.worker() for _ in range(2)]
    url = fleet.url
    wait_for(lambda: _states(url, run).get("succeeded", 0) >= 30, 90, "30 jobs done", fleet)
    for proc in [fleet.procs[0], *workers]:
        fleet.kill(proc)
    done = {r[0] for r in _rows(url, "SELECT job_id FROM gs_dist_nodes WHERE run_id = %s "
                                     "AND state = 'succeeded'", run)}  # fmt: skip
    assert done and len(done) < jobs
    paid = dict(
        _rows(url, "SELECT task_key, count(*) FROM executions WHERE run_id = %s GROUP BY 1", run)
    )
    in_flight = int(
        _one(url, "SELECT count(*) FROM gs_dist_nodes WHERE run_id = %s AND state = 'running'", run)
    )

    _submit(fleet, path, run, "--detach")
    fleet.worker()
    fleet.worker()
    wait_for(lambda: _finished(url, run), 120, "the resumed run to finish", fleet)
    _check_exactly_once(url, run, jobs)
    after = dict(
        _rows(url, "SELECT task_key, count(*) FROM executions WHERE run_id = %s GROUP BY 1", run)
    )
    assert {job: after[job] for job in done} == {job: paid[job] for job in done}
    assert _paid_twice(url, run) <= in_flight


def test_sigterm_hands_in_flight_jobs_back_for_another_worker(fleet: Fleet, tmp_path: Path) -> None:
    path = tmp_path / "slow.yaml"
    path.write_text(
        "defaults: {strategy: single, model: sonnet, max_tokens: 2048}\ntasks:\n"
        + "".join(f"  - {{id: s{i}, task: 'Design part {i}'}}\n" for i in range(6)),
        encoding="utf-8",
    )
    run = "term"
    proc = fleet.start(
        "run", str(path), "--provider", "sim", "--time-scale", "1", "--executor", "postgres",
        "--run-id", run, "--detach",
    )  # fmt: skip
    assert proc.wait(60) == 0, fleet.logs()
    first = fleet.worker()
    url = fleet.url
    wait_for(lambda: _states(url, run).get("running", 0) >= 6, 60, "6 jobs running", fleet)
    first.send_signal(signal.SIGTERM)  # sonnet calls take seconds; --grace is 2
    assert first.wait(30) == 0, fleet.logs()
    states = _states(url, run)
    assert states.get("running", 0) == 0 and states.get("queued", 0) >= 1, states
    fleet.worker()
    wait_for(lambda: _finished(url, run), 90, "the run to finish on the second worker", fleet)
    assert _states(url, run).get("succeeded", 0) + _states(url, run).get("failed", 0) == 6
