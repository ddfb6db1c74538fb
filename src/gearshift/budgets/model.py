"""Budgets: a spending limit on a scope of executions over a calendar period.

A budget covers the executions of one scope -- everything (``global``), a ``project``, an
``agent``, a ``model`` (exact id), a ``tier`` or a ``tag`` (``KEY=VALUE``) -- over a ``day``, a
``week`` (Monday to Sunday), a ``month`` or a ``custom`` span of days. Periods are calendar days
in a zone: the budget's own ``tz`` when set (so a team sharing a ledger agrees on when "today"
ends), else the zone passed in, else the user's local zone.

Budgets come from two places, merged by name: the config file (per user, read-only here) and the
ledger's ``budgets`` table (``gearshift budget set``; shared by everyone on the same ledger). A
config budget shadows a ledger budget of the same name, and :func:`save_budget` refuses to create
such a shadowed one. Amounts are integer nano-dollars.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection

from gearshift.budgets import sql as budget_sql
from gearshift.catalog.cost import nanos_to_decimal, usd_text
from gearshift.catalog.tiers import Tier
from gearshift.config import BudgetSpec, Config
from gearshift.errors import ConfigError
from gearshift.ledger.queries import Filters, spent_nanos
from gearshift.timespec import local_zone

if TYPE_CHECKING:
    from gearshift.ledger.bulk import Reader
    from gearshift.ledger.store import Ledger

__all__ = [
    "ACTIONS",
    "PERIODS",
    "SCOPES",
    "Budget",
    "CallScope",
    "config_budgets",
    "load_budgets",
    "make_budget",
    "period_window",
    "remove_budget",
    "save_budget",
    "spent",
    "spent_between",
    "stored_budgets",
]

SCOPES = ("global", "project", "agent", "model", "tier", "tag")
PERIODS = ("day", "week", "month", "custom")
ACTIONS = ("block", "step-down", "alert")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_NANO = Decimal("1e-9")


@dataclass(frozen=True, slots=True)
class CallScope:
    """What a model call is, as far as budgets care: the fields a budget scope can match."""

    project: str = ""
    agent: str = "default"
    model: str = ""
    tier: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Budget:
    """A validated budget. Build one with :func:`make_budget`; ``end`` is an inclusive day."""

    name: str
    scope: str
    value: str
    period: str
    amount_nanos: int
    action: str = "alert"
    start: dt.date | None = None
    end: dt.date | None = None
    alert_levels: tuple[int, ...] | None = None
    tz: str | None = None
    source: str = "ledger"

    @property
    def amount_usd(self) -> Decimal:
        return nanos_to_decimal(self.amount_nanos)

    @property
    def scope_text(self) -> str:
        return "global" if self.scope == "global" else f"{self.scope} {self.value}"

    @property
    def period_text(self) -> str:
        if self.period == "custom":
            return f"{self.start} to {self.end}"
        return {"day": "daily", "week": "weekly", "month": "monthly"}[self.period]

    def zone(self, fallback: dt.tzinfo | None = None) -> dt.tzinfo:
        if self.tz:
            return ZoneInfo(self.tz)
        return fallback if fallback is not None else local_zone()

    def covers(self, call: CallScope) -> bool:
        """Whether a call in ``call``'s scope counts against this budget (ignoring the period)."""
        if self.scope == "global":
            return True
        if self.scope == "tag":
            key, _, value = self.value.partition("=")
            return call.tags.get(key) == value
        return bool(getattr(call, self.scope) == self.value)

    def active(self, now: dt.datetime, tz: dt.tzinfo | None = None) -> bool:
        """A custom budget is active only inside its span; calendar budgets always are."""
        if self.period != "custom":
            return True
        start, end = period_window(self, now, tz)
        return start <= now < end

    def filters(self, since: dt.datetime | None, until: dt.datetime | None) -> Filters:
        """The ledger filter selecting this budget's executions between two instants."""
        f = Filters(since=since, until=until)
        if self.scope == "tag":
            key, _, value = self.value.partition("=")
            f.tag = (key, value)
        elif self.scope != "global":
            setattr(f, self.scope, self.value)
        return f

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scope": self.scope,
            "value": self.value,
            "period": self.period,
            "amount_usd": usd_text(self.amount_nanos),
            "action": self.action,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "alert_levels": list(self.alert_levels) if self.alert_levels else None,
            "tz": self.tz,
            "source": self.source,
        }


def make_budget(
    *,
    name: str,
    scope: str,
    value: str,
    period: str,
    amount_usd: Decimal | str | int,
    action: str = "alert",
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    alert_levels: Sequence[int] | None = None,
    tz: str | None = None,
    source: str = "ledger",
) -> Budget:
    """Validate the parts of a budget and build it; every problem is a ConfigError with a hint.

    ``tier`` values are normalised (``Opus`` -> ``opus``); ``model`` values must be exact model
    ids (the CLI resolves aliases with the catalog before calling this).
    """
    if not _NAME.match(name):
        raise ConfigError(
            f"budget name {name!r} is not valid",
            hint="use letters, digits, '.', '_' and '-' (up to 100 characters)",
        )
    if scope not in SCOPES:
        raise ConfigError(f"unknown scope {scope!r}", hint=f"use one of: {', '.join(SCOPES)}")
    value = _scope_value(scope, value.strip())
    if period not in PERIODS:
        raise ConfigError(f"unknown period {period!r}", hint=f"use one of: {', '.join(PERIODS)}")
    if action not in ACTIONS:
        raise ConfigError(f"unknown action {action!r}", hint=f"use one of: {', '.join(ACTIONS)}")
    first, last = _span(period, start, end)
    if tz:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"unknown time zone {tz!r}", hint="use an IANA name") from None
    return Budget(
        name=name,
        scope=scope,
        value=value,
        period=period,
        amount_nanos=_nanos(amount_usd),
        action=action,
        start=first,
        end=last,
        alert_levels=tuple(sorted(set(alert_levels))) if alert_levels else None,
        tz=tz or None,
        source=source,
    )


def _scope_value(scope: str, value: str) -> str:
    if scope == "global":
        if value:
            raise ConfigError("a global budget takes no value", hint="drop the value")
        return ""
    if not value:
        raise ConfigError(f"a {scope} budget needs a value", hint=f"name the {scope} it limits")
    if scope == "tier":
        return Tier.parse(value).value
    if scope == "tag":
        key, sep, tag_value = value.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"tag budget value {value!r} is not KEY=VALUE", hint="e.g. team=ml")
        return f"{key.strip()}={tag_value.strip()}"
    return value


def _span(
    period: str, start: str | dt.date | None, end: str | dt.date | None
) -> tuple[dt.date | None, dt.date | None]:
    if period != "custom":
        if start is not None or end is not None:
            raise ConfigError(
                f"a {period} budget takes no start or end", hint="use period custom for a span"
            )
        return None, None
    if start is None or end is None:
        raise ConfigError("a custom budget needs a start and an end day", hint="YYYY-MM-DD")
    first, last = _day(start, "start"), _day(end, "end")
    if last < first:
        raise ConfigError(f"the budget ends ({last}) before it starts ({first})", hint="swap them")
    return first, last


def _day(value: str | dt.date, what: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f"{what} {value!r} is not a day", hint="use YYYY-MM-DD") from None


_MAX_USD = Decimal(10) ** 9


def _nanos(amount: Decimal | str | int) -> int:
    try:
        usd = Decimal(str(amount).strip().lstrip("$").replace(",", ""))
    except InvalidOperation:
        raise ConfigError(f"amount {amount!r} is not a number", hint="e.g. 500 or 12.50") from None
    if not usd.is_finite():
        raise ConfigError(f"amount {amount!r} is not a finite number", hint="e.g. 500 or 12.50")
    if usd <= 0:
        raise ConfigError(f"amount {amount!r} must be more than zero")
    if usd > _MAX_USD:
        raise ConfigError(f"amount {amount!r} is beyond any budget", hint="at most $1,000,000,000")
    nanos = usd / _NANO
    if nanos != nanos.to_integral_value():
        raise ConfigError(f"amount {amount!r} is finer than a nano-dollar")
    return int(nanos)


# -- periods and spend --------------------------------------------------------------------------


def period_window(
    budget: Budget, now: dt.datetime, tz: dt.tzinfo | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """The current period of ``budget`` at ``now`` as UTC instants ``[start, end)``.

    Day boundaries are midnights in the budget's zone (see the module docstring); weeks start on
    Monday; a custom period is fixed, whatever ``now`` is.
    """
    zone = budget.zone(tz)
    today = now.astimezone(zone).date()
    if budget.period == "day":
        first, after = today, today + dt.timedelta(days=1)
    elif budget.period == "week":
        first = today - dt.timedelta(days=today.weekday())
        after = first + dt.timedelta(days=7)
    elif budget.period == "month":
        first = today.replace(day=1)
        after = (first + dt.timedelta(days=32)).replace(day=1)
    else:
        assert budget.start is not None and budget.end is not None
        first, after = budget.start, budget.end + dt.timedelta(days=1)
    return _midnight(first, zone), _midnight(after, zone)


def _midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=zone).astimezone(dt.UTC)


def spent_between(
    ledger: Reader, budget: Budget, since: dt.datetime | None, until: dt.datetime | None
) -> int:
    """Recorded spend in ``budget``'s scope over ``[since, until)``."""
    return spent_nanos(ledger, budget.filters(since, until))


def spent(
    ledger: Ledger, budget: Budget, now: dt.datetime | None = None, tz: dt.tzinfo | None = None
) -> int:
    """Recorded spend in ``budget``'s current period up to ``now``, in nano-dollars."""
    now = now or dt.datetime.now(dt.UTC)
    start, end = period_window(budget, now, tz)
    return spent_between(ledger, budget, start, min(end, now + dt.timedelta(microseconds=1)))


# -- the two sources ----------------------------------------------------------------------------


def stored_budgets(conn: Connection) -> list[Budget]:
    """The budgets in the ledger's ``budgets`` table."""
    out = []
    for row in budget_sql.select_budgets(conn):
        levels = json.loads(row["alert_levels"]) if row["alert_levels"] else None
        out.append(
            Budget(
                name=row["name"],
                scope=row["scope"],
                value=row["value"],
                period=row["period"],
                amount_nanos=int(row["amount_nanos"]),
                action=row["action"],
                start=dt.date.fromisoformat(row["start_date"]) if row["start_date"] else None,
                end=dt.date.fromisoformat(row["end_date"]) if row["end_date"] else None,
                alert_levels=tuple(levels) if levels else None,
                tz=row["tz"],
                source="ledger",
            )
        )
    return out


def config_budgets(config: Config) -> list[Budget]:
    """The budgets of the config file, checked; errors name the file and the budget."""
    return [_from_spec(config, name, spec) for name, spec in config.budgets.items()]


def _from_spec(config: Config, name: str, spec: BudgetSpec) -> Budget:
    amount = spec.amount_usd
    try:
        return make_budget(
            name=name,
            scope=spec.scope,
            value=spec.value,
            period=spec.period,
            amount_usd=amount if not isinstance(amount, float) else str(amount),
            action=spec.action,
            start=spec.start,
            end=spec.end,
            alert_levels=spec.alert_levels,
            tz=spec.tz,
            source="config",
        )
    except ConfigError as exc:
        raise ConfigError(f"{config.path}: budgets.{name}: {exc.message}", hint=exc.hint) from None


def load_budgets(ledger: Ledger, config: Config) -> list[Budget]:
    """Every budget in force: the config file's, then the ledger's not shadowed by name."""
    with ledger.read() as conn:
        stored = stored_budgets(conn)
    return [*config_budgets(config), *(b for b in stored if b.name not in config.budgets)]


def save_budget(ledger: Ledger, budget: Budget, config: Config) -> Budget:
    """Store (or replace) ``budget`` in the ledger, shared by everyone using it (refused when
    ``config``'s file defines a budget of the same name, which would shadow it)."""
    if budget.name in config.budgets:
        raise ConfigError(
            f"budget {budget.name!r} is defined in {config.path}",
            hint="edit it there, or choose another --name",
        )
    row = {
        "name": budget.name,
        "scope": budget.scope,
        "value": budget.value,
        "period": budget.period,
        "amount_nanos": budget.amount_nanos,
        "action": budget.action,
        "start_date": budget.start.isoformat() if budget.start else None,
        "end_date": budget.end.isoformat() if budget.end else None,
        "alert_levels": json.dumps(list(budget.alert_levels)) if budget.alert_levels else None,
        "tz": budget.tz,
        "updated_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    with ledger.write() as conn:
        budget_sql.upsert_budget(conn, row)
    return replace(budget, source="ledger")


def remove_budget(ledger: Ledger, name: str, config: Config) -> None:
    """Delete a ledger budget (with its open reservations and alert history)."""
    if name in config.budgets:
        raise ConfigError(
            f"budget {name!r} is defined in {config.path}", hint="remove it from that file"
        )
    with ledger.write() as conn:
        found = budget_sql.delete_budget(conn, name)
    if not found:
        raise ConfigError(f"no budget named {name!r}", hint="`gearshift budget list` shows them")
