"""Dedup keys stay unique without a unique index on their text: writers check them by their
``dedup_group`` while holding the write lock (migration 0007)."""

from __future__ import annotations

import contextlib
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from gearshift.catalog import load_catalog
from gearshift.ledger import Ledger
from gearshift.ledger import dedup as dedup_module
from gearshift.ledger import store as store_module
from gearshift.ledger.columns import EXECUTION_COLUMNS, dedup_group, dedup_groups
from gearshift.ledger.record import new_ids
from gearshift.ledger.sqlite3_ledger import LiteLedger
from gearshift.ledger.urls import resolve_location

COLUMNS = ("id", "ts_us", "agent", "model", "tier", "dedup_key")
FIXED = {"project": "p", "session": "s", "input_tokens": 1, "output_tokens": 1,
         "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0, "cache_read_tokens": 0,
         "cost_nanos": 7, "price_version": "v", "latency_ms": None, "status": "success",
         "attempt": 1, "chain_id": None, "strategy": None, "source": "claude-code",
         "validation": None, "escalation_reason": None, "run_id": None, "task_key": None,
         "flags": 0, "tags": "{}", "task": None, "task_hash": None,
         "task_type": None}  # fmt: skip


def _rows(keys: list[str | None]) -> list[tuple[object, ...]]:
    ids = new_ids([1_764_288_000_000] * len(keys))
    return [(ids[i], 1_764_288_000_000_000 + i, "main", "claude-x", "sonnet", key)
            for i, key in enumerate(keys)]  # fmt: skip


def _before_0007(conn: Connection) -> None:
    """Give the executions table the layout of 0001-0006: no dedup_group, its index or CHECK
    (SQLite rebuilds the table: it cannot drop a column a constraint names)."""
    conn.execute(text("DROP INDEX ix_executions_dedup_group"))
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE executions DROP CONSTRAINT ck_executions_dedup_group"))
        conn.execute(text("ALTER TABLE executions DROP COLUMN dedup_group"))
    else:
        sql = conn.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'executions'")
        ).scalar_one()
        old = re.sub(r",\s*dedup_group INTEGER", "", sql)
        old = re.sub(r",\s*CONSTRAINT ck_executions_dedup_group CHECK \([^)]*\)", "", old)
        assert "dedup_group" not in old, old
        names = ", ".join(c for c in EXECUTION_COLUMNS if c != "dedup_group")
        conn.execute(text("ALTER TABLE executions RENAME TO executions_new"))
        conn.execute(text(old))
        conn.execute(text(f"INSERT INTO executions ({names}) SELECT {names} FROM executions_new"))
        conn.execute(text("DROP TABLE executions_new"))
        conn.execute(text("CREATE INDEX ix_executions_ts ON executions (ts_us)"))


@contextlib.contextmanager
def _other_current_ledger(pg_url: str) -> Iterator[None]:
    """A current ledger in another schema of the same PostgreSQL database, for a while."""
    import psycopg

    other = f"gs_other_{uuid.uuid4().hex[:8]}"
    plain = pg_url.split("?", maxsplit=1)[0].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{other}"')
    try:
        Ledger.open(re.sub(r"search_path%3D[^&%]+", f"search_path%3D{other}", pg_url)).close()
        yield
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{other}" CASCADE')


def _keys(ledger: Ledger) -> list[str | None]:
    return sorted((e.dedup_key for e in ledger.executions()), key=str)


def test_groups_in_one_pass_are_the_groups_one_by_one() -> None:
    keys = ["cc:a|r|m", "cc:a|r2|s", "cc:émoji✓|x|p", "plain", "", "|lead"]
    assert dedup_groups(keys) == [dedup_group(k) for k in keys]


def test_the_group_is_a_hash_of_the_keys_message_part() -> None:
    assert dedup_group(None) is None
    assert dedup_group("cc:msg_1|req_1|m") == dedup_group("cc:msg_1|req_2|s")
    assert dedup_group("cc:msg_1|req_1|m") == dedup_group("cc:msg_1|")
    assert dedup_group("cc:msg_1|r|m") != dedup_group("cc:msg_2|r|m")
    groups = [dedup_group(f"cc:msg_{i}|r|m") for i in range(10_000)]
    assert all(-(2**31) <= g < 2**31 for g in groups if g is not None)  # 4 bytes in SQLite
    assert len(set(groups)) > 9_990


def test_a_key_is_written_once_whatever_the_writer(ledger_url: str) -> None:
    keys: list[str | None] = ["cc:a|r|m", "cc:a|r2|s", "cc:b|r|m", None, None]
    with Ledger.open(ledger_url) as ledger:
        assert ledger.write_rows(_rows([*keys, "cc:a|r|m"]), columns=COLUMNS, fixed=FIXED) == 5
        assert ledger.write_rows(_rows(keys), columns=COLUMNS, fixed=FIXED) == 2  # the Nones
        assert ledger.existing_dedup_keys(["cc:a|r2|s", "cc:a|zz|m", "cc:c|r|m"]) == {"cc:a|r2|s"}
        e = ledger.record(agent="x", model="sonnet", input_tokens=1, dedup_key="cc:b|r|m")
        assert not ledger.add(e)  # the same key through the Execution path
        groups = ledger.query("SELECT dedup_key, dedup_group FROM executions")
        assert all(g == dedup_group(k) for k, g in groups)
        assert _keys(ledger) == sorted([*keys, None, None], key=str)
    if ledger_url.endswith(".db"):
        lite = LiteLedger.open_current(resolve_location(ledger_url), load_catalog)
        assert lite is not None
        with lite:
            assert lite.write_rows(_rows(["cc:b|r|m", "cc:d|r|m"]), columns=COLUMNS, fixed=FIXED)
            assert lite.query("SELECT COUNT(*) FROM executions WHERE dedup_key = 'cc:d|r|m'") == [
                (1,)
            ]


def test_a_replaced_key_is_found_through_its_group(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        first = _rows(["cc:a|r|s", "cc:a|r2|m", "cc:b|r|s"])
        ledger.write_rows(first, columns=COLUMNS, fixed=FIXED)
        ledger.write_rows(_rows(["cc:a|r|m"]), columns=COLUMNS, fixed=FIXED,
                          replace_keys=["cc:a|r|s", "cc:nothing|r|s"])  # fmt: skip
        assert _keys(ledger) == ["cc:a|r2|m", "cc:a|r|m", "cc:b|r|s"]


def test_groups_that_collide_keep_every_record(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group only narrows the search: with every key in one group, keys still decide."""
    for module in (dedup_module, store_module):
        monkeypatch.setattr(module, "dedup_group", lambda key: None if key is None else 1)
    monkeypatch.setattr(dedup_module, "dedup_groups", lambda keys: [1 for _ in keys])
    keys: list[str | None] = [f"cc:m{i}|r|m" for i in range(50)]
    with Ledger.open(ledger_url) as ledger:
        assert ledger.write_rows(_rows(keys), columns=COLUMNS, fixed=FIXED) == 50
        assert ledger.write_rows(_rows([*keys[:10], "cc:new|r|m"]), columns=COLUMNS,
                                 fixed=FIXED) == 1  # fmt: skip
        ledger.write_rows([], replace_keys=["cc:m3|r|m"])
        assert len(_keys(ledger)) == 50 and "cc:m3|r|m" not in _keys(ledger)


def test_concurrent_writers_of_the_same_keys_record_each_once(ledger_url: str) -> None:
    keys: list[str | None] = [f"cc:m{i}|r|m" for i in range(400)]
    Ledger.open(ledger_url).close()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def write(offset: int) -> None:
        try:
            with Ledger.open(ledger_url) as ledger:
                start.wait()
                for i in range(0, 400, 50):  # overlapping batches, in different orders
                    part = keys[(i + offset * 100) % 400 : (i + offset * 100) % 400 + 50]
                    ledger.write_rows(_rows(part), columns=COLUMNS, fixed=FIXED)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with Ledger.open(ledger_url) as ledger:
        assert _keys(ledger) == sorted(keys, key=str)


def test_a_ledger_from_before_0007_gets_its_groups(ledger_url: str) -> None:
    """A ledger made before 0007 (a unique index on the key text, no group column) is
    migrated when opened: every keyed record gets its group, the old index goes."""
    with Ledger.open(ledger_url) as ledger:
        ledger.write_rows(_rows(["cc:a|r|m", "cc:b|r|s", None]), columns=COLUMNS, fixed=FIXED)
        with ledger.write() as conn:
            _before_0007(conn)
            conn.execute(
                text(
                    "CREATE UNIQUE INDEX ux_executions_dedup ON executions (dedup_key)"
                    " WHERE dedup_key IS NOT NULL"
                )
            )
            conn.execute(text("DELETE FROM gearshift_migrations WHERE name = '0007_dedup_group'"))
    with Ledger.open(ledger_url) as ledger:
        rows = ledger.query("SELECT dedup_key, dedup_group FROM executions")
        assert sorted(rows, key=str) == sorted(
            [("cc:a|r|m", dedup_group("cc:a|")), ("cc:b|r|s", dedup_group("cc:b|")), (None, None)],
            key=str,
        )
        again = _rows(["cc:a|r|m", "cc:c|r|m"])
        assert ledger.write_rows(again, columns=COLUMNS, fixed=FIXED) == 1
        if ledger.location.dialect == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'index'"
        else:
            sql = "SELECT indexname FROM pg_indexes"
        names = {r[0] for r in ledger.query(sql)}
        assert "ix_executions_dedup_group" in names and "ux_executions_dedup" not in names


def test_the_migration_is_what_a_new_ledger_has(tmp_path: Path) -> None:
    """A ledger migrated to 0007 reads and writes like a new one (the lite path opens it)."""
    path = tmp_path / "old.db"
    with Ledger.open(path) as ledger, ledger.write() as conn:
        _before_0007(conn)
        conn.execute(text("DELETE FROM gearshift_migrations WHERE name = '0007_dedup_group'"))
    assert LiteLedger.open_current(resolve_location(path), load_catalog) is None  # not current
    Ledger.open(path).close()
    lite = LiteLedger.open_current(resolve_location(path), load_catalog)
    assert lite is not None
    with lite:
        assert lite.write_rows(_rows(["cc:a|r|m", "cc:a|r|m"]), columns=COLUMNS, fixed=FIXED) == 1


def test_the_migration_fills_every_group_of_a_large_ledger(tmp_path: Path) -> None:
    """The backfill pages through the records by id, 10,000 at a time."""
    path = tmp_path / "big.db"
    keys: list[str | None] = [f"cc:m{i}|r|m" for i in range(25_000)]
    with Ledger.open(path) as ledger:
        ledger.write_rows(_rows(keys), columns=COLUMNS, fixed=FIXED)
    with Ledger.open(path) as ledger, ledger.write() as conn:
        _before_0007(conn)
        conn.execute(text("DELETE FROM gearshift_migrations WHERE name = '0007_dedup_group'"))
    with Ledger.open(path) as ledger:
        rows = ledger.query("SELECT dedup_key, dedup_group FROM executions")
        assert len(rows) == 25_000
        assert all(g == dedup_group(k) for k, g in rows)


@pytest.mark.parametrize("made", ["new", "migrated"])
def test_a_writer_from_before_0007_is_refused(ledger_url: str, made: str) -> None:
    """An older gearshift takes a migrated ledger for current and would write keys without a
    group, which no check sees: the ledger refuses such rows, loudly (a new ledger by a CHECK
    constraint, one migrated to 0007 by the same constraint or, on SQLite, a trigger)."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    if made == "migrated":
        with Ledger.open(ledger_url) as ledger, ledger.write() as conn:
            _before_0007(conn)
            conn.execute(text("DELETE FROM gearshift_migrations WHERE name = '0007_dedup_group'"))
    if made == "migrated" and not ledger_url.endswith(".db"):
        with _other_current_ledger(ledger_url):  # its constraint must not count for this one
            Ledger.open(ledger_url).close()
    with Ledger.open(ledger_url) as ledger:
        cols = "id, ts_us, project, session, agent, model, tier, input_tokens, output_tokens, " \
            "cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, cost_nanos, " \
            "price_version, status, attempt, source, flags, tags"  # fmt: skip
        values = "'01X', 1, 'p', 's', 'a', 'm', 'sonnet', 1, 1, 0, 0, 0, 1, 'v', 'success', 1, " \
            "'claude-code', 0, '{}'"  # fmt: skip
        # what that version runs on SQLite is INSERT OR IGNORE: the trigger of a ledger made
        # before 0007 fails it; the CHECK of a newer one fails a plain INSERT (OR IGNORE would
        # skip the row: such a version predates every release)
        sqlite = ledger.location.dialect == "sqlite"
        verb = "INSERT OR IGNORE" if sqlite and made == "migrated" else "INSERT"
        with pytest.raises((IntegrityError, OperationalError)), ledger.engine.begin() as conn:
            conn.execute(text(f"{verb} INTO executions ({cols}, dedup_key) VALUES ({values}, 'k')"))
        with ledger.engine.begin() as conn:  # rows without a key are fine
            conn.execute(text(f"INSERT INTO executions ({cols}) VALUES ({values})"))
        assert ledger.count() == 1


def test_the_group_and_the_id_are_checked_as_an_index_would(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        # a key given for every row: recorded once
        keyless = [row[:-1] for row in _rows([None, None, None])]
        same = {**FIXED, "dedup_key": "cc:same|r|m"}
        assert ledger.write_rows(keyless[:2], columns=COLUMNS[:-1], fixed=same) == 1
        assert ledger.write_rows(keyless[2:], columns=COLUMNS[:-1], fixed=same) == 0
        # a group given by the caller is not trusted
        wrong = [(*row, 12345) for row in _rows(["cc:same|r|m", "cc:other|r|m"])]
        assert ledger.write_rows(wrong, columns=(*COLUMNS, "dedup_group"), fixed=FIXED) == 1
        groups = ledger.query("SELECT dedup_key, dedup_group FROM executions")
        assert len(groups) == 2 and all(g == dedup_group(k) for k, g in groups)
        # a row whose id is taken is dropped, and does not take its key with it
        (taken,) = ledger.query("SELECT id FROM executions WHERE dedup_key = 'cc:other|r|m'")
        first, second = _rows(["cc:k|r|m", "cc:k|r|m"])
        assert ledger.write_rows([(taken[0], *first[1:]), second], columns=COLUMNS,
                                 fixed=FIXED) == 1  # fmt: skip
        assert "cc:k|r|m" in _keys(ledger)


def test_the_sqlite3_writer_gives_a_settled_row_whose_id_is_taken_a_new_one(
    tmp_path: Path,
) -> None:
    """Rows a settle returned (distinct keys, none recorded) go in without a lookup of their
    ids; one INSERT OR IGNORE passed over because its id was taken after all goes in again
    under a new id. Rows with no settle still leave out a taken id's row, and its key stays
    free for a later copy."""
    url = str(tmp_path / "l.db")
    Ledger.open(url).close()
    lite = LiteLedger.open_current(resolve_location(url), load_catalog)
    assert lite is not None
    with lite:
        assert lite.write_rows(_rows(["cc:a|r|m"]), columns=COLUMNS, fixed=FIXED) == 1
        ((taken,),) = lite.query("SELECT id FROM executions")
        first, second, third = _rows(["cc:k|r|m", "cc:k|r|m", "cc:j|r|m"])
        rows = [(taken, *first[1:]), second, third]
        assert lite.write_rows(rows, columns=COLUMNS, fixed=FIXED) == 2
        first, second = _rows(["cc:m|r|m", "cc:n|r|m"])
        rows = [(taken, *first[1:]), second]
        assert lite.write_rows(rows, columns=COLUMNS, fixed=FIXED, settle=lambda _: (rows, [])) == 2
        got = lite.query("SELECT dedup_key, id = ? FROM executions ORDER BY dedup_key", [taken])
        assert got == [("cc:a|r|m", 1), ("cc:j|r|m", 0), ("cc:k|r|m", 0), ("cc:m|r|m", 0),
                       ("cc:n|r|m", 0)]  # fmt: skip


def test_postgresql_writers_see_each_other_under_any_default_isolation(pg_url: str) -> None:
    """With REPEATABLE READ as the default, a writer waiting for the lock would check against a
    snapshot older than the last holder's commit: writes run at READ COMMITTED."""
    url = pg_url + "%20-cdefault_transaction_isolation%3Drepeatable%5C%20read"
    with Ledger.open(url) as ledger:
        with ledger.read() as conn:
            assert conn.execute(text("SHOW transaction_isolation")).scalar() == "repeatable read"
        with ledger.write() as conn:
            assert conn.execute(text("SHOW transaction_isolation")).scalar() == "read committed"
    test_concurrent_writers_of_the_same_keys_record_each_once(url)


def test_a_ledger_a_newer_gearshift_migrated_is_refused(tmp_path: Path) -> None:
    """Migrations this version does not know mean rules it does not follow: no store opens the
    ledger, and the error says to upgrade."""
    from gearshift.errors import LedgerError

    path = tmp_path / "newer.db"
    Ledger.open(path).close()
    with Ledger.open(path) as ledger, ledger.write() as conn:
        conn.execute(text("INSERT INTO gearshift_migrations VALUES ('0099_future', 'x')"))
    assert LiteLedger.open_current(resolve_location(path), load_catalog) is None
    with pytest.raises(LedgerError, match="newer gearshift") as caught:
        Ledger.open(path)
    assert "upgrade" in (caught.value.hint or "")
