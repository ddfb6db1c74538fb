"""The standard-library SQLite path for bulk imports, and bulk inserts with constant columns."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gearshift.catalog import load_catalog
from gearshift.errors import LedgerError
from gearshift.ledger import Ledger
from gearshift.ledger.bulk import full_rows, insert_sql, sql_literal
from gearshift.ledger.columns import EXECUTION_COLUMNS, MIGRATION_NAMES
from gearshift.ledger.record import new_id, new_ids
from gearshift.ledger.sqlite3_ledger import LiteLedger
from gearshift.ledger.urls import resolve_location

COLUMNS = ("id", "ts_us", "agent", "model", "tier", "cost_nanos", "dedup_key", "tags")
FIXED = {
    c: None
    for c in EXECUTION_COLUMNS
    if c not in COLUMNS
    and c
    not in {
        "project",
        "session",
        "input_tokens",
        "output_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "cache_read_tokens",
        "price_version",
        "status",
        "attempt",
        "source",
        "flags",
    }
} | {
    "project": "it's",  # a quote in a constant
    "session": "s1",
    "input_tokens": 10,
    "output_tokens": 20,
    "cache_write_5m_tokens": 0,
    "cache_write_1h_tokens": 0,
    "cache_read_tokens": 0,
    "price_version": "v",
    "status": "success",
    "attempt": 1,
    "source": "claude-code",
    "flags": 0,
}


def _rows(n: int, start: int = 0) -> list[tuple[object, ...]]:
    ids = new_ids([1_764_288_000_000 + i for i in range(start, start + n)])
    return [
        (ids[i], (1_764_288_000_000 + start + i) * 1000, "Explore", "claude-x", "sonnet", 7 * i,
         f"cc:m{start + i}|r|m", '{"k":"é"}')
        for i in range(n)
    ]  # fmt: skip


def _read(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            f"SELECT {', '.join(EXECUTION_COLUMNS)} FROM executions ORDER BY dedup_key"
        ).fetchall()


def test_open_current_only_opens_an_existing_migrated_sqlite_file(tmp_path: Path) -> None:
    assert LiteLedger.open_current(resolve_location(tmp_path / "none.db"), load_catalog) is None
    assert not (tmp_path / "none.db").exists()
    assert LiteLedger.open_current(resolve_location("sqlite://"), load_catalog) is None
    pg = resolve_location("postgresql://u@localhost/db")
    assert LiteLedger.open_current(pg, load_catalog) is None
    half = tmp_path / "half.db"
    with sqlite3.connect(half) as conn:
        conn.execute("CREATE TABLE gearshift_migrations (name TEXT, applied_at TEXT)")
        conn.execute("INSERT INTO gearshift_migrations VALUES ('0001_executions', 'x')")
    assert LiteLedger.open_current(resolve_location(half), load_catalog) is None
    assert LiteLedger.open_or_create(resolve_location(half), load_catalog) is None  # migrate
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    assert LiteLedger.open_current(resolve_location(tmp_path / "junk.db"), load_catalog) is None
    Ledger.open(tmp_path / "ok.db").close()
    lite = LiteLedger.open_current(resolve_location(tmp_path / "ok.db"), load_catalog)
    assert lite is not None
    lite.close()


def test_both_ledgers_write_the_same_rows(tmp_path: Path) -> None:
    rows = _rows(300)
    with Ledger.open(tmp_path / "a.db") as full:
        assert full.write_rows(rows, columns=COLUMNS, fixed=FIXED) == 300
        assert full.write_rows(rows, columns=COLUMNS, fixed=FIXED) == 0  # dedup keys
    Ledger.open(tmp_path / "b.db").close()
    lite = LiteLedger.open_current(resolve_location(tmp_path / "b.db"), load_catalog)
    assert lite is not None
    with lite:
        assert lite.write_rows(rows, columns=COLUMNS, fixed=FIXED) == 300
        assert lite.write_rows(rows, columns=COLUMNS, fixed=FIXED) == 0
        assert lite.query("SELECT COUNT(*) FROM executions WHERE project = :p", {"p": "it's"}) == [
            (300,)
        ]
    assert _read(tmp_path / "a.db") == _read(tmp_path / "b.db")
    with Ledger.open(tmp_path / "b.db") as full:
        got = {e.dedup_key: e for e in full.executions()}["cc:m1|r|m"]
    assert (got.project, got.cost_nanos, got.tags) == ("it's", 7, {"k": "é"})


def test_replace_keys_and_postgres_full_rows(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        ledger.write_rows(_rows(5), columns=COLUMNS, fixed=FIXED)
        better = _rows(1, start=2)
        n = ledger.write_rows(better, replace_keys=["cc:m2|r|m"], columns=COLUMNS, fixed=FIXED)
        assert n == 1 and ledger.count() == 5
        (row,) = ledger.query(
            "SELECT id, project FROM executions WHERE dedup_key = :k", {"k": "cc:m2|r|m"}
        )
        assert row == (better[0][0], "it's")


def test_a_failed_write_rolls_back_everything(tmp_path: Path) -> None:
    Ledger.open(tmp_path / "l.db").close()
    lite = LiteLedger.open_current(resolve_location(tmp_path / "l.db"), load_catalog)
    assert lite is not None
    with lite:
        good = "INSERT INTO ingest_files (path, source, device, inode, size, mtime_ns, "
        good += "\"offset\", lines, fingerprint, updated_at) VALUES (:p, 'cc', 1, 1, 1, 1, 1, 1, "
        good += "'f', 'now')"
        with pytest.raises(LedgerError, match="cannot write to ledger"):
            lite.execute_many(
                [(good, [{"p": "a"}]), ("INSERT INTO nowhere VALUES (:x)", [{"x": 1}])]
            )
        assert lite.query("SELECT COUNT(*) FROM ingest_files") == [(0,)]
        lite.execute_many([(good, [{"p": "a"}, {"p": "b"}])])
        assert lite.query("SELECT COUNT(*) FROM ingest_files") == [(2,)]


def test_insert_sql_needs_every_column_exactly_once() -> None:
    with pytest.raises(ValueError, match="missing"):
        insert_sql(COLUMNS, {})
    with pytest.raises(ValueError, match="unknown or repeated"):
        insert_sql([*COLUMNS, "nope"], FIXED)
    with pytest.raises(ValueError, match="unknown or repeated"):
        insert_sql(COLUMNS, {**FIXED, "agent": "x"})
    assert insert_sql().count("?") == len(EXECUTION_COLUMNS)
    assert "'it''s'" in insert_sql(COLUMNS, FIXED)
    row = full_rows(_rows(1), COLUMNS, FIXED)[0]
    assert len(row) == len(EXECUTION_COLUMNS)
    assert row[EXECUTION_COLUMNS.index("project")] == "it's"
    assert row[EXECUTION_COLUMNS.index("agent")] == "Explore"


@pytest.mark.parametrize("bad", [True, 1.5, b"x", "a\x00b"])
def test_sql_literal_refuses_what_it_cannot_quote_exactly(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        sql_literal(bad)


def test_new_ids_are_ulids_of_their_milliseconds() -> None:
    ms = [0, 1, 1023, 1024, 2**20 - 1, 2**20, 1_764_288_000_123, 2**48 - 1]
    ids = new_ids(ms)
    assert [i[:10] for i in ids] == [new_id(m)[:10] for m in ms]
    assert all(len(i) == 26 for i in ids)
    assert len(set(new_ids([5] * 10_000))) == 10_000
    assert new_ids([]) == []
    # out of a ULID's range (a transcript line dated before 1970): clamped, never an error
    low, high = new_ids([-5, 2**48 + 7])
    assert low[:10] == "0000000000" and high[:10] == "7ZZZZZZZZZ"


def test_new_ids_now_are_ulids_of_this_millisecond() -> None:
    from gearshift.ledger.ids import new_ids_now

    before = new_id()
    ids = new_ids_now(5_000)
    after = new_id()
    assert len(set(ids)) == 5_000 and all(len(i) == 26 for i in ids)
    assert len({i[:10] for i in ids}) == 1 and before[:10] <= ids[0][:10] <= after[:10]
    assert set("".join(ids)) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    assert new_ids_now(0) == []


def _schema(path: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    return [(t, n, " ".join((sql or "").split())) for t, n, sql in rows]


def test_a_new_ledger_gets_exactly_the_schema_the_migrations_make(tmp_path: Path) -> None:
    """sqlite_schema.sql must equal what SQLAlchemy creates; after a new migration, regenerate
    it from a ledger made by ``Ledger.open`` (SELECT sql FROM sqlite_master ORDER BY rowid)."""
    Ledger.open(tmp_path / "full.db").close()
    lite = LiteLedger.open_or_create(resolve_location(tmp_path / "lite.db"), load_catalog)
    assert lite is not None
    lite.close()
    assert _schema(tmp_path / "lite.db") == _schema(tmp_path / "full.db")
    with sqlite3.connect(tmp_path / "lite.db") as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM gearshift_migrations")]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert sorted(names) == sorted(MIGRATION_NAMES)
    with Ledger.open(tmp_path / "lite.db") as full:  # nothing left to migrate; it works
        full.write_rows(_rows(3), columns=COLUMNS, fixed=FIXED)
        assert full.count() == 3


_CREATE = """
import sys
from gearshift.ledger.sqlite3_ledger import LiteLedger
from gearshift.ledger.urls import resolve_location
from gearshift.catalog import load_catalog
lite = LiteLedger.open_or_create(resolve_location(sys.argv[1]), load_catalog)
print("none" if lite is None else len(lite.query("SELECT name FROM gearshift_migrations")))
"""


def test_concurrent_creators_make_one_complete_ledger(tmp_path: Path) -> None:
    """Six processes create the same new ledger at once: each gets it whole, or (while a file
    it did not make is still being opened) ``None``, which sends the CLI to the full Ledger --
    never an error or a partial schema."""
    path = tmp_path / "race.db"
    procs = [
        subprocess.Popen([sys.executable, "-c", _CREATE, str(path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]  # fmt: skip
    results = [p.communicate(timeout=60) for p in procs]
    assert all(not err for _, err in results), results
    assert {out.strip() for out, _ in results} <= {str(len(MIGRATION_NAMES)), "none"}
    assert [out.strip() for out, _ in results].count(str(len(MIGRATION_NAMES))) >= 1
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("race.db")) == []
    with Ledger.open(path) as ledger:
        assert ledger.count() == 0


def test_a_file_that_is_not_a_ledger_is_left_alone(tmp_path: Path) -> None:
    """Not opened, not overwritten: the full Ledger then reports what is wrong with it."""
    junk = tmp_path / "notes.db"
    junk.write_bytes(b"these are my notes, not a database\n" * 200)
    assert LiteLedger.open_or_create(resolve_location(junk), load_catalog) is None
    assert junk.read_bytes().startswith(b"these are my notes")
    assert LiteLedger.open_or_create(resolve_location("sqlite://"), load_catalog) is None
    with pytest.raises(LedgerError):
        Ledger.open(junk)


def test_a_folder_that_vanished_is_a_clear_error(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    location = resolve_location(gone / "l.db")
    gone.rmdir()
    with pytest.raises(LedgerError, match="cannot create ledger") as info:
        LiteLedger.open_or_create(location, load_catalog)
    assert info.value.hint
    assert not list(tmp_path.iterdir())


def test_a_large_first_write_builds_the_indexes_after_the_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Into an empty table, a big batch is written without the secondary indexes, which are
    then rebuilt: the same rows, the same schema, and a repeated dedup key still counts once."""
    from gearshift.ledger import sqlite3_ledger as lite_module

    monkeypatch.setattr(lite_module, "BULK_MIN_ROWS", 50)
    rows = _rows(200)
    twice = [*rows, (new_id(), *rows[7][1:])]  # a second copy of one dedup key, another id
    results = {}
    for name, batch in (("bulk", twice), ("plain", rows[:49])):
        Ledger.open(tmp_path / f"{name}.db").close()
        lite = LiteLedger.open_current(resolve_location(tmp_path / f"{name}.db"), load_catalog)
        assert lite is not None
        with lite:
            results[name] = lite.write_rows(batch, columns=COLUMNS, fixed=FIXED)
            if name == "plain":  # not empty any more: the rest goes in row by row
                results[name] += lite.write_rows(rows[49:], columns=COLUMNS, fixed=FIXED)
    assert results == {"bulk": 200, "plain": 200}
    assert _read(tmp_path / "bulk.db") == _read(tmp_path / "plain.db")
    assert _schema(tmp_path / "bulk.db") == _schema(tmp_path / "plain.db")
    with sqlite3.connect(tmp_path / "bulk.db") as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM executions WHERE dedup_group = 5"
        ).fetchall()
    assert "ix_executions_dedup_group" in str(plan)


def test_without_hard_links_creation_is_left_to_the_full_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: object, dst: object) -> None:
        raise PermissionError("operation not permitted")

    monkeypatch.setattr("gearshift.ledger.sqlite3_ledger.os.link", no_links)
    location = resolve_location(tmp_path / "l.db")
    assert LiteLedger.open_or_create(location, load_catalog) is None
    assert list(tmp_path.iterdir()) == []  # nothing half-made left behind
    Ledger.open(tmp_path / "l.db").close()  # which is what the CLI then does
    lite = LiteLedger.open_or_create(location, load_catalog)
    assert lite is not None
    lite.close()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_staged_ledger_appears_complete_when_published(tmp_path: Path) -> None:
    """Until :meth:`publish` a new ledger is a private file: the path does not exist, so no
    reader sees it half-filled; then it is there whole, in WAL mode like every ledger."""
    path = tmp_path / "new.db"
    lite = LiteLedger.open_or_create(resolve_location(path), load_catalog, staged=True)
    assert lite is not None
    assert lite.write_rows(_rows(30), columns=COLUMNS, fixed=FIXED) == 30
    assert not path.exists()
    assert lite.publish() is True
    assert _leftovers(tmp_path) == []
    assert _schema(path) == _schema_of_new_ledger(tmp_path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Ledger.open(path) as full:
        assert full.count() == 30


def _schema_of_new_ledger(tmp_path: Path) -> list[tuple[str, str, str]]:
    """The schema of a ledger the migrations made (in a folder of its own)."""
    folder = tmp_path / "reference"
    folder.mkdir()
    Ledger.open(folder / "full.db").close()
    return _schema(folder / "full.db")


def test_a_staged_ledger_closed_unpublished_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    lite = LiteLedger.open_or_create(resolve_location(path), load_catalog, staged=True)
    assert lite is not None
    lite.write_rows(_rows(5), columns=COLUMNS, fixed=FIXED)
    lite.close()  # the run failed: nothing of it may appear
    assert list(tmp_path.iterdir()) == []


def test_publishing_after_another_creator_won_keeps_theirs(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    lite = LiteLedger.open_or_create(resolve_location(path), load_catalog, staged=True)
    assert lite is not None
    lite.write_rows(_rows(5), columns=COLUMNS, fixed=FIXED)
    with Ledger.open(path) as other:  # another process made the ledger meanwhile
        other.write_rows(_rows(2, start=100), columns=COLUMNS, fixed=FIXED)
    assert lite.publish() is False
    assert _leftovers(tmp_path) == []
    with Ledger.open(path) as full:
        assert full.count() == 2


def test_a_staged_ledger_opens_an_existing_one_instead(tmp_path: Path) -> None:
    Ledger.open(tmp_path / "l.db").close()
    lite = LiteLedger.open_or_create(resolve_location(tmp_path / "l.db"), load_catalog, staged=True)
    assert lite is not None
    lite.write_rows(_rows(3), columns=COLUMNS, fixed=FIXED)
    assert lite.publish() is True  # nothing to publish: just closed
    with Ledger.open(tmp_path / "l.db") as full:
        assert full.count() == 3


_CHAIN = "CREATE INDEX a ON executions (chain_id) WHERE chain_id IS NOT NULL"


@pytest.mark.parametrize(
    ("sql", "fixed", "stays"),
    [
        (_CHAIN, {"chain_id": None}, True),
        ('CREATE INDEX a ON t (run_id, k) WHERE "run_id" IS NOT NULL', {"run_id": None}, True),
        (_CHAIN, {"chain_id": "c"}, False),
        (_CHAIN, {}, False),
        ("CREATE INDEX a ON executions (ts_us)", {"chain_id": None}, False),
    ],
)  # fmt: skip
def test_only_partial_indexes_no_row_enters_stay_during_a_fill(
    sql: str, fixed: dict[str, object], stays: bool
) -> None:
    from gearshift.ledger.sqlite3_ledger import _stays_empty

    assert _stays_empty(sql, fixed) is stays


def test_a_symlinked_ledger_path_is_left_to_the_full_ledger(tmp_path: Path) -> None:
    """A symlink (even one whose target does not exist yet) is not staged over: the full
    Ledger creates the file through it, as before staging existed."""
    (tmp_path / "real").mkdir()
    link = tmp_path / "l.db"
    link.symlink_to(tmp_path / "real" / "l.db")
    assert LiteLedger.open_or_create(resolve_location(link), load_catalog, staged=True) is None
    Ledger.open(link).close()
    assert (tmp_path / "real" / "l.db").is_file() and link.is_symlink()
    lite = LiteLedger.open_or_create(resolve_location(link), load_catalog, staged=True)
    assert lite is not None and lite.publish()  # opened through the link, nothing staged


def test_files_left_by_a_killed_staging_process_are_swept(tmp_path: Path) -> None:
    """SIGTERM or SIGKILL during a first import skips the cleanup: a later open removes staged
    files whose process is gone and that have not changed for ten minutes -- only those."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = done.stdout.strip()
    old = [tmp_path / f".l.db.{dead}.0badc0de.new{end}" for end in ("", "-wal", ".link")]
    fresh = tmp_path / f".l.db.{dead}.00c0ffee.new"  # maybe a process in another container
    live = tmp_path / f".l.db.{os.getpid()}.00000000.new"  # a creator still at work
    others = [tmp_path / n for n in (".notes.db.1.00000000.new", f".l.db.{dead}.backup",
                                     f".l.db.{dead}")]  # fmt: skip
    for f in [*old, fresh, live, *others]:
        f.write_bytes(b"x")
    for f in [*old, live, *others]:
        os.utime(f, (1_000_000_000, 1_000_000_000))
    lite = LiteLedger.open_or_create(resolve_location(tmp_path / "l.db"), load_catalog)
    assert lite is not None
    lite.close()
    assert not any(f.exists() for f in old)
    assert fresh.exists() and live.exists() and all(f.exists() for f in others)
    os.utime(fresh, (1_000_000_000, 1_000_000_000))  # later, with the ledger there by now
    lite = LiteLedger.open_or_create(resolve_location(tmp_path / "l.db"), load_catalog)
    assert lite is not None
    lite.close()
    assert not fresh.exists() and live.exists()


def test_queries_take_named_or_positional_parameters_on_every_ledger(ledger_url: str) -> None:
    """A long IN list goes as ``?`` parameters (SQLite looks every ``:name`` up by position);
    the SQLAlchemy ledger turns them into names in order."""
    from gearshift.ledger.dedup_sql import bind

    sql = "SELECT agent, COUNT(*) FROM executions WHERE agent IN ({}) GROUP BY agent ORDER BY 1"
    with Ledger.open(ledger_url) as ledger:
        for agent in ("a", "b", "c"):
            ledger.record(agent=agent, model="sonnet", input_tokens=1)
        named = ledger.query(sql.format(":x, :y"), {"x": "a", "y": "c"})
        positional = ledger.query(sql.format("?, ?"), ["a", "c"])
        assert named == positional == [("a", 1), ("c", 1)]
        assert ledger.query(sql.format("?"), ("b",)) == [("b", 1)]
    if ledger_url.endswith(".db"):
        lite = LiteLedger.open_current(resolve_location(ledger_url), load_catalog)
        assert lite is not None
        with lite:
            assert lite.query(sql.format("?, ?"), ["a", "c"]) == [("a", 1), ("c", 1)]
    clause, params = bind("SELECT ? + ?", [1, 2])
    assert (str(clause), params) == ("SELECT :p0 + :p1", {"p0": 1, "p1": 2})
    with pytest.raises(ValueError, match="2 '\\?' in the statement for 1 values"):
        bind("SELECT ? + ?", [1])
