"""The ledger's tables (SQLAlchemy Core). How a ledger gets them, step by named step, is
:mod:`gearshift.ledger.migrations`."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
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
    text,
)

from gearshift.ledger import rollup
from gearshift.ledger.columns import EXECUTION_COLUMNS

__all__ = [
    "EXECUTION_COLUMNS",
    "executions",
    "ingest_agents",
    "ingest_files",
    "learn_outcomes",
    "learned_models",
    "metadata",
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
