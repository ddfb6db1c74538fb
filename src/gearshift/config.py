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

    [run]
    allow_commands = false          # true: gearshift run also runs command validators of agent
                                    # files it found by itself (as --allow-commands)

The file's format is declared by the Structs below (``gearshift schema config`` prints it as JSON
Schema). Sections this module does not know are kept as raw tables for their owners
(:meth:`Config.section`). Budget tables are checked for their keys here and turned into budgets
by :func:`gearshift.budgets.config_budgets`. Library code never reads this file itself: it takes
the :class:`Config` its caller loaded.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from gearshift.errors import ConfigError
from gearshift.formats.structs import convert
from gearshift.redact import host_only

__all__ = [
    "DEFAULT_LEVELS",
    "AlertsConfig",
    "BudgetSpec",
    "Config",
    "ConfigFile",
    "ReconcileConfig",
    "RunConfig",
    "TrueCostConfig",
    "config_path",
    "default_alert_log",
    "load_config",
    "parse_levels",
]

DEFAULT_LEVELS: tuple[int, ...] = (50, 80, 100)
T = TypeVar("T")


def _data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def default_alert_log() -> Path:
    """``$XDG_DATA_HOME/gearshift/alerts.log``."""
    return _data_home() / "gearshift" / "alerts.log"


# -- the file's format --------------------------------------------------------------------------

_Money = str | int | float  # a float is parsed only to be refused with a hint: it is inexact


class BudgetSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """One ``[budgets.NAME]`` table, as written (the budget it describes is checked by
    :func:`gearshift.budgets.make_budget`)."""

    amount_usd: _Money
    scope: Literal["global", "project", "agent", "model", "tier", "tag"] = "global"
    value: str = ""
    period: Literal["day", "week", "month", "custom"] = "month"
    action: Literal["block", "step-down", "alert"] = "alert"
    start: dt.date | None = None
    end: dt.date | None = None
    alert_levels: list[int] | None = None
    tz: str | None = None


class _AlertsFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    levels: list[int] | None = None
    forecast: bool = True
    console: bool = True
    webhook: str | None = None
    timeout_s: Annotated[float, msgspec.Meta(ge=0.01)] = 5.0
    retries: Annotated[int, msgspec.Meta(ge=0)] = 3
    log: str | None = None


class _TrueCostFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    hourly_rate_usd: _Money | None = None
    minutes_to_investigate: _Money | None = None
    blocking_factor: _Money | None = None


class _ReconcileFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    tolerance_pct: _Money | None = None
    tolerance_usd: _Money | None = None
    alert_pct: _Money | None = None
    alert_usd: _Money | None = None
    alerts: bool = True
    users: dict[str, Any] = {}  # each checked on its own, so errors name the user


class _RunFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    allow_commands: bool = False


class ConfigFile(msgspec.Struct, kw_only=True):
    """The config file. Top-level tables it does not name belong to other owners and are kept."""

    budgets: dict[str, Any] = {}
    alerts: _AlertsFile = msgspec.field(default_factory=_AlertsFile)
    true_cost: _TrueCostFile = msgspec.field(default_factory=_TrueCostFile)
    reconcile: _ReconcileFile = msgspec.field(default_factory=_ReconcileFile)
    run: _RunFile = msgspec.field(default_factory=_RunFile)


class _SchemaFile(ConfigFile, kw_only=True):
    """:class:`ConfigFile` with its budgets typed, for the JSON Schema."""

    budgets: dict[str, BudgetSpec] = {}


# -- the loaded configuration -------------------------------------------------------------------


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
    """Rates that turn failures and waiting into money.

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
class RunConfig:
    """``[run]``: ``allow_commands`` lets ``gearshift run`` run command and callable validators
    from agent files it found by itself or a pipeline included (see docs/security.md)."""

    allow_commands: bool = False


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded configuration; ``path`` is ``None`` when no file exists (all defaults)."""

    path: Path | None = None
    budgets: dict[str, BudgetSpec] = field(default_factory=dict)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    true_cost: TrueCostConfig = field(default_factory=TrueCostConfig)
    reconcile: ReconcileConfig = field(default_factory=ReconcileConfig)
    run: RunConfig = field(default_factory=RunConfig)
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
    """Read and check the config file (``path`` overrides the default lookup).

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
    parsed = _check(raw, ConfigFile, file)
    return Config(
        path=file,
        budgets={name: _budget(file, name, table) for name, table in parsed.budgets.items()},
        alerts=_alerts(file, parsed.alerts),
        true_cost=_true_cost(file, parsed.true_cost),
        reconcile=_reconcile(file, parsed.reconcile),
        run=RunConfig(allow_commands=parsed.run.allow_commands),
        raw=raw,
    )


def _check(data: Any, type_: type[T], file: Path, prefix: str = "") -> T:
    """``data`` as ``type_``, read as this file always was (msgspec's lax rules: ``"3"`` may be
    a number), its tables called tables."""
    return convert(data, type_, source=str(file), prefix=prefix, strict=False,
                   mapping="a table of keys")  # fmt: skip


def schema() -> type[msgspec.Struct]:
    """The Struct whose JSON Schema describes the config file."""
    return _SchemaFile


# -- checks beyond the types --------------------------------------------------------------------


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


def _levels(file: Path, key: str, value: list[int] | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return parse_levels(value)
    except ValueError as exc:
        raise ConfigError(f"{file}: {key} {exc}", hint="e.g. [50, 80, 100]") from None


def _decimal(file: Path, key: str, value: _Money | None, default: Decimal) -> Decimal:
    """A decimal from a string or an integer; a TOML float is refused (it is inexact)."""
    if value is None:
        return default
    if isinstance(value, float):
        name = key.rpartition(".")[2]
        raise ConfigError(
            f"{file}: {key} must be a quoted decimal", hint=f'write {name} = "{value}"'
        )
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ConfigError(f"{file}: {key} is not a number: {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ConfigError(f"{file}: {key} must be a non-negative number, not {value!r}")
    return number


def _alerts(file: Path, data: _AlertsFile) -> AlertsConfig:
    webhook = data.webhook
    if webhook is not None and not webhook.startswith(("http://", "https://")):
        raise ConfigError(
            f"{file}: alerts.webhook must be an http:// or https:// URL, not {host_only(webhook)}"
        )
    if webhook is not None and any(c.isspace() or not c.isprintable() for c in webhook):
        raise ConfigError(
            f"{file}: alerts.webhook ({host_only(webhook)}) contains a space or a control "
            "character",
            hint="copy the URL again; percent-encode characters that are not allowed in URLs",
        )
    return AlertsConfig(
        levels=_levels(file, "alerts.levels", data.levels) or DEFAULT_LEVELS,
        forecast=data.forecast,
        console=data.console,
        webhook=data.webhook or None,
        timeout_s=float(data.timeout_s),
        retries=data.retries,
        log=Path(data.log).expanduser() if data.log else default_alert_log(),
    )


def _true_cost(file: Path, data: _TrueCostFile) -> TrueCostConfig:
    defaults = TrueCostConfig()
    factor = _decimal(
        file, "true_cost.blocking_factor", data.blocking_factor, defaults.blocking_factor
    )
    if factor > 1:
        raise ConfigError(f"{file}: true_cost.blocking_factor must be between 0 and 1")
    return TrueCostConfig(
        _decimal(file, "true_cost.hourly_rate_usd", data.hourly_rate_usd, defaults.hourly_rate_usd),
        _decimal(
            file,
            "true_cost.minutes_to_investigate",
            data.minutes_to_investigate,
            defaults.minutes_to_investigate,
        ),
        factor,
    )


def _budget(file: Path, name: str, table: dict[str, Any]) -> BudgetSpec:
    spec = _check(table, BudgetSpec, file, f"budgets.{name}")
    if isinstance(spec.amount_usd, float):
        _decimal(file, f"budgets.{name}.amount_usd", spec.amount_usd, Decimal(0))
    _levels(file, f"budgets.{name}.alert_levels", spec.alert_levels)
    return spec


def _reconcile(file: Path, data: _ReconcileFile) -> ReconcileConfig:
    d = ReconcileConfig()
    numbers = {
        name: _decimal(file, f"reconcile.{name}", getattr(data, name), getattr(d, name))
        for name in ("tolerance_pct", "tolerance_usd", "alert_pct", "alert_usd")
    }
    users: dict[str, tuple[str, ...]] = {}
    for user, value in data.users.items():
        where = f"reconcile.users.{user}"
        listed = _check(value, str | list[str], file, where)  # type: ignore[arg-type]
        folders = (listed,) if isinstance(listed, str) else tuple(listed)
        users[user] = folders
        if not folders or not all(folders):
            raise ConfigError(
                f"{file}: reconcile.users.{user} must be a folder or a list of folders",
                hint='e.g. "alice@example.com" = ["/home/alice/"]',
            )
    return ReconcileConfig(**numbers, alerts=data.alerts, users=users)
