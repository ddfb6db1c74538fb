"""Quick read-only looks at the ledger, for a display that asks many times a minute.

A live display (the Claude Code status line) must never make a writer wait, never change the
ledger, and never hang. :func:`open_glance` therefore opens the ledger strictly read-only:

* SQLite through :mod:`sqlite3` with a ``mode=ro`` URI -- no migration, no table, no file is ever
  created, a missing ledger is an error -- and a short busy timeout. A write-ahead-log ledger
  (every ledger gearshift makes) lets readers read the last committed state while a writer holds
  its lock; a ledger in another journal mode locked by a writer makes the read give up after
  ``wait_ms`` instead of waiting for it.
* PostgreSQL through psycopg in a read-only session with a ``statement_timeout`` of ``wait_ms``.

The reads are the few a display needs (:class:`Glance`); each is one query on an index
(``ix_executions_session`` holds what a session's reads need: they do not touch the table). They
read whatever schema the ledger has and never check its migrations: a ledger an older or newer
gearshift wrote answers as long as these columns exist.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from gearshift.errors import LedgerError
from gearshift.ledger.columns import MIGRATION_NAMES

if TYPE_CHECKING:
    from typing import Any

    from gearshift.ledger.urls import LedgerLocation

__all__ = ["AgentSpend", "Glance", "open_glance"]

#: A subagent's spend in a session: (agent, cost in nano-dollars, records).
AgentSpend = tuple[str, int, int]

_SESSION_SPEND = (
    "SELECT agent, COALESCE(SUM(cost_nanos), 0), COUNT(*) FROM executions"
    " WHERE session = ? GROUP BY agent"
)
_SPEND_SINCE = "SELECT COALESCE(SUM(cost_nanos), 0) FROM executions WHERE ts_us >= ?"
# The main thread's route when it has one: a proxy routes per (session, agent), and the main
# thread's tier is the one a person is talking to.
_ROUTED_TIER = (
    "SELECT tier FROM executions WHERE session = ? AND source = 'proxy'"
    " ORDER BY CASE WHEN agent = 'main' THEN 0 ELSE 1 END, ts_us DESC LIMIT 1"
)


class Glance:
    """An open read-only view of a ledger; close it (or use ``with``) when done."""

    __slots__ = ("_conn", "_mark", "location")

    def __init__(self, conn: Any, location: LedgerLocation, mark: str) -> None:
        self._conn = conn
        self._mark = mark  # the driver's parameter marker
        self.location = location

    def __enter__(self) -> Glance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:  # noqa: SIM105 - contextlib is not loaded on this path
            self._conn.close()
        except Exception:  # a connection that failed half-way: nothing left to release
            pass

    def session_spend(self, session: str) -> list[AgentSpend]:
        """Every agent of ``session`` (``main`` and each subagent type) with what it cost,
        most expensive first (ties by name)."""
        rows = self._rows(_SESSION_SPEND, (session,))
        out = [(str(agent), int(cost or 0), int(n or 0)) for agent, cost, n in rows]
        out.sort(key=lambda r: (-r[1], r[0]))
        return out

    def spend_since(self, ts_us: int) -> int:
        """Everything recorded at or after ``ts_us`` (microseconds since the epoch, UTC)."""
        rows = self._rows(_SPEND_SINCE, (ts_us,))
        return int(rows[0][0] or 0) if rows else 0

    def routed_tier(self, session: str) -> str | None:
        """The tier the gearshift proxy last routed ``session`` to (its main thread when the
        proxy has routed it), or ``None`` when no proxy record of the session exists."""
        rows = self._rows(_ROUTED_TIER, (session,))
        return str(rows[0][0]) if rows else None

    def is_current(self) -> bool:
        """Whether the ledger has every migration this gearshift knows, and no other."""
        names = {str(r[0]) for r in self._rows("SELECT name FROM gearshift_migrations", ())}
        return names == set(MIGRATION_NAMES)

    def _rows(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if self._mark != "?":
            sql = sql.replace("?", self._mark)
        try:
            cur = self._conn.execute(sql, params)
            return list(cur.fetchall())
        except Exception as exc:  # sqlite3.Error, psycopg.Error: the driver's own errors
            raise LedgerError(
                f"cannot read ledger {self.location.display}: {_short(exc)}",
                hint="check that the ledger exists and is a gearshift ledger",
            ) from None


def open_glance(location: LedgerLocation, *, wait_ms: int = 100) -> Glance:
    """The ledger at ``location``, opened read-only (see the module doc); raises
    :class:`LedgerError` when it cannot be opened."""
    if location.dialect == "sqlite":
        return _open_sqlite(location, wait_ms)
    return _open_postgres(location, wait_ms)


def _open_sqlite(location: LedgerLocation, wait_ms: int) -> Glance:
    if location.file is None:
        raise LedgerError(
            "an in-memory ledger has nothing to show",
            hint="point --ledger or GEARSHIFT_LEDGER at a ledger file",
        )
    try:
        conn = sqlite3.connect(
            f"file:{_uri_path(location.file)}?mode=ro",
            uri=True,
            timeout=wait_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise LedgerError(
            f"cannot open ledger {location.display}: {exc}",
            hint="record or ingest something first, or check --ledger / GEARSHIFT_LEDGER",
        ) from None
    return Glance(conn, location, "?")


def _uri_path(path: str) -> str:
    """``path`` for a ``file:`` URI: the three characters a URI gives meaning to are escaped
    (SQLite decodes ``%XX`` in the path)."""
    return path.replace("%", "%25").replace("?", "%3f").replace("#", "%23")


def _open_postgres(location: LedgerLocation, wait_ms: int) -> Glance:
    try:
        import psycopg
    except ImportError:
        raise LedgerError(
            "PostgreSQL support is not installed", hint="pip install 'gearshift[postgres]'"
        ) from None
    url = "postgresql://" + location.url.split("://", 1)[1]
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=max(1, -(-wait_ms // 1000)))
        conn.execute("SET default_transaction_read_only = on")
        conn.execute(f"SET statement_timeout = {int(wait_ms)}")
    except psycopg.Error as exc:
        raise LedgerError(
            f"cannot open ledger {location.display}: {_short(exc)}",
            hint="check that the database is reachable",
        ) from None
    return Glance(conn, location, "%s")


def _short(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
