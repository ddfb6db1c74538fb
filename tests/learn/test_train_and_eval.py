"""Training on synthetic outcomes, the held-out metrics, and the evaluation against baselines."""

from __future__ import annotations

import numpy as np
import pytest

from gearshift.catalog import Tier, load_catalog
from gearshift.errors import ConfigError
from gearshift.learn.evaluate import evaluate
from gearshift.learn.train import FitOptions, fit
from gearshift.routing.features import TaskText
from gearshift.routing.predictor import Predictor

from .conftest import FAST, SMALL, outcomes, synthetic


def test_the_model_learns_where_the_cheap_tier_fails(trained: Predictor) -> None:
    easy, hard = trained.predict(
        [TaskText("lint the billing cache module"), TaskText("design the failover of the queue")]
    )
    assert easy[Tier.HAIKU] is not None and hard[Tier.HAIKU] is not None
    assert easy[Tier.HAIKU] > 0.75
    assert hard[Tier.HAIKU] < 0.35
    assert hard[Tier.OPUS] > hard[Tier.SONNET] > hard[Tier.HAIKU]  # type: ignore[operator]


def test_metadata_summarises_the_training_data_and_held_out_metrics(trained: Predictor) -> None:
    meta = trained.meta
    assert meta["summary"]["outcomes"] == 720
    assert meta["summary"]["tasks"] == 240
    assert meta["summary"]["paired_tasks"] == 240
    assert meta["summary"]["tiers"]["haiku"]["outcomes"] == 240
    assert meta["summary"]["tiers"]["opus"]["mean_cost_nanos"] == 15_000_000
    assert meta["summary"]["agents"] == {"default": {"haiku": 240, "opus": 240, "sonnet": 240}}
    overall = meta["metrics"]["overall"]
    assert overall["n"] == 720
    assert overall["auc"] > 0.75
    assert overall["ece"] < 0.1
    assert sum(row["n"] for row in overall["table"]) == 720


def test_held_out_model_beats_random_routing() -> None:
    """On tasks it never saw, the learned router recovers clearly more of the quality gap per
    dollar than a coin; with the labels shuffled (no signal) the same bar is not reached."""
    catalog = load_catalog()
    model = fit(outcomes(240, seed=1), FAST)
    report = evaluate(synthetic(300, seed=2), model, catalog, bootstrap=200, seed=3)
    learned, rand = report.result("learned"), report.result("random")
    assert learned.apgr > rand.apgr + 0.15
    assert rand.diff_ci is not None and rand.diff_ci[0] > 0

    noise = fit(outcomes(240, seed=1, shuffle_labels=True), FAST)
    control = evaluate(synthetic(300, seed=2), noise, catalog, bootstrap=0, seed=3)
    assert control.result("learned").apgr < control.result("random").apgr + 0.15


def test_too_few_outcomes_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="too few"):
        fit(outcomes(3, seed=1), FAST)


def test_interaction_mode_gives_the_same_kind_of_model() -> None:
    model = fit(outcomes(90, seed=4), FitOptions(mode="interaction", spec=SMALL, folds=3))
    assert model.meta["mode"] == "interaction"
    p = model.predict_array([TaskText("lint the api module")])
    assert p.shape == (1, 3) and np.all((p > 0) & (p < 1))


def test_a_tier_without_outcomes_predicts_none() -> None:
    only_two = [o for o in outcomes(60, seed=5) if o.tier is not Tier.SONNET]
    model = fit(only_two, FAST)
    p = model.predict([TaskText("lint the api module")])[0]
    assert p[Tier.SONNET] is None
    assert p[Tier.HAIKU] is not None and p[Tier.OPUS] is not None


def test_graded_scores_train() -> None:
    graded = [type(o)(o.task, o.tier, 0.25 if o.score == 0 else 0.75) for o in outcomes(60, seed=6)]
    model = fit(graded, FAST)
    assert model.meta["summary"]["outcomes"] == 180


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError):
        FitOptions(mode="forest")
    with pytest.raises(ConfigError):
        FitOptions(c=0)
