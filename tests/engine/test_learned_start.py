"""The tiered strategy starts where the learned policy says, and escalates from there."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from gearshift.catalog import Tier, load_catalog
from gearshift.engine.api import run_tasks
from gearshift.ledger import Ledger
from gearshift.routing import LearnedPolicy, Router, default_chain
from gearshift.routing.features import TaskText
from gearshift.routing.predictor import GroupEvidence

pytest.importorskip("sklearn")


class Hard:
    """Haiku and sonnet are unlikely to pass anything; opus nearly always does."""

    def __init__(self) -> None:
        self.meta: dict[str, object] = {"summary": {"tiers": {}}}

    def predict(self, rows: list[TaskText]) -> list[dict[Tier, float | None]]:
        return [{Tier.HAIKU: 0.05, Tier.SONNET: 0.1, Tier.OPUS: 0.97} for _ in rows]

    def evidence(self, row: TaskText) -> list[GroupEvidence]:
        return [GroupEvidence("agent=default", (5, 10, 97), (100, 100, 100))]


def test_tiered_runs_start_on_the_learned_tier(tmp_path: Path) -> None:
    catalog = load_catalog()
    policy = LearnedPolicy(Hard(), catalog, explore=0.0, rng=random.Random(0))  # type: ignore[arg-type]
    router = Router(catalog, policies=default_chain(catalog, learned=policy))
    with Ledger.open(tmp_path / "l.db") as ledger:
        report = run_tasks(
            ["Lint the api module", "Fix the typo in the README"],
            strategy="tiered",
            ledger=ledger,
            router=router,
            validators=[{"type": "regex", "must_match": "(?m)^verdict: PASS$"}],
        )
        first_tiers = [o.attempts[0].tier for o in report.outcomes]
        assert first_tiers == [Tier.OPUS, Tier.OPUS]  # the rubric alone would start on haiku
        assert all(o.route is not None and o.route.decided_by == "learned" for o in report.outcomes)
        assert ledger.count() == sum(len(o.attempts) for o in report.outcomes)


def test_without_a_model_the_rubric_starts_cheap(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.db") as ledger:
        report = run_tasks(["Lint the api module"], strategy="tiered", ledger=ledger)
    assert report.outcomes[0].attempts[0].tier is Tier.HAIKU
    assert report.outcomes[0].route is not None
    assert report.outcomes[0].route.decided_by == "complexity"
