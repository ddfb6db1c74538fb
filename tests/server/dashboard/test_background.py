"""Slow answers off the request path: nothing, then the answer; the last answer while a new
one is worked out once the ledger changed; one job per question; a failure shown, not hidden."""

from __future__ import annotations

import threading

import pytest
from starlette.testclient import TestClient

from gearshift.catalog import load_catalog
from gearshift.config import Config
from gearshift.errors import LedgerError
from gearshift.ledger import Ledger
from gearshift.server.dashboard import app as app_module
from gearshift.server.dashboard import create_app
from gearshift.server.dashboard.background import Background


def test_an_answer_comes_once_worked_out_and_stays_until_the_ledger_changes() -> None:
    background = Background()
    release = threading.Event()
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        release.wait(10)
        return f"answer {len(calls)}"

    first = background.get("q", 1, compute)
    assert first.value is None and not first.fresh and first.running is not None
    assert background.get("q", 1, compute).value is None  # the same job, not a second one
    release.set()
    assert background.get("q", 1, compute, wait=5).value == "answer 1"
    assert background.get("q", 1, compute).fresh and len(calls) == 1
    release.clear()
    stale = background.get("q", 2, compute)  # the ledger changed
    assert stale.value == "answer 1" and not stale.fresh and stale.running is not None
    release.set()
    assert background.get("q", 2, compute, wait=5).value == "answer 2"


def test_a_failed_job_says_why_and_keeps_the_last_answer() -> None:
    background = Background()

    def fails() -> str:
        raise LedgerError("cannot read ledger x: database is locked")

    answer = background.get("q", 1, lambda: "ok", wait=5)
    assert answer.value == "ok"
    calls: list[int] = []

    def counted() -> str:
        calls.append(1)
        return fails()

    failed = background.get("q", 2, counted, wait=5)
    assert failed.value == "ok" and failed.error and "locked" in failed.error
    again = background.get("q", 2, counted, wait=1)
    assert again.error and calls == [1]  # not retried at once


def test_the_agents_page_shows_tiers_at_once_and_advice_when_ready(
    reader: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "AGENTS_WAIT", 0.0)
    app = create_app(reader, Config(), load_catalog())
    with TestClient(app, base_url="http://127.0.0.1") as c:
        first = c.get("/agents").text
        assert "Working out true cost and advice" in first
        assert "http-equiv='refresh'" in first and "test-engineer" in first
        monkeypatch.setattr(app_module, "AGENTS_WAIT", 30.0)
        ready = c.get("/agents").text
    assert "Working out" not in ready and "http-equiv" not in ready
    assert "/task" in ready and "tiered" in ready
