"""`gearshift plan`, run in-process through the real entry point and its error wrapper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gearshift.cli import main
from gearshift.cli.common import state

CASE_STUDY = Path(__file__).parents[2] / "examples" / "case-study.yaml"


def gearshift(*argv: str) -> int:
    state._catalog = None
    try:
        main.main(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_case_study_with_the_article_prices(capsys: pytest.CaptureFixture[str]) -> None:
    assert gearshift("--prices", "article", "plan", str(CASE_STUDY)) == 0
    out = capsys.readouterr().out
    assert "anthropic+article@2026-03" in out
    assert "$182.92" in out and "$79.03" in out and "(56.8%)" in out
    assert "NO: 349x ours" in out
    assert "24 of 25 stated figures do not follow" in out


def test_json_and_the_local_prices_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert gearshift("plan", str(CASE_STUDY), "--json", "--prices", "article") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["before_monthly_usd"] == "182.925"
    assert data["total"]["after_monthly_usd"] == "79.0275"
    lint = data["tasks"][0]
    assert (lint["before"]["per_execution_usd"], lint["after"]["strategy"]) == ("0.00645", "haiku")
    figures = {(f["figure"], f["stated"]): f for f in data["article_figures"]}
    assert figures[("linting.before.per_execution", "$2.25")]["follows_from_inputs"] is False
    assert figures[("total.saving.percent", "57%")]["follows_from_inputs"] is True


def test_default_prices_give_other_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert gearshift("plan", str(CASE_STUDY), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["prices"].startswith("anthropic@")
    assert data["total"]["before_monthly_usd"] != "182.925"


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (
            "tasks:\n  - name: x\n    executions_per_day: ten\n    input_tokens: 1\n"
            "    output_tokens: 1\n    before: {tier: haiku}\n",
            "w.yaml:3: tasks[0].executions_per_day: 'ten' is not a number",
        ),
        ("tasks: {a: 1}\n", "w.yaml:1: tasks must be a list"),
        (None, "does not exist"),
    ],
)
def test_bad_workloads_get_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, needle: str
) -> None:
    path = tmp_path / "w.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert gearshift("plan", str(path)) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
