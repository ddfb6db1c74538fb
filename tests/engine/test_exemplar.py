"""The exemplar strategy: group, one strong exemplar per group, cheap templated copies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from gearshift.catalog import Usage, load_catalog
from gearshift.engine.context import RunContext
from gearshift.engine.job import Job, JobOutcome
from gearshift.engine.run_state import RunStore
from gearshift.engine.runner import Engine
from gearshift.engine.strategies.batch import Item
from gearshift.engine.strategies.exemplar import group, jaccard, shape
from gearshift.engine.validators import RegexValidator
from gearshift.errors import DefinitionError
from gearshift.ledger import Ledger
from gearshift.providers import get_provider
from gearshift.providers.base import ModelRequest, ModelResult
from gearshift.providers.sim import PASS_PATTERN
from gearshift.routing.router import Router
from gearshift.routing.task import Task

CATALOG = load_catalog()
ENDPOINTS = [f"GET /users/{n} returns the user with id {n}" for n in (1, 2, 3, 4)] + [
    f"POST /orders/{n} creates order {n} from a JSON body" for n in (10, 11, 12)
] + ["Explain the retry policy"]  # fmt: skip


class Scripted:
    name = "scripted"

    def __init__(self, answer: Callable[[ModelRequest, str], str]) -> None:
        self.answer = answer
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest) -> ModelResult:
        self.requests.append(request)
        tier = CATALOG.resolve(request.model).tier.value
        text = self.answer(request, tier)
        return ModelResult(text, Usage(300, 200), CATALOG.resolve(request.model).id, 2, "end_turn")

    async def count_tokens(self, request: ModelRequest) -> int:
        return 1

    async def close(self) -> None:
        return None


def tier_calls(provider: Scripted) -> list[tuple[str, str]]:
    """(tier, item id) per request, in the order made."""
    out = []
    for r in provider.requests:
        item = r.prompt.rsplit("--- item ", 1)[1].split(" ---")[0]
        out.append((CATALOG.resolve(r.model).tier.value, item))
    return out


def run(provider: Any, ledger: Ledger, **options: Any) -> tuple[JobOutcome, dict[str, Any]]:
    job = Job(
        "docs",
        Task("Write API documentation for this endpoint", model="haiku"),
        strategy="exemplar",
        validators=(RegexValidator([r"PASS"]),),
        options={"items": ENDPOINTS, **options},
    )
    ctx = RunContext(
        provider=provider, catalog=CATALOG, router=Router(CATALOG), ledger=ledger,
        store=RunStore(ledger), concurrency=8,
    )  # fmt: skip
    outcome = asyncio.run(Engine(ctx).run([job])).outcomes[0]
    assert outcome.output is not None
    return outcome, json.loads(outcome.output)


@pytest.fixture
def ledger() -> Ledger:
    return Ledger.open("sqlite://")


def test_shape_and_grouping_are_deterministic() -> None:
    assert shape("GET /users/12") == shape("get /USERS/907") == frozenset({"get", "users", "#"})
    assert jaccard(frozenset(), frozenset()) == 1.0
    assert jaccard(frozenset("ab"), frozenset("bc")) == pytest.approx(1 / 3)
    items = [Item(str(i), text) for i, text in enumerate(ENDPOINTS, 1)]
    groups = [[i.id for i in g] for g in group(items, 0.5)]
    assert groups == [["1", "2", "3", "4"], ["5", "6", "7"], ["8"]]
    assert [[i.id for i in g] for g in group(items, 1.0)] == groups  # numbers do not matter
    assert len(group(items, 0.01)) == 1


def test_exemplars_on_sonnet_templates_on_haiku(ledger: Ledger) -> None:
    provider = Scripted(lambda r, tier: f"PASS doc by {tier}")
    outcome, summary = run(provider, ledger)
    assert outcome.status == "succeeded" and outcome.tier_path == "sonnet -> haiku"
    calls = tier_calls(provider)
    assert sorted(calls[:2]) == [("sonnet", "1"), ("sonnet", "5")]  # exemplars first
    assert sorted(calls[2:]) == sorted([("haiku", i) for i in ("2", "3", "4", "6", "7", "8")])
    templated = next(r.prompt for r in provider.requests if "--- item 3 ---" in r.prompt)
    assert "--- example item 1 ---\nGET /users/1" in templated
    assert "--- example answer ---\nPASS doc by sonnet" in templated
    alone = next(r.prompt for r in provider.requests if "--- item 8 ---" in r.prompt)
    assert "example" not in alone  # a group of one gets no exemplar
    assert summary["groups"] == [
        {"exemplar": "1", "items": ["1", "2", "3", "4"]},
        {"exemplar": "5", "items": ["5", "6", "7"]},
        {"exemplar": None, "items": ["8"]},
    ]
    roles = {e.tags["item"]: e.tags["role"] for e in ledger.executions()}
    assert roles["1"] == "exemplar" and roles["2"] == "apply" and roles["8"] == "apply"
    assert len({e.chain_id for e in ledger.executions()}) == 8


def test_saving_against_all_on_the_strong_tier(ledger: Ledger) -> None:
    provider = Scripted(lambda r, tier: "PASS")
    _, summary = run(provider, ledger)
    saving = summary["saving"]
    assert saving["baseline"].startswith("every item on sonnet")
    baseline, actual = Decimal(saving["baseline_usd"]), Decimal(saving["actual_usd"])
    assert actual == sum(e.cost_usd for e in ledger.executions())
    assert baseline > actual and Decimal(saving["saved_usd"]) == baseline - actual
    assert 0 < saving["saved_pct"] < 100


def test_a_failed_exemplar_goes_up_and_then_templates_its_group(ledger: Ledger) -> None:
    def answer(request: ModelRequest, tier: str) -> str:
        if tier == "sonnet" and "--- item 1 ---" in request.prompt:
            return "FAIL: too vague"
        return f"PASS from {tier}"

    provider = Scripted(answer)
    outcome, summary = run(provider, ledger)
    assert ("opus", "1") in tier_calls(provider) and "1" in summary["retried"]
    templated = next(r.prompt for r in provider.requests if "--- item 2 ---" in r.prompt)
    assert "--- example answer ---\nPASS from opus" in templated
    assert outcome.status == "succeeded"


def test_a_group_whose_exemplar_fails_applies_no_template(ledger: Ledger) -> None:
    def answer(request: ModelRequest, tier: str) -> str:
        if "--- item 5 ---" in request.prompt:
            return "FAIL"
        return "PASS"

    provider = Scripted(answer)
    outcome, summary = run(provider, ledger)
    assert [t for t, item in tier_calls(provider) if item == "5"] == ["sonnet", "opus"]
    member = next(r for r in summary["results"] if r["id"] == "6")
    assert member["status"] == "succeeded" and member["tier_path"] == "haiku"
    untemplated = next(r.prompt for r in provider.requests if "--- item 6 ---" in r.prompt)
    assert "example" not in untemplated
    assert outcome.status == "failed" and outcome.reason == "1 of 8 items failed: 5"


def test_failed_members_re_run_one_tier_up(ledger: Ledger) -> None:
    def answer(request: ModelRequest, tier: str) -> str:
        return "FAIL" if tier == "haiku" and "--- item 3 ---" in request.prompt else "PASS"

    provider = Scripted(answer)
    outcome, summary = run(provider, ledger)
    assert summary["audit"]["failed"] == ["3"] and summary["retried"] == ["3"]
    chain = sorted((e.attempt, e.tier) for e in ledger.executions() if e.tags["item"] == "3")
    assert chain == [(1, "haiku"), (2, "sonnet")] and outcome.status == "succeeded"


def test_on_the_simulator_it_saves_money(ledger: Ledger) -> None:
    sim = get_provider("sim", seed=11, time_scale=0)
    job_validators = (RegexValidator([PASS_PATTERN]),)
    job = Job(
        "docs", Task("Document the endpoint", model="haiku"), strategy="exemplar",
        validators=job_validators, options={"items": ENDPOINTS},
    )  # fmt: skip
    ctx = RunContext(
        provider=sim, catalog=CATALOG, router=Router(CATALOG), ledger=ledger,
        store=RunStore(ledger),
    )  # fmt: skip
    outcome = asyncio.run(Engine(ctx).run([job])).outcomes[0]
    assert outcome.output is not None
    assert json.loads(outcome.output)["saving"]["saved_pct"] > 30


@pytest.mark.parametrize(
    ("options", "message"),
    [({"similarity": 0}, "similarity"), ({"min_group": 1}, "min_group")],
)
def test_bad_options_are_refused(ledger: Ledger, options: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        run(Scripted(lambda r, t: "PASS"), ledger, **options)
