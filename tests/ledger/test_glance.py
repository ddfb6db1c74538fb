"""Read-only looks at the ledger: a session's spend by agent, spend since an instant, the proxy's
tier; never a write, a new file or a wait on a writer."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gearshift.errors import LedgerError
from gearshift.ledger import Execution, Ledger
from gearshift.ledger.glance import open_glance
from gearshift.ledger.record import us_from_ts
from gearshift.ledger.urls import resolve_location

USD = 10**9
NOW = dt.datetime(2026, 3, 18, 12, tzinfo=dt.UTC)


def _row(session: str, agent: str, nanos: int, **kw: object) -> Execution:
    fields: dict[str, object] = {"model": "claude-sonnet-4-5", "tier": "sonnet", "ts": NOW}
    return Execution(session=session, agent=agent, cost_nanos=nanos, **{**fields, **kw})  # type: ignore[arg-type]


def _fill(url: str) -> None:
    with Ledger.open(url) as led:
        led.add_many([
            _row("s1", "main", 3 * USD),
            _row("s1", "main", USD),
            _row("s1", "Explore", 2 * USD),
            _row("s1", "Plan", 2 * USD),
            _row("s1", "main", USD // 2, source="proxy", tier="haiku", model="claude-haiku-4-5",
                 ts=NOW - dt.timedelta(minutes=5)),
            _row("s1", "Explore", 0, source="proxy", tier="opus", model="claude-opus-4-6"),
            _row("s1", "main", 0, source="proxy", tier="sonnet", ts=NOW - dt.timedelta(hours=1)),
            _row("s2", "main", 7 * USD, ts=NOW - dt.timedelta(days=2)),
        ])  # fmt: skip


@pytest.fixture
def filled(ledger_url: str) -> Iterator[str]:
    _fill(ledger_url)
    yield ledger_url


def test_a_session_its_agents_today_and_the_proxy_tier(filled: str) -> None:
    with open_glance(resolve_location(filled)) as g:
        assert g.session_spend("s1") == [
            ("main", 4_500_000_000, 4),
            ("Explore", 2 * USD, 2),
            ("Plan", 2 * USD, 1),
        ]
        assert g.session_spend("nope") == []
        assert g.spend_since(us_from_ts(NOW - dt.timedelta(days=1))) == 8_500_000_000
        assert g.spend_since(0) == 15_500_000_000
        # the main thread's latest route, though a subagent was routed since
        assert g.routed_tier("s1") == "haiku"
        assert g.routed_tier("s2") is None
        assert g.is_current()


def test_a_missing_ledger_is_an_error_and_stays_missing(tmp_path: Path) -> None:
    path = tmp_path / "none.db"
    with pytest.raises(LedgerError, match="cannot open ledger"):
        open_glance(resolve_location(path))
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_ledger_is_an_error_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    before = path.read_bytes()
    with open_glance(resolve_location(path)) as g, pytest.raises(LedgerError, match="no such"):
        g.session_spend("s1")
    assert path.read_bytes() == before


def test_an_older_ledger_is_read_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _fill(str(path))
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM gearshift_migrations WHERE name = '0009_session_index'")
        conn.execute("DROP INDEX ix_executions_session")
    with open_glance(resolve_location(path)) as g:
        assert not g.is_current()
        assert g.session_spend("s2") == [("main", 7 * USD, 1)]
    with sqlite3.connect(path) as conn:  # not migrated behind the user's back
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "ix_executions_session" not in names


def test_a_writer_holding_the_lock_does_not_stop_a_read(tmp_path: Path) -> None:
    """The ledger is in WAL mode: a reader sees the last commit while a writer is mid-write."""
    path = tmp_path / "l.db"
    _fill(str(path))
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("UPDATE executions SET cost_nanos = 0")
    try:
        with open_glance(resolve_location(path), wait_ms=100) as g:
            assert g.session_spend("s2") == [("main", 7 * USD, 1)]
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_ledger_locked_outside_wal_gives_up_after_the_wait(tmp_path: Path) -> None:
    """A ledger some other tool put in rollback-journal mode, exclusively locked: the read gives
    up after its short wait instead of waiting for the writer."""
    path = tmp_path / "l.db"
    _fill(str(path))
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = DELETE")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("UPDATE executions SET cost_nanos = 0")
    try:
        started = time.monotonic()
        with open_glance(resolve_location(path), wait_ms=50) as g, pytest.raises(LedgerError):
            g.session_spend("s2")
        assert time.monotonic() - started < 30  # it did not wait for the writer to finish
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_read_never_writes(filled: str) -> None:
    with open_glance(resolve_location(filled)) as g:
        with pytest.raises(LedgerError, match=r"readonly|read-only"):
            g._rows("DELETE FROM executions", ())
        with pytest.raises(LedgerError, match=r"readonly|read-only"):
            g._rows("CREATE TABLE x (y INTEGER)", ())
        assert len(g.session_spend("s1")) == 3


def test_an_odd_path_is_opened_as_a_file(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    _fill(str(plain / "l.db"))
    folder = plain.rename(tmp_path / "we?ird#na%20me")
    with open_glance(resolve_location(folder / "l.db")) as g:
        assert g.session_spend("s2") == [("main", 7 * USD, 1)]
    assert sorted(os.listdir(tmp_path)) == ["we?ird#na%20me"]


def test_an_in_memory_ledger_has_nothing_to_show() -> None:
    with pytest.raises(LedgerError, match="in-memory"):
        open_glance(resolve_location("sqlite://"))
