"""The lean SQLite ledger: an existing, fully migrated SQLite ledger opened with the standard
library's :mod:`sqlite3`, without SQLAlchemy (whose import costs more than an incremental
transcript ingest has work to do).

:class:`LiteLedger` offers what a bulk importer needs (:class:`~gearshift.ledger.bulk.BulkLedger`:
plain SQL reads, statements in one write transaction, bulk inserts of execution rows) and sets
the same connection options as :class:`gearshift.ledger.store.Ledger` (WAL, ``BEGIN IMMEDIATE``
for writes, a 60 s busy timeout), so both can write to one file at the same time.

:meth:`LiteLedger.open_or_create` also creates a new SQLite ledger, from ``sqlite_schema.sql``
(the schema SQLAlchemy's migrations produce, kept identical by a test), optionally *staged*: a
private file, written without a log and synced once, that appears complete when published. A
ledger that lacks a migration is not opened here (``None``): migrating stays with
:class:`~gearshift.ledger.store.Ledger`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from gearshift.errors import LedgerError, LedgerLocked
from gearshift.ledger import staging
from gearshift.ledger.bulk import Params, Row, Settle, Statement, insert_sql
from gearshift.ledger.columns import EXECUTION_COLUMNS, MIGRATION_NAMES
from gearshift.ledger.dedup import (
    DELETE_BY_KEY,
    first_copies,
    key_params,
    unrecorded,
    with_groups,
)
from gearshift.ledger.ids import new_ids_now
from gearshift.ledger.rollup import REBUILD, SQLITE_LAST_ROWID, sqlite_fold

if TYPE_CHECKING:
    from gearshift.catalog import Catalog
    from gearshift.ledger.urls import LedgerLocation

__all__ = ["LiteLedger", "fold_rollups"]


class _ConnReader:
    """A :class:`~gearshift.ledger.bulk.Reader` on the connection of a write transaction in
    progress."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def query(self, sql: str, params: Params = None) -> list[Row]:
        return self._conn.execute(sql, _params(params)).fetchall()


def _params(params: Params) -> Mapping[str, Any] | Sequence[Any]:
    if params is None:
        return ()
    return params if isinstance(params, list | tuple) else dict(params)


class LiteLedger:
    """A current SQLite ledger opened with :mod:`sqlite3`, or a new one being staged (see the
    module doc)."""

    def __init__(
        self, conn: sqlite3.Connection, location: LedgerLocation, catalog: Callable[[], Catalog]
    ) -> None:
        self._conn = conn
        self.location = location
        self._catalog_factory = catalog
        self._catalog: Catalog | None = None
        self._staged: str | None = None  # the private file of a new ledger not yet published

    @classmethod
    def open_current(
        cls,
        location: LedgerLocation,
        catalog: Callable[[], Catalog],
        *,
        cache_kib: int = 65536,
        mmap_bytes: int | None = None,
    ) -> LiteLedger | None:
        """The ledger at ``location`` if it is a SQLite file with every migration applied;
        else ``None`` (the caller opens a :class:`~gearshift.ledger.store.Ledger` instead).
        ``catalog`` is called the first time prices are needed. ``cache_kib`` bounds the page
        cache and ``mmap_bytes`` the file mapped for reads (a long-running writer, such as the
        proxy's, keeps both small: a bulk import wants them large)."""
        path = location.file
        if location.dialect != "sqlite" or path is None or not os.path.isfile(path):
            return None
        try:
            conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return None
        try:
            conn.execute("PRAGMA busy_timeout = 60000")
            # asked first: the pragmas below change the file, and it may be another program's
            done = {r[0] for r in conn.execute("SELECT name FROM gearshift_migrations")}
            if done == set(MIGRATION_NAMES):
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute(f"PRAGMA cache_size = -{int(cache_kib)}")
                mmap = _MMAP_BYTES if mmap_bytes is None else int(mmap_bytes)
                conn.execute(f"PRAGMA mmap_size = {mmap}")
        except sqlite3.Error:
            conn.close()
            return None
        if done != set(MIGRATION_NAMES):  # older (Ledger migrates it) or newer (it refuses it)
            conn.close()
            return None
        return cls(conn, location, catalog)

    @classmethod
    def open_or_create(
        cls, location: LedgerLocation, catalog: Callable[[], Catalog], *, staged: bool = False
    ) -> LiteLedger | None:
        """:meth:`open_current`, creating the ledger when there is no file yet.

        The new file is built under a private name beside it (schema, migrations) and linked
        into place, so no process ever sees a half-made ledger and, of creators racing, exactly
        one wins. With ``staged`` the link waits for :meth:`publish`, and what is written until
        then goes into the private file without a write-ahead log (nothing else can see it, and
        it appears only when complete) and is synced once: a first import writes each page once
        instead of three times (log, checkpoint, database).

        A file that exists but is not current (an older schema, or one still being made by the
        SQLAlchemy path) gives ``None``, as does a filesystem without hard links:
        :class:`Ledger` takes it from there."""
        path = location.file
        if location.dialect == "sqlite" and path is not None:
            staging.sweep(path)  # whether or not this run creates it: a leftover may be any age
        lite = cls.open_current(location, catalog)
        if lite is not None or location.dialect != "sqlite" or path is None:
            return lite
        if os.path.lexists(path):  # a file not opened above, or a symlink: Ledger decides
            return None
        try:
            tmp = staging.build(path)
            if tmp is None:
                return None  # no hard links here: Ledger creates it in place
            try:
                conn = sqlite3.connect(tmp, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode = MEMORY")  # a failed write still rolls back
                conn.execute("PRAGMA synchronous = OFF")  # publish() syncs the whole file once
                # A small page cache: a first fill writes each page once anyway, and a large
                # cache would hold the whole new file in memory until the commit.
                conn.execute("PRAGMA cache_size = -8192")
            except BaseException:
                staging.discard(tmp)
                raise
        except (sqlite3.Error, OSError) as exc:
            raise LedgerError(
                f"cannot create ledger {location.display}: {exc}",
                hint="check that the folder exists and is writable",
            ) from None
        lite = cls(conn, location, catalog)
        lite._staged = tmp
        if staged:
            return lite
        lite.publish()  # True, or another creator won: either way a ledger is there now
        return cls.open_current(location, catalog)

    def publish(self) -> bool:
        """Put a staged new ledger (see :meth:`open_or_create`) in place with what was written
        to it, and close it. ``False`` when another process created the ledger meanwhile: this
        one is discarded then, and what was written to it belongs in that one. A ledger that
        was opened rather than staged is just closed."""
        tmp, self._staged = self._staged, None
        if tmp is None:
            self.close()
            return True
        path = self.location.file
        assert path is not None
        try:
            self._conn.execute("PRAGMA journal_mode = WAL")  # as every ledger file has
            self._conn.close()
            staging.fsync(tmp)
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            with contextlib.suppress(OSError):  # the new name durable too, where allowed
                staging.fsync(os.path.dirname(path) or ".")
            return True
        except (sqlite3.Error, OSError) as exc:
            raise LedgerError(
                f"cannot create ledger {self.location.display}: {exc}",
                hint="check that the folder exists and is writable",
            ) from None
        finally:
            self._conn.close()
            staging.discard(tmp)

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = self._catalog_factory()
        return self._catalog

    def close(self) -> None:
        """Close the connection; a staged ledger that was not published is discarded."""
        self._conn.close()
        tmp, self._staged = self._staged, None
        if tmp is not None:
            staging.discard(tmp)

    def wait_for_writers(self, seconds: float) -> None:
        """Wait at most ``seconds`` for another writer (instead of 60); then LedgerLocked."""
        self._conn.execute(f"PRAGMA busy_timeout = {round(seconds * 1000)}")

    def __enter__(self) -> LiteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def column_index(name: str) -> int:
        return EXECUTION_COLUMNS.index(name)

    def query(self, sql: str, params: Params = None) -> list[Row]:
        try:
            return self._conn.execute(sql, _params(params)).fetchall()
        except sqlite3.Error as exc:
            raise LedgerError(
                f"cannot read ledger {self.location.display}: {exc}",
                hint="check that the database is reachable",
            ) from None

    def _write(self) -> _Transaction:
        return _Transaction(self._conn, self.location)

    def execute_many(self, statements: Sequence[Statement]) -> None:
        with self._write() as conn:
            for sql, params in statements:
                if params:
                    conn.executemany(sql, [dict(p) for p in params])

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
        if not rows and not replace_keys and not then:
            return 0
        with self._write() as conn:
            if settle is not None:
                rows, replace_keys = settle(_ConnReader(conn))
            rows, columns, fixed, keyed = with_groups(rows, columns, fixed)
            if replace_keys:
                conn.executemany(DELETE_BY_KEY, key_params(replace_keys))
            inserted = 0
            if rows:
                empty = conn.execute("SELECT 1 FROM executions LIMIT 1").fetchone() is None
                if empty and len(rows) >= BULK_MIN_ROWS:
                    inserted = _fill_empty(conn, rows, columns, fixed, keyed)
                else:
                    last = conn.execute(SQLITE_LAST_ROWID).fetchone()[0]
                    if keyed:
                        settled = settle is not None
                        inserted = _insert_keyed(conn, rows, columns, fixed, settled=settled)
                    else:
                        before = conn.total_changes
                        conn.executemany(insert_sql(columns, fixed), rows)
                        inserted = conn.total_changes - before
                    if inserted:  # before ``then``: an update there moves folded sums
                        fold_rollups(conn, last)
            for sql, params in then:
                if params:
                    conn.executemany(sql, [dict(p) for p in params])
            return inserted


class _Transaction:
    """``with`` it: a write transaction (``BEGIN IMMEDIATE``), committed at the end of the block
    or rolled back if it raises; an SQLite error becomes a :class:`LedgerError`."""

    __slots__ = ("conn", "location")

    def __init__(self, conn: sqlite3.Connection, location: LedgerLocation) -> None:
        self.conn = conn
        self.location = location

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        return self.conn

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self.conn
        try:
            conn.execute("ROLLBACK" if kind is not None else "COMMIT")
        except sqlite3.Error as failed:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if kind is None or isinstance(exc, sqlite3.Error):
                raise self._error(failed) from None
        if isinstance(exc, sqlite3.Error):  # the block's own SQLite error, rolled back above
            raise self._error(exc) from None

    def _error(self, exc: sqlite3.Error) -> LedgerError:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF in (5, 6):  # SQLITE_BUSY, SQLITE_LOCKED
            return LedgerLocked(f"the ledger {self.location.display} is locked by another writer")
        return LedgerError(
            f"cannot write to ledger {self.location.display}: {exc}",
            hint="check that the database is reachable and writable",
        )


def _insert_keyed(
    conn: sqlite3.Connection,
    rows: Sequence[Row],
    columns: Sequence[str],
    fixed: Mapping[str, Any],
    *,
    settled: bool,
) -> int:
    """Insert rows with dedup keys, leaving out those :func:`unrecorded` would; return how many
    were written.

    Rows a ``settle`` returned hold distinct keys none of which is recorded (its contract: it
    decided them in this transaction), so they go in as they are. Their ids are assumed free,
    as fresh random ids are; a row ``INSERT OR IGNORE`` passed over because its id was taken
    after all goes in again under a new id."""
    sql = insert_sql(columns, fixed)
    names = list(columns)
    if settled and "id" in names and "dedup_key" in names:
        before = conn.total_changes
        conn.executemany(sql, rows)
        inserted = conn.total_changes - before
        if inserted < len(rows):
            inserted += _insert_passed_over(conn, rows, names, sql)
        return inserted

    def keys(groups: list[int]) -> Iterable[str]:
        return _recorded_keys(conn, groups)

    kept = unrecorded(rows, columns, fixed, keys, lambda ids: _recorded_ids(conn, ids))
    before = conn.total_changes
    conn.executemany(sql, kept)
    return conn.total_changes - before


def _insert_passed_over(
    conn: sqlite3.Connection, rows: Sequence[Row], names: list[str], sql: str
) -> int:
    """Insert again, under new ids, the ``rows`` whose id belonged to another record (the
    record with that id does not hold the row's key); return how many."""
    id_at, key_at = names.index("id"), names.index("dedup_key")
    inserted = 0
    while True:
        ids = [row[id_at] for row in rows]
        stored: dict[str, str] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ", ".join("?" * len(part))
            query = f"SELECT id, dedup_key FROM executions WHERE id IN ({marks})"
            stored.update(conn.execute(query, part).fetchall())
        rows = [row for row in rows if stored.get(row[id_at]) != row[key_at]]
        if not rows:
            return inserted
        fresh = new_ids_now(len(rows))
        rows = [(*r[:id_at], new, *r[id_at + 1 :]) for r, new in zip(rows, fresh, strict=True)]
        before = conn.total_changes
        conn.executemany(sql, rows)
        inserted += conn.total_changes - before


def _recorded_ids(conn: sqlite3.Connection, ids: list[str]) -> Iterator[str]:
    return _where_in(conn, "id", "id", ids)


def _recorded_keys(conn: sqlite3.Connection, groups: list[int]) -> Iterator[str]:
    return _where_in(conn, "dedup_key", "dedup_group", groups)


def _where_in(
    conn: sqlite3.Connection, column: str, where: str, values: Sequence[Any]
) -> Iterator[Any]:
    for i in range(0, len(values), 500):
        part = list(values[i : i + 500])
        marks = ", ".join("?" * len(part))
        sql = f"SELECT {column} FROM executions WHERE {where} IN ({marks})"
        for (value,) in conn.execute(sql, part):
            yield value


#: From this many rows, a write into an empty table builds the secondary indexes afterwards.
BULK_MIN_ROWS = 20_000


def _fill_empty(
    conn: sqlite3.Connection,
    rows: Sequence[Row],
    columns: Sequence[str] | None,
    fixed: Mapping[str, Any] | None,
    keyed: bool,
) -> int:
    """Fill the empty executions table (inside the caller's write transaction) and build its
    secondary indexes after the rows are in: one sort per index instead of a B-tree insert per
    row, about a quarter of a large first import's time. The schema is the one in the file (the
    indexes, and the trigger that guards against older writers, are dropped and re-created from
    their own SQL); the dedup keys are made unique by
    :func:`~gearshift.ledger.dedup.first_copies` (nothing is recorded yet). Partial indexes none
    of the rows enter stay in place."""
    objects = [
        (kind, name, sql)
        for kind, name, sql in conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger')"
            " AND tbl_name = 'executions' AND sql IS NOT NULL"
        )
        if kind == "trigger" or not _stays_empty(sql, fixed or {})
    ]
    names = columns or EXECUTION_COLUMNS
    unique = first_copies(rows, names, fixed or {}, set(), set()) if keyed else rows
    for kind, name, _ in objects:
        conn.execute(f'DROP {kind.upper()} "{name}"')
    before = conn.total_changes
    conn.executemany(insert_sql(columns, fixed), unique)
    inserted = conn.total_changes - before
    for _, _, sql in objects:
        conn.execute(sql)
    for statement in REBUILD:  # the rollups' triggers were dropped with the others
        conn.execute(statement)
    return inserted


def fold_rollups(conn: sqlite3.Connection, last_rowid: int) -> None:
    """Add the rows inserted after ``last_rowid`` (in the caller's write transaction) to the
    spend rollups (see :mod:`gearshift.ledger.rollup`)."""
    for statement, params in sqlite_fold(last_rowid):
        conn.execute(statement, params)


#: Reads map the file rather than copy each page (an incremental ingest looks up and updates a few
#: thousand pages of the dedup index); SQLite caps it on platforms that cannot.
_MMAP_BYTES = 1 << 30

_PARTIAL = r'WHERE\s+"?(\w+)"?\s+IS\s+NOT\s+NULL\s*$'


def _stays_empty(index_sql: str, fixed: Mapping[str, Any]) -> bool:
    """Whether a partial index ``... WHERE col IS NOT NULL`` gets none of the rows (their
    ``col`` is a fixed NULL): it costs nothing to keep during the fill, a table scan to rebuild."""
    m = re.search(_PARTIAL, index_sql, re.IGNORECASE)
    return m is not None and m.group(1) in fixed and fixed[m.group(1)] is None
