"""Unpriced executions: calls on a model the catalog did not know when they were recorded.

They are kept at $0 rather than lost -- a paid call must be in the ledger even when its price is
not -- and marked: :data:`~gearshift.ledger.columns.FLAG_UNPRICED` with a note in the ``unpriced``
tag (``Ledger.record``, ``Ledger.track``), or an empty ``price_version`` on a call that did not
fail (transcript ingest). Once a price file knows the model, :func:`reprice` prices them with it,
in place, each at its own day's price; ``gearshift ledger reprice`` runs it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gearshift.catalog.cost import Usage
from gearshift.catalog.tiers import Tier
from gearshift.ledger.columns import FLAG_BATCH, FLAG_FAST, FLAG_UNPRICED, tags_json
from gearshift.ledger.queries import (
    BUCKET_US,
    GROUPS,
    TIME_GROUPS,
    Filters,
    SpendReport,
    SpendRow,
    period_key,
    report_of_rows,
)
from gearshift.ledger.record import Execution, ts_from_us, us_from_ts

if TYPE_CHECKING:
    from gearshift.catalog import Catalog
    from gearshift.ledger.bulk import BulkLedger, Reader


__all__ = [
    "UNPRICED_SQL",
    "Repriced",
    "RepricedSpend",
    "guess_tier",
    "reprice",
    "repriced_spend",
    "unpriced_execution",
    "unpriced_models",
]

#: The executions recorded without a price.
UNPRICED_SQL = f"((flags & {FLAG_UNPRICED}) <> 0 OR (price_version = '' AND status <> 'error'))"

_UPDATE = (
    "UPDATE executions SET model = :model, tier = :tier, cost_nanos = :cost_nanos, "
    "price_version = :price_version, flags = :flags, tags = :tags WHERE id = :id"
)


@dataclass(slots=True)
class Repriced:
    """What :func:`reprice` did: executions priced, what they now cost, and the models still
    without a price (with how many executions each)."""

    repriced: int = 0
    added_nanos: int = 0
    still_unpriced: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from gearshift.catalog.cost import usd_text

        return {
            "repriced": self.repriced,
            "added_usd": usd_text(self.added_nanos),
            "still_unpriced": dict(sorted(self.still_unpriced.items())),
        }


def guess_tier(model: str) -> str:
    """The tier a model id names (``claude-sonnet-9`` -> ``sonnet``), else ``unknown``."""
    lowered = model.lower()
    return next((t.value for t in Tier.ordered() if t.value in lowered), "unknown")


def unpriced_execution(
    catalog: Catalog,
    *,
    agent: str,
    model: str,
    usage: Usage,
    ts: dt.datetime | None = None,
    **fields: Any,
) -> Execution:
    """An :class:`Execution` for a call on a model ``catalog`` does not know: at $0, flagged
    :data:`FLAG_UNPRICED`, with a note in its ``unpriced`` tag and the tier its name says."""
    extra: dict[str, Any] = dict(fields)
    if ts is not None:
        extra["ts"] = ts
    flags = (FLAG_BATCH if usage.batch else 0) | (FLAG_FAST if usage.fast else 0)
    execution = Execution(
        model=model.strip() or "(none)",
        tier=guess_tier(model),
        agent=agent,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_write_5m_tokens=usage.cache_write_5m_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        flags=flags | FLAG_UNPRICED,
        **extra,
    )
    execution.tags = dict(execution.tags)
    execution.tags["unpriced"] = (
        f"no price for {model!r} in prices {catalog.price_version}: recorded at $0"
    )
    if usage.geo:
        execution.tags.setdefault("geo", usage.geo)
    return execution


def unpriced_models(ledger: Reader, filters: Filters | None = None) -> dict[str, int]:
    """Executions without a price that ``filters`` selects, per model."""
    where, params = (filters or Filters()).sql()
    sql = f"SELECT model, COUNT(*) FROM executions WHERE {UNPRICED_SQL} AND {where} GROUP BY model"
    return {str(model): int(n) for model, n in ledger.query(sql, params)}


def reprice(ledger: BulkLedger, *, since: dt.datetime | None = None) -> Repriced:
    """Price every unpriced execution (from ``since``) whose model ``ledger.catalog`` knows now,
    in one transaction; the rest stay as they are."""
    catalog = ledger.catalog
    sql = (
        "SELECT id, ts_us, model, input_tokens, output_tokens, cache_write_5m_tokens, "
        f"cache_write_1h_tokens, cache_read_tokens, flags, tags FROM executions "
        f"WHERE {UNPRICED_SQL}"
    )
    params: dict[str, Any] = {}
    if since is not None:
        sql += " AND ts_us >= :since"
        params["since"] = us_from_ts(since)
    done = Repriced()
    updates: list[dict[str, Any]] = []
    for row in ledger.query(sql, params):
        update = _priced(catalog, row)
        if update is None:
            done.still_unpriced[str(row[2])] = done.still_unpriced.get(str(row[2]), 0) + 1
            continue
        updates.append(update)
        done.added_nanos += update["cost_nanos"]
    if updates:
        ledger.execute_many([(_UPDATE, updates)])
    done.repriced = len(updates)
    return done


def _priced(catalog: Catalog, row: tuple[Any, ...]) -> dict[str, Any] | None:
    row_id, ts_us, name, i, o, w5, w1, r, flags, tags_text = row
    model = catalog.find(str(name))
    if model is None:
        return None
    tags: dict[str, str] = json.loads(tags_text or "{}")
    tags.pop("unpriced", None)
    usage = Usage(
        int(i),
        int(o),
        int(w5),
        int(w1),
        int(r),
        batch=bool(flags & FLAG_BATCH),
        fast=bool(flags & FLAG_FAST),
        geo=tags.get("geo"),
    )
    cost = catalog.cost(model, usage, at=ts_from_us(int(ts_us)))
    return {
        "id": row_id,
        "model": model.id,
        "tier": model.tier.value,
        "cost_nanos": cost.nanos,
        "price_version": cost.price_version,
        "flags": int(flags) & ~FLAG_UNPRICED,
        "tags": tags_json(tags) if tags else "{}",
    }


@dataclass(slots=True)
class RepricedSpend:
    """Spend as :func:`~gearshift.ledger.queries.spend` reports it, but every execution priced
    with ``price_version`` instead of its stored cost; ``stored_nanos`` is what the same
    executions cost as recorded, and ``unknown`` the models those prices do not know (their
    executions keep their stored cost)."""

    report: SpendReport
    price_version: str
    stored_nanos: int
    unknown: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        from gearshift.catalog.cost import usd_text

        return {
            **self.report.to_dict(),
            "repriced_with": self.price_version,
            "stored_total_usd": usd_text(self.stored_nanos),
            "kept_stored_cost": dict(sorted(self.unknown.items())),
        }


def repriced_spend(
    ledger: Reader,
    by: str,
    catalog: Catalog,
    filters: Filters | None = None,
    tz: dt.tzinfo = dt.UTC,
) -> RepricedSpend:
    """Spend grouped ``by`` a period or a column, each execution priced with ``catalog`` at its
    own day's prices (what-if: nothing is written). One row per execution is priced, so this
    reads the whole selection -- a few seconds for millions of executions."""
    if by not in GROUPS:
        from gearshift.errors import ConfigError

        raise ConfigError(f"--by: cannot group by {by!r}", hint=f"use one of: {', '.join(GROUPS)}")
    where, params = (filters or Filters()).sql()
    key = "ts_us" if by in TIME_GROUPS else by
    sql = (
        f"SELECT {key}, ts_us, model, input_tokens, output_tokens, cache_write_5m_tokens, "
        "cache_write_1h_tokens, cache_read_tokens, flags, tags, cost_nanos "
        f"FROM executions WHERE {where}"
    )
    rows: dict[str, SpendRow] = {}
    stored = 0
    unknown: dict[str, int] = {}
    for group, ts_us, name, i, o, w5, w1, r, flags, tags, cost_nanos in ledger.query(sql, params):
        stored += int(cost_nanos)
        model = catalog.find(str(name))
        if model is None:
            unknown[str(name)] = unknown.get(str(name), 0) + 1
            nanos = int(cost_nanos)
        else:
            geo = json.loads(tags or "{}").get("geo")
            batch, fast = bool(flags & FLAG_BATCH), bool(flags & FLAG_FAST)
            usage = Usage(int(i), int(o), int(w5), int(w1), int(r), batch=batch, fast=fast, geo=geo)
            nanos = catalog.cost(model, usage, at=ts_from_us(int(ts_us))).nanos
        if by in TIME_GROUPS:
            label = period_key(int(group) // BUCKET_US, by, tz)
        else:
            label = str(group) if group not in (None, "") else "(none)"
        row = rows.setdefault(label, SpendRow(label))
        row.add((1, i, o, int(w5) + int(w1), r, nanos))
    ordered = (
        [rows[k] for k in sorted(rows)]
        if by in TIME_GROUPS
        else sorted(rows.values(), key=lambda row: (-row.cost_nanos, row.key))
    )
    report = report_of_rows(by, ordered)
    return RepricedSpend(report, catalog.price_version, stored, unknown)
