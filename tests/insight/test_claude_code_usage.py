"""Claude Code analytics beside transcript ingestion: users whose machines never ran the hook."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from gearshift.insight.bill import utc_day_start
from gearshift.insight.claude_code_usage import (
    UNATTRIBUTED,
    compare_claude_code,
    fetch_claude_code,
    owner,
)
from gearshift.ledger import Ledger
from gearshift.ledger.queries import SessionDay, claude_code_sessions
from gearshift.providers.admin import AdminClient
from gearshift.providers.admin_types import ClaudeCodeRecord
from gearshift.testing.fake_anthropic import ClaudeCodeUse, FakeAnthropic, Organisation

KEY = "sk-ant-admin01-code"
D1 = dt.date(2026, 10, 5)
USERS = ["alice@example.com", "bob.smith+cc@example.com", "ci-bot"]


@pytest.mark.parametrize(
    ("project", "expected"),
    [
        ("/home/alice/src/shop", "alice@example.com"),
        ("/Users/Alice/work", "alice@example.com"),
        ("-home-alice-src-shop", "alice@example.com"),
        ("/home/bob.smith/payments", "bob.smith+cc@example.com"),
        ("/srv/ci-bot/checkout", None),
        ("/srv/builds/x", "ci-bot"),  # mapped
        ("-srv-builds-y", "ci-bot"),  # the folder key of a mapped folder
        ("/home/zed/x", None),
        ("shop", None),
    ],
)
def test_owner_of_a_project_folder(project: str, expected: str | None) -> None:
    assert owner(project, USERS, {"ci-bot": ("/srv/builds/",)}) == expected


def uses(day: dt.date, user: str, total: int, sessions: int = 1) -> ClaudeCodeUse:
    return ClaudeCodeUse(day, user, "claude-sonnet-4-5", total // 2, total // 4, total // 8,
                         total - total // 2 - total // 4 - total // 8, sessions)  # fmt: skip


def sessions_of(day: dt.date, project: str, total: int, session: str = "s") -> SessionDay:
    return SessionDay(day, project, session, 3, total // 2, total // 4,
                      total - total // 2 - total // 4 - total // 8, total // 8, 1000)  # fmt: skip


def fetch(org: Organisation, days: int) -> dict[dt.date, list[ClaudeCodeRecord]]:
    async def main() -> dict[dt.date, list[ClaudeCodeRecord]]:
        with FakeAnthropic(organisation=org, admin_key=KEY) as server:
            async with AdminClient(KEY, server.base_url) as client:
                return await fetch_claude_code(client, D1, D1 + dt.timedelta(days=days))

    return asyncio.run(main())


def test_statuses_per_user_and_day() -> None:
    d2 = D1 + dt.timedelta(days=1)
    org = Organisation(claude_code=[
        uses(D1, "alice@example.com", 10_000, 2),
        uses(d2, "alice@example.com", 8_000),
        uses(D1, "bob.smith+cc@example.com", 6_000),
        uses(d2, "bob.smith+cc@example.com", 6_000),
        uses(D1, "carol@example.com", 4_000),
    ])  # fmt: skip
    records = fetch(org, 2)
    assert [len(records[d]) for d in (D1, d2)] == [3, 2]
    ledger_side = [
        sessions_of(D1, "/home/alice/shop", 6_000, "a1"),
        sessions_of(D1, "/home/alice/shop", 4_000, "a2"),
        sessions_of(d2, "/home/alice/shop", 8_000),
        sessions_of(D1, "/home/bob.smith/pay", 3_000),
        sessions_of(d2, "/home/bob.smith/pay", 9_000),
        sessions_of(d2, "/opt/build", 1_000),
        sessions_of(d2, "/home/dave/notes", 500),
    ]
    result = compare_claude_code(records, ledger_side, since=D1, until=d2 + dt.timedelta(days=1),
                                 mapping={"dave@example.com": ("/home/dave/",)})  # fmt: skip
    status = {(r.day, r.user): r.status for r in result.rows}
    assert status == {
        (D1, "alice@example.com"): "ok",
        (D1, "bob.smith+cc@example.com"): "partial",
        (D1, "carol@example.com"): "missing",
        (d2, "alice@example.com"): "ok",
        (d2, "bob.smith+cc@example.com"): "extra",
        (d2, "dave@example.com"): "ledger-only",
        (d2, UNATTRIBUTED): "unattributed",
    }
    alice = result.rows[0]
    assert (alice.api_sessions, alice.ledger_sessions, alice.api.total, alice.ledger.total) == (
        2, 2, 10_000, 10_000
    )  # fmt: skip
    assert alice.api.to_dict() == alice.ledger.to_dict()
    assert [r.status for r in result.failing] == ["partial", "missing"]
    assert not result.within
    assert result.never_ingested() == ["carol@example.com"]
    missing = next(r for r in result.rows if r.status == "missing")
    assert "never ran the ingest hook" in missing.message and "1 session)" in missing.message
    assert "[reconcile.users]" in result.rows[-1].message
    data = result.to_dict()
    assert data["never_ingested"] == ["carol@example.com"] and data["within_tolerance"] is False
    assert data["rows"][0]["api"]["sessions"] == 2 and data["rows"][0]["ledger"]["projects"] == [
        "/home/alice/shop"
    ]


def test_the_tolerance_decides_partial() -> None:
    records = fetch(Organisation(claude_code=[uses(D1, "alice@example.com", 10_000)]), 1)
    ledger_side = [sessions_of(D1, "/home/alice/x", 9_900)]
    tight = compare_claude_code(records, ledger_side, since=D1, until=D1 + dt.timedelta(days=1),
                                tolerance_pct=Decimal("0.5"))  # fmt: skip
    loose = compare_claude_code(records, ledger_side, since=D1, until=D1 + dt.timedelta(days=1))
    assert tight.rows[0].status == "partial" and loose.rows[0].status == "ok"


def test_ledger_sessions_come_from_claude_code_records_per_utc_day(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "cc.db") as ledger:
        late = dt.datetime.combine(D1, dt.time(23, 30), tzinfo=dt.UTC)
        for ts, session, source in ((late, "s1", "claude-code"),
                                    (late + dt.timedelta(hours=1), "s1", "claude-code"),
                                    (late, "s2", "api")):  # fmt: skip
            ledger.record(agent="main", model="claude-sonnet-4-5", input_tokens=100,
                          output_tokens=10, ts=ts, source=source, session=session,
                          project="/home/alice/x")  # fmt: skip
        got = claude_code_sessions(ledger, utc_day_start(D1), utc_day_start(D1) + dt.timedelta(2))
    assert [(s.day, s.session, s.records, s.input_tokens) for s in got] == [
        (D1, "s1", 1, 100),
        (D1 + dt.timedelta(days=1), "s1", 1, 100),
    ]
