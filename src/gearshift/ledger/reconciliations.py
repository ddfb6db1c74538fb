"""Stored comparisons of the ledger with a provider's bill, and the SQL that reads them back.

Each ``gearshift reconcile`` run is one row of ``reconciliation_runs`` and one row per group in
``reconciliation_rows`` (tables in :mod:`gearshift.ledger.schema`, migration
``0008_reconciliations``), so drift can be followed over time by ``gearshift report`` and the
alerts. Reads are plain SQL through a :class:`~gearshift.ledger.bulk.Reader` (either ledger);
writes go through :meth:`gearshift.ledger.store.Ledger.write`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from gearshift.ledger.schema import reconciliation_rows, reconciliation_runs

if TYPE_CHECKING:
    from gearshift.ledger.bulk import Reader
    from gearshift.ledger.store import Ledger

__all__ = ["StoredRow", "StoredRun", "latest_rows", "recent_runs", "save_run"]


@dataclass(frozen=True, slots=True)
class StoredRun:
    """One comparison: its UTC days ``since_day`` .. ``last_day`` (inclusive) and totals."""

    run_id: str
    created_at: str
    provider: str
    since_day: str
    last_day: str
    grouping: str
    tolerance_pct: str
    tolerance_usd: str
    row_count: int
    beyond_count: int
    ledger_nanos: int
    bill_nanos: int
    price_version: str


@dataclass(frozen=True, slots=True)
class StoredRow:
    """One group of a comparison (see ``reconciliation_rows`` in the schema)."""

    group_key: str
    day: str | None
    model: str | None
    workspace: str | None
    api_key: str | None
    ledger_tokens: int
    bill_tokens: int
    ledger_nanos: int
    bill_nanos: int
    bill_token_nanos: int
    catalog_nanos: int | None
    within_tolerance: bool
    reasons: tuple[str, ...]
    prices: dict[str, tuple[int, int]]  # token kind -> (billed, catalog) nano-dollars


def save_run(ledger: Ledger, run: StoredRun, rows: Sequence[StoredRow]) -> None:
    """Store a run and its rows in one transaction."""
    values = []
    for row in rows:
        item = asdict(row)
        item["within_tolerance"] = int(row.within_tolerance)
        item["reasons"] = json.dumps(list(row.reasons))
        item["prices"] = json.dumps({k: list(v) for k, v in sorted(row.prices.items())})
        values.append({"run_id": run.run_id, **item})
    with ledger.write() as conn:
        conn.execute(reconciliation_runs.insert().values(**asdict(run)))
        if values:
            conn.execute(reconciliation_rows.insert(), values)


_RUN_COLUMNS = (
    "run_id, created_at, provider, since_day, last_day, grouping, tolerance_pct, tolerance_usd, "
    "row_count, beyond_count, ledger_nanos, bill_nanos, price_version"
)


def recent_runs(reader: Reader, provider: str = "anthropic", limit: int = 10) -> list[StoredRun]:
    """The newest runs first."""
    sql = (
        f"SELECT {_RUN_COLUMNS} FROM reconciliation_runs WHERE provider = :provider "
        "ORDER BY created_at DESC, run_id DESC LIMIT :limit"
    )
    return [_run(r) for r in reader.query(sql, {"provider": provider, "limit": limit})]


def _run(r: Sequence[Any]) -> StoredRun:
    return StoredRun(
        run_id=str(r[0]),
        created_at=str(r[1]),
        provider=str(r[2]),
        since_day=str(r[3]),
        last_day=str(r[4]),
        grouping=str(r[5]),
        tolerance_pct=str(r[6]),
        tolerance_usd=str(r[7]),
        row_count=int(r[8]),
        beyond_count=int(r[9]),
        ledger_nanos=int(r[10]),
        bill_nanos=int(r[11]),
        price_version=str(r[12]),
    )


def latest_rows(
    reader: Reader,
    since: dt.date | None = None,
    until: dt.date | None = None,
    *,
    provider: str = "anthropic",
) -> list[tuple[StoredRun, StoredRow]]:
    """For every (day, model) compared in ``[since, until)``, the row of the newest run that
    compared it per day and model, with that run."""
    where = ["u.provider = :provider", "u.grouping = 'day-model'", "r.day IS NOT NULL"]
    params: dict[str, object] = {"provider": provider}
    if since is not None:
        where.append("r.day >= :since")
        params["since"] = since.isoformat()
    if until is not None:
        where.append("r.day < :until")
        params["until"] = until.isoformat()
    cols = ", ".join(f"u.{c.strip()}" for c in _RUN_COLUMNS.split(","))
    sql = (
        f"SELECT {cols}, r.group_key, r.day, r.model, r.workspace, r.api_key, r.ledger_tokens, "
        "r.bill_tokens, r.ledger_nanos, r.bill_nanos, r.bill_token_nanos, r.catalog_nanos, "
        "r.within_tolerance, r.reasons, r.prices "
        "FROM reconciliation_rows r JOIN reconciliation_runs u "
        f"ON u.run_id = r.run_id WHERE {' AND '.join(where)} ORDER BY u.created_at, u.run_id"
    )
    latest: dict[tuple[object, object], tuple[StoredRun, StoredRow]] = {}
    for r in reader.query(sql, params):
        run = _run(r[:13])
        key, day, model, workspace, api_key = r[13:18]
        ledger_tokens, bill_tokens, ledger_nanos, bill_nanos, token_nanos = (
            int(v or 0) for v in r[18:23]
        )
        row = StoredRow(
            group_key=str(key),
            day=day,
            model=model,
            workspace=workspace,
            api_key=api_key,
            ledger_tokens=ledger_tokens,
            bill_tokens=bill_tokens,
            ledger_nanos=ledger_nanos,
            bill_nanos=bill_nanos,
            bill_token_nanos=token_nanos,
            catalog_nanos=None if r[23] is None else int(r[23]),
            within_tolerance=bool(r[24]),
            reasons=tuple(json.loads(r[25] or "[]")),
            prices={k: (int(v[0]), int(v[1])) for k, v in json.loads(r[26] or "{}").items()},
        )
        latest[(day, model)] = (run, row)
    return [latest[k] for k in sorted(latest, key=lambda k: (str(k[0]), str(k[1])))]
