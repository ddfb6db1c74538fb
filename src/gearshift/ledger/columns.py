"""The ledger's table layout as plain names, importable without SQLAlchemy.

:mod:`gearshift.ledger.schema` defines the tables and checks at import that they match these
names, so the standard-library SQLite path (:mod:`gearshift.ledger.sqlite3_ledger`) and the
SQLAlchemy path can never disagree about column order or the migrations a current ledger has.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import overload
from zlib import crc32

__all__ = [
    "EXECUTION_COLUMNS",
    "FLAG_BATCH",
    "FLAG_ESTIMATED",
    "FLAG_FAST",
    "FLAG_UNPRICED",
    "MIGRATION_NAMES",
    "dedup_group",
    "dedup_groups",
    "tags_json",
]

#: Bits of the ``flags`` column.
FLAG_BATCH = 1
FLAG_FAST = 2
#: The usage is an estimate, not what the API reported (a stream cut before its final usage).
FLAG_ESTIMATED = 4
#: Recorded at $0 because the catalog had no price for the model (``gearshift ledger reprice``
#: prices it once the price file knows the model).
FLAG_UNPRICED = 8

#: Column order of ``executions`` used by bulk writers (:class:`Execution` fields, ``ts`` ->
#: ``ts_us``).
EXECUTION_COLUMNS: tuple[str, ...] = (
    "id",
    "ts_us",
    "project",
    "session",
    "agent",
    "task",
    "task_hash",
    "task_type",
    "model",
    "tier",
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "cost_nanos",
    "price_version",
    "latency_ms",
    "status",
    "attempt",
    "chain_id",
    "strategy",
    "source",
    "validation",
    "escalation_reason",
    "run_id",
    "task_key",
    "flags",
    "tags",
    "dedup_key",
    "dedup_group",
)

#: The named migrations a current ledger has applied, in order.
MIGRATION_NAMES: tuple[str, ...] = (
    "0001_executions",
    "0002_ingest_files",
    "0003_budgets",
    "0004_engine",
    "0005_dedup_key_bytewise",
    "0006_ingest_agents",
    "0007_dedup_group",
    "0008_reconciliations",
    "0009_session_index",
    "0010_learning",
    "0011_proxy_routes",
    "0012_runs",
    "0013_spend_rollup",
    "0014_distributed",
    "0015_dist_workers",
)


@overload
def dedup_group(key: str) -> int: ...
@overload
def dedup_group(key: None) -> None: ...


def dedup_group(key: str | None) -> int | None:
    """The ``dedup_group`` of a record with dedup key ``key``: a 32-bit hash of the key's first
    ``|``-separated part (``cc:<message id>`` for a Claude Code transcript copy), so that every
    recorded copy of one message is found with one lookup of a small integer index.

    The index only narrows a search: writers compare whole keys, so two groups that share a
    hash cost a few extra rows read, never a record. A key is unique by the writers' rule (see
    :mod:`gearshift.ledger.dedup`), not by an index on the long text,
    which a run of new random message ids would rewrite nearly page by page."""
    if key is None:
        return None
    head = key.partition("|")[0]
    return crc32(head.encode("utf-8")) - 0x80000000  # a signed 32-bit value: 4 bytes to store


def dedup_groups(keys: Iterable[str]) -> list[int]:
    """:func:`dedup_group` of each key (none ``None``), in one pass: the same values without a
    function call per key (a run groups thousands)."""
    return [crc32(key.partition("|")[0].encode("utf-8")) - 0x80000000 for key in keys]


_TAGS_CACHE: dict[tuple[tuple[str, str], ...], str] = {}


def tags_json(tags: dict[str, str]) -> str:
    """Canonical JSON of a tag dict (sorted keys, no spaces), so LIKE filters work on both
    stores; memoised because most rows of a batch share their tags (not those with a
    provider's ``request_id``, which no other row shares)."""
    key = tuple(sorted(tags.items()))
    cached = _TAGS_CACHE.get(key)
    if cached is None:
        cached = json.dumps(dict(key), separators=(",", ":"), ensure_ascii=False)
        if len(_TAGS_CACHE) < 10_000 and "request_id" not in tags:
            _TAGS_CACHE[key] = cached
    return cached
