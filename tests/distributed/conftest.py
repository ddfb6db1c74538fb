"""A fresh PostgreSQL database per test (``gs_dist_<random>``), worker subprocesses, and a DAG
pipeline with diamonds, a wide fan-out/fan-in and chains."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

PG_ENV = "GEARSHIFT_TEST_POSTGRES_URL"


def _admin_url() -> str:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"distributed tests need {PG_ENV} (set by .ci/run)")
    return base.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def dist_db() -> Iterator[str]:
    """The URL of a new, empty database, dropped (its connections ended) afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = _admin_url()
    name = f"gs_dist_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def dag_pipeline(path: Path, *, diamonds: int, fan: int, chains: int, chain_len: int) -> int:
    """Write a pipeline: ``diamonds`` diamonds (a -> b, c -> d), one fan-out of ``fan`` jobs
    between a root and a join, ``chains`` chains of ``chain_len``; the number of jobs."""
    lines = ["defaults: {strategy: tiered, max_tokens: 512}", "tasks:"]

    def task(job: str, text: str, deps: tuple[str, ...] = ()) -> None:
        dep = f", depends_on: [{', '.join(deps)}]" if deps else ""
        lines.append(f"  - {{id: {job}, task: '{text} {job}'{dep}}}")

    for i in range(diamonds):
        task(f"d{i}-top", "Plan the module")
        task(f"d{i}-left", "Write the code", (f"d{i}-top",))
        task(f"d{i}-right", "Write the tests", (f"d{i}-top",))
        task(f"d{i}-join", "Review both", (f"d{i}-left", f"d{i}-right"))
    task("fan-root", "Split the repository")
    for i in range(fan):
        task(f"fan-{i}", "Review one file", ("fan-root",))
    task("fan-join", "Summarise every review", tuple(f"fan-{i}" for i in range(fan)))
    for c in range(chains):
        for k in range(chain_len):
            task(f"c{c}-{k}", "Refine the draft", (f"c{c}-{k - 1}",) if k else ())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return diamonds * 4 + fan + 2 + chains * chain_len


def gearshift(*args: str) -> list[str]:
    return [sys.executable, "-m", "gearshift", *args]


class Fleet:
    """Worker subprocesses (and a submitter) against one ledger, killed at the end."""

    def __init__(self, url: str, home: Path) -> None:
        self.url, self.home = url, home
        self.procs: list[subprocess.Popen[bytes]] = []
        self.files: list[Any] = []
        self.env = {**os.environ, "GEARSHIFT_LEDGER": url, "HOME": str(home)}

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.home / f"proc-{len(self.procs)}.log").open("wb")
        self.files.append(log)
        proc = subprocess.Popen(
            gearshift(*args), env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.home
        )
        self.procs.append(proc)
        return proc

    def worker(self, concurrency: int = 20) -> subprocess.Popen[bytes]:
        return self.start(
            "worker", "--concurrency", str(concurrency), "--heartbeat", "0.5",
            "--stalled-after", "4", "--grace", "2",
        )  # fmt: skip

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        for file in self.files:
            file.close()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.home.glob("*.log"))


@pytest.fixture
def fleet(dist_db: str, tmp_path: Path) -> Iterator[Fleet]:
    f = Fleet(dist_db, tmp_path)
    try:
        yield f
    finally:
        f.close()


def wait_for(check: Callable[[], Any], timeout: float, what: str, fleet: Fleet) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{fleet.logs()}")


REDIS_URL = os.environ.get("GEARSHIFT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the test Redis (``$GEARSHIFT_TEST_REDIS_URL``, else
    127.0.0.1:6379/0), its keys deleted afterwards; skips when Redis is not reachable."""
    redis = pytest.importorskip("redis", reason="the redis package is not installed")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        client.close()
        pytest.skip(f"Redis at {REDIS_URL} is not reachable ({exc}); .ci/run starts it")
    prefix = f"gearshift:test:{uuid.uuid4().hex[:10]}:"
    try:
        yield prefix
    finally:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
        client.close()


def serve_until(ledger: Any, options: Any, done: Callable[[], Any], what: str) -> Any:
    """Run a worker in this process (``serve``) until ``done()`` (called in a thread, every
    0.1 s, up to 20 s) returns something true, and return it; the worker is cancelled then."""
    import asyncio
    import contextlib

    from gearshift.distributed.worker import serve

    async def main() -> Any:
        worker = asyncio.create_task(serve(ledger, options))
        try:
            for _ in range(200):
                value = await asyncio.to_thread(done)
                if value:
                    return value
                await asyncio.sleep(0.1)
            raise AssertionError(f"timed out waiting for {what}")
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    return asyncio.run(main())
