"""The ledger's tables (SQLAlchemy Core) and its named migrations.

Migrations are applied in order when a ledger opens, each recorded by name in
``gearshift_migrations`` (as simonw/llm does). They must stay append-only: a released migration
is never edited, a change is a new migration.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    inspect,
    text,
)

from gearshift.ledger import rollup
from gearshift.ledger.columns import EXECUTION_COLUMNS, MIGRATION_NAMES, dedup_group

__all__ = [
    "EXECUTION_COLUMNS",
    "MIGRATIONS",
    "executions",
    "ingest_agents",
    "ingest_files",
    "learn_outcomes",
    "learned_models",
    "metadata",
    "migrate",
    "proxy_routes",
    "reconciliation_rows",
    "reconciliation_runs",
    "run_jobs",
    "runs",
    "spend_rollup_day",
    "spend_rollup_quarter",
]

metadata = MetaData()

migrations_table = Table(
    "gearshift_migrations",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("applied_at", String(40), nullable=False),
)

executions = Table(
    "executions",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("ts_us", BigInteger, nullable=False),
    Column("project", String(500), nullable=False, default=""),
    Column("session", String(200), nullable=False, default=""),
    Column("agent", String(200), nullable=False, default="default"),
    Column("task", Text),
    Column("task_hash", String(32)),
    Column("task_type", String(100)),
    Column("model", String(200), nullable=False),
    Column("tier", String(20), nullable=False),
    Column("input_tokens", BigInteger, nullable=False, default=0),
    Column("output_tokens", BigInteger, nullable=False, default=0),
    Column("cache_write_5m_tokens", BigInteger, nullable=False, default=0),
    Column("cache_write_1h_tokens", BigInteger, nullable=False, default=0),
    Column("cache_read_tokens", BigInteger, nullable=False, default=0),
    Column("cost_nanos", BigInteger, nullable=False, default=0),
    Column("price_version", String(100), nullable=False, default=""),
    Column("latency_ms", BigInteger),
    Column("status", String(20), nullable=False, default="success"),
    Column("attempt", Integer, nullable=False, default=1),
    Column("chain_id", String(64)),
    Column("strategy", String(50)),
    Column("source", String(30), nullable=False, default="manual"),
    Column("validation", Text),
    Column("escalation_reason", Text),
    Column("run_id", String(64)),
    Column("task_key", String(200)),
    Column("flags", SmallInteger, nullable=False, default=0),
    Column("tags", Text, nullable=False, default="{}"),
    Column("dedup_key", String(200)),
    Column("dedup_group", Integer),  # gearshift.ledger.columns.dedup_group(dedup_key)
    # Refuses a gearshift from before 0007, which would write keys without their group (an
    # older ledger gets the same rule from 0007).
    CheckConstraint(
        "dedup_key IS NULL OR dedup_group IS NOT NULL", name="ck_executions_dedup_group"
    ),
    Index("ix_executions_ts", "ts_us"),
    # A live display (the Claude Code status line) sums one session's spend by agent and looks
    # for its proxy records many times a minute: from the index alone (it holds every column
    # those reads need but the proxy record's tier), not the table's rows.
    Index("ix_executions_session", "session", "agent", "source", "cost_nanos"),
    # Partial indexes: most rows have no dedup key, chain or run, and cost nothing to index.
    Index(
        "ix_executions_dedup_group",
        "dedup_group",
        sqlite_where=text("dedup_group IS NOT NULL"),
        postgresql_where=text("dedup_group IS NOT NULL"),
    ),
    Index(
        "ix_executions_chain",
        "chain_id",
        sqlite_where=text("chain_id IS NOT NULL"),
        postgresql_where=text("chain_id IS NOT NULL"),
    ),
    Index(
        "ix_executions_run",
        "run_id",
        "task_key",
        sqlite_where=text("run_id IS NOT NULL"),
        postgresql_where=text("run_id IS NOT NULL"),
    ),
)

if tuple(c.name for c in executions.columns) != EXECUTION_COLUMNS:  # pragma: no cover
    raise RuntimeError("gearshift.ledger.columns.EXECUTION_COLUMNS is out of date")

ingest_files = Table(
    "ingest_files",
    metadata,
    Column("path", Text, primary_key=True),
    Column("source", String(30), nullable=False),
    Column("device", BigInteger, nullable=False),
    Column("inode", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("lines", BigInteger, nullable=False, default=0),
    Column("fingerprint", String(64), nullable=False),
    Column("updated_at", String(40), nullable=False),
)


#: What transcript ingests learned about subagents, for later runs
#: (:mod:`gearshift.ingest.attribute`): per ``kind``, ``ref`` -> ``value`` is ``tool``: an
#: Agent/Task call's id -> the subagent type it asked for; ``result``: an agent id -> the type its
#: tool result named; ``pending``: an agent recorded as ``subagent`` -> the id of the call that
#: spawned it ('' if unknown).
ingest_agents = Table(
    "ingest_agents",
    metadata,
    Column("kind", String(10), primary_key=True),
    Column("ref", String(200), primary_key=True),
    Column("value", String(200), nullable=False),
)


#: Budgets set with ``gearshift budget set`` (config-file budgets are not copied here), one lock
#: row per budget name (locked ``FOR UPDATE`` by a reservation on PostgreSQL; a table of its own
#: because config-file budgets have no ``budgets`` row), in-flight worst-case reservations, and
#: which alert level went out for which period (see :mod:`gearshift.budgets`).
budgets = Table(
    "budgets",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("scope", String(20), nullable=False),
    Column("value", String(500), nullable=False, default=""),
    Column("period", String(20), nullable=False),
    Column("amount_nanos", BigInteger, nullable=False),
    Column("action", String(20), nullable=False),
    Column("start_date", String(10)),
    Column("end_date", String(10)),
    Column("alert_levels", Text),
    Column("tz", String(64)),
    Column("updated_at", String(40), nullable=False),
)

budget_locks = Table("budget_locks", metadata, Column("name", String(100), primary_key=True))

budget_reservations = Table(
    "budget_reservations",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("budget", String(100), primary_key=True),
    Column("amount_nanos", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Index("ix_budget_reservations_budget", "budget", "expires_us"),
)

alerts_sent = Table(
    "alerts_sent",
    metadata,
    Column("budget", String(100), primary_key=True),
    Column("period_start", String(40), primary_key=True),
    Column("level", String(20), primary_key=True),
    Column("sent_at", String(40), nullable=False),
)

#: The engine's run outputs, for resuming a run id, and its exact-repeat response cache
#: (see :mod:`gearshift.engine.run_state`).
run_jobs = Table(
    "run_jobs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("job_id", String(200), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("output", Text),
    Column("cost_nanos", BigInteger, nullable=False, default=0),
    Column("tier_path", String(100), nullable=False, default=""),
    Column("finished_at", String(40), nullable=False),
    # where an unfinished job's escalation chain stopped (JSON), so a resume continues it
    Column("progress", Text),
)

#: One row per engine run: the pipeline and the options it was started with, so resuming the run
#: id reuses them (project, budgets, seed, agents, provider, ...). ``options`` is JSON.
runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("pipeline", Text, nullable=False),
    Column("options", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

response_cache = Table(
    "response_cache",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("model", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("usage", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
)

#: One row per comparison of the ledger with a provider's bill (``gearshift reconcile``): the
#: period (UTC days, ``last_day`` inclusive), how it was grouped, the tolerance and the totals.
reconciliation_runs = Table(
    "reconciliation_runs",
    metadata,
    Column("run_id", String(26), primary_key=True),
    Column("created_at", String(40), nullable=False),
    Column("provider", String(30), nullable=False),
    Column("since_day", String(10), nullable=False),
    Column("last_day", String(10), nullable=False),
    Column("grouping", String(20), nullable=False),
    Column("tolerance_pct", String(20), nullable=False),
    Column("tolerance_usd", String(20), nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("beyond_count", Integer, nullable=False),
    Column("ledger_nanos", BigInteger, nullable=False),
    Column("bill_nanos", BigInteger, nullable=False),
    Column("price_version", String(100), nullable=False),
)

#: The rows of each run: both sides of one group (``day``/``model``/``workspace``/``api_key``
#: set as the grouping uses them), so that ``report`` and alerts can follow drift over time.
#: ``bill_token_nanos`` is what the bill charged for tokens and ``catalog_nanos`` the catalog's
#: price of the same tokens (NULL for a model the catalog does not know); ``prices`` is a JSON
#: object of both per token kind (``{"output": [billed, catalog]}``) and ``reasons`` a JSON
#: list of the explanation kinds.
reconciliation_rows = Table(
    "reconciliation_rows",
    metadata,
    Column("run_id", String(26), primary_key=True),
    Column("group_key", String(700), primary_key=True),
    Column("day", String(10)),
    Column("model", String(200)),
    Column("workspace", String(200)),
    Column("api_key", String(200)),
    Column("ledger_tokens", BigInteger, nullable=False),
    Column("bill_tokens", BigInteger, nullable=False),
    Column("ledger_nanos", BigInteger, nullable=False),
    Column("bill_nanos", BigInteger, nullable=False),
    Column("bill_token_nanos", BigInteger, nullable=False),
    Column("catalog_nanos", BigInteger),
    Column("within_tolerance", SmallInteger, nullable=False),
    Column("prices", Text, nullable=False),
    Column("reasons", Text, nullable=False),
    Index("ix_reconciliation_rows_day", "day", "model"),
)

#: Outcomes imported from outside (``gearshift learn import``): training data for the tier
#: predictor that is not this team's spend, so it stays out of ``executions``. ``import_id`` is
#: a digest of the imported file (the same file is not imported twice); ``score`` is 0..1
#: (1 passed); ``cost_nanos`` is exact when the file gave a cost.
learn_outcomes = Table(
    "learn_outcomes",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("ts_us", BigInteger, nullable=False),
    Column("import_id", String(64), nullable=False),
    Column("line", Integer, nullable=False),
    Column("task", Text, nullable=False),
    Column("agent", String(200)),
    Column("task_type", String(100)),
    Column("model", String(200)),
    Column("tier", String(20), nullable=False),
    Column("score", Float, nullable=False),
    Column("cost_nanos", BigInteger),
    Column("input_tokens", BigInteger),
    Column("output_tokens", BigInteger),
    Index("ix_learn_outcomes_import", "import_id"),
    Index("ix_learn_outcomes_ts", "ts_us"),
)

#: Trained tier predictors (``gearshift learn fit``), newest last: JSON metadata (format and
#: feature versions, training summary, held-out metrics) and the arrays as an ``.npz`` blob that
#: is read without pickle; ``digest`` is the blob's SHA-256.
learned_models = Table(
    "learned_models",
    metadata,
    Column("id", String(26), primary_key=True),
    Column("created_us", BigInteger, nullable=False),
    Column("format_version", Integer, nullable=False),
    Column("meta", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("blob", LargeBinary, nullable=False),
)

#: The proxy's sticky routes (see :mod:`gearshift.ledger.routes`): which model one conversation
#: (a keyed hash of session, agent and requested model) was routed to, so every worker and host
#: sharing the ledger keeps it there.
proxy_routes = Table(
    "proxy_routes",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("model", String(200), nullable=False),
    Column("tier", String(20), nullable=False),
    Column("policy", String(50), nullable=False),
    Column("reason", Text, nullable=False),
    # earlier assistant turns came from another model: their thinking blocks are dropped
    Column("since_message", Integer, nullable=False, default=0),
    Column("created_us", BigInteger, nullable=False),
    Index("ix_proxy_routes_created", "created_us"),
)


def _rollup_table(name: str, *time_keys: str) -> Table:
    """A spend rollup (see :mod:`gearshift.ledger.rollup`): its key, then one sum per column.
    On SQLite the rows live in the primary key's B-tree (no rowid): a range of keys is one
    contiguous read."""
    lengths = {"tier": 20, "agent": 200, "model": 200, "project": 500, "source": 30}
    return Table(
        name,
        metadata,
        *(Column(k, BigInteger, nullable=False) for k in time_keys),
        *(Column(d, String(lengths[d]), nullable=False) for d in rollup.DIMENSIONS),
        *(Column(s, BigInteger, nullable=False) for s in rollup.SUM_NAMES),
        PrimaryKeyConstraint(*time_keys, *rollup.DIMENSIONS),
        sqlite_with_rowid=False,
    )


#: Spend per UTC day and per 15-minute bucket, kept in step with ``executions``.
spend_rollup_day = _rollup_table("spend_rollup_day", "shift", "day")
spend_rollup_quarter = _rollup_table("spend_rollup_quarter", "quarter", "bucket")
_ROLLUPS = (spend_rollup_day, spend_rollup_quarter)
if {t: rollup.keys(t) for t in rollup.TABLES} != {  # pragma: no cover
    t.name: [c.name for c in t.primary_key.columns] for t in _ROLLUPS
}:
    raise RuntimeError("gearshift.ledger.rollup.TABLES is out of date")


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
