"""The estimator against the hand-labelled tasks: accuracy floor on the held-out part."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from gearshift.catalog import Tier
from gearshift.routing import KeywordEstimator, evaluate, load_labelled, split, split_of

DATA = Path(__file__).parents[1] / "data" / "labelled_tasks.jsonl"
CATEGORIES = {
    "linting", "formatting", "test-writing", "boilerplate", "schema-validation", "parsing",
    "summaries", "code-review", "docs", "debugging", "analysis", "orchestration", "architecture",
    "deep-debugging", "refactoring", "security", "novel",
}  # fmt: skip


def test_labelled_set_is_large_and_covers_the_article_categories() -> None:
    rows = load_labelled(DATA)
    assert len(rows) >= 180
    assert len({r.id for r in rows}) == len(rows)
    assert {r.category for r in rows} == CATEGORIES
    assert min(Counter(r.tier for r in rows).values()) >= 40


def test_split_is_stable() -> None:
    assert split_of("linting-01") == "calibration"
    assert split_of("docs-05") == "held-out"
    calibration, held_out = split(load_labelled(DATA))
    assert len(held_out) == 53 and len(calibration) == 154


def test_held_out_accuracy_floor_and_no_opus_to_haiku() -> None:
    _, held_out = split(load_labelled(DATA))
    est = KeywordEstimator()
    result = evaluate(held_out, lambda r: est.estimate(r.text, role=r.role).scores)
    assert result.accuracy >= 0.86, result.matrix_markdown()
    assert result.opus_to_haiku == 0
    assert result.confusion[Tier.HAIKU][Tier.OPUS] == 0


def test_calibration_accuracy_and_no_opus_to_haiku() -> None:
    calibration, _ = split(load_labelled(DATA))
    est = KeywordEstimator()
    result = evaluate(calibration, lambda r: est.estimate(r.text, role=r.role).scores)
    assert result.accuracy >= 0.9
    assert result.opus_to_haiku == 0
