"""The spend rollups stay equal to the table through every way of writing it, and what
:mod:`gearshift.ledger.views` reads from them equals ``spend`` in every zone and filter."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gearshift.catalog import load_catalog
from gearshift.ingest.attribute import FALLBACK
from gearshift.ledger import Filters, Ledger, spend
from gearshift.ledger import sqlite3_ledger as lite_module
from gearshift.ledger.columns import tags_json
from gearshift.ledger.ingest_queries import _reattribute
from gearshift.ledger.record import new_id, ts_from_us
from gearshift.ledger.rollup import SHIFTS, SUM_NAMES, SUMS, TABLES, keys
from gearshift.ledger.sqlite3_ledger import LiteLedger
from gearshift.ledger.urls import resolve_location
from gearshift.ledger.views import period_totals, range_totals, spend_report

ZONES = (
    "UTC",
    "Europe/Paris",
    "America/Los_Angeles",
    "Asia/Kolkata",  # +5:30
    "Asia/Kathmandu",  # +5:45
    "America/Santiago",  # DST ends at midnight: the day is repeated for an hour
    "Australia/Lord_Howe",  # a 30-minute DST change
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/St_Johns",  # -3:30
)
#: 2026-03-01 .. 2026-05-10 UTC: DST changes in both hemispheres.
START_US = 1_772_323_200_000_000
SPAN_US = 70 * 86_400_000_000
AGENTS = ("test-engineer", "code-reviewer", "architect", "main", "Explore")


def _rows(ledger: Ledger, n: int, seed: int, spread: int = SPAN_US) -> list[tuple[object, ...]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ts = START_US + rng.randrange(spread)
        tier = rng.choice(("haiku", "sonnet", "opus", "unknown"))
        out.append(
            ledger.to_row_fields(
                id=new_id(ts // 1000),
                ts_us=ts,
                project=rng.choice(("acme", "", "web")),
                session=rng.choice(("s1", "s2")),
                agent=rng.choice(AGENTS),
                model=f"claude-{tier}",
                tier=tier,
                input_tokens=rng.randrange(5000),
                output_tokens=rng.randrange(3000),
                cache_write_5m_tokens=rng.randrange(100),
                cache_write_1h_tokens=rng.randrange(100),
                cache_read_tokens=rng.randrange(9000),
                cost_nanos=rng.randrange(10**8),
                latency_ms=rng.choice((None, rng.randrange(60_000))),
                status=rng.choice(("success", "success", "failure", "error", "blocked")),
                attempt=rng.choice((1, 1, 2)),
                escalation_reason=rng.choice((None, None, "validation failed")),
                source=rng.choice(("api", "claude-code", "proxy")),
                tags={"team": rng.choice(("a", "b"))},
                dedup_key=f"cc:{rng.randrange(10**12)}|r",
            )
        )
    return out


def assert_rollups_match(ledger: Ledger | LiteLedger) -> None:
    """Each rollup holds exactly the sums of the table, key by key (the day rollup once per
    shift)."""
    sums = ", ".join(f"SUM({expr.format(r='')})" for _, expr in SUMS)
    for table, time_keys in TABLES.items():
        shifts = SHIFTS if table == "spend_rollup_day" else (0,)
        names = keys(table)
        for shift in shifts:
            key_exprs = [e.format(r="", s=shift) for _, e in time_keys] + names[len(time_keys) :]
            positions = ", ".join(str(i + 1) for i in range(len(key_exprs)))
            expected = ledger.query(
                f"SELECT {', '.join(key_exprs)}, {sums} FROM executions GROUP BY {positions} "
                f"ORDER BY {positions}"
            )
            where = f" WHERE shift = {shift}" if table == "spend_rollup_day" else ""
            got = ledger.query(
                f"SELECT {', '.join(names)}, {', '.join(SUM_NAMES)} FROM {table}{where} "
                f"ORDER BY {positions}"
            )
            assert [tuple(map(_plain, r)) for r in got] == [
                tuple(map(_plain, r)) for r in expected
            ], (table, shift)


def _plain(value: object) -> object:
    return int(value) if not isinstance(value, str) else value  # PostgreSQL's SUM: Decimal


def test_every_write_keeps_the_rollups(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        assert_rollups_match(ledger)
        rows = _rows(ledger, 400, seed=1)
        assert ledger.write_rows(rows) == 400
        assert_rollups_match(ledger)
        ledger.record(agent="solo", model="claude-haiku-4-5", input_tokens=5, latency_ms=9)
        assert_rollups_match(ledger)
        # a better copy replaces a record (a delete), and a subagent's type is learnt later
        # (an update of the agent), in the same transaction as new rows
        key_at = ledger.column_index("dedup_key")
        replaced = str(rows[3][key_at])
        better = _rows(ledger, 1, seed=2)[0]
        better = (*better[:key_at], replaced, *better[key_at + 1 :])
        tags = ledger.column_index("tags")
        agent = ledger.column_index("agent")
        source = ledger.column_index("source")
        lost = [(*r[:agent], FALLBACK, *r[agent + 1 :]) for r in _rows(ledger, 5, seed=3)]
        lost = [(*r[:source], "claude-code", *r[source + 1 :]) for r in lost]
        lost = [(*r[:tags], tags_json({"agent_id": "a1"}), *r[tags + 1 :]) for r in lost]
        then = _reattribute({"a1": "Plan"}, "claude-code", FALLBACK, ledger.location.dialect)
        ledger.write_rows([better, *lost], replace_keys=[replaced], then=then)
        assert ledger.query("SELECT COUNT(*) FROM executions WHERE agent = 'Plan'")[0][0] == 5
        assert_rollups_match(ledger)
        ledger.execute_many([("DELETE FROM executions WHERE agent = :a", [{"a": "architect"}])])
        assert_rollups_match(ledger)


def test_the_light_writer_and_a_bulk_first_fill_keep_the_rollups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lite_module, "BULK_MIN_ROWS", 50)
    Ledger.open(tmp_path / "l.db").close()
    lite = LiteLedger.open_current(resolve_location(tmp_path / "l.db"), load_catalog)
    assert lite is not None
    with lite, Ledger.open(tmp_path / "l.db") as full:
        rows = _rows(full, 300, seed=4)
        assert lite.write_rows(rows[:200]) == 200  # an empty table: the bulk fill
        assert_rollups_match(lite)
        assert lite.write_rows(rows) == 100  # the rest, by dedup key
        assert_rollups_match(lite)
        key_at = full.column_index("dedup_key")
        assert lite.write_rows(rows[:1], replace_keys=[str(rows[0][key_at])]) == 1
        assert_rollups_match(lite)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("views") / "l.db"
    with Ledger.open(path) as ledger:
        ledger.write_rows(_rows(ledger, 3000, seed=5))
        # a dense stretch, so a day has many buckets with many keys
        ledger.write_rows(_rows(ledger, 1000, seed=6, spread=86_400_000_000))
    return path


WHEN = st.one_of(
    st.none(),
    st.integers(-5, 75).map(lambda d: ts_from_us(START_US) + dt.timedelta(days=d)),
    st.integers(0, SPAN_US).map(lambda us: ts_from_us(START_US + us)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    by=st.sampled_from(("day", "week", "month", "agent", "tier", "model", "project", "source")),
    zone=st.sampled_from(ZONES),
    since=WHEN,
    until=WHEN,
    agent=st.sampled_from((None, "main", "architect")),
    project=st.sampled_from((None, "", "acme")),
    tier=st.sampled_from((None, "haiku")),
)
def test_spend_from_the_rollups_equals_spend(
    filled: Path,
    by: str,
    zone: str,
    since: dt.datetime | None,
    until: dt.datetime | None,
    agent: str | None,
    project: str | None,
    tier: str | None,
) -> None:
    filters = Filters(since=since, until=until, agent=agent, project=project, tier=tier)
    tz = ZoneInfo(zone)
    with Ledger.open(filled) as ledger:
        assert (
            spend_report(ledger, by, filters, tz).to_dict()
            == spend(ledger, by, filters, tz).to_dict()
        )


def test_what_the_rollups_cannot_answer_reads_the_table(filled: Path) -> None:
    tz = ZoneInfo("Asia/Kolkata")
    with Ledger.open(filled) as ledger:
        for filters in (Filters(tag=("team", "a")), Filters(session="s1")):
            for by in ("day", "agent", "status"):
                got = spend_report(ledger, by, filters, tz).to_dict()
                assert got == spend(ledger, by, filters, tz).to_dict()
        grouped = range_totals(ledger, ("status",), Filters(agent="main"))
        counts = dict(ledger.query("SELECT status, COUNT(*) FROM executions WHERE agent = 'main'"
                                   " GROUP BY status"))  # fmt: skip
        assert {k[0]: t.executions for k, t in grouped.items()} == counts


def test_stacked_periods_add_up_to_the_periods(filled: Path) -> None:
    tz = ZoneInfo("America/Santiago")
    with Ledger.open(filled) as ledger:
        stacked = period_totals(ledger, "day", ("tier",), Filters(), tz)
        plain = {r.key: r for r in spend(ledger, "day", Filters(), tz).rows}
        assert list(stacked) == list(plain)
        for day, groups in stacked.items():
            assert sum(t.cost_nanos for t in groups.values()) == plain[day].cost_nanos
            assert sum(t.executions for t in groups.values()) == plain[day].executions
        totals = range_totals(ledger, ("agent", "tier"), Filters())
        assert sum(t.executions for t in totals.values()) == ledger.count()
        blocked = ledger.query("SELECT COUNT(*) FROM executions WHERE status = 'blocked'")[0][0]
        assert sum(t.blocked for t in totals.values()) == blocked
