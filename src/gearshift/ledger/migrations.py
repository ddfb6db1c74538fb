"""The ledger's named migrations and the function that applies them.

Migrations are applied in order when a ledger opens, each recorded by name in
``gearshift_migrations`` (as simonw/llm does). They must stay append-only: a released migration
is never edited, a change is a new migration. The tables they create are defined in
:mod:`gearshift.ledger.schema`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Connection, Table, inspect, text

from gearshift.ledger import rollup
from gearshift.ledger.columns import MIGRATION_NAMES, dedup_group
from gearshift.ledger.schema import (
    alerts_sent,
    budget_locks,
    budget_reservations,
    budgets,
    executions,
    ingest_agents,
    ingest_files,
    learn_outcomes,
    learned_models,
    migrations_table,
    proxy_routes,
    reconciliation_rows,
    reconciliation_runs,
    response_cache,
    run_jobs,
    runs,
    spend_rollup_day,
    spend_rollup_quarter,
)

__all__ = ["MIGRATIONS", "migrate"]


def _create(*tables: Table) -> Callable[[Connection], None]:
    def run(conn: Connection) -> None:
        for table in tables:
            table.create(conn, checkfirst=True)

    return run


def _dedup_key_bytewise(conn: Connection) -> None:
    """Importers find every recorded copy of a message by a range of dedup keys
    (``cc:<id>|`` up to ``cc:<id>}``), which assumes keys compare byte by byte. SQLite's do;
    PostgreSQL's compare by the database's collation (``en_US.UTF-8`` puts ``|`` and ``}``
    elsewhere), so there the ranges run on an index in the C collation. (0007 replaced the
    ranges and drops the index.)"""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                "CREATE INDEX IF NOT EXISTS ix_executions_dedup_bytes ON executions "
                '((dedup_key COLLATE "C")) WHERE dedup_key IS NOT NULL'
            )
        )


def _dedup_group(conn: Connection) -> None:
    """Records are found by ``dedup_group`` (a small hash of the key's message part, see
    :func:`gearshift.ledger.columns.dedup_group`) instead of a unique index on the long
    ``dedup_key`` text: new random message ids rewrote most of that index's pages on every
    incremental ingest. Existing rows get their group; writers keep keys unique (one writer at a
    time: SQLite's write lock, a PostgreSQL advisory lock)."""
    names = {c["name"] for c in inspect(conn).get_columns("executions")}
    if "dedup_group" not in names:
        conn.execute(text("ALTER TABLE executions ADD COLUMN dedup_group INTEGER"))
    select = text(
        "SELECT id, dedup_key FROM executions WHERE id > :last AND dedup_key IS NOT NULL"
        " AND dedup_group IS NULL ORDER BY id LIMIT 10000"
    )
    update = text("UPDATE executions SET dedup_group = :g WHERE id = :id")
    last = ""
    while rows := conn.execute(select, {"last": last}).fetchall():  # by id: memory stays flat
        conn.execute(update, [{"id": r[0], "g": dedup_group(r[1])} for r in rows])
        last = rows[-1][0]
    conn.execute(text("DROP INDEX IF EXISTS ux_executions_dedup"))
    conn.execute(text("DROP INDEX IF EXISTS ix_executions_dedup_bytes"))
    conn.execute(
        text(
            "CREATE INDEX IF NOT EXISTS ix_executions_dedup_group ON executions (dedup_group)"
            " WHERE dedup_group IS NOT NULL"
        )
    )
    # A gearshift from before 0007 would take this ledger for current (it has all the
    # migrations that version knows) and write keys without a group, unchecked: refuse them.
    # A new ledger has the CHECK constraint from its table definition, an older PostgreSQL one
    # gets it here, and an older SQLite one (a constraint cannot be added to a table there) a
    # trigger, whose RAISE(ABORT) fails that version's INSERT OR IGNORE. On a SQLite ledger made
    # since, that statement skips a row failing the CHECK without a word: a trigger there too
    # would cost every bulk insert ~20%, for versions that predate any release. Versions from
    # 0007 on refuse ledgers with migrations they do not know (see _all_applied).
    if conn.dialect.name == "postgresql":
        exists = conn.execute(
            text(
                "SELECT 1 FROM pg_constraint WHERE conname = 'ck_executions_dedup_group'"
                " AND conrelid = 'executions'::regclass"  # this schema's table, not another's
            )
        ).first()
        if exists is None:
            conn.execute(
                text(
                    "ALTER TABLE executions ADD CONSTRAINT ck_executions_dedup_group"
                    " CHECK (dedup_key IS NULL OR dedup_group IS NOT NULL)"
                )
            )
        return
    table_sql = conn.execute(
        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'executions'")
    ).scalar_one()
    if "ck_executions_dedup_group" not in table_sql:
        conn.execute(text(_OLD_WRITER_TRIGGER))


#: SQLite's guard against writers that predate ``dedup_group``, on a ledger made before 0007
#: (see :func:`_dedup_group`).
_OLD_WRITER_TRIGGER = """CREATE TRIGGER IF NOT EXISTS tr_executions_dedup_group
BEFORE INSERT ON executions
WHEN NEW.dedup_key IS NOT NULL AND NEW.dedup_group IS NULL
BEGIN
  SELECT RAISE(ABORT, 'upgrade gearshift to write to this ledger (0007_dedup_group)');
END"""


def _spend_rollup(conn: Connection) -> None:
    """The spend rollups, filled from the rows already recorded, and the triggers that keep
    them (see :mod:`gearshift.ledger.rollup`): one pass over the table."""
    spend_rollup_day.create(conn, checkfirst=True)
    spend_rollup_quarter.create(conn, checkfirst=True)
    for statement in rollup.REBUILD:
        conn.exec_driver_sql(statement)
    pg = conn.dialect.name == "postgresql"
    for statement in rollup.postgres_triggers() if pg else rollup.sqlite_triggers():
        conn.exec_driver_sql(statement)


def _session_index(conn: Connection) -> None:
    """The index that reads of one session's spend use (a new ledger has it from its table
    definition)."""
    conn.execute(
        text(
            "CREATE INDEX IF NOT EXISTS ix_executions_session"
            " ON executions (session, agent, source, cost_nanos)"
        )
    )


def _runs(conn: Connection) -> None:
    """The ``runs`` table, and ``run_jobs.progress`` on a ledger made before it."""
    runs.create(conn, checkfirst=True)
    names = {c["name"] for c in inspect(conn).get_columns("run_jobs")}
    if "progress" not in names:
        conn.execute(text("ALTER TABLE run_jobs ADD COLUMN progress TEXT"))


#: The distributed executor's tables (PostgreSQL only: a SQLite ledger cannot be shared by
#: workers on several machines). ``gs_dist_runs`` holds a run's pipeline text and options so a
#: worker needs no file; ``gs_dist_nodes`` one row per job with its unfinished dependency count
#: and its state (the idempotency key of "finished + children enqueued" is its primary key);
#: ``gs_dist_edges`` the DAG; ``gs_rate_buckets`` the token buckets every worker shares;
#: ``gs_dist_holds`` which worker holds which budget reservation, so a dead worker's holds go;
#: ``gs_dist_batches`` the Message Batch a job submitted, so its polls never submit it again.
_DISTRIBUTED_DDL = (
    """CREATE TABLE IF NOT EXISTS gs_dist_runs (
        run_id VARCHAR(64) PRIMARY KEY,
        pipeline_path TEXT NOT NULL,
        pipeline_text TEXT NOT NULL,
        options TEXT NOT NULL,
        status VARCHAR(20) NOT NULL DEFAULT 'running',
        jobs INTEGER NOT NULL DEFAULT 0,
        created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())""",
    """CREATE TABLE IF NOT EXISTS gs_dist_nodes (
        run_id VARCHAR(64) NOT NULL,
        job_id VARCHAR(200) NOT NULL,
        remaining_deps INTEGER NOT NULL,
        state VARCHAR(20) NOT NULL DEFAULT 'waiting',
        starts INTEGER NOT NULL DEFAULT 0,
        worker VARCHAR(200),
        reason TEXT,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        PRIMARY KEY (run_id, job_id))""",
    "CREATE INDEX IF NOT EXISTS ix_gs_dist_nodes_state ON gs_dist_nodes (run_id, state)",
    """CREATE TABLE IF NOT EXISTS gs_dist_edges (
        run_id VARCHAR(64) NOT NULL,
        parent VARCHAR(200) NOT NULL,
        child VARCHAR(200) NOT NULL,
        PRIMARY KEY (run_id, parent, child))""",
    """CREATE TABLE IF NOT EXISTS gs_rate_buckets (
        key VARCHAR(300) PRIMARY KEY,
        tokens DOUBLE PRECISION NOT NULL,
        capacity DOUBLE PRECISION NOT NULL,
        refill_per_s DOUBLE PRECISION NOT NULL,
        blocked_until TIMESTAMPTZ,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())""",
    """CREATE TABLE IF NOT EXISTS gs_dist_holds (
        reservation_id VARCHAR(40) PRIMARY KEY,
        worker VARCHAR(200) NOT NULL,
        heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())""",
    "CREATE INDEX IF NOT EXISTS ix_gs_dist_holds_worker ON gs_dist_holds (worker)",
    """CREATE TABLE IF NOT EXISTS gs_dist_batches (
        run_id VARCHAR(64) NOT NULL,
        job_id VARCHAR(200) NOT NULL,
        batch_id VARCHAR(200) NOT NULL,
        submitted_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (run_id, job_id))""",
)


#: Each worker process, its start and its last heartbeat, kept fresh until it has really
#: returned (through a SIGTERM's grace period too): a node ``running`` under a worker beating
#: here since before the node started is not taken by a duplicate delivery.
_DIST_WORKERS_DDL = """CREATE TABLE IF NOT EXISTS gs_dist_workers (
        name VARCHAR(200) PRIMARY KEY,
        started_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())"""


def _dist_workers(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(_DIST_WORKERS_DDL))


def _distributed(conn: Connection) -> None:
    """The distributed executor's tables, on PostgreSQL (a SQLite ledger records the name only:
    ``--executor postgres`` refuses it)."""
    if conn.dialect.name != "postgresql":
        return
    for ddl in _DISTRIBUTED_DDL:
        conn.execute(text(ddl))


#: Named migrations, applied in order. Later issues append here.
MIGRATIONS: list[tuple[str, Callable[[Connection], None]]] = [
    ("0001_executions", _create(executions)),
    ("0002_ingest_files", _create(ingest_files)),
    ("0003_budgets", _create(budgets, budget_locks, budget_reservations, alerts_sent)),
    ("0004_engine", _create(run_jobs, response_cache)),
    ("0005_dedup_key_bytewise", _dedup_key_bytewise),
    ("0006_ingest_agents", _create(ingest_agents)),
    ("0007_dedup_group", _dedup_group),
    ("0008_reconciliations", _create(reconciliation_runs, reconciliation_rows)),
    ("0009_session_index", _session_index),
    ("0010_learning", _create(learn_outcomes, learned_models)),
    ("0011_proxy_routes", _create(proxy_routes)),
    ("0012_runs", _runs),
    ("0013_spend_rollup", _spend_rollup),
    ("0014_distributed", _distributed),
    ("0015_dist_workers", _dist_workers),
]
if tuple(name for name, _ in MIGRATIONS) != MIGRATION_NAMES:  # pragma: no cover
    raise RuntimeError("gearshift.ledger.columns.MIGRATION_NAMES is out of date")


def migrate(conn: Connection) -> list[str]:
    """Apply every migration not yet recorded; return the names applied. Runs in ``conn``'s
    transaction, which the caller holds with a write lock so concurrent openers serialise."""
    migrations_table.create(conn, checkfirst=True)
    done = {row[0] for row in conn.execute(text("SELECT name FROM gearshift_migrations"))}
    applied = []
    for name, step in MIGRATIONS:
        if name in done:
            continue
        step(conn)
        conn.execute(
            migrations_table.insert().values(
                name=name, applied_at=dt.datetime.now(dt.UTC).isoformat()
            )
        )
        applied.append(name)
    return applied
