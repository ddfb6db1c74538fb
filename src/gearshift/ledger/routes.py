"""Sticky routes the proxy shares through the ledger: one model per conversation, first wins.

A conversation (a keyed hash the proxy makes of session, agent and requested model) is routed
once; every worker and host on the same ledger must then send it to the same model, since a
switch rewrites the prompt cache and drops thinking blocks. :func:`claim_route` inserts a
decision unless one exists and returns whichever is stored, so two processes deciding at once
agree on the first; :func:`move_route` replaces a stored decision (a budget stepped it down).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gearshift.ledger.schema import proxy_routes

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger

_COLUMNS = (
    proxy_routes.c.model,
    proxy_routes.c.tier,
    proxy_routes.c.policy,
    proxy_routes.c.reason,
    proxy_routes.c.since_message,
)

__all__ = ["StoredRoute", "claim_route", "find_route", "move_route", "prune_routes"]


class StoredRoute(NamedTuple):
    """A conversation's route as stored."""

    model: str
    tier: str
    policy: str
    reason: str
    since_message: int = 0


def find_route(ledger: Ledger, key: str) -> StoredRoute | None:
    """The stored route of conversation ``key``, if any."""
    t = proxy_routes
    with ledger.read() as conn:
        row = conn.execute(select(*_COLUMNS).where(t.c.key == key)).first()
    return None if row is None else StoredRoute(*row)


def claim_route(ledger: Ledger, key: str, route: StoredRoute, now_us: int) -> StoredRoute:
    """Store ``route`` for ``key`` unless another is stored already; return the stored one."""
    t = proxy_routes
    with ledger.write() as conn:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        values = {"key": key, "created_us": now_us, **route._asdict()}
        conn.execute(insert(t).values(**values).on_conflict_do_nothing(index_elements=["key"]))
        row = conn.execute(select(*_COLUMNS).where(t.c.key == key)).one()
    return StoredRoute(*row)


def move_route(ledger: Ledger, key: str, route: StoredRoute) -> None:
    """Replace the stored route of ``key`` (for a conversation stepped down by a budget)."""
    t = proxy_routes
    with ledger.write() as conn:
        conn.execute(update(t).where(t.c.key == key).values(**route._asdict()))


def prune_routes(ledger: Ledger, before_us: int) -> int:
    """Forget routes decided before ``before_us``; returns how many."""
    t = proxy_routes
    with ledger.write() as conn:
        return int(conn.execute(delete(t).where(t.c.created_us < before_us)).rowcount)
