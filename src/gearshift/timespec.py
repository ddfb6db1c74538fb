"""Parsing the dates and periods users type: ``2026-03-01``, ``20260301``, ``7d``, ``today``."""

from __future__ import annotations

import datetime as dt
import os
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gearshift.errors import ConfigError

__all__ = ["local_zone", "parse_when", "parse_zone"]

_RELATIVE = re.compile(r"^(\d+)\s*([hdwm])$")


def parse_zone(name: str | None) -> dt.tzinfo:
    """A zone by IANA name (``UTC``, ``Europe/Paris``); ``None`` is the local zone."""
    if not name:
        return local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"--tz: unknown time zone {name!r}", hint="use an IANA name such as UTC or Europe/Paris"
        ) from None


def local_zone() -> dt.tzinfo:
    """The user's zone with its DST rules: ``$TZ``, else ``/etc/localtime``, else UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        with open("/etc/localtime", "rb") as fh:
            return ZoneInfo.from_file(fh, key="localtime")
    except (OSError, ValueError):
        zone = dt.datetime.now().astimezone().tzinfo
        return zone if zone is not None else dt.UTC


def parse_when(
    value: str | None,
    tz: dt.tzinfo,
    *,
    end: bool = False,
    option: str = "--since",
    now: dt.datetime | None = None,
) -> dt.datetime | None:
    """A user's date as an aware UTC instant.

    Dates are days in ``tz``: as a start they mean the day's first instant, with ``end=True`` the
    first instant of the *next* day (so ``--until 2026-03-16`` includes that whole day).
    ``7d``/``12h``/``2w``/``3m`` count back from now; ``today`` and ``yesterday`` are days.
    """
    if value is None or value == "":
        return None
    text = value.strip().lower()
    now = now or dt.datetime.now(dt.UTC)
    local_today = now.astimezone(tz).date()
    day: dt.date | None = None
    if text == "today":
        day = local_today
    elif text == "yesterday":
        day = local_today - dt.timedelta(days=1)
    elif m := _RELATIVE.match(text):
        n, unit = int(m.group(1)), m.group(2)
        try:
            if unit == "h":
                return now - dt.timedelta(hours=n)
            days = {"d": 1, "w": 7, "m": 30}[unit] * n
            day = local_today - dt.timedelta(days=days - 1 if not end else days)
        except OverflowError:
            raise ConfigError(
                f"{option}: {value!r} reaches before year 1", hint="use less"
            ) from None
    elif re.fullmatch(r"\d{8}", text):
        day = _date(f"{text[:4]}-{text[4:6]}-{text[6:]}", value, option)
    elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = _date(text, value, option)
    else:
        try:
            instant = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"{option}: cannot read {value!r} as a date",
                hint="use YYYY-MM-DD, YYYYMMDD, an ISO time, today, yesterday or 7d / 12h / 2w",
            ) from None
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=tz)
        return instant.astimezone(dt.UTC)
    try:
        if end:
            day = day + dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    except OverflowError:
        raise ConfigError(f"{option}: {value!r} is out of range", hint="use a real date") from None


def _date(text: str, raw: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option}: {raw!r} is not a valid date", hint="use YYYY-MM-DD") from None
