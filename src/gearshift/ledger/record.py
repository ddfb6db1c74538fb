"""One ledger record per agent execution (its ids are :mod:`gearshift.ledger.ids`'; its flags and
tags encodings, :mod:`gearshift.ledger.columns`', re-exported here)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from gearshift.catalog.cost import nanos_to_decimal, usd_text
from gearshift.ledger.columns import FLAG_BATCH, FLAG_ESTIMATED, FLAG_FAST, FLAG_UNPRICED, tags_json
from gearshift.ledger.ids import new_id, new_ids

__all__ = [
    "FLAG_BATCH",
    "FLAG_ESTIMATED",
    "FLAG_FAST",
    "FLAG_UNPRICED",
    "RETRY_STATUSES",
    "SOURCES",
    "STATUSES",
    "Execution",
    "new_id",
    "new_ids",
    "tags_json",
    "task_digest",
    "ts_from_us",
    "us_from_ts",
]

#: How an execution ended. ``blocked``: refused before it was sent (a budget), recorded at no
#: cost; ``cancelled``: the client went away mid-answer, recorded with what was used;
#: ``retried``: an HTTP attempt that failed (429, 529, a timeout) and was tried again;
#: ``dropped``: a response whose body broke off after the provider made it -- billable, with
#: whatever usage arrived. The last two are recorded beside the attempt that settled the call.
STATUSES = ("success", "failure", "error", "blocked", "cancelled", "retried", "dropped")
#: The statuses of HTTP attempts the one retry loop gave up on or retried: rows that are money
#: but not a task's outcome (left out of success rates and task counts).
RETRY_STATUSES = ("retried", "dropped")
SOURCES = ("api", "claude-code", "proxy", "manual", "import", "sim")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def task_digest(task: str) -> str:
    """A stable short fingerprint of a task text (kept even in privacy mode)."""
    import hashlib  # here: an ingest that never needs it starts without loading OpenSSL

    return hashlib.sha256(task.encode("utf-8")).hexdigest()[:16]


def us_from_ts(ts: dt.datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (naive means UTC)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.UTC)
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def ts_from_us(us: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=us)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(slots=True)
class Execution:
    """One agent execution: who ran what on which model, what it cost and how it ended.

    ``cost_nanos`` is exact integer nano-dollars, computed with the prices named by
    ``price_version``. ``dedup_key`` is set by importers so that recording the same source twice
    adds nothing.
    """

    model: str
    tier: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    cost_nanos: int = 0
    price_version: str = ""
    agent: str = "default"
    project: str = ""
    session: str = ""
    task: str | None = None
    task_hash: str | None = None
    task_type: str | None = None
    latency_ms: int | None = None
    status: str = "success"
    attempt: int = 1
    chain_id: str | None = None
    strategy: str | None = None
    source: str = "manual"
    validation: str | None = None
    escalation_reason: str | None = None
    run_id: str | None = None
    task_key: str | None = None
    flags: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    dedup_key: str | None = None
    ts: dt.datetime = field(default_factory=_now)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = new_id(us_from_ts(self.ts) // 1000)
        if self.task is not None and self.task_hash is None:
            self.task_hash = task_digest(self.task)

    @property
    def cost_usd(self) -> Decimal:
        return nanos_to_decimal(self.cost_nanos)

    @property
    def cache_creation_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``ts`` in ISO 8601 UTC, ``cost_usd`` as a decimal string."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "ts":
                value = value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
            out[f.name] = value
        out["cost_usd"] = usd_text(self.cost_nanos)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Execution:
        """Inverse of :meth:`to_dict` (``cost_usd`` is ignored: ``cost_nanos`` is the truth)."""
        names = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        if isinstance(kwargs.get("ts"), str):
            kwargs["ts"] = dt.datetime.fromisoformat(kwargs["ts"].replace("Z", "+00:00"))
        return cls(**kwargs)
