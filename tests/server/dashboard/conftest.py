"""A demo ledger for the dashboard's tests: a month of the article's agents ending now, a
monthly budget, blocked proxy requests, an execution with its routing decision stored, and an
agent whose name is an attack on the page (markup and a right-to-left override)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gearshift.budgets.model import make_budget, save_budget
from gearshift.catalog import load_catalog
from gearshift.config import Config
from gearshift.demo.month import fill_month
from gearshift.ledger import Ledger
from gearshift.server.dashboard import create_app

HOSTILE = "<img src=x onerror=alert(1)>\u202eevil"
HOSTILE_TASK = "<script>alert('task')</script> & \u202etxt.exe"
ROUTE = {
    "tier": "sonnet",
    "model": "claude-sonnet-4-5",
    "decided_by": "complexity",
    "steps": [
        {"policy": "explicit", "action": "pass", "tier": None, "reason": "no override"},
        {"policy": "complexity", "action": "decide", "tier": "sonnet",
         "reason": "scores 2+2+1 = 5: sonnet"},
    ],
}  # fmt: skip


def fill_demo(ledger: Ledger, end: dt.datetime) -> None:
    fill_month(ledger, end=end)
    save_budget(
        ledger,
        make_budget(name="team-monthly", scope="global", value="", period="month",
                    amount_usd="150"),
        Config(),
    )  # fmt: skip
    ledger.record(
        agent=HOSTILE,
        model="claude-haiku-4-5",
        input_tokens=120,
        output_tokens=40,
        task=HOSTILE_TASK,
        project="acme-api",
        ts=end - dt.timedelta(minutes=5),
    )
    ledger.record(
        agent="code-reviewer",
        model="claude-sonnet-4-5",
        input_tokens=900,
        output_tokens=300,
        task="Review the routed change",
        project="acme-api",
        source="proxy",
        tags={"route": json.dumps(ROUTE)},
        ts=end - dt.timedelta(minutes=4),
        id="01ROUTEDEXECUTION000000000",
    )
    blocked = [
        ledger.to_row_fields(
            id=f"01BLOCKED{i:017d}",
            ts_us=int((end - dt.timedelta(minutes=3, seconds=i)).timestamp() * 1_000_000),
            agent="Explore",
            model="claude-opus-4-1-20250805",
            tier="opus",
            status="blocked",
            source="proxy",
            project="acme-api",
        )
        for i in range(3)
    ]
    ledger.write_rows(blocked)


@dataclass(frozen=True)
class Demo:
    """What the demo ledger holds that tests look for (test modules cannot import this one)."""

    hostile: str = HOSTILE
    hostile_task: str = HOSTILE_TASK
    route: dict[str, Any] = field(default_factory=lambda: ROUTE)
    fill: Callable[[Ledger, dt.datetime], None] = fill_demo


@pytest.fixture(scope="session")
def demo() -> Demo:
    return Demo()


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dashboard") / "demo.db"
    with Ledger.open(path) as ledger:
        fill_demo(ledger, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    return path


@pytest.fixture
def reader(demo_path: Path) -> Iterator[Ledger]:
    ledger = Ledger.open_read_only(demo_path)
    try:
        yield ledger
    finally:
        ledger.close()


@pytest.fixture
def client(reader: Ledger) -> Iterator[TestClient]:
    app = create_app(reader, Config(), load_catalog(), tz="UTC", live_interval=0.05)
    with TestClient(app, base_url="http://127.0.0.1:8788") as c:
        yield c
