"""The ledger's table layout as plain names, importable without SQLAlchemy.

:mod:`gearshift.ledger.schema` defines the tables and checks at import that they match these
names, so the standard-library SQLite path (:mod:`gearshift.ledger.lite`) and the SQLAlchemy
path can never disagree about column order or the migrations a current ledger has.
"""

from __future__ import annotations

__all__ = ["EXECUTION_COLUMNS", "MIGRATION_NAMES"]

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
)

#: The named migrations a current ledger has applied, in order.
MIGRATION_NAMES: tuple[str, ...] = (
    "0001_executions",
    "0002_ingest_files",
    "0003_budgets",
    "0004_engine",
    "0005_dedup_key_bytewise",
    "0006_ingest_agents",
)
