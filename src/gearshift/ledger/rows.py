"""One execution as a ledger row and back: the column order, the defaults of a row built from
column values, and the checks a record must pass before it is written."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from gearshift.catalog.cost import MAX_TOKENS
from gearshift.errors import ConfigError
from gearshift.ledger.columns import EXECUTION_COLUMNS, dedup_group
from gearshift.ledger.record import SOURCES, STATUSES, Execution, tags_json, ts_from_us, us_from_ts

__all__ = ["Row", "execution_row", "row_from_fields", "row_to_execution"]

Row = tuple[Any, ...]


def execution_row(e: Execution, *, privacy: bool = False) -> Row:
    """An execution as a tuple in :data:`EXECUTION_COLUMNS` order, validated; without its task
    text under ``privacy``."""
    try:
        counts = (
            e.input_tokens
            | e.output_tokens
            | e.cache_write_5m_tokens
            | e.cache_write_1h_tokens
            | e.cache_read_tokens
        )
    except TypeError:
        counts = -1
    if counts < 0 or counts > MAX_TOKENS or e.status not in STATUSES or e.source not in SOURCES:
        _validate(e)
    task = None if privacy else e.task
    tags = tags_json(e.tags) if e.tags else "{}"
    return (
        e.id,
        us_from_ts(e.ts),
        e.project,
        e.session,
        e.agent,
        task,
        e.task_hash,
        e.task_type,
        e.model,
        e.tier,
        e.input_tokens,
        e.output_tokens,
        e.cache_write_5m_tokens,
        e.cache_write_1h_tokens,
        e.cache_read_tokens,
        e.cost_nanos,
        e.price_version,
        e.latency_ms,
        e.status,
        e.attempt,
        e.chain_id,
        e.strategy,
        e.source,
        e.validation,
        e.escalation_reason,
        e.run_id,
        e.task_key,
        e.flags,
        tags,
        e.dedup_key,
        dedup_group(e.dedup_key),
    )


def row_from_fields(fields: Mapping[str, Any], *, privacy: bool = False) -> Row:
    """A row from column values (``ts_us``, ``tags`` as a dict); unnamed columns get their
    defaults."""
    values = dict(_ROW_DEFAULTS)
    values.update(fields)
    values["dedup_group"] = dedup_group(values["dedup_key"])
    tags = values["tags"]
    if isinstance(tags, dict):
        values["tags"] = tags_json(tags) if tags else "{}"
    if privacy:
        values["task"] = None
    return tuple(values[c] for c in EXECUTION_COLUMNS)


def row_to_execution(row: Sequence[Any]) -> Execution:
    data = dict(zip(EXECUTION_COLUMNS, row, strict=True))
    del data["dedup_group"]  # derived from dedup_key
    data["ts"] = ts_from_us(int(data.pop("ts_us")))
    data["tags"] = json.loads(data["tags"] or "{}")
    return Execution(**data)


_ROW_DEFAULTS: dict[str, Any] = {
    "project": "",
    "session": "",
    "agent": "default",
    "task": None,
    "task_hash": None,
    "task_type": None,
    "input_tokens": 0,
    "output_tokens": 0,
    "cache_write_5m_tokens": 0,
    "cache_write_1h_tokens": 0,
    "cache_read_tokens": 0,
    "cost_nanos": 0,
    "price_version": "",
    "latency_ms": None,
    "status": "success",
    "attempt": 1,
    "chain_id": None,
    "strategy": None,
    "source": "manual",
    "validation": None,
    "escalation_reason": None,
    "run_id": None,
    "task_key": None,
    "flags": 0,
    "tags": "{}",
    "dedup_key": None,
    "dedup_group": None,
}


def _validate(e: Execution) -> None:
    if e.status not in STATUSES:
        raise ConfigError(f"unknown status {e.status!r}", hint=f"use one of: {', '.join(STATUSES)}")
    if e.source not in SOURCES:
        raise ConfigError(f"unknown source {e.source!r}", hint=f"use one of: {', '.join(SOURCES)}")
    for name in (
        "input_tokens",
        "output_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "cache_read_tokens",
    ):
        value = getattr(e, name)
        if not isinstance(value, int) or value < 0 or value > MAX_TOKENS:
            raise ConfigError(
                f"{name} must be a whole number from 0 to {MAX_TOKENS:,}, not {value!r}"
            )
