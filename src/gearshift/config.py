"""The user's configuration file: budgets, alert delivery and true-cost rates.

The file is TOML at ``$GEARSHIFT_CONFIG``, else ``$XDG_CONFIG_HOME/gearshift/config.toml``
(``~/.config`` when unset). No file means defaults; a file named by ``$GEARSHIFT_CONFIG`` must
exist. Every validation error is a :class:`~gearshift.errors.ConfigError` naming the file and the
key, because a config file is edited by hand and a bare "invalid value" sends people hunting::

    [budgets.acme-monthly]          # one table per budget; the table name is the budget's name
    scope = "project"               # global | project | agent | model | tier | tag
    value = "acme"                  # what the scope matches ("KEY=VALUE" for tag; none for global)
    period = "month"                # day | week | month | custom (then start / end, inclusive days)
    amount_usd = "500"              # a decimal string (or an integer): money is never a float
    action = "block"                # block | step-down | alert (default alert)
    alert_levels = [50, 80, 100]    # optional, overrides [alerts].levels
    tz = "Europe/Paris"             # optional: the zone whose days bound the period

    [alerts]
    levels = [50, 80, 100]          # percent of the amount; the forecast breach is separate
    forecast = true                 # alert when the forecast exceeds the amount
    console = true
    webhook = "https://hooks.slack.com/services/..."
    timeout_s = 5
    retries = 3
    log = "~/.local/share/gearshift/alerts.log"

    [true_cost]
    hourly_rate_usd = "50"
    minutes_to_investigate = 30
    blocking_factor = "0.25"

    [reconcile]                     # gearshift reconcile: the ledger beside Anthropic's bill
    tolerance_pct = "1"             # a row is within tolerance at 1% of the bill ...
    tolerance_usd = "0.01"          # ... or $0.01
    alert_pct = "5"                 # alert when a row drifts by 5% of the bill ...
    alert_usd = "1"                 # ... and by $1 at least
    alerts = true

    [reconcile.users]               # the folders of each Claude Code user (reconcile claude-code)
    "alice@example.com" = ["/home/alice/", "/Users/alice/"]

Sections this module does not know are kept as raw tables for their owners: :func:`section`.
Budgets are parsed by :mod:`gearshift.insight.budgets`, imported only when a file has budgets.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gearshift.errors import ConfigError

if TYPE_CHECKING:
    from gearshift.insight.budgets import Budget

__all__ = [
    "DEFAULT_LEVELS",
    "AlertsConfig",
    "Config",
    "ReconcileConfig",
    "TrueCostConfig",
    "config_path",
    "default_alert_log",
    "load_config",
    "parse_levels",
    "section",
]

DEFAULT_LEVELS: tuple[int, ...] = (50, 80, 100)


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def default_alert_log() -> Path:
    """``$XDG_DATA_HOME/gearshift/alerts.log``."""
    return _data_home() / "gearshift" / "alerts.log"


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """Where budget alerts go and at which levels. Timeouts are seconds (not money: floats)."""

    levels: tuple[int, ...] = DEFAULT_LEVELS
    forecast: bool = True
    console: bool = True
    webhook: str | None = None
    timeout_s: float = 5.0
    retries: int = 3
    log: Path = field(default_factory=default_alert_log)


@dataclass(frozen=True, slots=True)
class TrueCostConfig:
    """Rates that turn failures and waiting into money (issue 6, item 4).

    ``blocking_factor`` is the share of a call's latency during which a person waits on it.
    """

    hourly_rate_usd: Decimal = Decimal("50")
    minutes_to_investigate: Decimal = Decimal("30")
    blocking_factor: Decimal = Decimal("0.25")


@dataclass(frozen=True, slots=True)
class ReconcileConfig:
    """``[reconcile]``: the default tolerance of ``gearshift reconcile``, when ledger-vs-bill
    drift sends an alert (both ``alert_pct`` of the bill and ``alert_usd``), and ``users``: for
    each Claude Code user (an email or an API key name), the project folders that are theirs."""

    tolerance_pct: Decimal = Decimal("1")
    tolerance_usd: Decimal = Decimal("0.01")
    alert_pct: Decimal = Decimal("5")
    alert_usd: Decimal = Decimal("1")
    alerts: bool = True
    users: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded configuration; ``path`` is ``None`` when no file exists (all defaults)."""

    path: Path | None = None
    budgets: tuple[Budget, ...] = ()
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    true_cost: TrueCostConfig = field(default_factory=TrueCostConfig)
    reconcile: ReconcileConfig = field(default_factory=ReconcileConfig)
    raw: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """The raw table ``[name]`` (empty when absent), for modules that own other sections."""
        value = self.raw.get(name, {})
        return dict(value) if isinstance(value, dict) else {}


def config_path() -> Path:
    """``$GEARSHIFT_CONFIG``, else ``$XDG_CONFIG_HOME/gearshift/config.toml``."""
    explicit = os.environ.get("GEARSHIFT_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "gearshift" / "config.toml"


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the config file (``path`` overrides the default lookup).

    Reading is cheap and not cached: a long-running process sees edits on its next call, and no
    module-level state can go stale.
    """
    explicit = path is not None or bool(os.environ.get("GEARSHIFT_CONFIG"))
    file = Path(path).expanduser() if path is not None else config_path()
    if not file.exists():
        if explicit:
            raise ConfigError(
                f"config file {file} does not exist",
                hint="create it, or unset GEARSHIFT_CONFIG to use the default location",
            )
        return Config()
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {file}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return Config(
        path=file,
        budgets=_budgets(file, raw.get("budgets", {})),
        alerts=_alerts(file, raw.get("alerts", {})),
        true_cost=_true_cost(file, raw.get("true_cost", {})),
        reconcile=_reconcile(file, raw.get("reconcile", {})),
        raw=raw,
    )


def section(name: str) -> dict[str, Any]:
    """The raw table ``[name]`` of the current config file (empty when absent)."""
    return load_config().section(name)


# -- validation ---------------------------------------------------------------------------------


class _Table:
    """A TOML table with the file and key path every error message names."""

    def __init__(self, file: Path, where: str, data: object, known: tuple[str, ...]) -> None:
        self.file, self.where = file, where
        if not isinstance(data, dict):
            raise self.error(where, "must be a table")
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise self.error(
                f"{where}.{unknown[0]}", "is not a known key", hint=f"use: {', '.join(known)}"
            )
        self.data: dict[str, Any] = data

    def error(self, key: str, problem: str, *, hint: str | None = None) -> ConfigError:
        return ConfigError(f"{self.file}: {key} {problem}", hint=hint)

    def key(self, name: str) -> str:
        return f"{self.where}.{name}"

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.data.get(name, default)
        if value is not None and not isinstance(value, str):
            raise self.error(self.key(name), "must be a string")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            raise self.error(self.key(name), "must be true or false")
        return value

    def decimal(self, name: str, default: Decimal | None = None) -> Decimal | None:
        """A decimal from a string or an integer; a TOML float is refused (it is inexact)."""
        value = self.data.get(name)
        if value is None:
            return default
        if isinstance(value, bool | float):
            raise self.error(
                self.key(name), "must be a quoted decimal", hint=f'write {name} = "{value}"'
            )
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise self.error(self.key(name), f"is not a number: {value!r}") from None
        if not number.is_finite() or number < 0:
            raise self.error(self.key(name), f"must be a non-negative number, not {value!r}")
        return number

    def number(self, name: str, default: float, *, minimum: float) -> float:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise self.error(self.key(name), f"must be a number >= {minimum:g}")
        return float(value)

    def integer(self, name: str, default: int, *, minimum: int) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(self.key(name), f"must be a whole number >= {minimum}")
        return value

    def levels(self, name: str) -> tuple[int, ...] | None:
        value = self.data.get(name)
        if value is None:
            return None
        try:
            return parse_levels(value)
        except ValueError as exc:
            raise self.error(self.key(name), str(exc), hint="e.g. [50, 80, 100]") from None


def parse_levels(value: object) -> tuple[int, ...]:
    """Alert levels: whole percentages in 1..1000, returned sorted without duplicates."""
    if isinstance(value, str):
        value = [v for v in value.replace(" ", "").split(",") if v]
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("must be a non-empty list of percentages")
    out: set[int] = set()
    for item in value:
        try:
            level = int(item) if not isinstance(item, bool | float) else -1
        except ValueError:
            level = -1
        if not 1 <= level <= 1000:
            raise ValueError(f"has {item!r}, not a whole percentage between 1 and 1000")
        out.add(level)
    return tuple(sorted(out))


_ALERT_KEYS = ("levels", "forecast", "console", "webhook", "timeout_s", "retries", "log")
_TRUE_COST_KEYS = ("hourly_rate_usd", "minutes_to_investigate", "blocking_factor")


def _alerts(file: Path, data: object) -> AlertsConfig:
    t = _Table(file, "alerts", data, _ALERT_KEYS)
    webhook = t.text("webhook")
    if webhook is not None and not webhook.startswith(("http://", "https://")):
        raise t.error("alerts.webhook", "must be an http:// or https:// URL")
    log = t.text("log")
    return AlertsConfig(
        levels=t.levels("levels") or DEFAULT_LEVELS,
        forecast=t.boolean("forecast", True),
        console=t.boolean("console", True),
        webhook=webhook or None,
        timeout_s=t.number("timeout_s", 5.0, minimum=0.01),
        retries=t.integer("retries", 3, minimum=0),
        log=Path(log).expanduser() if log else default_alert_log(),
    )


def _true_cost(file: Path, data: object) -> TrueCostConfig:
    t = _Table(file, "true_cost", data, _TRUE_COST_KEYS)
    defaults = TrueCostConfig()
    factor = t.decimal("blocking_factor", defaults.blocking_factor)
    assert factor is not None
    if factor > 1:
        raise t.error("true_cost.blocking_factor", "must be between 0 and 1")
    rate = t.decimal("hourly_rate_usd", defaults.hourly_rate_usd)
    minutes = t.decimal("minutes_to_investigate", defaults.minutes_to_investigate)
    assert rate is not None and minutes is not None
    return TrueCostConfig(rate, minutes, factor)


_RECONCILE_KEYS = ("tolerance_pct", "tolerance_usd", "alert_pct", "alert_usd", "alerts", "users")


def _reconcile(file: Path, data: object) -> ReconcileConfig:
    t = _Table(file, "reconcile", data, _RECONCILE_KEYS)
    d = ReconcileConfig()
    numbers = {
        name: t.decimal(name, getattr(d, name))
        for name in ("tolerance_pct", "tolerance_usd", "alert_pct", "alert_usd")
    }
    users: dict[str, tuple[str, ...]] = {}
    table = t.data.get("users", {})
    if not isinstance(table, dict):
        raise t.error("reconcile.users", "must be a table of user = [folders]")
    for user, folders in table.items():
        listed = [folders] if isinstance(folders, str) else folders
        if not isinstance(listed, list) or not all(isinstance(f, str) and f for f in listed):
            raise t.error(
                f"reconcile.users.{user}",
                "must be a folder or a list of folders",
                hint='e.g. "alice@example.com" = ["/home/alice/"]',
            )
        users[str(user)] = tuple(listed)
    return ReconcileConfig(
        **{k: v for k, v in numbers.items() if v is not None},
        alerts=t.boolean("alerts", True),
        users=users,
    )


_BUDGET_KEYS = (
    "scope",
    "value",
    "period",
    "amount_usd",
    "action",
    "start",
    "end",
    "alert_levels",
    "tz",
)


def _budgets(file: Path, data: object) -> tuple[Budget, ...]:
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: budgets must be a table of [budgets.NAME] tables")
    if not data:
        return ()
    from gearshift.insight.budgets import make_budget

    out = []
    for name, table in data.items():
        t = _Table(file, f"budgets.{name}", table, _BUDGET_KEYS)
        amount = t.decimal("amount_usd")
        if amount is None:
            raise t.error(t.key("amount_usd"), "is missing", hint='e.g. amount_usd = "500"')
        try:
            budget = make_budget(
                name=name,
                scope=t.text("scope", "global") or "global",
                value=t.text("value", "") or "",
                period=t.text("period", "month") or "month",
                amount_usd=amount,
                action=t.text("action", "alert") or "alert",
                start=_date_text(t, "start"),
                end=_date_text(t, "end"),
                alert_levels=t.levels("alert_levels"),
                tz=t.text("tz"),
                source="config",
            )
        except ConfigError as exc:
            raise ConfigError(f"{file}: budgets.{name}: {exc.message}", hint=exc.hint) from None
        out.append(budget)
    return tuple(out)


def _date_text(t: _Table, name: str) -> str | None:
    """TOML has real dates; accept them and strings alike."""
    value = t.data.get(name)
    return None if value is None else str(value)
