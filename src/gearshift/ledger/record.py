"""One ledger record per agent execution, and the time-sortable ids that name them."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from gearshift.catalog.cost import nanos_to_decimal, usd_text

__all__ = [
    "FLAG_BATCH",
    "FLAG_FAST",
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

STATUSES = ("success", "failure", "error")
SOURCES = ("api", "claude-code", "proxy", "manual", "import", "sim")
FLAG_BATCH = 1
FLAG_FAST = 2

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [_CROCKFORD[i >> 5] + _CROCKFORD[i & 31] for i in range(1024)]
_SHIFTS = tuple(range(120, -1, -10))
_ulid_lock = threading.Lock()
_last_ms = 0
_last_rand = 0
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def new_id(at_ms: int | None = None) -> str:
    """A ULID: 48 bits of milliseconds, then 80 random bits, in Crockford base32 (26 chars).

    Ids made in one process within the same millisecond are strictly increasing (the random part
    is incremented), so ids sort in creation order; across processes the random part keeps them
    unique.
    """
    global _last_ms, _last_rand
    ms = at_ms if at_ms is not None else time.time_ns() // 1_000_000
    with _ulid_lock:
        if at_ms is None and ms <= _last_ms:
            ms = _last_ms
            rand = _last_rand + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big")
        if at_ms is None:
            _last_ms, _last_rand = ms, rand
    value = (ms << 80) | (rand & ((1 << 80) - 1))
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in _SHIFTS])


_MS_LIMIT = 1 << 48
_RANDOM_CHARS = bytes(ord(_CROCKFORD[b & 31]) for b in range(256))


def new_ids(at_ms: Sequence[int]) -> list[str]:
    """ULIDs for many records at once, each at its own millisecond with a fresh random part:
    the ids :func:`new_id` makes with ``at_ms``, several times faster for a bulk import.

    The 80 random bits are 16 characters drawn straight from random bytes (each byte's low 5
    bits: 256 is a multiple of 32, so every character is equally likely); the 48-bit time is 10
    characters, the first 6 shared by every millisecond of a ~17-minute span and cached."""
    noise = os.urandom(16 * len(at_ms)).translate(_RANDOM_CHARS).decode("ascii")
    pairs = _PAIRS
    heads: dict[int, str] = {}
    out = []
    for i, when in enumerate(at_ms):
        # a transcript line dated before 1970 (or after 10889) is clamped: the id only orders
        # records, the ts_us column keeps the time
        ms = when if 0 <= when < _MS_LIMIT else min(max(when, 0), _MS_LIMIT - 1)
        top = ms >> 20
        head = heads.get(top)
        if head is None:
            head = heads[top] = pairs[top >> 20] + pairs[(top >> 10) & 1023] + pairs[top & 1023]
        at = 16 * i
        out.append(head + pairs[(ms >> 10) & 1023] + pairs[ms & 1023] + noise[at : at + 16])
    return out


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


_TAGS_CACHE: dict[tuple[tuple[str, str], ...], str] = {}


def tags_json(tags: dict[str, str]) -> str:
    """Canonical JSON of a tag dict (sorted keys, no spaces), so LIKE filters work on both
    stores; memoised because most rows of a batch share their tags."""
    key = tuple(sorted(tags.items()))
    cached = _TAGS_CACHE.get(key)
    if cached is None:
        cached = json.dumps(dict(key), separators=(",", ":"), ensure_ascii=False)
        if len(_TAGS_CACHE) < 10_000:
            _TAGS_CACHE[key] = cached
    return cached
