"""Routing: put every task on a model tier, and say why.

The pieces, in the order a task meets them:

* :class:`Task` — what routing knows about a unit of work (:func:`load_tasks` reads JSONL and
  the article's ``dispatch:`` lists);
* the rubric (:class:`Scores`, :class:`Rubric`, :class:`Thresholds`) — the article's three
  questions, 1-3 each, summed into haiku / sonnet / opus;
* assessors — :class:`LearnedEstimator` (the default for tasks that carry no scores: learned
  from labelled tasks, with the nearest ones as evidence), :class:`KeywordEstimator` (cue
  tables: microseconds, deterministic, with evidence) and :class:`LLMJudgeAssessor` behind the
  :class:`Assessor` protocol;
* policies — override, sticky session, agent model, ``task-router`` rules (a safe expression
  language, no ``eval``), learned (a trained :class:`Predictor` of P(success | task, tier), when
  there is one: :class:`LearnedPolicy`), complexity, objective, load, budget, escalation floor;
* :class:`Router` — runs the chain and returns a :class:`RouteDecision` that records every
  policy step with its inputs and reason.

Example::

    from gearshift.catalog import load_catalog
    from gearshift.routing import Router, Task

    router = Router(load_catalog())
    decision = router.route(Task("Lint src/ with ruff and fix unused imports"))
    decision.tier, decision.model, decision.reasons
"""

from gearshift.routing.assessor import (
    Assessor,
    LLMJudgeAssessor,
    TextEstimator,
    parse_judge_reply,
)
from gearshift.routing.calibration import (
    Evaluation,
    LabelledTask,
    evaluate,
    load_labelled,
    split,
    split_of,
)
from gearshift.routing.context import RouteContext
from gearshift.routing.decision import Action, PolicyStep, RouteDecision
from gearshift.routing.estimator import Cue, KeywordEstimator
from gearshift.routing.expr import ExprError, compile_expr
from gearshift.routing.features import FeatureSpec, TaskText
from gearshift.routing.learned import LearnedPolicy
from gearshift.routing.policies import (
    AgentModelPolicy,
    BudgetPolicy,
    ComplexityPolicy,
    EscalationFloorPolicy,
    LoadPolicy,
    ObjectivePolicy,
    OverridePolicy,
    Policy,
    SessionMemory,
    StickyPolicy,
)
from gearshift.routing.predictor import Predictor
from gearshift.routing.router import Router, default_chain
from gearshift.routing.rubric import (
    DIMENSIONS,
    LABEL_TIER,
    Assessment,
    Label,
    Rubric,
    Scores,
    Thresholds,
)
from gearshift.routing.rules import FIELDS, Rule, RuleSet, RulesPolicy, load_rules, parse_rules
from gearshift.routing.task import Objective, Priority, Task, load_tasks, parse_tasks_jsonl
from gearshift.routing.zeroshot import LearnedEstimator, default_estimator

__all__ = [
    "DIMENSIONS",
    "FIELDS",
    "LABEL_TIER",
    "Action",
    "AgentModelPolicy",
    "Assessment",
    "Assessor",
    "BudgetPolicy",
    "ComplexityPolicy",
    "Cue",
    "EscalationFloorPolicy",
    "Evaluation",
    "ExprError",
    "FeatureSpec",
    "KeywordEstimator",
    "LLMJudgeAssessor",
    "Label",
    "LabelledTask",
    "LearnedEstimator",
    "LearnedPolicy",
    "LoadPolicy",
    "Objective",
    "ObjectivePolicy",
    "OverridePolicy",
    "Policy",
    "PolicyStep",
    "Predictor",
    "Priority",
    "RouteContext",
    "RouteDecision",
    "Router",
    "Rubric",
    "Rule",
    "RuleSet",
    "RulesPolicy",
    "Scores",
    "SessionMemory",
    "StickyPolicy",
    "Task",
    "TaskText",
    "TextEstimator",
    "Thresholds",
    "compile_expr",
    "default_chain",
    "default_estimator",
    "evaluate",
    "load_labelled",
    "load_rules",
    "load_tasks",
    "parse_judge_reply",
    "parse_rules",
    "parse_tasks_jsonl",
    "split",
    "split_of",
]
