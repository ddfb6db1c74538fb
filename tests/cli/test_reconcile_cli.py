"""`gearshift reconcile` end to end against the fake Admin API on loopback: exit codes, output,
the stored run feeding `report` and the alert sinks, and the key never shown."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gearshift.cli import common
from gearshift.cli.main import main
from gearshift.ledger import Ledger
from gearshift.testing.fake_anthropic import Call, ClaudeCodeUse, FakeAnthropic, Organisation
from gearshift.testing.sample_org import SAMPLE_ADMIN_KEY, sample, write_ledger
from gearshift.testing.sample_org import main as sample_main

KEY = "sk-ant-admin01-cli-secret-value"
D1 = dt.date(2026, 10, 20)
SONNET = "claude-sonnet-4-5-20250929"


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.setattr(common, "_console", None)
    monkeypatch.setattr(common, "_err", None)


def gs(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def calls(days: int = 2) -> list[Call]:
    out = []
    for d in range(days):
        ts = dt.datetime.combine(D1 + dt.timedelta(days=d), dt.time(12), tzinfo=dt.UTC)
        out += [
            Call(ts, "claude-sonnet-4-5", 40_000, 2_000, cache_read_tokens=10_000),
            Call(ts, "claude-haiku-4-5", 90_000, 3_000),
        ]
    return out


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "cli.db")


def record(db: str, recorded: list[Call]) -> None:
    with Ledger.open(db) as ledger:
        ledger.add_many(
            ledger.price(agent="svc", model=c.model, usage=c.usage(), ts=c.ts, source="api")
            for c in recorded
        )


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    org = Organisation(calls=calls(), claude_code=[
        ClaudeCodeUse(D1, "alice@example.com", "claude-sonnet-4-5", 1_000, 100),
        ClaudeCodeUse(D1, "carol@example.com", "claude-sonnet-4-5", 2_000, 100),
    ])  # fmt: skip
    with FakeAnthropic(organisation=org, admin_key=KEY) as fake:
        monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        yield fake


PERIOD = ("--since", str(D1), "--until", str(D1 + dt.timedelta(days=1)))


def test_an_exact_match_exits_0_and_shows_progress(
    capsys: pytest.CaptureFixture[str], db: str, server: FakeAnthropic
) -> None:
    record(db, calls())
    code, out, err = gs(capsys, "--ledger", db, "reconcile", "anthropic", *PERIOD)
    assert code == 0, err
    assert "ledger vs Anthropic bill, 2026-10-20..2026-10-21 (UTC days), by day-model" in out
    assert "within tolerance (1% or $0.01 per row)" in out and "BEYOND" not in out
    assert "usage report: page 1" in err and "cost report: page 1" in err
    assert "stored as run" in err
    assert KEY not in out + err


def test_a_missing_day_exits_5_and_says_why(
    capsys: pytest.CaptureFixture[str], db: str, server: FakeAnthropic
) -> None:
    record(db, [c for c in calls() if c.ts.date() == D1])
    code, out, _ = gs(capsys, "--ledger", db, "reconcile", "anthropic", *PERIOD)
    assert code == 5
    assert "2 rows beyond tolerance" in out
    assert f"[missing-from-ledger] the ledger has no records for {SONNET} on 2026-10-21" in out


def test_json_output(capsys: pytest.CaptureFixture[str], db: str, server: FakeAnthropic) -> None:
    record(db, calls())
    code, out, _ = gs(capsys, "--ledger", db, "reconcile", "anthropic", *PERIOD, "--by", "model",
                      "--json", "--no-save")  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["by"] == "model" and data["run_id"] is None and data["within_tolerance"] is True
    assert [r["model"] for r in data["rows"]] == ["claude-haiku-4-5-20251001", SONNET]
    assert data["rows"][1]["ledger"]["cache_read_tokens"] == 20_000
    assert data["rows"][1]["bill"]["cache_read_tokens"] == 20_000
    assert data["totals"]["difference_usd"] == "0.000000000"


def test_tolerance_options_decide_the_exit_code(
    capsys: pytest.CaptureFixture[str], db: str, server: FakeAnthropic
) -> None:
    recorded = calls()
    recorded[0] = Call(recorded[0].ts, "claude-sonnet-4-5", 39_000, 2_000, cache_read_tokens=10_000)
    record(db, recorded)  # $0.003 (2.1% of the day's Sonnet bill) short
    base = ("--ledger", db, "reconcile", "anthropic", *PERIOD, "--no-save")
    assert gs(capsys, *base, "--tolerance-usd", "0")[0] == 5
    assert gs(capsys, *base, "--tolerance-usd", "0.003")[0] == 0  # exactly the difference
    assert gs(capsys, *base, "--tolerance-usd", "0.0029")[0] == 5
    assert gs(capsys, *base, "--tolerance-usd", "0", "--tolerance-pct", "2.2")[0] == 0
    code, _, err = gs(capsys, *base, "--tolerance-pct", "lots")
    assert code == 2 and "--tolerance-pct" in err
    code, _, err = gs(capsys, *base, "--by", "colour")
    assert code == 2 and "day-model" in err


def test_an_invalid_admin_key_is_an_error_that_never_prints_the_key(
    capsys: pytest.CaptureFixture[str], db: str, server: FakeAnthropic,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    record(db, calls())
    wrong = "sk-ant-admin01-wrong-but-secret"
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", wrong)
    code, out, err = gs(capsys, "--ledger", db, "reconcile", "anthropic", *PERIOD, "--json")
    assert code == 1 and out == ""
    assert "error: the Admin API refused the admin key (401" in err
    assert "hint: ANTHROPIC_ADMIN_KEY must hold an Admin API key" in err
    assert wrong not in err and KEY not in err
    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY")
    sent = server.request_count
    code, _, err = gs(capsys, "--ledger", db, "reconcile", "anthropic", *PERIOD)
    assert code == 1 and server.request_count == sent  # no key: nothing sent
    assert "no Admin API key: set ANTHROPIC_ADMIN_KEY" in err


def test_the_run_feeds_report_and_the_alert_log(
    capsys: pytest.CaptureFixture[str], db: str, server: FakeAnthropic, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    log = tmp_path / "alerts.log"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[alerts]\nconsole = false\nlog = "{log}"\n[reconcile]\nalert_pct = "5"\n'
        'alert_usd = "0.05"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("GEARSHIFT_CONFIG", str(config))
    record(db, [c for c in calls() if c.model != "claude-sonnet-4-5" or c.ts.date() == D1])
    assert gs(capsys, "--ledger", db, "reconcile", "anthropic", *PERIOD)[0] == 5
    (line,) = log.read_text(encoding="utf-8").splitlines()
    alert = json.loads(line)
    assert alert["kind"] == "reconcile-drift" and len(alert["rows"]) == 1
    assert alert["rows"][0]["model"] == SONNET and alert["rows"][0]["day"] == "2026-10-21"
    code, out, _ = gs(capsys, "--ledger", db, "report", *PERIOD, "--tz", "UTC")
    assert code == 0
    assert "ledger vs bill" in out and "missing-from-ledger" in out
    code, out, _ = gs(capsys, "--ledger", db, "report", *PERIOD, "--tz", "UTC", "--json")
    lvb = json.loads(out)["ledger_vs_bill"]
    assert lvb["models"][0]["model"] == SONNET and lvb["models"][0]["days_beyond_tolerance"] == 1
    gs(capsys, "--ledger", db, "reconcile", "anthropic", *PERIOD)
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1  # that drift was alerted


def test_report_without_comparisons_has_no_ledger_vs_bill(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    record(db, calls())
    code, out, _ = gs(capsys, "--ledger", db, "report", "--json")
    assert code == 0 and "ledger_vs_bill" not in json.loads(out)


def test_claude_code_names_the_users_never_ingested(
    capsys: pytest.CaptureFixture[str], db: str, server: FakeAnthropic
) -> None:
    with Ledger.open(db) as ledger:
        ts = dt.datetime.combine(D1, dt.time(9), tzinfo=dt.UTC)
        ledger.record(agent="main", model="claude-sonnet-4-5", input_tokens=1_000,
                      output_tokens=100, source="claude-code", project="/home/alice/shop",
                      session="s1", ts=ts)  # fmt: skip
    code, out, err = gs(capsys, "--ledger", db, "reconcile", "claude-code", *PERIOD)
    assert code == 5
    assert "never in the ledger: carol@example.com" in out
    assert "Claude Code report: page 1" in err
    code, out, _ = gs(capsys, "--ledger", db, "reconcile", "claude-code", *PERIOD, "--json")
    data = json.loads(out)
    assert code == 5 and data["never_ingested"] == ["carol@example.com"]
    assert {r["user"]: r["status"] for r in data["rows"]} == {
        "alice@example.com": "ok",
        "carol@example.com": "missing",
    }


def test_the_sample_organisation_shows_every_kind_of_difference(
    capsys: pytest.CaptureFixture[str], db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = sample(end=dt.date(2026, 11, 1), days=10)
    with Ledger.open(db) as ledger:
        write_ledger(ledger, data)
    with FakeAnthropic(organisation=data.org, admin_key=SAMPLE_ADMIN_KEY) as fake:
        monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", SAMPLE_ADMIN_KEY)
        period = ("--since", str(data.since), "--until", "2026-10-31", "--base-url", fake.base_url)
        code, out, _ = gs(capsys, "--ledger", db, "reconcile", "anthropic", *period, "--json")
        assert code == 5
        rec = json.loads(out)
        kinds = {e["kind"] for r in rec["rows"] for e in r["explanations"]}
        assert {"missing-from-ledger", "unseen-calls", "ledger-extra", "unknown-model",
                "priority-tier", "server-tools", "catalog-price"} <= kinds  # fmt: skip
        (finding,) = rec["findings"]
        assert finding["model"] == "claude-opus-4-6"
        assert finding["kinds"] == {
            "output": {"ratio": "1.1", "catalog_per_mtok": "25", "billed_per_mtok": "27.5"}
        }
        code, out, _ = gs(capsys, "--ledger", db, "reconcile", "claude-code", *period, "--json")
        assert json.loads(out)["never_ingested"] == ["carol@example.com"]


def test_the_sample_server_entry_point_prints_the_commands(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert sample_main(["--port", "0", "--seconds", "0", "--ledger", str(tmp_path / "s.db")]) == 0
    out, err = capsys.readouterr()
    assert "wrote" in err and "records" in err
    assert f"export ANTHROPIC_ADMIN_KEY={SAMPLE_ADMIN_KEY}" in out
    assert "reconcile anthropic --since" in out and "reconcile claude-code" in out
