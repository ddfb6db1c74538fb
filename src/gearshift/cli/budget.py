"""`gearshift budget set|list|rm|status|check`.

``budget check`` is for CI and cron. It sends the alerts that are due (once per level and period)
and exits with:

* ``0`` -- every budget is within its amount and forecast to stay so (``at-risk``, where only the
  band's top exceeds the amount, is still 0);
* ``1`` -- a budget has reached or exceeded its amount in the current period;
* ``2`` -- no budget has, but one is forecast to exceed its amount by the period's end.

Errors (a bad config file, an unreachable ledger) exit with their own codes and print to stderr,
as every command does.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

import typer

from gearshift.cli.common import console, err_console, print_json, state

if TYPE_CHECKING:
    import datetime as dt

    from gearshift.budgets.forecast import Forecast
    from gearshift.ledger import Ledger

budget_app = typer.Typer(
    help="Budgets per project, agent, model, tier or tag: set them, see the forecast, check them.",
    no_args_is_help=True,
)

# 1 and 2 stay what they mean for every command (an error; a bad option or config).
EXIT_OK, EXIT_BREACH, EXIT_FORECAST = 0, 3, 4

TzOpt = Annotated[
    str | None, typer.Option("--tz", help="Zone of the days that bound periods [default: local].")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register(app: typer.Typer) -> None:
    app.add_typer(budget_app, name="budget")


@budget_app.command("set")
def set_cmd(
    project: Annotated[str | None, typer.Option("--project", "-p", help="Limit a project.")] = None,
    agent: Annotated[str | None, typer.Option("--agent", "-a", help="Limit an agent.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Limit a model.")] = None,
    tier: Annotated[str | None, typer.Option("--tier", help="Limit a tier.")] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Limit a tag, KEY=VALUE.")] = None,
    everything: Annotated[bool, typer.Option("--global", help="Limit all spend.")] = False,
    daily: Annotated[str | None, typer.Option("--daily", help="USD per day.")] = None,
    weekly: Annotated[str | None, typer.Option("--weekly", help="USD per week (Mon-Sun).")] = None,
    monthly: Annotated[str | None, typer.Option("--monthly", help="USD per month.")] = None,
    amount: Annotated[str | None, typer.Option("--amount", help="USD over --from .. --to.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, inclusive.")] = None,
    action: Annotated[
        str, typer.Option("--action", help="On breach: block, step-down or alert.")
    ] = "alert",
    levels: Annotated[
        str | None, typer.Option("--levels", help="Alert levels in %, e.g. 50,80,100.")
    ] = None,
    budget_tz: Annotated[
        str | None,
        typer.Option("--tz", help="Zone of the period's days [default: local]."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Budget name [default: from scope and period].")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or replace a budget, stored in the ledger (shared by everyone using it)."""
    from gearshift.budgets.model import make_budget, save_budget
    from gearshift.config import parse_levels
    from gearshift.errors import ConfigError
    from gearshift.fmt import usd

    scope, value = _scope(project, agent, model, tier, tag, everything)
    period, usd_amount = _period(daily, weekly, monthly, amount, start, end)
    try:
        alert_levels = parse_levels(levels) if levels else None
    except ValueError as exc:
        raise ConfigError(f"--levels {exc}", hint="e.g. --levels 50,80,100") from None
    budget = make_budget(
        name=name or _default_name(scope, value, period, start),
        scope=scope,
        value=value,
        period=period,
        amount_usd=usd_amount,
        action=action,
        start=start,
        end=end,
        alert_levels=alert_levels,
        tz=budget_tz,
    )
    ledger = state.ledger(create=True)
    save_budget(ledger, budget, state.config())
    if as_json:
        print_json(budget.to_dict())
        return
    console().print(
        f"budget {budget.name}: {budget.scope_text}, {usd(budget.amount_usd)} "
        f"{budget.period_text}, on breach {budget.action} (in {ledger.location.display})",
        markup=False,
        soft_wrap=True,
    )


def _scope(
    project: str | None,
    agent: str | None,
    model: str | None,
    tier: str | None,
    tag: str | None,
    everything: bool,
) -> tuple[str, str]:
    from gearshift.errors import ConfigError

    given = [
        (scope, value)
        for scope, value in (
            ("project", project),
            ("agent", agent),
            ("model", model),
            ("tier", tier),
            ("tag", tag),
        )
        if value is not None
    ]
    if everything:
        given.append(("global", ""))
    if len(given) != 1:
        raise ConfigError(
            "budget set needs exactly one scope",
            hint="give one of --project, --agent, --model, --tier, --tag KEY=VALUE, --global",
        )
    scope, value = given[0]
    if scope == "model":
        value = state.catalog().resolve(value).id
    return scope, value


def _period(
    daily: str | None,
    weekly: str | None,
    monthly: str | None,
    amount: str | None,
    start: str | None,
    end: str | None,
) -> tuple[str, str]:
    from gearshift.errors import ConfigError

    given = [
        (period, value)
        for period, value in (
            ("day", daily),
            ("week", weekly),
            ("month", monthly),
            ("custom", amount),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise ConfigError(
            "budget set needs exactly one amount",
            hint="give one of --daily, --weekly, --monthly or --amount with --from and --to",
        )
    period, value = given[0]
    dated = (start is not None, end is not None)
    if dated != ((True, True) if period == "custom" else (False, False)):
        raise ConfigError(
            "--from and --to go with --amount, and --amount needs both",
            hint="e.g. --amount 300 --from 2026-03-01 --to 2026-03-14",
        )
    return period, value


def _default_name(scope: str, value: str, period: str, start: str | None) -> str:
    """``project-acme-monthly``, ``global-daily``, ``tag-sprint-42-2026-03-01`` (custom)."""
    when = {"day": "daily", "week": "weekly", "month": "monthly"}.get(period, start or "custom")
    ascii_value = re.sub(r"[^A-Za-z0-9._]+", "-", value).strip("-.")
    if value and ascii_value != value.strip():
        # a value the slug would mangle (non-ASCII, spaces): keep names distinct with a hash
        import hashlib

        ascii_value = f"{ascii_value}-{hashlib.sha256(value.encode()).hexdigest()[:8]}".strip("-")
    words = [scope, ascii_value, when]
    slug = re.sub(r"[^A-Za-z0-9._]+", "-", "-".join(w for w in words if w)).strip("-.")
    return slug[:100] or "budget"


@budget_app.command("list")
def list_cmd(as_json: JsonOpt = False) -> None:
    """The budgets in force: the config file's and the ledger's."""
    from gearshift.budgets.model import load_budgets
    from gearshift.cli.common import plain_table
    from gearshift.fmt import usd

    budgets = load_budgets(_reading_ledger(), state.config())
    if as_json:
        print_json([b.to_dict() for b in budgets])
        return
    if not budgets:
        console().print("no budgets; add one with `gearshift budget set --project P --monthly X`")
        return
    table = plain_table(title="budgets")
    for col in ("name", "scope", "period", "amount", "action", "alert levels", "from"):
        table.add_column(col, justify="right" if col == "amount" else "left")
    for b in budgets:
        levels = ", ".join(map(str, b.alert_levels)) if b.alert_levels else "default"
        table.add_row(
            b.name, b.scope_text, b.period_text, usd(b.amount_usd), b.action, levels, b.source
        )
    console().print(table)


@budget_app.command("rm")
def rm_cmd(
    name: Annotated[str, typer.Argument(help="The budget's name.")], as_json: JsonOpt = False
) -> None:
    """Remove a budget from the ledger (config-file budgets are removed from the file)."""
    from gearshift.budgets.model import remove_budget

    remove_budget(state.ledger(create=True), name, state.config())
    if as_json:
        print_json({"removed": name})
        return
    console().print(f"removed budget {name}", markup=False, soft_wrap=True)


@budget_app.command("status")
def status_cmd(tz: TzOpt = None, as_json: JsonOpt = False) -> None:
    """Spend to date, the forecast to the period's end with its band, and a verdict, per budget."""
    forecasts = _forecasts(tz)
    if as_json:
        print_json([f.to_dict() for f in forecasts])
        return
    if not forecasts:
        console().print("no budgets; add one with `gearshift budget set --project P --monthly X`")
        return
    _print_status(forecasts)


@budget_app.command("check")
def check_cmd(
    tz: TzOpt = None,
    as_json: JsonOpt = False,
    alerts: Annotated[
        bool, typer.Option("--alerts/--no-alerts", help="Send the alerts that are due.")
    ] = True,
) -> None:
    """Exit 0 when every budget is fine, 3 on a breach, 4 on a forecast breach; send alerts.

    (1 and 2 stay what they are for every command: an error, a bad option or config.)
    """
    from gearshift.budgets.alerts import send_due, sinks_from_config

    config = state.config()
    current = [f for f in _forecasts(tz) if not f.ended]
    sent = []
    if alerts and current:
        sinks = sinks_from_config(config.alerts, err_console())
        sent = send_due(
            state.ledger(create=True),
            current,
            sinks,
            levels=config.alerts.levels,
            on_forecast=config.alerts.forecast,
        )
    for alert, deliveries in sent:
        for d in deliveries:
            if not d.ok:
                err_console().print(
                    f"warning: alert {alert.budget} {alert.level} not delivered to {d.sink}"
                    f" after {d.attempts} attempt(s): {d.detail}",
                    style="yellow",
                    markup=False,
                    soft_wrap=True,
                )
    statuses = {f.status for f in current}
    code = (
        EXIT_BREACH
        if "breached" in statuses
        else EXIT_FORECAST
        if "forecast-breach" in statuses
        else EXIT_OK
    )
    if as_json:
        print_json(
            {
                "exit_code": code,
                "budgets": [f.to_dict() for f in current],
                "alerts_sent": [
                    {**a.to_dict(), "deliveries": [d.sink for d in ds if d.ok]} for a, ds in sent
                ],
                "failed_deliveries": [
                    {"budget": a.budget, "level": a.level, "sink": d.sink, "detail": d.detail}
                    for a, ds in sent
                    for d in ds
                    if not d.ok
                ],
            }
        )
    else:
        for f in current:
            line = f"{f.status.upper():>15}  {f.budget.name}: {f.verdict}"
            console().print(line, markup=False, soft_wrap=True, style=_STYLE[f.status])
    raise typer.Exit(code)


def _reading_ledger() -> Ledger:
    """The ledger for a command that only reads budgets; with no ledger file yet, an empty
    one in memory (the config file's budgets, nothing spent), so reading creates no file."""
    from gearshift.ledger import Ledger
    from gearshift.ledger.urls import resolve_location

    location = resolve_location(state.ledger_url)
    if location.path is not None and not location.path.exists():
        return Ledger.open("sqlite://", catalog=state.catalog())
    return state.ledger()


def _forecasts(tz_name: str | None, ledger: Ledger | None = None) -> list[Forecast]:
    import datetime as dt

    from gearshift.budgets.forecast import forecast
    from gearshift.budgets.model import load_budgets
    from gearshift.timespec import parse_zone

    zone: dt.tzinfo = parse_zone(tz_name)
    ledger = ledger or _reading_ledger()
    now = dt.datetime.now(dt.UTC)
    return [forecast(ledger, b, now, zone) for b in load_budgets(ledger, state.config())]


_STYLE = {"breached": "bold red", "forecast-breach": "red", "at-risk": "yellow", "ok": "green"}


def _print_status(forecasts: list[Forecast]) -> None:
    from gearshift.budgets.forecast import money
    from gearshift.cli.common import plain_table
    from gearshift.fmt import pct

    table = plain_table(title="budget status")
    for col in ("budget", "scope", "period", "spent", "used", "forecast", "90% band", "verdict"):
        right = col in ("spent", "used", "forecast", "90% band")
        table.add_column(col, justify="right" if right else "left")
    for f in forecasts:
        table.add_row(
            f.budget.name,
            f.budget.scope_text,
            _window(f),
            money(f.spent_nanos),
            pct(f.spent_nanos, f.amount_nanos, 0),
            money(f.projected_nanos),
            f"{money(f.low_nanos)}–{money(f.high_nanos)}",
            f.verdict,
            style=_STYLE[f.status],
        )
    console().print(table)


def _window(f: Forecast) -> str:
    import datetime as dt

    first = f.period_start.astimezone(f.zone).date()
    last = (f.period_end.astimezone(f.zone) - dt.timedelta(microseconds=1)).date()
    return f"{first:%b %d}–{last:%b %d}" if first != last else f"{first:%b %d}"
