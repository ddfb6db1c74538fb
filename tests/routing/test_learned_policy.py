"""The learned policy: expected-cost choice, the probability floor, the rubric fallback,
exploration by Thompson sampling, and the features it reads."""

from __future__ import annotations

import random
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gearshift.catalog import Tier, load_catalog
from gearshift.errors import ConfigError
from gearshift.routing import Router, Task, default_chain
from gearshift.routing.features import FeatureSpec, TaskText, featurize, idf_of, weigh
from gearshift.routing.learned import LearnedPolicy, choose_tier, choose_tiers, expected_costs
from gearshift.routing.predictor import GroupEvidence

pytest.importorskip("sklearn")

CATALOG = load_catalog()
H, S, OP = Tier.HAIKU, Tier.SONNET, Tier.OPUS


class FakePredictor:
    """Fixed probabilities and evidence, as the policy sees a predictor."""

    def __init__(
        self,
        p: Mapping[Tier, float | None],
        evidence: int = 100,
        passed: tuple[int, int, int] = (50, 80, 95),
    ) -> None:
        self.p = dict(p)
        self.meta: dict[str, Any] = {"summary": {"tiers": {}}}
        self.n = evidence
        self.passed = passed

    def predict(self, rows: list[TaskText]) -> list[dict[Tier, float | None]]:
        return [dict(self.p) for _ in rows]

    def evidence(self, row: TaskText) -> list[GroupEvidence]:
        n = self.n
        return [GroupEvidence("agent=default", self.passed, (n, n, n))]


def policy(p: Mapping[Tier, float | None], **kwargs: Any) -> LearnedPolicy:
    evidence = kwargs.pop("evidence", 100)
    passed = kwargs.pop("passed", (50, 80, 95))
    kwargs.setdefault("explore", 0.0)
    return LearnedPolicy(FakePredictor(p, evidence, passed), CATALOG, **kwargs)  # type: ignore[arg-type]


def route(p: LearnedPolicy, text: str = "Refactor the billing module") -> Any:
    return Router(CATALOG, policies=default_chain(CATALOG, learned=p)).route(Task(text))


def test_expected_cost_formula() -> None:
    assert expected_costs([1.0, 4.0, 10.0], [0.5, None, 0.9], 2.0) == [
        1.0 + 0.5 * (2.0 + 4.0),
        None,
        10.0 + 0.1 * (2.0 + 10.0),
    ]
    assert expected_costs([1.0, 4.0, 10.0], [0.5, 0.8, 0.9], 2.0, escalate=False)[0] == 2.0


def test_the_cheapest_expected_tier_wins_and_the_knob_moves_it() -> None:
    cost, p = [1.0, 4.0, 10.0], [0.6, 0.8, 0.99]
    assert choose_tier(cost, p, failure_cost=0.0, min_p=0.0) == 0
    assert choose_tier(cost, p, failure_cost=100.0, min_p=0.0) == 2
    assert choose_tier(cost, p, failure_cost=20.0, min_p=0.0) == 1  # 4+.2*30 < 1+.4*24, 10.1+.2


def test_the_probability_floor() -> None:
    cost = [1.0, 4.0, 10.0]
    assert choose_tier(cost, [0.4, 0.7, 0.9], failure_cost=0.0, min_p=0.5) == 1
    assert choose_tier(cost, [0.1, 0.2, 0.3], failure_cost=0.0, min_p=0.5) == 2  # most likely
    assert choose_tier(cost, [0.9, None, None], failure_cost=9.0, min_p=0.5) == 0
    with pytest.raises(ConfigError):
        choose_tier(cost, [None, None, None], failure_cost=0.0, min_p=0.0)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(0.001, 1.0), min_size=3, max_size=3),
    st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3),
    st.floats(0, 50),
    st.floats(0, 1),
    st.booleans(),
)
def test_batch_choice_is_the_single_choice(
    cost: list[float], p: list[float], failure: float, min_p: float, escalate: bool
) -> None:
    cost = sorted(cost)
    one = choose_tier(cost, p, failure_cost=failure, min_p=min_p, escalate=escalate)
    many = choose_tiers(
        np.array([cost]), np.array([p]), failure_cost=failure, min_p=min_p, escalate=escalate
    )
    assert int(many[0]) == one or np.isclose(
        expected_costs(cost, p, failure, escalate=escalate)[one],  # type: ignore[arg-type]
        expected_costs(cost, p, failure, escalate=escalate)[int(many[0])],  # type: ignore[arg-type]
    )


def test_the_policy_decides_and_records_p_success() -> None:
    d = route(policy({H: 0.95, S: 0.97, OP: 0.99}))
    assert d.tier is H and d.decided_by == "learned"
    assert d.p_success_dict() == {"haiku": 0.95, "sonnet": 0.97, "opus": 0.99}
    assert d.to_dict()["p_success"] == {"haiku": 0.95, "sonnet": 0.97, "opus": 0.99}
    step = next(s for s in d.steps if s.policy == "learned")
    assert "lowest expected cost" in step.reason


def test_a_costly_failure_buys_the_likelier_tier() -> None:
    p = {H: 0.55, S: 0.6, OP: 0.97}
    assert route(policy(p, failure_cost_usd=Decimal("0"))).tier is H
    assert route(policy(p, failure_cost_usd=Decimal("5"))).tier is OP


def test_thin_evidence_falls_back_to_the_rubric_and_says_so() -> None:
    d = route(policy({H: 0.99, S: 0.99, OP: 0.99}, evidence=5), "Lint src/ with ruff")
    assert d.decided_by == "complexity"
    step = next(s for s in d.steps if s.policy == "learned")
    assert "evidence is thin: 15 known outcomes" in step.reason
    assert "the rubric decides" in step.reason
    assert d.p_success is not None  # still reported


def test_one_known_tier_falls_back() -> None:
    d = route(policy({H: None, S: None, OP: 0.9}))
    assert d.decided_by == "complexity"


def test_earlier_decisions_stand_but_get_p_success() -> None:
    router = Router(
        CATALOG, policies=default_chain(CATALOG, learned=policy({H: 0.9, S: 0.9, OP: 0.9}))
    )
    d = router.route(Task("anything", model="opus"))
    assert d.decided_by == "override" and d.p_success is not None


def test_exploration_rate_follows_the_share() -> None:
    """Opus is the model's pick; haiku's posterior (95/100 passed) makes a draw that favours it
    nearly always, so the share of explored tasks is the configured share."""
    p = {H: 0.3, S: 0.35, OP: 0.99}
    pol = policy(p, explore=0.2, rng=random.Random(7), passed=(95, 95, 95))
    tiers = [route(pol).tier for _ in range(2000)]
    explored = sum(t is S for t in tiers) / len(tiers)
    assert tiers.count(H) == 0
    assert 0.17 < explored < 0.23
    step = next(
        s
        for s in route(policy(p, explore=1.0, rng=random.Random(1), passed=(95, 95, 95))).steps
        if s.policy == "learned"
    )
    assert "exploring one tier down" in step.reason


def test_no_exploration_when_the_posterior_says_no() -> None:
    pol = policy({H: 0.3, S: 0.35, OP: 0.99}, explore=1.0, rng=random.Random(3), passed=(0, 0, 95))
    assert all(route(pol).tier is OP for _ in range(200))


def test_batch_routing_predicts_once() -> None:
    calls: list[int] = []
    pol = policy({H: 0.95, S: 0.97, OP: 0.99})
    original = pol.predictor.predict

    def counting(rows: list[TaskText]) -> list[dict[Tier, float | None]]:
        calls.append(len(rows))
        return original(rows)

    pol.predictor.predict = counting  # type: ignore[method-assign]
    router = Router(CATALOG, policies=default_chain(CATALOG, learned=pol))
    decisions = router.route_many([Task(f"task {i}") for i in range(5)])
    assert calls == [5] and all(d.tier is H for d in decisions)


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError):
        policy({H: 0.5}, min_p=2.0)
    with pytest.raises(ConfigError):
        policy({H: 0.5}, explore=-0.1)
    with pytest.raises(ConfigError):
        policy({H: 0.5}, failure_cost_usd=Decimal("-1"))


def test_features_are_stateless_and_normalised() -> None:
    spec = FeatureSpec(word_bits=8, char_bits=8, context_bits=5)
    rows = [TaskText("lint the api"), TaskText("design " * 500, "ops", "design")]
    raw = featurize(spec, rows)
    assert raw.shape == (2, spec.width)
    again = featurize(spec, rows)
    assert (raw != again).nnz == 0
    x = weigh(spec, raw, idf_of(spec, raw))
    words = x[:, : 1 << spec.word_bits].toarray()
    chars = x[:, 1 << spec.word_bits : spec.text_width].toarray()
    np.testing.assert_allclose(np.linalg.norm(words, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(chars, axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ConfigError):
        FeatureSpec(word_bits=40)


def test_importing_routing_loads_no_scikit_learn() -> None:
    import subprocess
    import sys

    code = (
        "import sys, gearshift, gearshift.routing, gearshift.routing.learned;"
        "print([m for m in ('sklearn', 'numpy', 'scipy') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
