"""The ledger store: one code path (SQLAlchemy Core) for SQLite and PostgreSQL.

Writes are batched. On SQLite every write transaction is ``BEGIN IMMEDIATE`` under WAL with a
long busy timeout, so concurrent writer processes queue instead of failing; on PostgreSQL bulk
writes go through ``COPY`` into a staging table and one ``INSERT .. ON CONFLICT DO NOTHING``.
Either way a record is inserted once: ids are ULIDs and importers set ``dedup_key``, which
writers keep unique themselves (:func:`gearshift.ledger.dedup.unrecorded`, under SQLite's write
lock or a PostgreSQL advisory lock) with the help of a small ``dedup_group`` index. Code that
inserts into the ``executions`` table directly bypasses that check: write through
:meth:`Ledger.write_rows` or :meth:`Ledger.add_many`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from gearshift.catalog import Catalog, Tier, Usage, load_catalog
from gearshift.errors import ConfigError, LedgerConflict, LedgerError, UnknownModel
from gearshift.ledger.bulk import full_rows, insert_sql
from gearshift.ledger.columns import dedup_group
from gearshift.ledger.connect import (
    INSERT_COLS,
    all_applied,
    changes,
    copy_rows_pg,
    make_engine,
    open_error,
    short_error,
)
from gearshift.ledger.dedup import DELETE_BY_KEY, key_params, unrecorded, with_groups
from gearshift.ledger.dedup_sql import (
    ConnReader,
    bind,
    lock_dedup_keys,
    recorded_ids,
    recorded_keys,
)
from gearshift.ledger.locking import DEFAULT_LOCK_TIMEOUT
from gearshift.ledger.migrations import migrate
from gearshift.ledger.probe import require_current, require_current_file
from gearshift.ledger.queries import Filters
from gearshift.ledger.record import (
    FLAG_BATCH,
    FLAG_FAST,
    Execution,
)
from gearshift.ledger.reprice import unpriced_execution
from gearshift.ledger.rollup import SQLITE_LAST_ROWID, sqlite_fold
from gearshift.ledger.rows import Row, execution_row, row_from_fields, row_to_execution
from gearshift.ledger.schema import EXECUTION_COLUMNS
from gearshift.ledger.track import Tracker
from gearshift.ledger.urls import LedgerLocation, resolve_location

if TYPE_CHECKING:
    import datetime as dt

    from gearshift.ledger.bulk import Params, Settle, Statement

__all__ = ["Ledger"]

#: SQLSTATEs of a transaction PostgreSQL aborted to break a deadlock or a serialization conflict
_CONFLICTS = ("40P01", "40001")


class Ledger:
    """The cost ledger. Open with :meth:`open`; close with :meth:`close` or ``with``."""

    def __init__(
        self, engine: Engine, location: LedgerLocation, catalog: Catalog, *, privacy: bool
    ) -> None:
        self.engine = engine
        self.location = location
        self.catalog = catalog
        self.privacy = privacy
        writes: dict[str, Any] = {"gs_write": True}
        if location.dialect == "postgresql":
            # Writers check which dedup keys are recorded after taking the advisory lock
            # (lock_dedup_keys): each statement must see what the last holder committed, which
            # a REPEATABLE READ or SERIALIZABLE default would hide behind an older snapshot.
            writes["isolation_level"] = "READ COMMITTED"
        self._writer = engine.execution_options(**writes)

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        spec: str | os.PathLike[str] | None = None,
        *,
        catalog: Catalog | None = None,
        privacy: bool | None = None,
        create: bool = True,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        on_lock_wait: Callable[[str], object] | None = None,
    ) -> Ledger:
        """Open (creating and migrating as needed) the ledger at ``spec``.

        ``spec`` is a path, ``sqlite:///PATH``, ``sqlite://`` or ``postgresql://...``; ``None``
        means ``$GEARSHIFT_LEDGER`` or the default file. ``privacy`` (default
        ``$GEARSHIFT_PRIVACY``) keeps only a hash of each task text. ``create=False`` (for
        readers) creates and migrates nothing: a missing file, a database that is not a
        gearshift ledger, or one that needs migrating, is a LedgerError naming it. A SQLite
        write waits up to ``lock_timeout`` seconds for another writer, telling ``on_lock_wait``
        after the first second (see :mod:`gearshift.ledger.locking`).
        """
        location = resolve_location(spec)
        if privacy is None:
            privacy = os.environ.get("GEARSHIFT_PRIVACY", "") not in ("", "0", "false")
        if not create and location.file is not None:
            require_current_file(location)  # before connecting: that would switch it to WAL
        engine = make_engine(location, lock_timeout, on_lock_wait)
        ledger = cls(engine, location, catalog or load_catalog(), privacy=privacy)
        try:
            if create:
                ledger._migrate()
            else:
                with engine.connect() as conn:
                    require_current(conn, location)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise open_error(location, exc) from None
        except LedgerError:
            engine.dispose()
            raise
        return ledger

    @classmethod
    def open_read_only(
        cls, spec: str | os.PathLike[str] | None = None, *, catalog: Catalog | None = None
    ) -> Ledger:
        """Open an existing, current ledger only to read it: nothing is created or migrated,
        and the database refuses writes on these connections (SQLite ``query_only``,
        PostgreSQL read-only transactions). For services that show the ledger to others."""
        location = resolve_location(spec)
        if location.dialect == "sqlite" and (location.path is None or not location.path.exists()):
            raise LedgerError(
                f"no ledger at {location.display}",
                hint="record, ingest or run something first, or check --ledger / GEARSHIFT_LEDGER",
            )
        engine = make_engine(location, read_only=True)
        ledger = cls(engine, location, catalog or load_catalog(), privacy=True)
        try:
            with engine.connect() as conn:
                current = all_applied(conn)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise open_error(location, exc) from None
        except LedgerError:
            engine.dispose()
            raise
        if not current:
            engine.dispose()
            raise LedgerError(
                f"ledger {location.display} was made by an older gearshift and is opened "
                "read-only here, so it is not upgraded",
                hint=f"upgrade it once: gearshift --ledger {location.display} ledger stats",
            )
        return ledger

    def _migrate(self) -> None:
        with self.engine.connect() as conn:
            if all_applied(conn):
                return
        with self._writer.begin() as conn:
            if self.location.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(7231849)"))
            migrate(conn)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite); errors become LedgerError."""
        try:
            with self._writer.begin() as conn:
                yield conn
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) in _CONFLICTS:
                raise LedgerConflict(
                    f"a write to ledger {self.location.display} was aborted: {short_error(exc)}",
                    hint="run it again",
                ) from None
            raise LedgerError(
                f"cannot write to ledger {self.location.display}: {short_error(exc)}",
                hint="check that the database is reachable and writable",
            ) from None

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except DBAPIError as exc:
            raise LedgerError(
                f"cannot read ledger {self.location.display}: {short_error(exc)}",
                hint="check that the database is reachable",
            ) from None

    @contextlib.contextmanager
    def reading(self) -> Iterator[ConnReader]:
        """A :class:`~gearshift.ledger.bulk.Reader` whose queries share one connection and one
        read transaction: a page of several reads sees one state of the ledger, and pays for
        one connection and one ``BEGIN``."""
        with self.read() as conn:
            yield ConnReader(conn)

    # -- recording ----------------------------------------------------------------------------

    def record(
        self,
        *,
        agent: str,
        model: str,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_write_5m_tokens: int = 0,
        cache_write_1h_tokens: int = 0,
        cache_read_tokens: int = 0,
        batch: bool = False,
        fast: bool = False,
        geo: str | None = None,
        ts: dt.datetime | None = None,
        **fields: Any,
    ) -> Execution:
        """Price a usage on ``model`` and record it; returns the stored execution. A model the
        catalog does not know is recorded all the same, at $0 and flagged
        (:func:`gearshift.ledger.reprice.unpriced_execution`): the call happened, and was paid
        for."""
        try:
            usage = Usage(
                input_tokens,
                output_tokens,
                cache_write_5m_tokens,
                cache_write_1h_tokens,
                cache_read_tokens,
                batch=batch,
                fast=fast,
                geo=geo,
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        try:
            execution = self.price(agent=agent, model=model, usage=usage, ts=ts, **fields)
        except UnknownModel:
            execution = unpriced_execution(
                self.catalog, agent=agent, model=model, usage=usage, ts=ts, **fields
            )
        self.add(execution)
        return execution

    def price(
        self,
        *,
        agent: str,
        model: str,
        usage: Usage,
        ts: dt.datetime | None = None,
        **fields: Any,
    ) -> Execution:
        """Build an :class:`Execution` for ``usage`` on ``model`` with its exact cost."""
        resolved = self.catalog.resolve(model)
        extra: dict[str, Any] = dict(fields)
        if ts is not None:
            extra["ts"] = ts
        execution = Execution(
            model=resolved.id,
            tier=resolved.tier.value,
            agent=agent,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_write_5m_tokens=usage.cache_write_5m_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            flags=(FLAG_BATCH if usage.batch else 0) | (FLAG_FAST if usage.fast else 0),
            **extra,
        )
        if usage.geo:
            execution.tags.setdefault("geo", usage.geo)
        cost = self.catalog.cost(resolved, usage, at=execution.ts)
        execution.cost_nanos = cost.nanos
        execution.price_version = cost.price_version
        return execution

    def add(self, execution: Execution) -> bool:
        """Insert one execution; ``False`` when its id or dedup key is already recorded."""
        return self.add_many([execution]) == 1

    def add_many(self, executions: Iterable[Execution], *, batch_size: int = 20_000) -> int:
        """Insert executions in batches; returns how many were new."""
        inserted = 0
        chunk: list[Row] = []
        for execution in executions:
            chunk.append(self.to_row(execution))
            if len(chunk) >= batch_size:
                inserted += self.write_rows(chunk)
                chunk = []
        if chunk:
            inserted += self.write_rows(chunk)
        return inserted

    def to_row(self, e: Execution) -> Row:
        """An execution as a tuple in :data:`EXECUTION_COLUMNS` order, validated."""
        return execution_row(e, privacy=self.privacy)

    @staticmethod
    def column_index(name: str) -> int:
        return EXECUTION_COLUMNS.index(name)

    def to_row_fields(self, **fields: Any) -> Row:
        """A row from column values (``ts_us``, ``tags`` as a dict); unnamed columns get their
        defaults. The fast path for importers that never build :class:`Execution` objects."""
        return row_from_fields(fields, privacy=self.privacy)

    def existing_dedup_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of ``keys`` are already recorded."""
        groups = sorted({g for g in map(dedup_group, keys) if g is not None})
        with self.read() as conn:
            return set(keys) & set(recorded_keys(conn, groups))

    def write_rows(
        self,
        rows: Sequence[Row],
        *,
        replace_keys: Sequence[str] = (),
        columns: Sequence[str] | None = None,
        fixed: Mapping[str, Any] | None = None,
        then: Sequence[Statement] = (),
        settle: Settle | None = None,
    ) -> int:
        """Bulk-insert rows in one transaction; returns new rows.

        Rows hold ``columns`` (default: every column, in :data:`EXECUTION_COLUMNS` order);
        ``fixed`` gives the columns that are the same in every row (see
        :func:`gearshift.ledger.bulk.insert_sql`). ``replace_keys`` are dedup keys whose rows
        are deleted in the same transaction first: an importer that found a better copy of a
        record replaces it atomically. ``then`` runs after the rows, in the same transaction
        (as :meth:`execute_many` does): an importer's note of what it has read commits with what
        it recorded. ``settle(reader)`` runs first in the transaction, once this writer is the
        only one writing dedup keys, and returns the rows to insert and the keys they replace.
        """
        if not rows and not replace_keys and not then:
            return 0
        with self.write() as conn:
            return self.write_rows_in(
                conn,
                rows,
                replace_keys=replace_keys,
                columns=columns,
                fixed=fixed,
                then=then,
                settle=settle,
            )

    def write_rows_in(
        self,
        conn: Connection,
        rows: Sequence[Row],
        *,
        replace_keys: Sequence[str] = (),
        columns: Sequence[str] | None = None,
        fixed: Mapping[str, Any] | None = None,
        then: Sequence[Statement] = (),
        settle: Settle | None = None,
    ) -> int:
        """:meth:`write_rows` inside the caller's write transaction (from :meth:`write`), so
        that rows commit together with the caller's own statements (a reservation settled, a
        job marked finished); returns new rows."""
        if settle is not None:
            lock_dedup_keys(conn)  # what settle reads stays what is recorded
            rows, replace_keys = settle(ConnReader(conn))
        rows, columns, fixed, keyed = with_groups(rows, columns, fixed)
        if settle is None and (keyed or replace_keys):
            lock_dedup_keys(conn)
        if replace_keys:
            conn.execute(text(DELETE_BY_KEY), key_params(replace_keys))
        if keyed:
            rows = unrecorded(
                rows,
                columns,
                fixed,
                lambda groups: recorded_keys(conn, groups),
                lambda ids: recorded_ids(conn, ids),
            )
        inserted = 0
        if rows and self.location.dialect == "postgresql":
            inserted = copy_rows_pg(conn, full_rows(rows, columns, fixed))  # triggers roll up
        elif rows:
            last = conn.exec_driver_sql(SQLITE_LAST_ROWID).scalar_one()
            before = changes(conn)
            conn.exec_driver_sql(insert_sql(columns, fixed), list(rows))
            inserted = changes(conn) - before
            if inserted:  # before ``then``: an update there moves folded sums
                for statement, values in sqlite_fold(last):
                    conn.exec_driver_sql(statement, values)
        for sql, params in then:
            if params:
                conn.execute(text(sql), [dict(p) for p in params])
        return inserted

    def add_in(self, conn: Connection, executions: Iterable[Execution]) -> int:
        """Insert executions inside the caller's write transaction; returns how many were new."""
        return self.write_rows_in(conn, [self.to_row(e) for e in executions])

    def query(self, sql: str, params: Params = None) -> list[Row]:
        """Rows of a read-only statement: ``:name`` parameters given as a mapping, or ``?``
        ones as a sequence."""
        with self.read() as conn:
            return [tuple(r) for r in conn.execute(*bind(sql, params))]

    def execute_many(self, statements: Sequence[Statement]) -> None:
        """Run each statement once per parameter set, all in one write transaction."""
        with self.write() as conn:
            for sql, params in statements:
                if params:
                    conn.execute(text(sql), [dict(p) for p in params])

    def track(self, *, agent: str, model: str, **fields: Any) -> Tracker:
        """A context manager that times a call and records it with its usage and status."""
        return Tracker(self, agent=agent, model=model, fields=fields)

    # -- reading ------------------------------------------------------------------------------

    def count(self) -> int:
        with self.read() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM executions")).scalar_one())

    def executions(
        self,
        *,
        where: str = "",
        params: dict[str, Any] | None = None,
        filters: Filters | None = None,
        order: str = "ts_us, id",
        limit: int | None = None,
    ) -> Iterator[Execution]:
        """Stream executions: those ``filters`` selects (of a known tier), or those of ``where``,
        a SQL fragment over the columns with bound ``params``."""
        if filters is not None:
            where, params = filters.sql(tiered=True)
        sql = f"SELECT {INSERT_COLS} FROM executions"
        if where:
            sql += f" WHERE {where}"
        sql += f" ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self.read() as conn:
            result = conn.execution_options(stream_results=True).execute(text(sql), params or {})
            for row in result:
                yield row_to_execution(row)

    def tier_of(self, model: str) -> Tier:
        return self.catalog.resolve(model).tier
