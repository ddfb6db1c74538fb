"""The engine's tables in the ledger database: run outputs (for resuming) and a response cache.

``run_jobs`` remembers, per run id and job id, how a job ended and its output, so re-running a
run id skips what already succeeded (after a crash or ``kill -9`` nothing is paid twice) and hands
finished outputs to the jobs that depend on them. ``response_cache`` maps a content hash of a
request to the response text and usage, with an expiry, for exact-repeat reuse.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Column, Connection, String, Table, Text, delete, select

from gearshift.ledger.schema import metadata

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger

__all__ = ["CachedResponse", "FinishedJob", "RunStore", "create_tables", "request_key"]

run_jobs = Table(
    "run_jobs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("job_id", String(200), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("output", Text),
    Column("cost_nanos", BigInteger, nullable=False, default=0),
    Column("tier_path", String(100), nullable=False, default=""),
    Column("finished_at", String(40), nullable=False),
)

response_cache = Table(
    "response_cache",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("model", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("usage", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
)


def create_tables(conn: Connection) -> None:
    run_jobs.create(conn, checkfirst=True)
    response_cache.create(conn, checkfirst=True)


def request_key(
    model: str, system: str | None, prompt: str, max_tokens: int, temperature: float | None
) -> str:
    """A content hash of everything that determines a response."""
    payload = json.dumps([model, system, prompt, max_tokens, temperature], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class FinishedJob:
    job_id: str
    status: str
    output: str | None
    cost_nanos: int
    tier_path: str


@dataclass(frozen=True, slots=True)
class CachedResponse:
    text: str
    usage: Mapping[str, Any]
    model: str


def _now_us() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000)


class RunStore:
    """Run outputs and the response cache of one ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def finished(self, run_id: str) -> dict[str, FinishedJob]:
        query = select(
            run_jobs.c.job_id,
            run_jobs.c.status,
            run_jobs.c.output,
            run_jobs.c.cost_nanos,
            run_jobs.c.tier_path,
        ).where(run_jobs.c.run_id == run_id)
        with self.ledger.read() as conn:
            return {row[0]: FinishedJob(*row) for row in conn.execute(query)}

    def save(self, run_id: str, job: FinishedJob) -> None:
        with self.ledger.write() as conn:
            conn.execute(
                delete(run_jobs).where(run_jobs.c.run_id == run_id, run_jobs.c.job_id == job.job_id)
            )
            conn.execute(
                run_jobs.insert().values(
                    run_id=run_id,
                    job_id=job.job_id,
                    status=job.status,
                    output=job.output,
                    cost_nanos=job.cost_nanos,
                    tier_path=job.tier_path,
                    finished_at=dt.datetime.now(dt.UTC).isoformat(),
                )
            )

    def cache_get(self, key: str) -> CachedResponse | None:
        query = select(response_cache.c.text, response_cache.c.usage, response_cache.c.model).where(
            response_cache.c.key == key, response_cache.c.expires_us > _now_us()
        )
        with self.ledger.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return CachedResponse(row[0], json.loads(row[1]), row[2])

    def cache_put(
        self, key: str, model: str, text: str, usage: Mapping[str, Any], ttl_s: int
    ) -> None:
        now = _now_us()
        with self.ledger.write() as conn:
            conn.execute(delete(response_cache).where(response_cache.c.key == key))
            conn.execute(
                response_cache.insert().values(
                    key=key,
                    model=model,
                    text=text,
                    usage=json.dumps(dict(usage)),
                    created_us=now,
                    expires_us=now + ttl_s * 1_000_000,
                )
            )
