"""The policy chain: each policy decides, adjusts or passes, and every step is recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gearshift.agents import AgentDefinition
from gearshift.catalog import Tier, load_catalog
from gearshift.errors import ConfigError, DefinitionError
from gearshift.routing import (
    Action,
    BudgetPolicy,
    ComplexityPolicy,
    EscalationFloorPolicy,
    KeywordEstimator,
    Label,
    LoadPolicy,
    Objective,
    ObjectivePolicy,
    PolicyStep,
    Priority,
    RouteDecision,
    Router,
    Scores,
    SessionMemory,
    StickyPolicy,
    Task,
    default_chain,
    load_rules,
    parse_rules,
)

CAT = load_catalog()
EXAMPLES = Path(__file__).parents[2] / "examples"
LOW, MID, HIGH = Scores(1, 1, 1), Scores(2, 2, 2), Scores(3, 3, 3)


def step(decision: RouteDecision, policy: str) -> PolicyStep:
    return next(s for s in decision.steps if s.policy == policy)


def router(**kw: object) -> Router:
    agents = kw.pop("agents", None)
    return Router(CAT, agents=agents, policies=default_chain(CAT, **kw))  # type: ignore[arg-type]


def test_every_policy_leaves_one_step_and_the_record_is_json() -> None:
    r = router(rules=load_rules(EXAMPLES / "task-router.yaml", CAT), over_budget=lambda t: False)
    d = r.route(Task("Lint the package with ruff", id="t1"), queue_depth=50)
    assert [s.policy for s in d.steps] == [
        "override", "sticky", "agent", "rules", "complexity", "objective", "load", "budget",
        "escalation",
    ]  # fmt: skip
    assert [s.action for s in d.steps].count(Action.DECIDE) == 1
    assert d.decided_by == "rules" and d.tier is Tier.HAIKU
    assert d.model == CAT.default_for(Tier.HAIKU).id
    data = json.loads(json.dumps(d.to_dict()))
    assert data["scores"] == {"multi_step": 1, "judgment": 1, "stakes": 1, "total": 3}
    assert data["reasons"] == [
        "rules: rule 1 (" + str(EXAMPLES / "task-router.yaml") + ':6): task.complexity == "low"'
    ]
    assert data["steps"][6]["inputs"] == {"queue_depth": 50, "high_water": 100, "low_water": 20}
    assert data["id"] == "t1"


def test_article_task_router_rules() -> None:
    r = router(rules=load_rules(EXAMPLES / "task-router.yaml", CAT))
    for label, tier in (
        (Label.LOW, Tier.HAIKU),
        (Label.MEDIUM, Tier.SONNET),
        (Label.HIGH, Tier.OPUS),
    ):
        d = r.route(Task("anything", complexity=label))
        assert (d.tier, d.decided_by) == (tier, "rules")
        assert d.steps[3].inputs["then_agent"] == "appropriate-agent"
    assert r.route(Task("Review security architecture")).tier is Tier.OPUS
    assert r.route(Task("t", scores=MID)).tier is Tier.SONNET


def test_rules_first_match_wins_and_see_all_fields() -> None:
    rules = parse_rules(
        """
rules:
  - if: '"security" in task.tags and task.priority_rank >= 2'
    then: {model: claude-opus-4-1-20250805}
  - if: agent.name == "style-enforcer" or task.tokens > 50000
    then: {model: haiku}
  - if: task.scores.total >= 5 and queue.depth < 10
    then: {model: sonnet}
""",
        CAT,
        source="r.yaml",
    )
    agent = AgentDefinition(name="style-enforcer", role="lint")
    r = Router(CAT, agents={"style-enforcer": agent}, policies=default_chain(CAT, rules=rules))
    d = r.route(Task("x", tags=("security",), priority=Priority.HIGH))
    assert (d.tier, d.model) == (Tier.OPUS, "claude-opus-4-1-20250805")
    assert r.route(Task("x", agent="style-enforcer")).decided_by == "rules"
    assert r.route(Task("x", token_estimate=60000, scores=HIGH)).tier is Tier.HAIKU
    assert r.route(Task("x", scores=HIGH), queue_depth=5).tier is Tier.SONNET
    assert r.route(Task("x", scores=HIGH), queue_depth=50).decided_by == "complexity"


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        (
            "logic:\n  - if: task.complexty == 'low'\n    then: {model: haiku}\n",
            "r.yaml:2",
            "unknown field 'task.complexty'",
        ),
        (
            "logic:\n  - if: task.complexity = 'low'\n    then: {model: haiku}\n",
            "r.yaml:2",
            "column 17",
        ),
        (
            "logic:\n  - if: 'true'\n    then: {model: gpt-4o}\n",
            "r.yaml:3",
            "unknown model 'gpt-4o'",
        ),
        (
            "logic:\n  - if: 'true'\n    then: {agent: x}\n",
            "r.yaml:3",
            "logic[0].then.model is missing",
        ),
        (
            "logic:\n  - if: 'true'\n    then: {model: haiku}\n    else: {model: opus}\n",
            "r.yaml:4",
            "logic[0].else is not a known key",
        ),
        ("task-router:\n  description: x\n", "r.yaml:2", "no rules found"),
        ("logic:\n  - then: {model: haiku}\n", "r.yaml:2", "logic[0].if is missing"),
    ],
)
def test_rules_file_errors_name_file_and_line(text: str, where: str, words: str) -> None:
    with pytest.raises(DefinitionError) as err:
        parse_rules(text, CAT, source="r.yaml")
    assert err.value.message.startswith(where + ":"), err.value.message
    assert words in err.value.message


def test_override_decides_pins_and_resolves_ids() -> None:
    r = router(over_budget=lambda t: True)
    d = r.route(Task("Lint", model="claude-opus-4-1", priority=Priority.LOW), queue_depth=500)
    assert (d.tier, d.model, d.decided_by) == (Tier.OPUS, "claude-opus-4-1-20250805", "override")
    assert not d.adjusted
    with pytest.raises(ConfigError, match="unknown model"):
        r.route(Task("x", model="gpt-4o"))


def test_agent_static_model() -> None:
    agents = {
        "declared": AgentDefinition(
            name="declared", model=Tier.HAIKU, model_declared=True, model_line=4
        ),
        "exact": AgentDefinition(
            name="exact", model="claude-sonnet-4-5-20250929", model_declared=True
        ),
        "default": AgentDefinition(name="default", model=Tier.SONNET, model_declared=False),
        "inherit": AgentDefinition(name="inherit", model="inherit", model_declared=True),
    }
    r = router(agents=agents)
    d = r.route(Task("Design the whole system architecture", agent="declared"))
    assert (d.tier, d.decided_by) == (Tier.HAIKU, "agent")
    assert d.steps[2].inputs == {"agent": "declared", "model": "haiku", "line": 4}
    assert r.route(Task("x", agent="exact")).model == "claude-sonnet-4-5-20250929"
    assert r.route(Task("Lint it", agent="default")).decided_by == "complexity"
    assert "inherits" in r.route(Task("Lint it", agent="inherit")).steps[2].reason
    assert (
        r.route(Task("Lint it", agent="unknown")).steps[2].reason
        == "no agent definition for the task"
    )


def test_complexity_from_scores_label_and_estimate() -> None:
    r = router()
    given = r.route(Task("x", scores=Scores(2, 1, 1)))
    assert given.tier is Tier.HAIKU and given.assessment and given.assessment.source == "given"
    assert "given scores 2+1+1=4 -> haiku" in given.reasons[0]
    label = r.route(Task("x", complexity=Label.HIGH))
    assert label.tier is Tier.OPUS and label.reasons == ["complexity: complexity high -> opus"]
    est = r.route(Task("Threat-model the webhook API"))
    assert est.tier is Tier.OPUS and est.assessment
    assert est.assessment.source == "learned-estimator"
    cues = Router(CAT, estimator=KeywordEstimator()).route(Task("Threat-model the webhook API"))
    assert cues.tier is Tier.OPUS and cues.assessment and cues.assessment.source == "estimator"


@pytest.mark.parametrize(
    ("scores", "objective", "tier", "adjusted"),
    [
        (Scores(2, 2, 1), Objective.COST, Tier.HAIKU, True),  # 5: bottom of sonnet
        (Scores(2, 2, 1), Objective.SPEED, Tier.HAIKU, True),
        (Scores(2, 2, 1), Objective.QUALITY, Tier.SONNET, False),
        (Scores(2, 2, 2), Objective.QUALITY, Tier.OPUS, True),  # 6: top of sonnet
        (Scores(2, 1, 1), Objective.QUALITY, Tier.SONNET, True),  # 4: top of haiku
        (Scores(3, 2, 2), Objective.COST, Tier.SONNET, True),  # 7: bottom of opus
        (Scores(3, 3, 3), Objective.COST, Tier.OPUS, False),
        (Scores(1, 1, 1), Objective.COST, Tier.HAIKU, False),
    ],
)
def test_objective_breaks_near_ties(
    scores: Scores, objective: Objective, tier: Tier, adjusted: bool
) -> None:
    d = router().route(Task("x", scores=scores, objective=objective))
    assert d.tier is tier and d.adjusted is adjusted
    assert d.steps[4].policy == "objective"


def test_objective_leaves_labels_and_agent_models_alone() -> None:
    d = router().route(Task("x", complexity=Label.MEDIUM, objective=Objective.QUALITY))
    assert d.tier is Tier.SONNET and d.steps[4].reason == "a complexity label has no near-ties"
    agents = {"a": AgentDefinition(name="a", model=Tier.SONNET, model_declared=True)}
    d = router(agents=agents).route(
        Task("x", agent="a", scores=Scores(2, 2, 1), objective=Objective.COST)
    )
    assert d.tier is Tier.SONNET


@pytest.mark.parametrize(
    ("depth", "priority", "scores", "tier", "action"),
    [
        (150, Priority.LOW, HIGH, Tier.HAIKU, Action.ADJUST),
        (150, Priority.NORMAL, MID, Tier.HAIKU, Action.ADJUST),
        (150, Priority.HIGH, MID, Tier.SONNET, Action.PASS),
        (150, Priority.CRITICAL, HIGH, Tier.OPUS, Action.PASS),
        (150, Priority.LOW, LOW, Tier.HAIKU, Action.PASS),
        (100, Priority.LOW, MID, Tier.SONNET, Action.PASS),
        (50, Priority.LOW, LOW, Tier.HAIKU, Action.PASS),
        (19, Priority.LOW, LOW, Tier.SONNET, Action.ADJUST),
        (19, Priority.LOW, HIGH, Tier.OPUS, Action.PASS),
        (20, Priority.LOW, LOW, Tier.HAIKU, Action.PASS),
    ],
)
def test_load_aware(
    depth: int, priority: Priority, scores: Scores, tier: Tier, action: Action
) -> None:
    d = router().route(Task("x", scores=scores, priority=priority), queue_depth=depth)
    load = step(d, "load")
    assert (d.tier, load.action) == (tier, action), load.reason


def test_load_cost_objective_depth_provider_and_marks() -> None:
    d = router().route(Task("x", scores=LOW, objective=Objective.COST), queue_depth=3)
    assert d.tier is Tier.HAIKU and "objective is cost" in step(d, "load").reason
    depth = iter([500])
    r = router(load=LoadPolicy(depth=lambda: next(depth), high_water=400, idle_tier=None))
    assert r.route(Task("x", scores=MID, priority=Priority.LOW)).tier is Tier.HAIKU
    assert step(router().route(Task("x", scores=LOW)), "load").reason == "queue depth unknown"
    with pytest.raises(ConfigError):
        LoadPolicy(high_water=10, low_water=20)


def test_budget_steps_low_priority_down_to_a_floor() -> None:
    seen: list[str] = []

    def over(task: Task) -> bool:
        seen.append(task.text)
        return True

    r = router(over_budget=over, budget_floor=Tier.SONNET)
    assert r.route(Task("a", scores=HIGH, priority=Priority.LOW)).tier is Tier.SONNET
    d = r.route(Task("b", scores=MID, priority=Priority.LOW))
    assert d.tier is Tier.SONNET and "floor" in d.steps[-2].reason
    assert r.route(Task("c", scores=HIGH, priority=Priority.HIGH)).tier is Tier.OPUS
    assert seen == ["a", "b", "c"]
    calm = router(over_budget=lambda t: False)
    assert calm.route(Task("d", scores=HIGH, priority=Priority.LOW)).steps[-2].reason == (
        "spend forecast within budget"
    )
    floor = router(over_budget=lambda t: True)
    assert floor.route(Task("e", scores=MID, priority=Priority.LOW)).tier is Tier.HAIKU


def test_sticky_sessions_keep_their_model_unless_escalated() -> None:
    memory = SessionMemory()
    r = router(memory=memory, over_budget=lambda t: True)
    first = r.route(Task("Design the sharding architecture", session="s1", priority=Priority.HIGH))
    assert first.tier is Tier.OPUS and memory.get("s1") == (Tier.OPUS, first.model)
    follow = r.route(
        Task("Now fix the typo in the README", session="s1", priority=Priority.LOW), queue_depth=999
    )
    assert (follow.tier, follow.decided_by) == (Tier.OPUS, "sticky")
    assert "switching mid-context" in follow.reasons[0]
    other = r.route(Task("Lint", session="s2"))
    assert other.tier is Tier.HAIKU
    up = r.route(Task("Lint again", session="s2", min_tier=Tier.SONNET))
    assert up.tier is Tier.SONNET and up.reasons[-1] == "escalation: escalated: at least sonnet"
    assert memory.get("s2") == (Tier.SONNET, CAT.default_for(Tier.SONNET).id)
    assert r.route(Task("Lint", session="s2")).tier is Tier.SONNET


def test_session_memory_is_bounded() -> None:
    memory = SessionMemory(max_sessions=2)
    for s in ("a", "b", "c"):
        memory.remember(s, Tier.HAIKU, "m")
    assert memory.get("a") is None and memory.get("c") == (Tier.HAIKU, "m")
    memory.forget("c")
    assert memory.get("c") is None


def test_escalation_floor_and_custom_chains() -> None:
    d = router().route(Task("Lint", min_tier=Tier.OPUS))
    assert d.tier is Tier.OPUS and d.steps[-1].action is Action.ADJUST
    bare = Router(CAT, policies=[EscalationFloorPolicy()])
    d = bare.route(Task("x"))
    assert (d.tier, d.decided_by) == (Tier.SONNET, "default")
    only = Router(
        CAT,
        policies=[
            ComplexityPolicy(),
            ObjectivePolicy(),
            StickyPolicy(),
            BudgetPolicy(lambda t: True),
        ],
    )
    assert only.route(Task("x", scores=HIGH)).tier is Tier.SONNET


def test_always_assess_can_be_turned_off() -> None:
    r = Router(CAT, always_assess=False)
    assert r.route(Task("x", model="haiku")).assessment is None
    assert r.route(Task("x")).assessment is not None
