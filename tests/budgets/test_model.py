"""Budgets: validation, the config file, periods in a zone, spend in scope, the ledger table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift.budgets.model import (
    Budget,
    CallScope,
    config_budgets,
    load_budgets,
    make_budget,
    period_window,
    remove_budget,
    save_budget,
    spent,
)
from gearshift.config import AlertsConfig, TrueCostConfig, config_path, load_config
from gearshift.errors import ConfigError
from gearshift.ledger import Execution, Ledger

USD = 10**9
NOW = dt.datetime(2026, 3, 18, 6, tzinfo=dt.UTC)  # a Wednesday


def mk(**kw: Any) -> Budget:
    fields: dict[str, Any] = {
        "name": "b",
        "scope": "project",
        "value": "acme",
        "period": "month",
        "amount_usd": "500",
    }
    return make_budget(**{**fields, **kw})


# -- validation ---------------------------------------------------------------------------------


def test_make_budget_normalises_and_keeps_money_exact() -> None:
    b = make_budget(name="ops", scope="tier", value=" Opus ", period="week", amount_usd="12.345")
    assert (b.value, b.amount_nanos, b.amount_usd) == ("opus", 12_345_000_000, Decimal("12.345"))
    tag = make_budget(name="t", scope="tag", value="team = ml", period="day", amount_usd=5)
    assert tag.value == "team=ml" and tag.scope_text == "tag team=ml"
    g = make_budget(name="g", scope="global", value="", period="month", amount_usd="$1,000")
    assert g.amount_nanos == 1000 * USD and g.action == "alert" and g.period_text == "monthly"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "no spaces"}, "budget name"),
        ({"scope": "team"}, "unknown scope"),
        ({"value": ""}, "needs a value"),
        ({"scope": "global"}, "takes no value"),
        ({"scope": "tag", "value": "ml"}, "KEY=VALUE"),
        ({"scope": "tier", "value": "gpt"}, "unknown tier"),
        ({"period": "year"}, "unknown period"),
        ({"action": "panic"}, "unknown action"),
        ({"amount_usd": "0"}, "more than zero"),
        ({"amount_usd": "-5"}, "more than zero"),
        ({"amount_usd": "lots"}, "not a number"),
        ({"amount_usd": "0.0000000001"}, "finer than a nano-dollar"),
        ({"period": "custom"}, "needs a start and an end"),
        ({"period": "custom", "start": "2026-03-05", "end": "2026-03-01"}, "before it starts"),
        ({"period": "custom", "start": "2026-03-05", "end": "soon"}, "is not a day"),
        ({"start": "2026-03-05"}, "takes no start or end"),
        ({"tz": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_make_budget_rejects(change: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        mk(**change)


@given(st.decimals(min_value=Decimal("0.000000001"), max_value=Decimal(10**9), places=9))
def test_amounts_round_trip_exactly(amount: Decimal) -> None:
    b = make_budget(name="b", scope="global", value="", period="day", amount_usd=str(amount))
    assert b.amount_usd == amount


def test_covers_matches_each_scope() -> None:
    call = CallScope(project="acme", agent="rev", model="m1", tier="opus", tags={"team": "ml"})
    for scope, value in (
        ("project", "acme"),
        ("agent", "rev"),
        ("model", "m1"),
        ("tier", "opus"),
        ("tag", "team=ml"),
        ("global", ""),
    ):
        b = make_budget(name="b", scope=scope, value=value, period="day", amount_usd=1)
        assert b.covers(call), scope
        assert not b.covers(CallScope(project="x", agent="y", model="z", tier="haiku")) or (
            scope == "global"
        )


# -- periods ------------------------------------------------------------------------------------


def test_period_windows_in_a_zone() -> None:
    paris = ZoneInfo("Europe/Paris")
    at = dt.datetime(2026, 3, 29, 12, tzinfo=dt.UTC)  # the day clocks go forward in Paris
    day = period_window(mk(period="day"), at, paris)
    assert day == (
        dt.datetime(2026, 3, 28, 23, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 29, 22, tzinfo=dt.UTC),
    )
    week = period_window(mk(period="week"), at, paris)
    assert week[0].astimezone(paris) == dt.datetime(2026, 3, 23, tzinfo=paris)  # Monday
    assert week[1].astimezone(paris).date() == dt.date(2026, 3, 30)
    new_year_eve = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)
    month = period_window(mk(period="month"), new_year_eve, paris)
    assert month[0].astimezone(paris).date() == dt.date(2027, 1, 1)  # already January in Paris
    custom = mk(period="custom", start="2026-03-01", end="2026-03-14")
    assert period_window(custom, NOW, dt.UTC) == (
        dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 15, tzinfo=dt.UTC),
    )
    assert not custom.active(NOW, dt.UTC)


@given(
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1)),
    st.sampled_from(["day", "week", "month"]),
    st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kathmandu", "Pacific/Apia"]),
)
def test_the_current_period_always_contains_now(naive: dt.datetime, period: str, zone: str) -> None:
    now = naive.replace(tzinfo=dt.UTC)
    start, end = period_window(mk(period=period), now, ZoneInfo(zone))
    assert start <= now < end
    assert dt.timedelta(hours=22) <= end - start <= dt.timedelta(days=31, hours=2)


# -- spend in scope, on both stores --------------------------------------------------------------


def test_spent_counts_the_scope_and_the_current_period(ledger_url: str) -> None:
    rows = [
        ("acme", "rev", {"team": "ml"}, NOW - dt.timedelta(hours=2), 3),
        ("acme", "dev", {}, NOW - dt.timedelta(days=20), 5),  # last month
        ("other", "rev", {"team": "ml", "z": "1"}, NOW - dt.timedelta(hours=1), 7),
        ("acme", "rev", {}, NOW + dt.timedelta(hours=1), 11),  # after "now"
    ]
    with Ledger.open(ledger_url) as ledger:
        for project, agent, tags, ts, usd in rows:
            ledger.add(
                Execution(
                    model="claude-opus-4-5",
                    tier="opus",
                    project=project,
                    agent=agent,
                    tags=tags,
                    ts=ts,
                    cost_nanos=usd * USD,
                )
            )

        def got(scope: str, value: str) -> int:
            b = make_budget(name="b", scope=scope, value=value, period="month", amount_usd=1)
            return spent(ledger, b, NOW, dt.UTC) // USD

        assert got("global", "") == 10
        assert got("project", "acme") == 3
        assert got("agent", "rev") == 10
        assert got("tag", "team=ml") == 10
        assert got("tag", "z=1") == 7
        assert got("tier", "opus") == 10 and got("tier", "haiku") == 0
        assert got("model", "claude-opus-4-5") == 10


def test_stored_budgets_merge_with_the_config_file(ledger_url: str, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[budgets.team]\nscope = "global"\namount_usd = "900"\n')
    config = load_config(cfg)
    with Ledger.open(ledger_url) as ledger:
        save_budget(ledger, mk(name="acme", alert_levels=[90, 50], tz="UTC"), config)
        save_budget(ledger, mk(name="acme", amount_usd="600", action="block"), config)
        save_budget(
            ledger, mk(name="sprint", period="custom", start="2026-03-01", end="2026-03-14"), config
        )
        budgets = {b.name: b for b in load_budgets(ledger, config)}
        assert list(budgets) == ["team", "acme", "sprint"]
        assert budgets["team"].source == "config" and budgets["acme"].source == "ledger"
        assert budgets["acme"].amount_nanos == 600 * USD and budgets["acme"].action == "block"
        assert budgets["sprint"].end == dt.date(2026, 3, 14)
        with pytest.raises(ConfigError, match="defined in"):
            save_budget(ledger, mk(name="team"), config)
        with pytest.raises(ConfigError, match="defined in"):
            remove_budget(ledger, "team", config)
        remove_budget(ledger, "acme", config)
        with pytest.raises(ConfigError, match="no budget named 'acme'"):
            remove_budget(ledger, "acme", config)
        assert [b.name for b in load_budgets(ledger, config)] == ["team", "sprint"]


# -- the config file ----------------------------------------------------------------------------

FULL = """
[budgets.acme-monthly]
scope = "project"
value = "acme"
period = "month"
amount_usd = "500"
action = "block"
alert_levels = [80, 50]

[budgets.sprint]
scope = "tag"
value = "sprint=42"
period = "custom"
start = 2026-03-01
end = "2026-03-14"
amount_usd = 300
tz = "Europe/Paris"

[alerts]
levels = [25, 100]
webhook = "https://hooks.example.com/x"
timeout_s = 2.5
retries = 5
log = "~/alerts.jsonl"
forecast = false

[true_cost]
hourly_rate_usd = "80"
minutes_to_investigate = 45
blocking_factor = "0.5"

[router]
threshold = 0.4
"""


def test_a_full_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "gs.toml"
    path.write_text(FULL)
    monkeypatch.setenv("GEARSHIFT_CONFIG", str(path))
    config = load_config()
    assert config.path == path
    acme, sprint = config_budgets(config)
    assert (acme.amount_nanos, acme.action, acme.alert_levels) == (500 * USD, "block", (50, 80))
    assert (sprint.start, sprint.end, sprint.tz) == (
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 14),
        "Europe/Paris",
    )
    assert config.alerts.levels == (25, 100) and not config.alerts.forecast
    assert config.alerts.webhook == "https://hooks.example.com/x"
    assert (config.alerts.timeout_s, config.alerts.retries) == (2.5, 5)
    assert config.alerts.log == Path.home() / "alerts.jsonl"
    assert config.true_cost == TrueCostConfig(Decimal(80), Decimal(45), Decimal("0.5"))
    assert config.section("router") == {"threshold": 0.4} and config.section("nothing") == {}


def test_no_file_means_defaults() -> None:
    config = load_config()
    assert config.path is None and config.budgets == {}
    assert config.alerts == AlertsConfig()
    assert config.alerts.log == Path.home() / ".local/share/gearshift/alerts.log"
    assert config.true_cost.hourly_rate_usd == Decimal(50)
    assert config.true_cost.minutes_to_investigate == 30
    assert config.true_cost.blocking_factor == Decimal("0.25")
    assert config_path() == Path.home() / ".config/gearshift/config.toml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[alerts]\nlevel = [1]\n", r"alerts\.level is not a known key"),
        ("[alerts]\nlevels = [0, 50]\n", r"alerts\.levels has 0"),
        ("[alerts]\nwebhook = 'slack'\n", r"alerts\.webhook must be an http"),
        ("[alerts]\nretries = -1\n", r"alerts\.retries must be a whole number"),
        ("[alerts]\ntimeout_s = 'soon'\n", r"alerts\.timeout_s must be a number"),
        ("[true_cost]\nhourly_rate_usd = 50.5\n", r"true_cost\.hourly_rate_usd must be a quoted"),
        ("[true_cost]\nblocking_factor = '2'\n", r"true_cost\.blocking_factor must be between"),
        ("[budgets.x]\nscope = 'global'\n", r"budgets\.x\.amount_usd is missing"),
        (
            "[budgets.x]\namount_usd = '5'\nperiod = 'year'\n",
            r"budgets\.x\.period cannot be 'year'",
        ),
        ("[budgets.x]\namount_usd = '5'\ncolour = 'red'\n", r"budgets\.x\.colour is not a known"),
        ("[budgets]\nx = 5\n", r"budgets\.x must be a table"),
        ("budgets = 3\n", r"budgets must be a table"),
        ("[alerts\n", "not valid TOML"),
    ],
)
def test_config_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in info.value.message


def test_a_named_config_file_must_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GEARSHIFT_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config()
