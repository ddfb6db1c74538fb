"""Stored reconciliation runs, on both stores, and the daily totals reconcile reads."""

from __future__ import annotations

import datetime as dt

from gearshift.ledger import Ledger
from gearshift.ledger.queries import daily_model_totals
from gearshift.ledger.reconciliations import (
    StoredRow,
    StoredRun,
    latest_rows,
    recent_runs,
    save_run,
)


def run(run_id: str, at: str, grouping: str = "day-model") -> StoredRun:
    return StoredRun(run_id, at, "anthropic", "2026-10-01", "2026-10-02", grouping, "1", "0.01",
                     2, 1, 10, 12, "anthropic@test")  # fmt: skip


def stored(day: str | None, model: str | None, ledger_nanos: int, catalog: int | None) -> StoredRow:
    key = "|".join(p for p in (day, model) if p)
    return StoredRow(key, day, model, None, None, 100, 120, ledger_nanos, 12, 12, catalog,
                     ledger_nanos == 12, ("missing-from-ledger",),
                     {"output": (12, catalog or 0)})  # fmt: skip


def test_runs_and_rows_round_trip(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        first_rows = [stored("2026-10-01", "m", 5, None), stored("2026-10-02", "m", 12, 12)]
        save_run(ledger, run("01A", "2026-10-03T00:00:00+00:00"), first_rows)
        save_run(ledger, run("01B", "2026-10-04T00:00:00+00:00"), [stored("2026-10-02", "m", 7, 9)])
        save_run(
            ledger, run("01C", "2026-10-05T00:00:00+00:00", "model"), [stored(None, "m", 1, 1)]
        )
        assert [r.run_id for r in recent_runs(ledger)] == ["01C", "01B", "01A"]
        assert recent_runs(ledger, provider="other") == []
        got = latest_rows(ledger)
        assert [(r.run_id, s.day, s.ledger_nanos, s.catalog_nanos) for r, s in got] == [
            ("01A", "2026-10-01", 5, None),
            ("01B", "2026-10-02", 7, 9),
        ]
        (first,) = latest_rows(ledger, since=dt.date(2026, 10, 1), until=dt.date(2026, 10, 2))
        assert first[1].reasons == ("missing-from-ledger",) and first[1].within_tolerance is False
        assert first[1].prices == {"output": (12, 0)}
        assert first[0] == run("01A", "2026-10-03T00:00:00+00:00")


def test_daily_model_totals_split_by_utc_day_source_and_tags(ledger_url: str) -> None:
    late = dt.datetime(2026, 10, 1, 23, 59, tzinfo=dt.UTC)
    with Ledger.open(ledger_url) as ledger:
        for ts, source, tags in ((late, "api", {"workspace_id": "w"}),
                                 (late, "api", {}),
                                 (late + dt.timedelta(minutes=2), "claude-code", {})):  # fmt: skip
            ledger.record(agent="a", model="claude-haiku-4-5", input_tokens=10, output_tokens=1,
                          ts=ts, source=source, tags=tags)  # fmt: skip
        start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
        end = start + dt.timedelta(days=2)
        plain = daily_model_totals(ledger, start, end)
        tagged = daily_model_totals(ledger, start, end, with_tags=True)
        only_api = daily_model_totals(ledger, start, end, sources=("api",))
    assert [(t.day.day, t.source, t.records, t.input_tokens, t.tags) for t in plain] == [
        (1, "api", 2, 20, "{}"),
        (2, "claude-code", 1, 10, "{}"),
    ]
    assert sorted(t.tags for t in tagged if t.source == "api") == ['{"workspace_id":"w"}', "{}"]
    assert [t.source for t in only_api] == ["api"]
    assert all(t.cost_nanos > 0 and t.price_version for t in plain)
