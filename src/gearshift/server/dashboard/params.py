"""The dashboard's query parameters, read as ``gearshift spend`` reads its options.

``since``, ``until`` (``2026-03-01``, ``20260301``, ``7d``, ``today``, an ISO time), ``tz``,
``project``, ``agent``, ``model``, ``tier``, ``source``, ``tag=KEY=VALUE``; the grouping
``by`` and, for periods, ``stack``. A value that cannot be read is a
:class:`~gearshift.errors.ConfigError` naming the parameter, which the app answers with 400.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from gearshift.errors import ConfigError
from gearshift.ledger.queries import GROUPS, TIME_GROUPS, Filters
from gearshift.ledger.rollup import DIMENSIONS
from gearshift.timespec import parse_when, parse_zone

__all__ = ["EXACT", "MAX_LIMIT", "Query", "read_int", "read_query"]

#: Parameters matched exactly against a column.
EXACT = ("project", "agent", "model", "tier", "source")
MAX_LIMIT = 200
_MAX_LENGTH = 500


@dataclass(frozen=True, slots=True)
class Query:
    """Which executions (``filters``), days in which zone, and the parameters as given (for
    links and forms that keep them)."""

    filters: Filters
    tz: dt.tzinfo
    given: dict[str, str] = field(default_factory=dict)

    def link(self, **changes: str | None) -> dict[str, str]:
        """The given parameters with ``changes`` (``None`` removes one)."""
        out = dict(self.given)
        for name, value in changes.items():
            if value is None:
                out.pop(name, None)
            else:
                out[name] = value
        return out


def read_query(
    params: Mapping[str, str],
    *,
    default_tz: str | None = None,
    defaults: Mapping[str, str] | None = None,
) -> Query:
    """The executions the parameters select; ``defaults`` stand in for those not given."""
    given = {k: v for k, v in {**(defaults or {}), **params}.items() if v != ""}
    given.pop("token", None)
    for name, value in given.items():
        if len(value) > _MAX_LENGTH:
            raise ConfigError(f"{name}: longer than {_MAX_LENGTH} characters")
    tz = parse_zone(given.get("tz") or default_tz)
    try:
        since = parse_when(given.get("since"), tz, option="since")
        until = parse_when(given.get("until"), tz, end=True, option="until")
    except ConfigError as exc:
        raise ConfigError(exc.message.replace("--", ""), hint=exc.hint) from None
    if since and until and since >= until:
        raise ConfigError("since is after until", hint="swap them")
    tag = None
    if "tag" in given:
        key, sep, value = given["tag"].partition("=")
        if not sep or not key:
            raise ConfigError(f"tag: {given['tag']!r} is not KEY=VALUE")
        tag = (key, value)
    exact = {name: given.get(name) for name in EXACT}
    return Query(Filters(since=since, until=until, tag=tag, **exact), tz, given)


def read_by(params: Mapping[str, str], default: str = "day") -> str:
    by = params.get("by") or default
    if by not in GROUPS:
        raise ConfigError(f"by: cannot group by {by!r}", hint=f"use one of: {', '.join(GROUPS)}")
    return by


def read_stack(params: Mapping[str, str], by: str) -> str | None:
    stack = params.get("stack") or None
    if stack is None:
        return None
    if stack not in DIMENSIONS:
        raise ConfigError(f"stack: cannot stack by {stack!r}", hint=f"use {', '.join(DIMENSIONS)}")
    if by not in TIME_GROUPS:
        raise ConfigError("stack: only a spend over time (by=day, week or month) is stacked")
    return stack


def read_int(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not lo <= int(raw) <= hi:
        raise ConfigError(f"{name}: {raw!r} is not a whole number from {lo} to {hi}")
    return int(raw)
