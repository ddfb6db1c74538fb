"""Is this database a current gearshift ledger? Asked by commands that only read, which must
neither create a ledger nor change another program's database by migrating it.

A SQLite file is probed read-only through the standard library before anything else connects
(the store's connections switch a file to write-ahead logging, itself a change to the file).
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import Connection, inspect, text

from gearshift.errors import LedgerError
from gearshift.ledger.columns import MIGRATION_NAMES
from gearshift.ledger.urls import LedgerLocation

__all__ = ["require_current", "require_current_file"]

_TABLE = "gearshift_migrations"
_WRITE_HINT = "a command that writes (record, ingest, run) upgrades it; nothing else changes it"


def require_current_file(location: LedgerLocation) -> None:
    """Raise LedgerError unless the SQLite file at ``location`` exists and is a gearshift
    ledger with every migration applied. Opens the file read-only."""
    path = location.path
    assert path is not None
    if not path.exists():
        raise LedgerError(
            f"no ledger at {path}",
            hint="record, ingest or run something first, or check --ledger / GEARSHIFT_LEDGER",
        )
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open ledger {path}: {exc}") from None
    try:
        has = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_TABLE,)
        ).fetchone()
        done = {r[0] for r in conn.execute(f"SELECT name FROM {_TABLE}")} if has else None
    except sqlite3.DatabaseError as exc:
        raise _not_a_ledger(location, str(exc)) from None
    finally:
        conn.close()
    _check(location, done)


def require_current(conn: Connection, location: LedgerLocation) -> None:
    """As :func:`require_current_file`, through an open connection (PostgreSQL)."""
    done: set[str] | None = None
    if inspect(conn).has_table(_TABLE):
        done = {r[0] for r in conn.execute(text(f"SELECT name FROM {_TABLE}"))}
    conn.rollback()
    _check(location, done)


def _check(location: LedgerLocation, done: set[str] | None) -> None:
    if done is None:
        raise _not_a_ledger(location, "it has no gearshift tables")
    unknown = sorted(done - set(MIGRATION_NAMES))
    if unknown:
        raise LedgerError(
            f"this ledger was upgraded by a newer gearshift (migration {unknown[-1]})",
            hint="upgrade gearshift: pip install -U gearshift",
        )
    missing = [name for name in MIGRATION_NAMES if name not in done]
    if missing:
        raise LedgerError(
            f"ledger {location.display} needs upgrading ({len(missing)} migration(s), "
            f"from {missing[0]}) before this command can read it",
            hint=_WRITE_HINT,
        )


def _not_a_ledger(location: LedgerLocation, why: str) -> LedgerError:
    return LedgerError(
        f"{location.display} is not a gearshift ledger: {why}",
        hint="check --ledger / GEARSHIFT_LEDGER; gearshift leaves other databases unchanged",
    )
