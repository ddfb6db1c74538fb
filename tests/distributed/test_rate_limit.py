"""The rate limit every worker shares, held across 4 worker processes with the buckets in the
ledger's database and in Redis (the limiter's semantics per store: test_rate_limit_stores.py)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from tests.distributed.conftest import REDIS_URL, Fleet, wait_for

pytestmark = pytest.mark.postgres

RATE = 10  # requests per second
JOBS = 120


def _flat(path: Path, jobs: int) -> None:
    lines = ["defaults: {strategy: single, max_tokens: 256}", "tasks:"]
    lines += [f"  - {{id: t{i}, task: 'Check file {i}'}}" for i in range(jobs)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _call_times(url: str, run: str) -> list[float]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT ts_us FROM executions WHERE run_id = %s ORDER BY ts_us", (run,)
        ).fetchall()
    return [r[0] / 1e6 for r in rows]


@pytest.mark.parametrize("store", ["ledger", "redis"])
def test_four_workers_hold_a_shared_request_rate(
    fleet: Fleet, tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    if store == "redis":
        fleet.env["GEARSHIFT_RATE_LIMIT_STORE"] = REDIS_URL
        fleet.env["GEARSHIFT_RATE_LIMIT_PREFIX"] = request.getfixturevalue("redis_prefix")
    path = tmp_path / "flat.yaml"
    _flat(path, JOBS)
    run = "rate"
    proc = fleet.start(
        "run", str(path), "--provider", "sim", "--time-scale", "0", "--executor", "postgres",
        "--run-id", run, "--detach",
    )  # fmt: skip
    assert proc.wait(60) == 0, fleet.logs()
    for _ in range(4):
        fleet.start(
            "worker", "--concurrency", "30", "--rpm", str(RATE * 60), "--rate-burst", "1",
            "--heartbeat", "0.5", "--stalled-after", "4",
        )  # fmt: skip
    url = fleet.url
    wait_for(lambda: len(_call_times(url, run)) >= JOBS, 90, "every call", fleet)
    times = _call_times(url, run)
    # any one-second window: at most a second of the rate plus one full bucket (the burst)
    busiest = max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))
    assert busiest <= RATE + RATE * 1, busiest
    # and the rate is held, not starved: the calls after the first burst came at about RATE/s
    span = times[-1] - times[0]
    assert span >= (JOBS - 2 * RATE) / RATE, span
    assert (JOBS - RATE) / span >= RATE * 0.6, span
    if store == "redis":  # the buckets were Redis's, not the ledger's
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        prefix = request.getfixturevalue("redis_prefix")
        assert list(client.scan_iter(match=f"{prefix}*")), fleet.logs()
        client.close()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM gs_rate_buckets").fetchone() == (0,)
