"""Tasks from code, JSONL and the article's dispatch lists; the article's examples route right."""

from __future__ import annotations

from pathlib import Path

import pytest

from gearshift.agents import discover
from gearshift.catalog import Tier, load_catalog
from gearshift.errors import DefinitionError
from gearshift.routing import (
    KeywordEstimator,
    Label,
    Objective,
    Priority,
    Router,
    Scores,
    Task,
    load_tasks,
    parse_tasks_jsonl,
)

EXAMPLES = Path(__file__).parents[2] / "examples"
CAT = load_catalog()


def test_task_from_mapping_accepts_the_documented_fields() -> None:
    task = Task.from_mapping(
        {
            "id": 7,
            "task": "Write tests",
            "agent": "test-engineer",
            "priority": "medium",
            "model": "haiku",
            "scores": [1, 1, 2],
            "complexity": "low",
            "type": "tests",
            "tags": "auth, api",
            "tokens": 900,
            "session": "s",
            "objective": "cost",
            "min_tier": "sonnet",
        }
    )
    assert task.id == "7" and task.text == "Write tests" and task.priority is Priority.NORMAL
    assert task.scores == Scores(1, 1, 2) and task.complexity is Label.LOW
    assert task.tags == ("auth", "api") and task.tokens == 900
    assert task.objective is Objective.COST and task.min_tier is Tier.SONNET
    assert Task("x" * 40).tokens == 10
    assert task.to_dict()["scores"] == {"multi_step": 1, "judgment": 1, "stakes": 2, "total": 4}


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('{"text": "x", "priority": "asap"}', "unknown priority"),
        ('{"text": ""}', "non-empty 'text'"),
        ('{"text": "x", "colour": "red"}', "colour is not a known key"),
        ('{"text": "x", "scores": [4, 1, 1]}', "score multi_step must be 1, 2 or 3"),
        ("[1, 2]", "must be a JSON object"),
        ("{not json", "invalid JSON"),
    ],
)
def test_jsonl_errors_name_the_line(line: str, words: str) -> None:
    with pytest.raises(DefinitionError) as err:
        parse_tasks_jsonl('# comment\n\n{"text": "ok"}\n' + line + "\n", "tasks.jsonl")
    assert err.value.message.startswith("tasks.jsonl:4: ") and words in err.value.message


def test_dispatch_yaml_and_errors(tmp_path: Path) -> None:
    tasks = load_tasks(EXAMPLES / "dispatch.yaml")
    assert [(t.text, t.agent, t.model, t.priority) for t in tasks] == [
        ("Write unit tests for auth module", "test-engineer", "haiku", Priority.NORMAL),
        ("Review security architecture", "architect", "opus", Priority.HIGH),
    ]
    bad = tmp_path / "d.yaml"
    bad.write_text("dispatch:\n  - task: ok\n  - agent: x\n")
    with pytest.raises(DefinitionError, match=r"d.yaml:3: a task needs"):
        load_tasks(bad)
    bad.write_text("tasks: 3\n")
    with pytest.raises(DefinitionError, match="dispatch"):
        load_tasks(bad)


@pytest.mark.parametrize("folder", ["claude-code", "yaml"])
def test_article_dispatch_routes_as_the_article_says(folder: str) -> None:
    agents = discover([EXAMPLES / "agents" / folder])
    router = Router(CAT, agents=agents)
    tasks = load_tasks(EXAMPLES / "dispatch.yaml")
    decisions = [router.route(t) for t in tasks]
    assert [(d.tier, d.decided_by) for d in decisions] == [
        (Tier.HAIKU, "override"),
        (Tier.OPUS, "override"),
    ]
    # Without the override the agent's own model gives the same answer...
    bare = [Task(t.text, agent=t.agent, priority=t.priority) for t in tasks]
    assert [(d.tier, d.decided_by) for d in map(router.route, bare)] == [
        (Tier.HAIKU, "agent"),
        (Tier.OPUS, "agent"),
    ]
    # ...and so does the rubric on the text alone.
    assert [Router(CAT).route(Task(t.text)).tier for t in tasks] == [Tier.HAIKU, Tier.OPUS]


def test_article_hybrid_decomposition_subtasks() -> None:
    agents = discover([EXAMPLES / "agents" / "claude-code"])
    router = Router(CAT, agents=agents)
    plan = [
        ("Design the architecture for feature X", "architect", Tier.OPUS),
        ("Implement design, follow architect's blueprint", "code-generator", Tier.SONNET),
        ("Generate tests for implementation", "test-engineer", Tier.HAIKU),
        ("Review implementation against design", "code-reviewer", Tier.SONNET),
    ]
    # the text alone, through the article's cue tables (the learned default estimator puts the
    # vague "Implement design, follow architect's blueprint" on haiku)
    keyword = Router(CAT, estimator=KeywordEstimator())
    for text, agent, tier in plan:
        assert router.route(Task(text, agent=agent)).tier is tier
        assert keyword.route(Task(text)).tier is tier, text
