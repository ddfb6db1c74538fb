"""`learn import` files: long CSV/JSONL, wide tables, and all-or-nothing errors with lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift.catalog import Tier, load_catalog
from gearshift.errors import ConfigError, DefinitionError
from gearshift.learn.files import (
    parse_ladder,
    parse_score,
    parse_usd,
    parse_where,
    read_outcomes,
    read_wide,
)
from gearshift.learn.outcomes import import_file, training_outcomes
from gearshift.learn.tables import eval_table
from gearshift.ledger import Ledger

CATALOG = load_catalog()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_minimal_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "o.csv", "task,tier,success\nLint it,haiku,1\nDesign it,opus,0\n")
    found = read_outcomes(path, CATALOG)
    assert [(o.task, o.tier, o.score) for o in found] == [
        ("Lint it", Tier.HAIKU, 1.0),
        ("Design it", Tier.OPUS, 0.0),
    ]


def test_jsonl_with_models_costs_and_context(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "o.jsonl",
        '{"task": "a", "model": "claude-sonnet-4-5", "success": true, "agent": "rev",'
        ' "task_type": "review", "cost_usd": "0.0042639999999999996", "input_tokens": 10,'
        ' "output_tokens": 5}\n'
        '{"task": "b", "model": "gpt-x", "score": 0.25}\n',
    )
    found = read_outcomes(path, CATALOG, ladder=parse_ladder("gpt-x=opus"))
    first, second = found
    assert first.tier is Tier.SONNET and first.agent == "rev" and first.task_type == "review"
    assert first.cost_nanos == 4_264_000  # exact nanos, rounded half-even, never via float
    assert (first.input_tokens, first.output_tokens) == (10, 5)
    assert second.tier is Tier.OPUS and second.score == 0.25


def test_bad_rows_name_their_lines_and_nothing_is_imported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.csv",
        "task,tier,success\nok,haiku,1\n,haiku,1\nx,gpt-9,1\ny,opus,maybe\nz,opus,1.5\n",
    )
    with Ledger.open(tmp_path / "l.db") as ledger:
        with pytest.raises(DefinitionError) as caught:
            import_file(ledger, path, CATALOG)
        message = caught.value.message
        assert "4 bad row(s), nothing imported" in message
        for line in (3, 4, 5, 6):
            assert f"bad.csv:{line}:" in message
        assert "bad.csv:2:" not in message
        assert training_outcomes(ledger) == []


def test_unknown_model_says_how_to_map_it(tmp_path: Path) -> None:
    path = write(tmp_path, "o.csv", "task,model,success\nx,mystery-1,1\n")
    with pytest.raises(DefinitionError) as caught:
        read_outcomes(path, CATALOG)
    assert "mystery-1" in caught.value.message
    assert caught.value.hint is not None


def test_import_is_stored_once_and_read_back(tmp_path: Path) -> None:
    path = write(tmp_path, "o.csv", "task,tier,success,cost_usd\na,haiku,1,0.5\nb,opus,0,\n")
    with Ledger.open(tmp_path / "l.db") as ledger:
        first = import_file(ledger, path, CATALOG)
        again = import_file(ledger, path, CATALOG)
        assert first.outcomes == 2 and not first.already
        assert again.already
        found = training_outcomes(ledger)
        assert [(o.task, o.tier, o.score, o.cost_nanos) for o in found] == [
            ("a", Tier.HAIKU, 1.0, 500_000_000),
            ("b", Tier.OPUS, 0.0, None),
        ]
        assert ledger.count() == 0  # imported outcomes are not spend


def test_validated_executions_are_outcomes(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.db") as ledger:
        kw = {"agent": "t", "input_tokens": 10, "output_tokens": 10, "chain_id": "c1"}
        ledger.record(model="haiku", task="x", status="failure", validation="fail: red", **kw)
        ledger.record(model="opus", task="x", status="success", validation="pass: ok", **kw)
        ledger.record(model="opus", task="y", **kw)  # no verdict: not an outcome
        ledger.record(model="haiku", task="x", validation=None, tags={"role": "judge"}, **kw)
        found = training_outcomes(ledger)
        assert [(o.tier, o.score, o.chain_id, o.source) for o in found] == [
            (Tier.HAIKU, 0.0, "c1", "ledger"),
            (Tier.OPUS, 1.0, "c1", "ledger"),
        ]
        assert all(o.cost_nanos and o.cost_nanos > 0 for o in found)


def test_wide_tables_map_models_by_the_ladder(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "wide.csv",
        "sample_id,split,prompt,a|score,a|cost_usd,b|score,b|cost_usd,c|score,c|cost_usd,d|score,d|cost_usd\n"
        "1,train,q1,1,0.1,0,0.2,1,0.3,0,9\n"
        "2,test,q2,0,0.1,1,0.2,1,0.3,0,9\n",
    )
    ladder = parse_ladder("a=haiku,b=sonnet,c=opus")
    table = read_wide(path, CATALOG, ladder=ladder, where=parse_where(["split=test"]))
    assert table.texts == ["q2"]
    assert table.score == [[0.0, 1.0, 1.0]]
    assert table.cost_nanos == [[100_000_000, 200_000_000, 300_000_000]]
    assert len(read_outcomes(path, CATALOG, ladder=ladder)) == 6
    with pytest.raises(DefinitionError, match="map to sonnet"):
        read_wide(path, CATALOG, ladder=parse_ladder("a=haiku,c=opus"))


def test_long_eval_tables_need_every_tier(tmp_path: Path) -> None:
    rows = ["task,tier,success,cost"]
    rows += [f"t1,{t},1,0.{i + 1}" for i, t in enumerate(("haiku", "sonnet", "opus"))]
    rows += ["t2,haiku,0,0.1"]
    table = eval_table(write(tmp_path, "e.csv", "\n".join(rows) + "\n"), CATALOG)
    assert table.texts == ["t1"] and table.dropped == 1


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError):
        parse_ladder("nonsense")
    with pytest.raises(ConfigError):
        parse_ladder("a=gpt")
    with pytest.raises(ConfigError):
        parse_where(["split"])


@given(st.sampled_from(["1", "true", "PASS", "yes", " 1 "]))
def test_truthy_scores(text: str) -> None:
    assert parse_score(text) == 1.0


@given(st.floats(0, 1))
def test_scores_in_range(value: float) -> None:
    assert parse_score(repr(value)) == value


@given(st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.000001, max_value=1e9)))
def test_scores_out_of_range(value: float) -> None:
    with pytest.raises(ConfigError):
        parse_score(repr(value))


@given(st.decimals(min_value=0, max_value=10**6, places=9, allow_nan=False))
def test_usd_to_nanos_is_exact(amount: object) -> None:
    assert parse_usd(str(amount)) == int(amount * 10**9)  # type: ignore[operator]
