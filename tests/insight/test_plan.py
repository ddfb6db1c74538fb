"""The what-if planner: the article's case study priced exactly, the strategies' arithmetic, and
workload files that fail with the file, the line and the key."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift.catalog import load_catalog
from gearshift.errors import DefinitionError
from gearshift.insight.plan import Plan, exact, make_plan, money
from gearshift.insight.workload import load_workload, parse_workload

CASE_STUDY = Path(__file__).parents[2] / "examples" / "case-study.yaml"


@pytest.fixture(scope="module")
def case_study() -> Plan:
    return make_plan(load_workload(CASE_STUDY), load_catalog("article"))


def test_case_study_per_execution_costs_follow_from_the_article_inputs(case_study: Plan) -> None:
    per_run = {
        t.task.name: (t.before.per_execution, t.after.per_execution) for t in case_study.tasks
    }
    # 150 x $3/M + 400 x $15/M on Sonnet; 150 x $0.80/M + 400 x $4/M on Haiku
    assert per_run["linting"] == (Fraction("0.00645"), Fraction("0.00172"))
    # tiered: every task pays Haiku, 10% also pay Sonnet
    haiku, sonnet = Fraction("0.01264"), Fraction("0.0474")
    assert per_run["test generation"] == (sonnet, haiku + sonnet / 10)
    assert per_run["code review"] == (Fraction("0.0285"), Fraction("0.0285"))
    assert per_run["bug analysis"] == (
        Fraction("0.0465"),
        Fraction("0.0124") + Fraction("0.0465") / 4,
    )
    assert case_study.monthly_before == Fraction("182.925")
    assert case_study.monthly_after == Fraction("79.0275")
    assert exact(case_study.saving) == "103.8975"


def test_case_study_quality_and_latency(case_study: Plan) -> None:
    tests = next(t for t in case_study.tasks if t.task.name == "test generation")
    assert tests.after.quality == Fraction("0.9") + Fraction("0.1") * Fraction("0.95")
    assert tests.after.latency_s == 15 + 3  # Haiku always, Sonnet for 10%
    assert case_study.quality("after") > case_study.quality("before")


def test_the_article_figures_are_checked_against_ours(case_study: Plan) -> None:
    checks = {(c.figure.figure, c.figure.text): c for c in case_study.checks}
    lint = checks[("linting.before.per_execution", "$2.25")]
    assert not lint.follows and lint.ratio is not None and round(lint.ratio) == 349
    monthly = checks[("linting.before.monthly", "$337.50")]
    assert [i.how for i in monthly.implied] == ["$0.225 x 1,500 executions a month"]
    tests = checks[("test generation.after.monthly", "$120")]
    assert [(i.value, i.consistent) for i in tests.implied] == [(Fraction(1200), False)]
    total_after = checks[("total.after.monthly", "~$570")]
    assert not total_after.implied[0].consistent  # $27.30 + $120 + $60 + $105
    assert total_after.implied[0].value == Fraction("312.30")
    saving = checks[("total.saving.monthly", "$759")]
    assert [i.consistent for i in saving.implied] == [True, False]  # 1329-570, not the parts
    assert checks[("total.saving.percent", "57%")].follows
    assert sum(not c.follows for c in case_study.checks) == len(case_study.checks) - 1
    data = case_study.to_dict()
    assert data["total"]["before_monthly_usd"] == "182.925"
    assert data["article_figures"][0]["follows_from_inputs"] is False


def workload(tasks: str, extra: str = "") -> str:
    return f"days_per_month: 30\ntasks:\n{tasks}{extra}"


TASK = """\
  - name: t
    executions_per_day: 10
    input_tokens: 1000
    output_tokens: 1000
    before: {strategy: static, tier: sonnet}
"""


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (workload(TASK.replace("sonnet}", "gpt}")), "w.yaml:7: tasks[0].before.tier: unknown tier"),
        (workload(TASK + "    colour: red\n"), "w.yaml:8: tasks[0].colour is not a known key"),
        (
            workload(TASK.replace("    input_tokens: 1000\n", "")),
            "w.yaml:3: tasks[0].input_tokens is missing",
        ),
        (workload(TASK.replace("10\n", "-3\n")), "executions_per_day: -3 is out of range"),
        (workload(TASK.replace("1000\n", "1.5\n", 1)), "tasks[0].input_tokens must be a whole"),
        (workload(TASK + "    name: u\n"), "w.yaml:8: duplicate key 'name'"),
        ("tasks: [\n  {name: t\n", "w.yaml:3: invalid YAML"),
        ("tasks: []\n", "w.yaml:1: tasks must be a non-empty list"),
        (
            workload(TASK + "    after: {strategy: tiered, tiers: [sonnet, haiku]}\n"),
            "w.yaml:8: tasks[0].after.tiers: escalation only goes up",
        ),
        (
            workload(TASK + "    after: {strategy: hybrid}\n"),
            "tasks[0].after: a hybrid strategy needs a list of 'subtasks'",
        ),
        (
            workload(TASK + "    success: {haiku: 1.5}\n"),
            "w.yaml:8: tasks[0].success.haiku: 1.5 is out of range",
        ),
        (
            workload(TASK + "    after: {strategy: cached, tier: haiku}\n"),
            "w.yaml:8: tasks[0].after.strategy cannot be 'cached'",
        ),
    ],
)
def test_bad_workloads_name_the_line_and_key(text: str, needle: str) -> None:
    with pytest.raises(DefinitionError) as info:
        parse_workload(text, "w.yaml")
    assert needle in info.value.message


def test_an_unknown_figure_is_refused_with_its_line() -> None:
    text = workload(TASK, "article_figures:\n  - {figure: t.before.cost, stated: '$1'}\n")
    with pytest.raises(DefinitionError) as info:
        make_plan(parse_workload(text, "w.yaml"), load_catalog("article"))
    assert "w.yaml:9: article_figures: unknown figure 't.before.cost'" in info.value.message


def test_a_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="does not exist"):
        load_workload(tmp_path / "nope.yaml")


def test_percentages_defaults_and_hybrid_subtasks() -> None:
    text = workload(
        TASK
        + """\
    success: {haiku: "80%"}
    after:
      strategy: hybrid
      subtasks:
        - {name: design, tier: opus, input_tokens: 100, output_tokens: 100}
        - {name: build, tier: haiku}
        - {name: rescue, tier: sonnet, share: 0.2}
"""
    )
    task = parse_workload(text).tasks[0]
    assert task.success[task.after.steps[1].tier] == Fraction(4, 5)
    plan = make_plan(parse_workload(text), load_catalog("article"))
    after = plan.tasks[0].after
    design = Fraction(100 * 15 + 100 * 75, 10**6)
    build = Fraction(1000 * 8 + 1000 * 40, 10**7)
    rescue = Fraction(1000 * 3 + 1000 * 15, 10**6) / 5
    assert after.per_execution == design + build + rescue
    opus, haiku, sonnet = Fraction("0.97"), Fraction("0.8"), Fraction("0.95")
    assert after.quality == min(opus * haiku, Fraction(4, 5)) + sonnet / 5
    assert task.after.describe() == (
        "hybrid: design on opus, build on haiku, rescue on sonnet (20%)"
    )


@given(per_mille=st.integers(0, 1000), s1=st.integers(0, 1000), s2=st.integers(0, 1000))
def test_tiered_cost_and_quality_are_exact_and_bounded(per_mille: int, s1: int, s2: int) -> None:
    escalation = Fraction(per_mille, 1000)
    text = workload(
        TASK
        + f"    success: {{haiku: {s1 / 1000}, sonnet: '{s2 / 10}%'}}\n"
        + "    after: {strategy: tiered, tiers: [haiku, sonnet], "
        + f"escalation_rate: {per_mille / 1000}}}\n"
    )
    plan = make_plan(parse_workload(text), load_catalog("article"))
    after = plan.tasks[0].after
    haiku, sonnet = Fraction(4800, 10**6), Fraction(18000, 10**6)
    assert after.per_execution == haiku + escalation * sonnet
    assert 0 <= after.quality <= 1


def test_money_for_people() -> None:
    assert money(Fraction("0.00645")) == "$0.00645"
    assert money(Fraction(1329)) == "$1,329"
    assert money(Fraction("337.5")) == "$337.50"
    assert money(Fraction("0.05")) == "$0.05"
