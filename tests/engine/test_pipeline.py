"""Pipeline files: the native form, the article's five shapes, and errors that name file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gearshift.catalog import Tier, load_catalog
from gearshift.engine.pipeline import Pipeline, estimate, for_sim, load_pipeline
from gearshift.engine.pipeline_fields import parse_duration
from gearshift.engine.validators import (
    CommandValidator,
    ConfidenceValidator,
    JudgeValidator,
    RegexValidator,
)
from gearshift.errors import ConfigError, DefinitionError
from gearshift.providers.sim import PASS_PATTERN
from gearshift.routing.rubric import Label
from gearshift.routing.task import Priority

EXAMPLES = Path(__file__).parents[2] / "examples"
CAT = load_catalog()

AGENTS = """
agents:
  - coder:
      model: sonnet
      instructions: You write code.
      escalation: [sonnet, opus]
      validators: ["pytest -q"]
  - linter:
      model: haiku
      instructions: You lint.
      mode: tight
"""


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> Pipeline:
    return load_pipeline(write(tmp_path, text), catalog=CAT)


def test_native_tasks_every_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        AGENTS
        + """
defaults:
  strategy: single
  tags: [nightly]
  max_tokens: 3000
tasks:
  - id: build
    task: Implement the parser
    agent: coder
    priority: high
    complexity: medium
    type: codegen
    ladder_top: sonnet
    validators:
      - {type: regex, must_match: "def parse"}
      - {command: ruff check ., timeout: 30}
    files: {tests/test_p.py: "def test(): pass"}
    cache_ttl: 1h
    options: {note: kept}
  - id: lint
    text: Lint the parser
    agent: linter
    depends_on: build
    scores: {multi_step: 1, judgment: 1, stakes: 1}
  - id: free
    prompt: Summarise the changes
    model: claude-haiku-5-5
    temperature: 0.4
    mode: creative
    system: Be brief.
    strategy: confidence
    options: {accept: 0.8, review: 0.5}
    depends_on: [build, lint]
    cache_system: true
    tokens: 120
    objective: cost
    session: s-1
    workdir: work
""",
    )
    pipeline = load_pipeline(path, catalog=CAT)
    build, lint, free = pipeline.jobs
    assert [j.id for j in pipeline.jobs] == ["build", "lint", "free"]
    assert build.task.text == "Implement the parser" and build.task.agent == "coder"
    assert build.task.priority is Priority.HIGH and build.task.complexity is Label.MEDIUM
    assert build.task.type == "codegen" and build.task.tags == ("nightly",)
    assert build.task.model is None  # the agent's declared model routes it
    assert build.system == "You write code." and build.strategy == "single"
    assert build.ladder_top is Tier.SONNET  # the task's own beats the agent's ladder
    assert [type(v) for v in build.validators] == [RegexValidator, CommandValidator]
    assert build.files == {"tests/test_p.py": "def test(): pass"}
    assert build.cache_ttl_s == 3600 and build.options == {"note": "kept"}
    assert build.max_tokens == 3000 and pipeline.info["build"].max_tokens_given
    # the agent's tight mode beats the defaults' max_tokens; its validators are inherited
    assert (lint.max_tokens, lint.temperature) == (1024, 0.2)
    assert lint.task.scores is not None and lint.task.scores.total == 3
    assert lint.depends_on == ("build",) and lint.validators == ()
    assert lint.ladder_top is Tier.OPUS and lint.system == "You lint."
    assert free.task.model == "claude-haiku-5-5" and free.system == "Be brief."
    assert (free.temperature, free.max_tokens) == (0.4, 8192)  # explicit beats creative preset
    assert free.options == {"accept": 0.8, "review": 0.5} and free.cache_system
    assert free.task.token_estimate == 120 and free.task.session == "s-1"
    assert free.workdir == tmp_path / "work"
    coder = load(tmp_path, AGENTS + "tasks: [{task: x, agent: coder}]").jobs[0]
    assert [type(v) for v in coder.validators] == [CommandValidator]
    assert coder.ladder_top is Tier.OPUS and coder.strategy == "tiered"


def test_ids_default_to_slugs_and_stay_unique(tmp_path: Path) -> None:
    pipeline = load(tmp_path, "tasks: [{task: Lint it!}, {task: lint it}, {task: Other}]")
    assert [j.id for j in pipeline.jobs] == ["lint-it", "lint-it-2", "other"]


def test_dispatch_example() -> None:
    pipeline = load_pipeline(EXAMPLES / "dispatch.yaml", catalog=CAT, allow_commands=True)
    tests, review = pipeline.jobs
    assert tests.id == "write-unit-tests-for-auth-module"
    assert (tests.task.agent, tests.task.model, tests.task.priority) == (
        "test-engineer",
        "haiku",
        Priority.NORMAL,
    )
    assert (review.task.agent, review.task.model, review.task.priority) == (
        "architect",
        "opus",
        Priority.HIGH,
    )
    assert "test engineering agent" in (tests.system or "")
    assert [type(v) for v in tests.validators] == [CommandValidator]  # `- command: pytest -q`
    assert tests.ladder_top is Tier.SONNET  # the agent's escalation: [haiku, sonnet]
    routed = pipeline.router(CAT).route(review.task)
    assert (routed.tier, routed.decided_by) == (Tier.OPUS, "override")


def test_test_pipeline_is_one_tiered_job() -> None:
    pipeline = load_pipeline(EXAMPLES / "test-pipeline.yaml", catalog=CAT, allow_commands=True)
    (job,) = pipeline.jobs
    assert (job.id, job.strategy, job.task.model, job.ladder_top) == (
        "test-pipeline",
        "tiered",
        "haiku",
        Tier.SONNET,
    )
    command, judge = job.validators
    assert isinstance(command, CommandValidator)  # the test-engineer agent's own check
    assert isinstance(judge, JudgeValidator) and judge.model == "haiku"
    assert judge.criteria == "Check that generated tests actually pass"
    assert pipeline.info[job.id].notes["escalation_task"] == "Manually write tests for edge cases"


def test_feature_implementation_is_a_chain_of_agents() -> None:
    pipeline = load_pipeline(
        EXAMPLES / "feature-implementation.yaml", catalog=CAT, allow_commands=True
    )
    jobs = pipeline.jobs
    assert [j.id for j in jobs] == [
        "subtask-1-design",
        "subtask-2-implementation",
        "subtask-3-testing",
        "subtask-4-review",
    ]
    assert [j.task.model for j in jobs] == ["opus", "sonnet", "haiku", "sonnet"]
    assert [j.task.agent for j in jobs] == [
        "architect",
        "code-generator",
        "test-engineer",
        "code-reviewer",
    ]
    assert [j.depends_on for j in jobs] == [
        (),
        ("subtask-1-design",),
        ("subtask-2-implementation",),
        ("subtask-3-testing",),
    ]
    assert jobs[0].task.text.startswith("Design for: Add rate limiting")
    assert jobs[1].task.text.startswith("Implement design, follow architect's blueprint\n")
    assert pipeline.info["subtask-1-design"].notes["cost"].startswith("Higher")


def test_feature_subtasks_may_name_their_own_dependencies(tmp_path: Path) -> None:
    pipeline = load(
        tmp_path,
        """
        feature-implementation:
          design: {task: Design it, model: opus}
          build: {task: Build it, model: sonnet}
          test: {task: Test it, model: haiku}
          review: {task: Review it, model: sonnet, depends_on: [build, test]}
        """,
    )
    deps = [j.depends_on for j in pipeline.jobs]
    assert deps == [(), ("design",), ("build",), ("build", "test")]


def test_batch_optimization_example() -> None:
    (job,) = load_pipeline(
        EXAMPLES / "batch-optimization.yaml", catalog=CAT, allow_commands=True
    ).jobs
    assert (job.strategy, job.task.agent, job.task.model) == ("batch", "style-enforcer", "haiku")
    options = dict(job.options)
    items = options.pop("items")
    assert options == {"concurrency": 10, "retry_tier": "sonnet"}
    assert len(items) == 500 and items[0] == {"id": "file-001", "text": "file 001 of 500"}


def test_batch_items_from_a_list_or_the_task_text(tmp_path: Path) -> None:
    listed = load(
        tmp_path,
        """
        batch-optimization:
          task: Fix imports
          model: haiku
          items: [a.py, {id: b, text: b.py}]
          use_batch_api: true
          if_validation_fails: re-run failures with opus
          validation: {validators: [{type: regex, must_match: ok}]}
        """,
    ).jobs[0]
    assert listed.options == {
        "items": ["a.py", {"id": "b", "text": "b.py"}],
        "retry_tier": "opus",
        "use_batch_api": True,
    }
    assert [type(v) for v in listed.validators] == [RegexValidator]
    counted = load(tmp_path, "batch-optimization: {task: Summarise 12 records}").jobs[0]
    assert len(counted.options["items"]) == 12
    assert counted.options["items"][-1]["id"] == "record-12"


def test_confidence_escalation_example() -> None:
    (job,) = load_pipeline(
        EXAMPLES / "confidence-escalation.yaml", catalog=CAT, allow_commands=True
    ).jobs
    assert (job.id, job.strategy, job.task.model, job.task.agent) == (
        "confidence-escalation",
        "confidence",
        "haiku",
        "code-generator",
    )
    assert job.options == {"accept": 0.9, "review": 0.6} and job.ladder_top is Tier.SONNET


def test_confidence_thresholds_in_mapping_form_and_percent(tmp_path: Path) -> None:
    (job,) = load(
        tmp_path,
        """
        confidence-escalation:
          generate: {task: Write it, model: haiku}
          route:
            if: confidence > 85%
            then: ship it
            else_if: confidence_score >= 0.5
            else: Opus regenerate
        """,
    ).jobs
    assert job.options == {"accept": 0.85, "review": 0.5} and job.ladder_top is Tier.OPUS


def test_the_articles_literal_confidence_yaml_gets_a_hint(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        confidence-escalation:
          stage-1-haiku-generation: {agent: code-generator, model: haiku, task: X}
          stage-2-dynamic-routing:
            if: confidence_score > 0.9
            then: "Pass to production"
            else_if: confidence_score > 0.6
            then: "Sonnet review"
            else: "Sonnet regenerate"
        """,
    )
    with pytest.raises(DefinitionError) as err:
        load_pipeline(path, catalog=CAT)
    assert err.value.message.startswith(f"{path}:7: duplicate key 'then'")
    assert err.value.hint and "as a list" in err.value.hint


def test_several_shapes_in_one_file_and_inline_rules(tmp_path: Path) -> None:
    pipeline = load(
        tmp_path,
        """
        task-router:
          logic:
            - if: task.complexity == "low"
              then: {model: haiku}
            - if: task.complexity == "high"
              then: {model: opus}
        dispatch:
          - {id: easy, task: Rename a variable, complexity: low}
        tasks:
          - {id: hard, task: Anything, complexity: high, depends_on: easy}
        """,
    )
    router = pipeline.router(CAT)
    decisions = [router.route(j.task) for j in pipeline.jobs]
    assert [(d.tier, d.decided_by) for d in decisions] == [
        (Tier.HAIKU, "rules"),
        (Tier.OPUS, "rules"),
    ]


def test_for_sim_keeps_judges_and_replaces_content_checks(tmp_path: Path) -> None:
    jobs = load(
        tmp_path,
        """
        tasks:
          - {id: a, task: x, validators: ["pytest -q", {judge: haiku}, {confidence: 0.7}]}
          - {id: b, task: y}
        """,
    ).jobs
    a, b = for_sim(jobs)
    assert [type(v) for v in a.validators] == [RegexValidator, JudgeValidator, ConfidenceValidator]
    assert [type(v) for v in b.validators] == [RegexValidator]
    verdict = b.validators[0]
    assert isinstance(verdict, RegexValidator) and verdict.must[0].pattern == PASS_PATTERN
    simulated = load_pipeline(EXAMPLES / "dispatch.yaml", catalog=CAT, sim=True).jobs[0]
    assert [type(v) for v in simulated.validators] == [RegexValidator]  # pytest -q replaced


def test_estimate_routes_and_prices_without_calling(tmp_path: Path) -> None:
    pipeline = load(
        tmp_path,
        """
        tasks:
          - {id: a, task: Lint the repo, model: haiku, max_tokens: 100}
          - {id: b, task: Design a system, model: opus, depends_on: a}
          - {id: c, task: Summarise, model: haiku, strategy: batch, items: [x, y, z]}
        """,
    )
    a, b, c = estimate(pipeline, CAT)
    assert (a.tier, a.output_tokens, a.calls) == ("haiku", 100, 1)
    assert b.tier == "opus" and b.input_tokens > 100  # a's output is part of b's prompt
    assert c.calls == 3 and a.cost_nanos < a.all_sonnet_nanos < a.all_opus_nanos
    assert b.cost_nanos == b.all_opus_nanos


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("tasks: [{task: x}]\nmystery: 1\n", 2, "mystery is not a known key"),
        ("tasks:\n  - task: x\n    colour: red\n", 3, "tasks[0].colour is not a known key"),
        ("tasks:\n  - {id: a, task: x}\n  - id: b\n    task: y\n    depends_on: zz\n", 5,
         "depends on unknown job 'zz'"),
        ("tasks:\n  - {id: a, task: x, depends_on: b}\n  - {id: b, task: y, depends_on: a}\n", 2,
         "cycle: a -> b -> a"),
        ("tasks:\n  - task: x\n    agent: ghost\n", 3, "unknown agent 'ghost'"),
        ("tasks:\n  - task: x\n    model: gpt-5\n", 3, "unknown model 'gpt-5'"),
        ("tasks:\n  - id: a\n    task: x\n    validators:\n      - type: regexp\n", 5,
         "tasks[0].validators[0].type cannot be 'regexp'"),
        ("tasks:\n  - id: a\n    task: x\n    validators:\n      - type: regex\n"
         "        must_match: '('\n", 6, "a.validators[0].must_match: bad pattern"),
        ("tasks:\n  - id: a\n    task: x\n    validators: [{type: judge, model: gpt}]\n", 4,
         "unknown model 'gpt'"),
        ("tasks:\n  - {id: a, task: x}\n  - {id: a, task: y}\n", 3, "id 'a' is already used"),
        ("tasks:\n  - task: x\n    priority: urgentish\n", 3, "priority: unknown priority"),
        ("tasks:\n  - task: x\n    strategy: yolo\n", 3, "tasks[0].strategy cannot be 'yolo'"),
        ("tasks:\n  - task: x\n    strategy: batch\n", 3, "needs a list of items"),
        ("tasks:\n  - task: x\n    cache_ttl: soon\n", 3, "cache_ttl: expected seconds"),
        ("tasks:\n  - task: x\n    temperature: 3\n", 3, "tasks[0].temperature must be a number"),
        ("tasks:\n  - task: x\n    mode: loose\n", 3, "unknown mode 'loose'"),
        ("tasks:\n  - id: a\n  - task: y\n", 2, "a task needs its text"),
        ("tasks:\n  - task: [x\n", 3, "invalid YAML"),
        ("defaults: {id: x}\ntasks: [{task: y}]\n", 1, "defaults.id is not a known key"),
        ("agents: nowhere\ntasks: [{task: y}]\n", 1, "agent path 'nowhere' does not exist"),
        ("name: empty\n", 1, "no tasks in this pipeline"),
        ("batch-optimization:\n  task: Fix things\n", 2, "needs its items"),
        ("batch-optimization:\n  task: Fix 3 files\n  parallelization: lots\n", 3,
         "parallelization must be a number"),
        ("batch-optimization:\n  task: Fix 3 files\n  if_validation_fails: retry\n", 3,
         "names no model tier"),
        ("confidence-escalation:\n  gen: {task: x, model: haiku}\n  route:\n"
         "    - if: quality is good\n", 4, "cannot read a threshold"),
        ("test-pipeline:\n  only: {task: x}\n", 2, "needs 2 or 3 stages"),
        ("test-pipeline:\n  gen: {task: x}\n  check: {task: y, colour: red}\n", 3,
         "test-pipeline.check.colour is not a known key"),
        ("feature-implementation:\n  feature: x\n  step: 3\n", 3, "must be a stage"),
    ],
)  # fmt: skip
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DefinitionError) as err:
        load_pipeline(path, catalog=CAT)
    assert err.value.message.startswith(f"{path}:{line}: "), err.value.message
    assert words in err.value.message


def test_agent_validator_errors_name_the_agent_file(tmp_path: Path) -> None:
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "x.md").write_text(
        "---\nname: x\nmodel: haiku\nvalidators:\n  - {type: nope}\n---\nbody\n"
    )
    path = write(tmp_path, "agents: agents\ntasks: [{task: y, agent: x}]\n")
    with pytest.raises(DefinitionError, match=r"x\.md:5: .*type cannot be 'nope'"):
        load_pipeline(path, catalog=CAT)


def test_unknown_agent_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, AGENTS + "tasks: [{task: y, agent: codr}]\n")
    with pytest.raises(DefinitionError) as err:
        load_pipeline(path, catalog=CAT)
    assert err.value.hint and "known agents: coder, linter" in err.value.hint


def test_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="cannot read"):
        load_pipeline(tmp_path / "absent.yaml", catalog=CAT)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(0, 0), (90, 90), ("90s", 90), ("10m", 600), ("1h", 3600), ("2d", 172800)],
)
def test_durations(value: object, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", -1, True, 1.5, "1w"])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ConfigError):
        parse_duration(value)


def test_outputs_declare_where_model_files_may_go(tmp_path: Path) -> None:
    job = load(tmp_path, "tasks: [{task: x, workdir: w, outputs: [src/, 'tests/*.py']}]").jobs[0]
    assert job.outputs == ("src/", "tests/*.py")
    assert load(tmp_path, "tasks: [{task: x, outputs: src/}]").jobs[0].outputs == ("src/",)
    assert load(tmp_path, "tasks: [{task: x}]").jobs[0].outputs is None
    for bad in ("../up", ".git/hooks/", "/abs"):
        with pytest.raises(DefinitionError, match=r"p\.yaml:1: outputs: "):
            load(tmp_path, f"tasks: [{{task: x, outputs: ['{bad}']}}]")
