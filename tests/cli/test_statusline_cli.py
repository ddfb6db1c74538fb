"""`gearshift statusline` as Claude Code runs it: recorded payloads of several versions against a
ledger with sessions and subagents, a broken or locked ledger, templates, hostile names, the
budget kept between lines -- always one line and exit 0."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gearshift.budgets.glance import BudgetGlance, GlanceFile, default_path
from gearshift.cli.entry import Direct, parse_direct
from gearshift.ledger import Execution, Ledger

PAYLOADS = Path(__file__).parents[1] / "data" / "claude_code" / "statusline"
SESSION = "7d3f1c2a-5b8e-4f0a-9c61-2e4d8a9b0c13"
USD = 10**9
HOSTILE = "\x1b]0;owned\x07\u202eevil"


def _gearshift(
    *args: str, stdin: bytes = b"", ledger: Path | str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "TZ": "UTC"}
    if ledger is not None:
        env["GEARSHIFT_LEDGER"] = str(ledger)
    return subprocess.run(
        [sys.executable, "-m", "gearshift", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env=env,
    )


def _line(*args: str, payload: str | bytes = "v2.1.251.json", ledger: Path | str) -> str:
    data = payload if isinstance(payload, bytes) else (PAYLOADS / payload).read_bytes()
    done = _gearshift("statusline", *args, stdin=data, ledger=ledger)
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    out = done.stdout.decode("utf-8")
    assert out.endswith("\n") and out.count("\n") == 1
    return out[:-1]


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """This session: main $4.10, Explore $2.00 (two runs), Plan $1.2345, proxy-routed to haiku;
    another session today ($3) and one two days ago ($50)."""
    path = tmp_path / "ledger.db"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    old = now - dt.timedelta(days=2)

    def row(session: str, agent: str, nanos: int, **kw: object) -> Execution:
        base: dict[str, object] = {"model": "claude-sonnet-4-5", "tier": "sonnet", "ts": now}
        return Execution(session=session, agent=agent, cost_nanos=nanos, **{**base, **kw})  # type: ignore[arg-type]

    with Ledger.open(path) as led:
        led.add_many([
            row(SESSION, "main", 4 * USD, source="claude-code"),
            row(SESSION, "main", USD // 10, source="proxy", tier="haiku",
                model="claude-haiku-4-5"),
            row(SESSION, "Explore", USD, source="claude-code", model="claude-haiku-4-5",
                tier="haiku"),
            row(SESSION, "Explore", USD, source="claude-code", model="claude-haiku-4-5",
                tier="haiku"),
            row(SESSION, "Plan", 1_234_500_000, source="claude-code"),
            row("other-session", "main", 3 * USD, source="claude-code"),
            row("old-session", "main", 50 * USD, source="claude-code", ts=old),
        ])  # fmt: skip
    return path


LINE = "$7.33 session (Explore $2.00) · $10.33 today · haiku via proxy"


@pytest.mark.parametrize("payload", ["v1.0.80.json", "v2.0.50.json", "v2.1.251.json"])
def test_the_line_for_each_version(ledger: Path, payload: str) -> None:
    assert _line(payload=payload, ledger=ledger) == LINE


@pytest.mark.parametrize(
    ("payload", "shown"),
    [
        ("v1.0.80.json", "Opus||$0.01|acme-api|1.0.80"),
        ("v2.0.50.json", "Sonnet 4.5||$1.87|acme-api|2.0.50"),
        ("v2.1.251.json", "Opus 4.6 (1M context)|26%|$4.21|acme-api|2.1.251"),
    ],
)
def test_a_template_shows_what_each_version_sends(ledger: Path, payload: str, shown: str) -> None:
    template = "{model}|{context}|{cc_cost}|{project}|{version}"
    assert _line("--format", template, payload=payload, ledger=ledger) == shown


@pytest.mark.parametrize("payload", ["empty.txt", "garbage.txt", "wrong_types.json"])
def test_without_a_session_the_line_shows_today(ledger: Path, payload: str) -> None:
    assert _line(payload=payload, ledger=ledger) == "$10.33 today"


def test_a_session_not_recorded_yet(ledger: Path) -> None:
    data = json.dumps({"session_id": "brand-new"}).encode()
    assert _line(payload=data, ledger=ledger) == "$0.00 session · $10.33 today"


def test_the_fields_as_json(ledger: Path) -> None:
    fields = json.loads(_line("--json", ledger=ledger))
    assert fields["session_cost"] == "$7.33"
    assert (fields["top_agent_name"], fields["top_agent_cost"]) == ("Explore", "$2.00")
    assert (fields["subagents_cost"], fields["tier"], fields["budget"]) == ("$3.23", "haiku", "")


def test_a_bad_template_is_a_short_line(ledger: Path) -> None:
    assert _line("--format", "{sesion_cost}", ledger=ledger) == (
        "gearshift: --format: no field {sesion_cost}"
    )


@pytest.mark.parametrize("how", ["missing", "garbage", "directory-less"])
def test_a_broken_ledger_gives_the_fallback_line(tmp_path: Path, how: str) -> None:
    path: Path | str = tmp_path / "ledger.db"
    if how == "garbage":
        Path(path).write_bytes(b"this is not a database" * 100)
    elif how == "directory-less":
        path = tmp_path / "no" / "such" / "ledger.db"
    before = sorted(p.name for p in tmp_path.iterdir())
    done = _gearshift("statusline", stdin=(PAYLOADS / "v2.1.251.json").read_bytes(), ledger=path)
    assert done.returncode == 0
    assert done.stdout == b"gearshift: ledger unavailable\n"
    assert b"Traceback" not in done.stderr and done.stderr.startswith(b"gearshift statusline: ")
    assert b"internal error" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing created


def test_a_locked_ledger_still_gets_an_answer(ledger: Path) -> None:
    """A writer holds the lock and keeps it: the line does not wait for it. In WAL mode (every
    gearshift ledger) it shows the last commit; in rollback-journal mode it gives up quickly."""
    writer = sqlite3.connect(ledger, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("UPDATE executions SET cost_nanos = 0")
    try:
        assert _line(ledger=ledger) == LINE
    finally:
        writer.execute("ROLLBACK")
    writer.execute("PRAGMA journal_mode = DELETE")
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("UPDATE executions SET cost_nanos = 0")
    try:
        started = time.monotonic()
        assert _line(ledger=ledger) == "gearshift: ledger unavailable"
        assert time.monotonic() - started < 30  # the writer never let go: it did not wait
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_hostile_agent_names_are_escaped(ledger: Path) -> None:
    with Ledger.open(ledger) as led:
        led.add(Execution(model="claude-opus-4-6", tier="opus", session=SESSION, agent=HOSTILE,
                          cost_nanos=5 * USD))  # fmt: skip
    line = _line(ledger=ledger)
    assert line.isprintable()
    assert "(\\x1b]0;owned\\x07\\u202eevil $5.00)" in line


def test_the_tightest_budget_is_shown_from_the_cache(ledger: Path) -> None:
    end = int((time.time() + 86_400) * 1_000_000)
    kept = GlanceFile(str(ledger))
    kept.write(BudgetGlance("team", 62, 91, "ok", end), int(time.time() * 1_000_000))
    assert _line(ledger=ledger) == (
        "$7.33 session (Explore $2.00) · $10.33 today · team 62%→91% · haiku via proxy"
    )
    assert _line("--format", "{budget_name}={budget_used}/{budget_status}", ledger=ledger) == (
        "team=62%/ok"
    )


def test_a_stale_budget_is_refreshed_in_the_background(
    ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[budgets.daily]\nscope = "global"\nperiod = "day"\namount_usd = "100"\n')
    monkeypatch.setenv("GEARSHIFT_CONFIG", str(config))
    assert _line(ledger=ledger) == LINE  # nothing kept yet: the refresh starts
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        kept = GlanceFile(str(ledger)).read(int(time.time() * 1_000_000))
        if kept.glance is not None or kept.error:
            break
        time.sleep(0.2)
    assert kept.error is None and kept.glance is not None
    assert (kept.glance.name, kept.glance.used_percent) == ("daily", 10)
    assert _line(ledger=ledger) == (
        f"$7.33 session (Explore $2.00) · $10.33 today · {kept.glance.name} 10%→"
        f"{kept.glance.forecast_percent}% · haiku via proxy"
    )


def test_a_refresh_that_fails_keeps_its_error(
    ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[budgets.x]\nscope = 'nowhere'\n")
    monkeypatch.setenv("GEARSHIFT_CONFIG", str(config))
    done = _gearshift("statusline", "--refresh-budget", ledger=ledger)
    assert done.returncode != 0 and b"Traceback" not in done.stderr
    kept = GlanceFile(str(ledger)).read(int(time.time() * 1_000_000))
    assert kept.glance is None and kept.error is not None and "config.toml" in kept.error
    done = _gearshift("statusline", stdin=b"{}", ledger=ledger)
    assert done.stdout == b"$10.33 today\n"
    assert b"budget: " in done.stderr


def test_the_cache_goes_in_the_cache_folder(ledger: Path) -> None:
    _gearshift("statusline", "--refresh-budget", ledger=ledger)
    assert json.loads(Path(default_path()).read_text())["ledger"] == str(ledger)


def test_the_line_loads_neither_typer_nor_sqlalchemy_nor_rich(ledger: Path) -> None:
    kept = GlanceFile(str(ledger))
    kept.write(None, int(time.time() * 1_000_000))  # fresh: no refresh started
    script = (
        "import sys\n"
        "from gearshift.cli.entry import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "finally:\n"
        "    heavy = ('typer', 'click', 'sqlalchemy', 'rich')\n"
        "    print('LOADED', sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "statusline"],
        input=(PAYLOADS / "v2.1.251.json").read_bytes(),
        capture_output=True,
        timeout=60,
        env={**os.environ, "TZ": "UTC", "GEARSHIFT_LEDGER": str(ledger)},
    )
    assert done.returncode == 0, done.stderr
    assert b"LOADED []" in done.stderr
    assert done.stdout.decode().startswith("$7.33 session")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["statusline"], Direct(("statusline",))),
        (["--ledger", "l.db", "statusline", "--format", "{today}", "--json"],
         Direct(("statusline",), "l.db", options={"template": "{today}", "as_json": True})),
        (["statusline", "--format={model}"],
         Direct(("statusline",), options={"template": "{model}"})),
        (["statusline", "--refresh-budget"],
         Direct(("statusline",), options={"refresh": True})),
    ],
)  # fmt: skip
def test_the_status_line_runs_directly(args: list[str], expected: Direct) -> None:
    assert parse_direct(args) == expected


@pytest.mark.parametrize(
    "args", [["statusline", "--help"], ["statusline", "--format"], ["statusline", "x"]]
)
def test_other_status_line_arguments_go_to_the_typer_app(args: list[str]) -> None:
    assert parse_direct(args) is None


def test_help_lists_the_fields() -> None:
    done = _gearshift("statusline", "--help")
    assert done.returncode == 0
    assert b"{field}" in done.stdout and b"top_agent" in done.stdout


@pytest.mark.postgres
def test_the_line_on_a_postgresql_ledger(pg_url: str) -> None:
    now = dt.datetime.now(dt.UTC)
    with Ledger.open(pg_url) as led:
        led.add_many([
            Execution(model="claude-opus-4-6", tier="opus", session=SESSION, agent="main",
                      cost_nanos=2 * USD, ts=now),
            Execution(model="claude-haiku-4-5", tier="haiku", session=SESSION, agent="Explore",
                      cost_nanos=USD // 4, ts=now),
        ])  # fmt: skip
    assert _line(ledger=pg_url) == "$2.25 session (Explore $0.25) · $2.25 today"
