"""The SQL behind budgets, reservations and alerts, on the ledger's budget tables.

The tables live in the ledger database (defined in :mod:`gearshift.ledger.schema`) so that a team
sharing one PostgreSQL ledger shares its budgets, sees each other's in-flight reservations and
sends each alert once.

* ``budgets`` -- budgets set with ``gearshift budget set`` (config-file budgets are not copied).
* ``budget_locks`` -- one row per budget name, locked ``FOR UPDATE`` by a reservation on
  PostgreSQL. A separate table because config-file budgets have no ``budgets`` row to lock.
* ``budget_reservations`` -- in-flight worst-case amounts, one row per (reservation, budget),
  counted against a budget until settled or expired.
* ``alerts_sent`` -- which alert level went out for which budget period, so each goes out once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gearshift.ledger.schema import alerts_sent, budget_locks, budget_reservations, budgets

__all__ = [
    "claim_alert",
    "delete_budget",
    "delete_reservation",
    "insert_reservation",
    "lock_budgets",
    "purge_expired",
    "select_budgets",
    "shrink_reservation",
    "unclaim_alert",
    "upsert_budget",
]

#: Reservations this long past their expiry are deleted by the next reservation on the budget.
#: The grace keeps the purge away from rows a late ``settle`` may still be deleting.
PURGE_GRACE_US = 3_600_000_000


def _insert(conn: Connection, table: Table) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)


# -- budgets ------------------------------------------------------------------------------------


def select_budgets(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(budgets).order_by(budgets.c.name)).mappings()
    return [dict(r) for r in rows]


def upsert_budget(conn: Connection, row: dict[str, Any]) -> None:
    stmt = _insert(conn, budgets).values(**row)
    update = {k: stmt.excluded[k] for k in row if k != "name"}
    conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=update))


def delete_budget(conn: Connection, name: str) -> bool:
    """Delete a stored budget and what hangs off it; ``False`` if there was none."""
    gone = conn.execute(delete(budgets).where(budgets.c.name == name)).rowcount
    conn.execute(delete(budget_reservations).where(budget_reservations.c.budget == name))
    conn.execute(delete(alerts_sent).where(alerts_sent.c.budget == name))
    return bool(gone)


# -- reservations -------------------------------------------------------------------------------


def lock_budgets(conn: Connection, names: Iterable[str]) -> None:
    """Serialise reservations on these budgets until ``conn``'s transaction ends.

    On PostgreSQL: make sure each lock row exists, then ``SELECT .. FOR UPDATE`` it, one name at a
    time in sorted order so two transactions locking overlapping sets cannot deadlock. On SQLite
    the caller's ``BEGIN IMMEDIATE`` already holds the database's single write lock.
    """
    if conn.dialect.name != "postgresql":
        return
    ordered = sorted(set(names))
    if not ordered:
        return
    conn.execute(
        _insert(conn, budget_locks)
        .values([{"name": n} for n in ordered])
        .on_conflict_do_nothing(index_elements=["name"])
    )
    lock = budget_locks.c.name
    for name in ordered:
        conn.execute(select(lock).where(lock == name).with_for_update())


def purge_expired(conn: Connection, budget_names: Sequence[str], now_us: int) -> None:
    r = budget_reservations
    conn.execute(
        delete(r).where(r.c.budget.in_(budget_names), r.c.expires_us < now_us - PURGE_GRACE_US)
    )


def insert_reservation(
    conn: Connection,
    reservation_id: str,
    budget_names: Sequence[str],
    amount_nanos: int,
    created_us: int,
    expires_us: int,
) -> None:
    conn.execute(
        budget_reservations.insert(),
        [
            {
                "id": reservation_id,
                "budget": name,
                "amount_nanos": amount_nanos,
                "created_us": created_us,
                "expires_us": expires_us,
            }
            for name in sorted(budget_names)
        ],
    )


def shrink_reservation(conn: Connection, reservation_id: str, amount_nanos: int) -> None:
    r = budget_reservations
    conn.execute(
        r.update()
        .where(r.c.id == reservation_id, r.c.amount_nanos > amount_nanos)
        .values(amount_nanos=amount_nanos)
    )


def delete_reservation(conn: Connection, reservation_id: str) -> int:
    r = budget_reservations
    return int(conn.execute(delete(r).where(r.c.id == reservation_id)).rowcount)


# -- alerts -------------------------------------------------------------------------------------


def claim_alert(conn: Connection, budget: str, period_start: str, level: str, at: str) -> bool:
    """Record that this alert is going out; ``False`` when it already went out (or is going)."""
    stmt = (
        _insert(conn, alerts_sent)
        .values(budget=budget, period_start=period_start, level=level, sent_at=at)
        .on_conflict_do_nothing(index_elements=["budget", "period_start", "level"])
    )
    return bool(conn.execute(stmt).rowcount)


def unclaim_alert(conn: Connection, budget: str, period_start: str, level: str) -> None:
    """Forget a claimed alert whose delivery failed, so the next check tries again."""
    a = alerts_sent
    conn.execute(
        delete(a).where(a.c.budget == budget, a.c.period_start == period_start, a.c.level == level)
    )
