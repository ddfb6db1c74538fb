"""Budget alerts: at 50/80/100% of a budget (configurable) and on a forecast breach, sent once.

Each (budget, period start, level) goes out at most once per period, remembered in the ledger's
``alerts_sent`` table so every machine checking a shared ledger agrees. When several levels are
reached between two checks, they are all marked sent but only the highest is delivered: a jump
from 40% to 90% is one "80%" alert, not two. The forecast alert is skipped once 100% is reached.

Delivery goes to sinks, each returning a :class:`Delivery` rather than raising, so one broken sink
never hides an alert from the others:

* :class:`ConsoleSink` -- a line on a Rich console (stderr by default, so ``--json`` stays clean);
* :class:`WebhookSink` -- a Slack-compatible JSON ``POST`` (``{"text": ...}`` plus the structured
  alert under ``"gearshift"``), with a timeout, retried with exponential backoff on 5xx, 429,
  timeouts and connection errors, never on other 4xx (a wrong URL does not heal);
* :class:`LogSink` -- one JSON line per alert appended to a local file, with the other sinks'
  outcomes.

If the webhook fails after its retries, the claim is withdrawn so the next check tries again
(the console and the log then show that alert again: better twice than never).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from gearshift.budgets import sql as budget_sql
from gearshift.budgets.forecast import Forecast, money
from gearshift.catalog.cost import usd_text
from gearshift.redact import scrub

if TYPE_CHECKING:
    from rich.console import Console

    from gearshift.config import AlertsConfig
    from gearshift.ledger.store import Ledger

__all__ = [
    "Alert",
    "ConsoleSink",
    "Delivery",
    "LogSink",
    "Notice",
    "Sink",
    "WebhookSink",
    "due_alerts",
    "send_due",
    "sinks_from_config",
]

FORECAST = "forecast"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert: a budget reached ``level`` (a percentage, or ``"forecast"``) in a period."""

    budget: str
    level: str
    scope: str
    action: str
    period_start: dt.datetime
    period_end: dt.datetime
    spent_nanos: int
    amount_nanos: int
    projected_nanos: int
    text: str

    @property
    def severity(self) -> str:
        return "warning" if self.level != FORECAST and int(self.level) < 100 else "critical"

    def to_dict(self) -> dict[str, Any]:
        usd = usd_text
        return {
            "budget": self.budget,
            "level": self.level,
            "severity": self.severity,
            "scope": self.scope,
            "action": self.action,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "spent_usd": usd(self.spent_nanos),
            "amount_usd": usd(self.amount_nanos),
            "projected_usd": usd(self.projected_nanos),
            "text": self.text,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a sink did with an alert."""

    sink: str
    ok: bool
    attempts: int = 1
    detail: str = ""


class Notice(Protocol):
    """What a sink delivers: a budget :class:`Alert`, or another alert (ledger-vs-bill drift)
    with the same three parts."""

    @property
    def text(self) -> str: ...

    @property
    def severity(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


class Sink(Protocol):
    name: str

    def send(self, alert: Notice) -> Delivery: ...


def due_alerts(fc: Forecast, levels: Sequence[int], *, on_forecast: bool = True) -> list[Alert]:
    """Every alert ``fc`` has reached (lowest first), whether or not it was sent already."""
    b = fc.budget
    out = []

    def make(level: str, head: str) -> Alert:
        return Alert(
            budget=b.name,
            level=level,
            scope=b.scope_text,
            action=b.action,
            period_start=fc.period_start,
            period_end=fc.period_end,
            spent_nanos=fc.spent_nanos,
            amount_nanos=fc.amount_nanos,
            projected_nanos=fc.projected_nanos,
            text=f"gearshift budget {b.name} ({b.scope_text}, {b.period_text}): {head}",
        )

    for level in sorted(b.alert_levels or levels):
        if fc.spent_nanos * 100 >= level * fc.amount_nanos:
            head = f"{level}% reached — {money(fc.spent_nanos)} of {money(fc.amount_nanos)} spent"
            if not fc.ended and fc.projected_nanos > fc.spent_nanos:
                head += f"; on track for {money(fc.projected_nanos)} by the period's end"
            out.append(make(str(level), head))
    breached = fc.spent_nanos >= fc.amount_nanos
    if on_forecast and not fc.ended and not breached and fc.projected_nanos > fc.amount_nanos:
        so_far = f"{money(fc.spent_nanos)} spent so far"
        out.append(make(FORECAST, f"forecast breach — {fc.verdict} ({so_far})"))
    return out


def send_due(
    ledger: Ledger,
    forecasts: Iterable[Forecast],
    sinks: Sequence[Sink],
    *,
    levels: Sequence[int] = (50, 80, 100),
    on_forecast: bool = True,
    now: dt.datetime | None = None,
) -> list[tuple[Alert, list[Delivery]]]:
    """Claim and deliver the alerts not sent yet in their period; return what went out."""
    sent_at = (now or dt.datetime.now(dt.UTC)).isoformat()
    out = []
    for fc in forecasts:
        due = due_alerts(fc, levels, on_forecast=on_forecast)
        fresh = _claim(ledger, due, sent_at)
        for alert in _to_deliver(fresh):
            deliveries = [sink.send(alert) for sink in sinks if not isinstance(sink, LogSink)]
            deliveries += [s.send(alert, deliveries) for s in sinks if isinstance(s, LogSink)]
            if any(not d.ok for d in deliveries if d.sink == "webhook"):
                _unclaim(ledger, fresh)
            out.append((alert, deliveries))
    return out


def _claim(ledger: Ledger, due: list[Alert], sent_at: str) -> list[Alert]:
    if not due:
        return []
    with ledger.write() as conn:
        return [
            a
            for a in due
            if budget_sql.claim_alert(conn, a.budget, a.period_start.isoformat(), a.level, sent_at)
        ]


def _unclaim(ledger: Ledger, alerts: list[Alert]) -> None:
    with ledger.write() as conn:
        for a in alerts:
            budget_sql.unclaim_alert(conn, a.budget, a.period_start.isoformat(), a.level)


def _to_deliver(fresh: list[Alert]) -> list[Alert]:
    """The highest fresh percentage level, and the forecast alert if fresh."""
    levels = [a for a in fresh if a.level != FORECAST]
    forecast = [a for a in fresh if a.level == FORECAST]
    return ([max(levels, key=lambda a: int(a.level))] if levels else []) + forecast


# -- sinks --------------------------------------------------------------------------------------


class ConsoleSink:
    name = "console"

    def __init__(self, console: Console | None = None) -> None:
        if console is None:
            from rich.console import Console

            console = Console(stderr=True, highlight=False)
        self.console = console

    def send(self, alert: Notice) -> Delivery:
        style = "bold red" if alert.severity == "critical" else "yellow"
        self.console.print(f"⚠ {alert.text}", style=style, markup=False, soft_wrap=True)
        return Delivery(self.name, True)


@dataclass(slots=True)
class WebhookSink:
    """POST alerts as JSON to ``url``: ``retries`` retries after the first attempt, waiting
    ``backoff_s * 2**n`` (capped at 30 s) before retry ``n``; each attempt gives up after
    ``timeout_s``. ``sleep`` is injectable for tests."""

    url: str = field(repr=False)  # its path is the credential: never shown
    timeout_s: float = 5.0
    retries: int = 3
    backoff_s: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    name: str = "webhook"

    def payload(self, alert: Notice) -> bytes:
        return json.dumps({"text": alert.text, "gearshift": alert.to_dict()}).encode()

    def send(self, alert: Notice) -> Delivery:
        body = self.payload(alert)
        detail = ""
        for attempt in range(1, self.retries + 2):
            retry, detail = self._post(body)
            if not retry:
                return Delivery(self.name, detail == "", attempt, detail)
            if attempt <= self.retries:
                self.sleep(min(30.0, self.backoff_s * 2 ** (attempt - 1)))
        return Delivery(self.name, False, self.retries + 1, detail)

    def _post(self, body: bytes) -> tuple[bool, str]:
        """One attempt: (worth retrying, error text -- empty on success)."""
        try:
            request = urllib.request.Request(
                self.url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "gearshift-alerts"},
            )
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
            return False, ""
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code >= 500 or exc.code == 429, f"HTTP {exc.code}"
        except (ValueError, http.client.InvalidURL) as exc:  # the URL itself: retrying is useless
            # (the exception's own text quotes the URL's path, which is the credential)
            return False, f"{type(exc).__name__}: the webhook URL is not valid"
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
            return True, scrub(f"{type(reason).__name__}: {text}".rstrip(": "), self.url)


class LogSink:
    """Append each alert, with how the other sinks fared, as a JSON line."""

    name = "log"

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, alert: Notice, deliveries: Sequence[Delivery] = ()) -> Delivery:
        record = {
            "at": dt.datetime.now(dt.UTC).isoformat(),
            **alert.to_dict(),
            "deliveries": [
                {"sink": d.sink, "ok": d.ok, "attempts": d.attempts, "detail": d.detail}
                for d in deliveries
            ],
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as exc:
            return Delivery(self.name, False, 1, str(exc))
        return Delivery(self.name, True)


def sinks_from_config(config: AlertsConfig, console: Console | None = None) -> list[Sink]:
    """The sinks ``[alerts]`` asks for: console (unless off), the webhook if set, the log."""
    sinks: list[Sink] = []
    if config.console:
        sinks.append(ConsoleSink(console))
    if config.webhook:
        sinks.append(WebhookSink(config.webhook, config.timeout_s, config.retries))
    sinks.append(LogSink(config.log))
    return sinks
