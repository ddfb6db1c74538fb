"""Alerts: levels sent once per period, to a console, a real local webhook receiver and a log."""

from __future__ import annotations

import datetime as dt
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from gearshift.budgets.alerts import (
    ConsoleSink,
    LogSink,
    WebhookSink,
    due_alerts,
    send_due,
    sinks_from_config,
)
from gearshift.budgets.forecast import Forecast, forecast
from gearshift.budgets.model import make_budget
from gearshift.config import AlertsConfig, load_config
from gearshift.errors import ConfigError
from gearshift.ledger import Execution, Ledger

USD = 10**9
NOW = dt.datetime(2026, 3, 18, 6, tzinfo=dt.UTC)


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers from a script: a status code per request
    (the last one repeats), or ``"hang"`` to sleep past the client's timeout."""

    def __init__(self, script: list[int | str]) -> None:
        self.script = script
        self.bodies: list[dict[str, Any]] = []
        self.hits = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                step = receiver.script[min(receiver.hits, len(receiver.script) - 1)]
                receiver.hits += 1
                receiver.bodies.append(body)
                if step == "hang":
                    time.sleep(1.0)
                    return
                self.send_response(int(step))
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "l.db") as led:
        yield led


def spend(ledger: Ledger, usd: int, at: dt.datetime = NOW) -> None:
    ledger.add(
        Execution(
            model="claude-sonnet-4-5",
            tier="sonnet",
            project="acme",
            cost_nanos=usd * USD,
            ts=at - dt.timedelta(hours=1),
        )
    )


def acme_forecast(ledger: Ledger, now: dt.datetime = NOW, **kw: Any) -> Forecast:
    fields = {"name": "acme", "scope": "project", "value": "acme", "period": "day"}
    fields["amount_usd"] = "100"
    return forecast(ledger, make_budget(**{**fields, **kw}), now, dt.UTC)


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def send(self, alert: Any) -> Any:
        from gearshift.budgets.alerts import Delivery

        self.texts.append(alert.level)
        return Delivery(self.name, True)


# -- which alerts, and only once ----------------------------------------------------------------


def test_levels_reached_and_the_forecast_breach(ledger: Ledger) -> None:
    spend(ledger, 60)
    fc = acme_forecast(ledger)
    assert [a.level for a in due_alerts(fc, (50, 80, 100))] == ["50", "forecast"]
    alert = due_alerts(fc, (50, 80, 100))[0]
    assert alert.text.startswith("gearshift budget acme (project acme, daily): 50% reached — $60")
    assert alert.severity == "warning"
    assert [a.level for a in due_alerts(fc, (50,), on_forecast=False)] == ["50"]
    assert [a.level for a in due_alerts(fc, (10, 20))] == ["10", "20", "forecast"]


def test_each_level_goes_out_once_per_period(ledger: Ledger) -> None:
    sink = Recorder()
    spend(ledger, 55)
    assert [a.level for a, _ in send_due(ledger, [acme_forecast(ledger)], [sink])] == [
        "50",
        "forecast",
    ]
    assert send_due(ledger, [acme_forecast(ledger)], [sink]) == []  # nothing new
    spend(ledger, 40)  # 95%: 80 is due, 50 and forecast were sent
    assert [a.level for a, _ in send_due(ledger, [acme_forecast(ledger)], [sink])] == ["80"]
    tomorrow = NOW + dt.timedelta(days=1)
    spend(ledger, 99, tomorrow)  # a new period: from 0 straight to 99%
    sent = send_due(ledger, [acme_forecast(ledger, tomorrow)], [sink])
    assert [a.level for a, _ in sent] == ["80", "forecast"]  # the highest level only
    assert send_due(ledger, [acme_forecast(ledger, tomorrow)], [sink]) == []  # 50 was claimed
    assert sink.texts == ["50", "forecast", "80", "80", "forecast"]


def test_no_forecast_alert_once_the_budget_is_spent(ledger: Ledger) -> None:
    spend(ledger, 120)
    sent = send_due(ledger, [acme_forecast(ledger)], [Recorder()])
    assert [(a.level, a.severity) for a, _ in sent] == [("100", "critical")]


def test_per_budget_levels_override_the_defaults(ledger: Ledger) -> None:
    spend(ledger, 30)
    fc = acme_forecast(ledger, alert_levels=[25])
    assert [a.level for a in due_alerts(fc, (50, 80, 100), on_forecast=False)] == ["25"]


# -- webhook ------------------------------------------------------------------------------------


def _alert(ledger: Ledger) -> Any:
    spend(ledger, 90)
    return due_alerts(acme_forecast(ledger), (80,), on_forecast=False)[0]


def test_webhook_posts_slack_text_and_structured_fields(ledger: Ledger) -> None:
    with Receiver([200]) as rx:
        delivery = WebhookSink(rx.url).send(_alert(ledger))
    assert delivery.ok and delivery.attempts == 1
    (body,) = rx.bodies
    assert body["text"].startswith("gearshift budget acme")
    assert body["gearshift"]["level"] == "80"
    assert body["gearshift"]["spent_usd"] == "90.000000000"
    assert body["gearshift"]["amount_usd"] == "100.000000000"


def test_webhook_retries_5xx_with_backoff_then_succeeds(ledger: Ledger) -> None:
    waits: list[float] = []
    with Receiver([503, 500, 200]) as rx:
        sink = WebhookSink(rx.url, retries=3, backoff_s=0.01, sleep=waits.append)
        delivery = sink.send(_alert(ledger))
    assert delivery.ok and delivery.attempts == 3 and rx.hits == 3
    assert waits == [0.01, 0.02]


def test_webhook_gives_up_after_its_retries(ledger: Ledger) -> None:
    waits: list[float] = []
    with Receiver([502]) as rx:
        delivery = WebhookSink(rx.url, retries=2, backoff_s=0.01, sleep=waits.append).send(
            _alert(ledger)
        )
    assert not delivery.ok and delivery.attempts == 3 and delivery.detail == "HTTP 502"
    assert waits == [0.01, 0.02]


def test_webhook_does_not_retry_a_client_error(ledger: Ledger) -> None:
    with Receiver([404]) as rx:
        delivery = WebhookSink(rx.url, retries=3, sleep=lambda _: None).send(_alert(ledger))
    assert not delivery.ok and delivery.attempts == 1 and rx.hits == 1


def test_webhook_times_out_then_retries(ledger: Ledger) -> None:
    with Receiver(["hang", 200]) as rx:
        started = time.monotonic()
        delivery = WebhookSink(rx.url, timeout_s=0.2, retries=1, sleep=lambda _: None).send(
            _alert(ledger)
        )
        elapsed = time.monotonic() - started
    assert delivery.ok and delivery.attempts == 2
    assert elapsed < 0.9  # did not wait for the hanging answer


def test_webhook_timeout_and_refused_connections_are_reported(ledger: Ledger) -> None:
    alert = _alert(ledger)
    with Receiver(["hang"]) as rx:
        hung = WebhookSink(rx.url, timeout_s=0.1, retries=0).send(alert)
    assert not hung.ok and "timed out" in hung.detail
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    refused = WebhookSink(f"http://127.0.0.1:{port}/", retries=1, sleep=lambda _: None)
    delivery = refused.send(alert)
    assert not delivery.ok and delivery.attempts == 2 and "Connection" in delivery.detail


SECRET_PATH = "/services/T0SECRET/B0SECRET/xyzSECRETtoken"


@pytest.mark.parametrize("bad", [" ", "\x07", "\n"])
def test_a_bad_webhook_url_never_shows_its_secret_path(
    ledger: Ledger, tmp_path: Path, bad: str
) -> None:
    """A space or control character in the URL used to make the error quote the whole path
    (the credential) to the terminal and alerts.log."""
    url = f"https://hooks.example.com{SECRET_PATH[:20]}{bad}{SECRET_PATH[20:]}"
    delivery = WebhookSink(url, retries=2, sleep=lambda _: None).send(_alert(ledger))
    assert not delivery.ok and delivery.attempts == 1  # not retried: the URL cannot heal
    assert "SECRET" not in delivery.detail and "InvalidURL" in delivery.detail
    assert "SECRET" not in repr(WebhookSink(url))
    log = tmp_path / "alerts.log"
    out = io.StringIO()
    config = AlertsConfig(webhook=url, retries=0, log=log, console=True)
    send_due(
        ledger,
        [acme_forecast(ledger)],
        sinks_from_config(config, Console(file=out, width=300)),
        on_forecast=True,
    )
    assert "SECRET" not in log.read_text() + out.getvalue()
    path = tmp_path / "config.toml"
    path.write_text(f"[alerts]\nwebhook = {json.dumps(url)}\n")
    with pytest.raises(ConfigError, match=r"hooks\.example\.com/…\) contains") as info:
        load_config(path)
    assert "SECRET" not in info.value.message + (info.value.hint or "")


def test_a_failed_webhook_is_retried_at_the_next_check(ledger: Ledger, tmp_path: Path) -> None:
    spend(ledger, 85)
    log = tmp_path / "alerts.log"
    with Receiver([500, 500, 200]) as rx:
        config = AlertsConfig(webhook=rx.url, retries=0, log=log, console=False)
        sinks = sinks_from_config(config)
        first = send_due(ledger, [acme_forecast(ledger)], sinks, on_forecast=False)
        second = send_due(ledger, [acme_forecast(ledger)], sinks, on_forecast=False)
        third = send_due(ledger, [acme_forecast(ledger)], sinks, on_forecast=False)
        fourth = send_due(ledger, [acme_forecast(ledger)], sinks, on_forecast=False)
    assert [[d.ok for d in ds] for _, ds in first + second + third] == [
        [False, True],
        [False, True],
        [True, True],
    ]
    assert fourth == [] and rx.hits == 3
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["deliveries"][0]["ok"] for line in lines] == [False, False, True]
    assert lines[-1]["level"] == "80" and lines[-1]["budget"] == "acme"


# -- console and log ----------------------------------------------------------------------------


def test_console_and_log_sinks(ledger: Ledger, tmp_path: Path) -> None:
    out = io.StringIO()
    alert = _alert(ledger)
    assert ConsoleSink(Console(file=out, width=200)).send(alert).ok
    assert "80% reached" in out.getvalue()
    log = tmp_path / "deep" / "alerts.log"
    assert LogSink(log).send(alert).ok and LogSink(log).send(alert).ok
    assert len(log.read_text().splitlines()) == 2
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert not LogSink(blocked / "alerts.log").send(alert).ok


def test_default_sinks_write_the_default_log(ledger: Ledger) -> None:
    sinks = sinks_from_config(AlertsConfig(console=False))
    assert [s.name for s in sinks] == ["log"]
    spend(ledger, 100)
    send_due(ledger, [acme_forecast(ledger)], sinks)
    assert AlertsConfig().log.read_text().count('"level": "100"') == 1
