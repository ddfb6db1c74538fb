"""Spend rollups: the sums of ``executions`` per UTC day and per 15-minute bucket, kept in step
with every write.

A dashboard over a million executions cannot sum the table on every view: grouping a million
rows by time sorts them all (seconds on SQLite). Two small tables hold the same sums, grouped by
the columns reports filter and stack on (tier, agent, model, project, source), with statuses,
escalations, tokens of every kind, cost and latency as sums:

* ``spend_rollup_day`` -- per day, four times: days starting at 00:00, 06:00, 12:00 and 18:00
  UTC (``shift``), so that any range of whole days -- in any zone, give or take three hours --
  is a few rows per day;
* ``spend_rollup_quarter`` -- per 15-minute bucket (every real zone's offset is a multiple of
  one), keyed by the quarter of the day first, so that the same hours of many days -- the hours
  a local day shares with a neighbouring UTC day -- are read as ranges.

:mod:`gearshift.ledger.views` reads them; the sums are exact (integers added and subtracted).

How they are kept, per store, and why:

* PostgreSQL: statement-level triggers with transition tables -- one grouped upsert per rollup
  per statement, whoever writes, in the writer's transaction; keys are upserted in key order so
  concurrent writers take the rows' locks in one order.
* SQLite: triggers there run once per row, and two upserts per inserted row halve bulk write
  throughput, so inserts are folded in by the writers instead (:func:`sqlite_fold`, once per
  write transaction, over the rows it inserted: every insert goes through
  ``Ledger.write_rows`` / ``LiteLedger.write_rows``). Deletes and updates, which are rare (an
  importer replacing a record, a subagent's type learnt later), are kept by row triggers.
* A bulk fill of an empty table that drops the triggers rebuilds both (:data:`REBUILD`), as the
  migration that made them did.
"""

from __future__ import annotations

__all__ = [
    "DAY_US",
    "DIMENSIONS",
    "HOUR_US",
    "QUARTERS_PER_DAY",
    "QUARTER_US",
    "REBUILD",
    "SHIFTS",
    "SQLITE_LAST_ROWID",
    "SUMS",
    "SUM_NAMES",
    "TABLES",
    "keys",
    "postgres_triggers",
    "sqlite_fold",
    "sqlite_triggers",
]

#: Microseconds per rollup unit: a UTC day, a quarter of an hour (``queries.BUCKET_US``).
DAY_US = 86_400_000_000
QUARTER_US = 900_000_000
QUARTERS_PER_DAY = 96

#: The columns the sums are grouped by, in key order after the time.
DIMENSIONS = ("tier", "agent", "model", "project", "source")

#: Each sum and how one execution row adds to it (portable SQL: CASE, not booleans).
SUMS: tuple[tuple[str, str], ...] = (
    ("executions", "1"),
    ("first_attempts", "CASE WHEN {r}attempt = 1 THEN 1 ELSE 0 END"),
    ("successes", "CASE WHEN {r}status = 'success' THEN 1 ELSE 0 END"),
    ("failures", "CASE WHEN {r}status = 'failure' THEN 1 ELSE 0 END"),
    ("errors", "CASE WHEN {r}status = 'error' THEN 1 ELSE 0 END"),
    ("blocked", "CASE WHEN {r}status = 'blocked' THEN 1 ELSE 0 END"),
    ("escalations", "CASE WHEN {r}escalation_reason IS NOT NULL THEN 1 ELSE 0 END"),
    ("input_tokens", "{r}input_tokens"),
    ("output_tokens", "{r}output_tokens"),
    ("cache_write_5m_tokens", "{r}cache_write_5m_tokens"),
    ("cache_write_1h_tokens", "{r}cache_write_1h_tokens"),
    ("cache_read_tokens", "{r}cache_read_tokens"),
    ("cost_nanos", "{r}cost_nanos"),
    ("latency_ms", "COALESCE({r}latency_ms, 0)"),
    ("latencies", "CASE WHEN {r}latency_ms IS NOT NULL THEN 1 ELSE 0 END"),
)
SUM_NAMES: tuple[str, ...] = tuple(name for name, _ in SUMS)

#: The day rollup is kept four times, its days starting at 00:00, 06:00, 12:00 and 18:00 UTC
#: (``shift`` hours later): a local day of any zone is then within three hours of whole days
#: of one of them, and only those hours are read from the 15-minute rollup.
SHIFTS = (0, 6, 12, 18)
HOUR_US = 3_600_000_000

#: table -> its time key columns, each with how it is computed from ``ts_us`` (``{r}``: the
#: row's prefix, ``{s}``: the shift in hours).
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "spend_rollup_day": (
        ("shift", "{s}"),
        ("day", f"({{r}}ts_us + {{s}} * {HOUR_US}) / {DAY_US}"),
    ),
    "spend_rollup_quarter": (
        # the quarter of the UTC day, without %: psycopg reads a bare % as a placeholder
        ("quarter", f"{{r}}ts_us / {QUARTER_US} - {{r}}ts_us / {DAY_US} * {QUARTERS_PER_DAY}"),
        ("bucket", f"{{r}}ts_us / {QUARTER_US}"),
    ),
}
_SHIFTED = "spend_rollup_day"
#: Every row once per shift, for the day rollup's statements.
_EACH_SHIFT = (
    " CROSS JOIN ("
    + " UNION ALL ".join(f"SELECT {h} AS gs_shift" for h in SHIFTS)
    + ") AS gs_shifts"
)


def keys(table: str) -> list[str]:
    """The key columns of ``table``: its time keys, then :data:`DIMENSIONS`."""
    return [name for name, _ in TABLES[table]] + list(DIMENSIONS)


def _key_exprs(table: str, r: str, s: str = "gs_shifts.gs_shift") -> list[str]:
    times = [expr.format(r=r, s=s) for _, expr in TABLES[table]]
    return times + [f"{r}{d}" for d in DIMENSIONS]


def _grouped(table: str, source: str, where: str = "") -> str:
    """The sums of ``source``'s rows per key of ``table``, in key order."""
    exprs = _key_exprs(table, "")
    sums = ", ".join(f"SUM({expr.format(r='')})" for _, expr in SUMS)
    positions = ", ".join(str(i + 1) for i in range(len(exprs)))
    rows = source + (_EACH_SHIFT if table == _SHIFTED else "")
    return (
        f"SELECT {', '.join(exprs)}, {sums} FROM {rows}{where} "
        f"GROUP BY {positions} ORDER BY {positions}"
    )


def _insert(table: str) -> str:
    return f"INSERT INTO {table} ({', '.join(keys(table) + list(SUM_NAMES))})"


def _upsert(table: str) -> str:
    adds = ", ".join(f"{s} = {table}.{s} + excluded.{s}" for s in SUM_NAMES)
    return f"ON CONFLICT ({', '.join(keys(table))}) DO UPDATE SET {adds}"


#: Empty both rollups and sum the whole table into them again.
REBUILD: tuple[str, ...] = tuple(
    statement
    for table in TABLES
    for statement in (f"DELETE FROM {table}", f"{_insert(table)} {_grouped(table, 'executions')}")
)

#: SQLite: the largest rowid of ``executions`` (0 when empty), read before inserting.
SQLITE_LAST_ROWID = "SELECT COALESCE(MAX(rowid), 0) FROM executions"


def sqlite_fold(last_rowid: int) -> list[tuple[str, tuple[int, ...]]]:
    """SQLite: the statements (with their parameters) that add the rows a write transaction
    inserted -- ``rowid > last_rowid``, the largest rowid before it inserted: new rows always
    get larger ones -- to both rollups. The rows are summed once, per bucket, into a temporary
    table; both rollups are upserted from those few sums (a second pass over the rows would
    cost a bulk write another quarter)."""
    dims = ", ".join(DIMENSIONS)
    sums = ", ".join(SUM_NAMES)
    collect = (
        f"INSERT INTO temp.gs_fold (bucket, {dims}, {sums}) "
        f"SELECT ts_us / {QUARTER_US}, {dims}, "
        + ", ".join(f"SUM({expr.format(r='')})" for _, expr in SUMS)
        + f" FROM executions WHERE rowid > ? GROUP BY ts_us / {QUARTER_US}, {dims}"
    )
    out: list[tuple[str, tuple[int, ...]]] = [
        (f"CREATE TEMP TABLE IF NOT EXISTS gs_fold (bucket, {dims}, {sums})", ()),
        ("DELETE FROM temp.gs_fold", ()),
        (collect, (last_rowid,)),
    ]
    summed = ", ".join(f"SUM({s})" for s in SUM_NAMES)
    dims_list = ", ".join(DIMENSIONS)
    from_fold = {
        "spend_rollup_day": (
            f"gs_shift, (bucket * {QUARTER_US} + gs_shift * {HOUR_US}) / {DAY_US}",
            f"temp.gs_fold{_EACH_SHIFT}",
        ),
        "spend_rollup_quarter": (f"{_QUARTER}, bucket", "temp.gs_fold"),
    }
    for table, (times, rows) in from_fold.items():
        group = f"{times}, {dims_list}"
        out.append(
            (
                # WHERE true: without a WHERE, SQLite would read ON CONFLICT as a join's ON
                f"{_insert(table)} SELECT {group}, {summed} FROM {rows} WHERE true "
                f"GROUP BY {group} {_upsert(table)}",
                (),
            )
        )
    return out


_QUARTER = f"bucket - bucket / {QUARTERS_PER_DAY} * {QUARTERS_PER_DAY}"


def _literal_shifts(table: str) -> tuple[str, ...]:
    return tuple(str(h) for h in SHIFTS) if table == _SHIFTED else ("0",)


def _sqlite_add(table: str, r: str) -> str:
    out = []
    for shift in _literal_shifts(table):
        values = ", ".join(_key_exprs(table, r, shift) + [e.format(r=r) for _, e in SUMS])
        out.append(f"{_insert(table)} VALUES ({values}) {_upsert(table)};")
    return "\n  ".join(out)


def _sqlite_subtract(table: str, r: str) -> str:
    out = []
    for shift in _literal_shifts(table):
        exprs = _key_exprs(table, r, shift)
        match = " AND ".join(f"{k} = {e}" for k, e in zip(keys(table), exprs, strict=True))
        subs = ", ".join(f"{name} = {name} - ({expr.format(r=r)})" for name, expr in SUMS)
        out.append(
            f"UPDATE {table} SET {subs} WHERE {match};\n"
            f"  DELETE FROM {table} WHERE {match} AND executions = 0;"
        )
    return "\n  ".join(out)


#: The columns whose change moves a row's sums (an UPDATE of others fires no trigger).
_WATCHED = (
    "ts_us",
    "attempt",
    "status",
    "escalation_reason",
    "latency_ms",
    *DIMENSIONS,
    *(n for n in SUM_NAMES if n.endswith(("_tokens", "_nanos"))),
)


def sqlite_triggers() -> list[str]:
    """SQLite's row triggers for deletes and updates (inserts are folded, see the module doc)."""
    sub = "\n  ".join(_sqlite_subtract(t, "OLD.") for t in TABLES)
    add = "\n  ".join(_sqlite_add(t, "NEW.") for t in TABLES)
    return [
        f"CREATE TRIGGER tr_spend_rollup_delete AFTER DELETE ON executions\nBEGIN\n  {sub}\nEND",
        f"CREATE TRIGGER tr_spend_rollup_update AFTER UPDATE OF {', '.join(_WATCHED)} "
        f"ON executions\nBEGIN\n  {sub}\n  {add}\nEND",
    ]


def _pg_add(source: str) -> str:
    """One statement: the rows summed once per bucket (``f``), both rollups upserted from those
    sums in key order (summing the rows once per rollup and shift cost a bulk write half its
    speed)."""
    dims = ", ".join(DIMENSIONS)
    sums = ", ".join(f"SUM({e.format(r='')}) AS {n}" for n, e in SUMS)
    summed = ", ".join(f"SUM({n})" for n in SUM_NAMES)
    plain = ", ".join(SUM_NAMES)
    day_keys = f"gs_shift, (bucket * {QUARTER_US} + gs_shift * {HOUR_US}) / {DAY_US}, {dims}"
    return (
        f"  WITH f AS (SELECT ts_us / {QUARTER_US} AS bucket, {dims}, {sums} FROM {source} "
        f"GROUP BY 1, {dims}),\n"
        f"  q AS ({_insert('spend_rollup_quarter')} SELECT {_QUARTER}, bucket, {dims}, {plain} "
        f"FROM f ORDER BY 1, 2, {dims}\n  {_upsert('spend_rollup_quarter')})\n"
        f"  {_insert('spend_rollup_day')} SELECT {day_keys}, {summed} FROM f{_EACH_SHIFT} "
        f"GROUP BY {day_keys} ORDER BY {day_keys}\n  {_upsert('spend_rollup_day')};"
    )


def _pg_subtract(source: str) -> str:
    out = []
    for table in TABLES:
        named = ", ".join(keys(table) + list(SUM_NAMES))
        match = " AND ".join(f"t.{k} = d.{k}" for k in keys(table))
        subs = ", ".join(f"{s} = t.{s} - d.{s}" for s in SUM_NAMES)
        grouped = f"({_grouped(table, source)}) AS d ({named})"
        out.append(
            f"  UPDATE {table} AS t SET {subs} FROM {grouped} WHERE {match};\n"
            f"  DELETE FROM {table} AS t USING {grouped} WHERE {match} AND t.executions = 0;"
        )
    return "\n".join(out)


def postgres_triggers() -> list[str]:
    """PostgreSQL's functions and statement-level triggers that keep both rollups."""

    def function(name: str, body: str) -> str:
        return (
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n{body}\n  RETURN NULL;\nEND $$"
        )

    def trigger(event: str, tables: str) -> str:
        return (
            f"CREATE TRIGGER tr_spend_rollup_{event} AFTER {event.upper()} ON executions "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION gs_spend_rollup_{event}()"
        )

    return [
        function("gs_spend_rollup_insert", _pg_add("gs_new")),
        function("gs_spend_rollup_delete", _pg_subtract("gs_old")),
        function("gs_spend_rollup_update", _pg_subtract("gs_old") + "\n" + _pg_add("gs_new")),
        trigger("insert", "NEW TABLE AS gs_new"),
        trigger("delete", "OLD TABLE AS gs_old"),
        trigger("update", "OLD TABLE AS gs_old NEW TABLE AS gs_new"),
    ]
