"""Train the tier predictor from outcomes: features, one logistic model per tier (or one with
tier as an interaction), Platt calibration on out-of-fold predictions, held-out metrics.

The steps, for ``n`` outcomes of ``m`` distinct tasks:

1. each distinct task is featurized once (:mod:`gearshift.routing.features`); the IDF weights
   come from the distinct tasks;
2. the tasks are split into ``folds`` groups (by a hash of the task, so every tier of one task
   lands in one fold); each fold's outcomes are predicted by a model fitted on the others;
3. a Platt scaling per tier is fitted on those out-of-fold logits: the final calibration. The
   held-out metrics (:mod:`.metrics`) score each fold with a calibration fitted on the *other*
   folds' out-of-fold logits, so no number is computed on data that tuned it;
4. the final model is fitted on everything.

A score between 0 and 1 enters the fit as two weighted rows (pass with weight ``score``, fail
with ``1 - score``). A tier whose outcomes all passed (or all failed) gets a constant, smoothed
probability rather than a degenerate fit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gearshift.errors import ConfigError
from gearshift.learn.metrics import reliability
from gearshift.learn.outcome import Outcome
from gearshift.routing.features import (
    FEATURE_VERSION,
    FeatureSpec,
    TaskText,
    featurize,
    idf_of,
    require_sklearn,
    rubric_scores,
    weigh,
)
from gearshift.routing.predictor import TIERS, Predictor, group_keys, sketch

if TYPE_CHECKING:
    import numpy as np
    from scipy.sparse import csr_matrix

__all__ = ["MIN_OUTCOMES", "FitOptions", "fit"]

#: Fewer outcomes than this teach nothing worth routing on.
MIN_OUTCOMES = 20
MODES = ("per-tier", "interaction")
SKETCH_MAX = 5000


@dataclass(frozen=True, slots=True)
class FitOptions:
    """``mode``: ``per-tier`` (one model per tier) or ``interaction`` (one model whose
    features are repeated per tier; tiers share what they have in common). ``c``: inverse
    regularisation strength of the logistic models. Defaults chosen by cross-validation on
    the RouterBench training split (docs/routing.md)."""

    mode: str = "per-tier"
    c: float = 0.3
    folds: int = 5
    spec: FeatureSpec = field(default_factory=FeatureSpec)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(
                f"unknown model mode {self.mode!r}", hint="use per-tier or interaction"
            )
        if not self.c > 0:
            raise ConfigError("C must be positive")
        if not 2 <= self.folds <= 20:
            raise ConfigError("folds must be from 2 to 20")


@dataclass(slots=True)
class _Data:
    """Outcomes as arrays over distinct tasks."""

    tasks: list[TaskText]
    x: csr_matrix
    task_of: np.ndarray  # outcome -> task row
    tier_of: np.ndarray  # outcome -> tier rank
    score: np.ndarray
    fold: np.ndarray  # outcome -> fold
    idf: np.ndarray
    totals: np.ndarray  # task -> rubric total


def fit(
    outcomes: Sequence[Outcome],
    options: FitOptions | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    version: str = "",
) -> Predictor:
    """A calibrated predictor trained on ``outcomes``, its metadata holding the training
    summary and the held-out metrics. ConfigError when there is too little to learn from."""
    require_sklearn()
    import numpy as np

    options = options or FitOptions()
    say = progress or (lambda _msg: None)
    if len(outcomes) < MIN_OUTCOMES:
        raise ConfigError(
            f"{len(outcomes)} outcomes are too few to learn from (at least {MIN_OUTCOMES})",
            hint="import outcomes with `gearshift learn import FILE`, or run tasks with validators",
        )
    say(f"featurizing {len(outcomes):,} outcomes")
    data = _prepare(outcomes, options)
    say(f"{len(data.tasks):,} distinct tasks; cross-validating ({options.folds} folds)")
    oof = np.zeros(len(data.score))
    for k in range(options.folds):
        test = data.fold == k
        if test.any() and (~test).any():
            weights, bias = _fit_models(data, ~test, options)
            oof[test] = _logits(data, test, weights, bias)
    held_out = _cross_fitted(oof, data, options.folds)
    passed = data.score >= 0.5
    calibration = np.array(
        [_fit_platt(oof[data.tier_of == t.rank], passed[data.tier_of == t.rank]) for t in TIERS]
    )
    say("fitting the final model")
    weights, bias = _fit_models(data, np.ones(len(data.score), dtype=bool), options)
    known = np.array([(data.tier_of == t.rank).any() for t in TIERS])
    meta = _meta(outcomes, data, options, held_out, version)
    groups, group_counts = _group_counts(outcomes)
    meta["groups"] = groups
    recent, recent_counts = _recent_tasks(outcomes)
    arrays = {
        "idf": data.idf,
        "weights": weights.astype(np.float32),
        "bias": bias.astype(np.float64),
        "calibration": calibration.astype(np.float64),
        "known": known,
        "group_counts": group_counts,
        "sketch": sketch([t.text for t in recent]).reshape(len(recent), -1),
        "sketch_counts": recent_counts,
        **_baselines(data),
    }
    return Predictor.from_arrays(meta, arrays)


def _prepare(outcomes: Sequence[Outcome], options: FitOptions) -> _Data:
    import numpy as np

    index: dict[TaskText, int] = {}
    task_of = np.empty(len(outcomes), dtype=np.int64)
    for i, o in enumerate(outcomes):
        task_of[i] = index.setdefault(o.key, len(index))
    tasks = list(index)
    scores = [rubric_scores(t.text) for t in tasks]
    raw = featurize(options.spec, tasks, scores=scores)
    idf = idf_of(options.spec, raw)
    return _Data(
        tasks,
        weigh(options.spec, raw, idf),
        task_of,
        np.array([o.tier.rank for o in outcomes], dtype=np.int64),
        np.array([min(1.0, max(0.0, o.score)) for o in outcomes]),
        np.array([_fold(t, options.folds) for t in tasks], dtype=np.int64)[task_of],
        idf,
        np.array([sc.total for sc in scores], dtype=np.int64),
    )


def _fold(task: TaskText, folds: int) -> int:
    digest = hashlib.sha256(f"{task.agent}\x00{task.task_type}\x00{task.text}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % folds


def _fit_models(data: _Data, rows: np.ndarray, options: FitOptions) -> tuple[Any, Any]:
    """``(weights (3, width), bias (3,))`` fitted on the outcomes selected by ``rows``."""
    import numpy as np

    width = data.x.shape[1]
    weights = np.zeros((len(TIERS), width))
    bias = np.zeros(len(TIERS))
    if options.mode == "per-tier":
        for tier in TIERS:
            sel = rows & (data.tier_of == tier.rank)
            if sel.any():
                w, b = _logistic(data.x[data.task_of[sel]], data.score[sel], options.c)
                weights[tier.rank], bias[tier.rank] = w, b
        return weights, bias
    from scipy.sparse import csr_matrix, hstack

    x = data.x[data.task_of[rows]]
    tiers = data.tier_of[rows]
    onehot = csr_matrix(
        (np.ones(len(tiers)), (np.arange(len(tiers)), tiers)), shape=(len(tiers), len(TIERS))
    )
    blocks = [x] + [x.multiply((tiers == t.rank).reshape(-1, 1)).tocsr() for t in TIERS]
    w, b = _logistic(hstack([*blocks, onehot], format="csr"), data.score[rows], options.c)
    shared = w[:width]
    for tier in TIERS:
        start = width * (tier.rank + 1)
        weights[tier.rank] = shared + w[start : start + width]
        bias[tier.rank] = b + w[width * (len(TIERS) + 1) + tier.rank]
    return weights, bias


def _logistic(x: Any, score: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """Weights and intercept of an L2 logistic regression on soft labels ``score``."""
    import numpy as np
    from scipy.sparse import vstack
    from sklearn.linear_model import LogisticRegression

    hard = (score == 0.0) | (score == 1.0)
    if hard.all():
        xs, ys, ws = x, score.astype(np.int64), None
    else:
        soft = ~hard
        xs = vstack([x[hard], x[soft], x[soft]], format="csr")
        ys = np.concatenate([score[hard], np.ones(soft.sum()), np.zeros(soft.sum())]).astype(
            np.int64
        )
        ws = np.concatenate([np.ones(hard.sum()), score[soft], 1.0 - score[soft]])
    if len(np.unique(ys)) < 2:
        rate = (float(score.sum()) + 1.0) / (len(score) + 2.0)
        return np.zeros(x.shape[1]), float(np.log(rate / (1.0 - rate)))
    # the dual problem: far fewer tasks than hashed columns
    model = LogisticRegression(C=c, solver="liblinear", dual=True, tol=1e-3, max_iter=1000)
    model.fit(xs, ys, sample_weight=ws)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


def _logits(data: _Data, rows: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    import numpy as np

    x = data.x[data.task_of[rows]]
    all_tiers = np.asarray(x @ weights.T) + bias
    out: np.ndarray = all_tiers[np.arange(len(all_tiers)), data.tier_of[rows]]
    return out


def _fit_platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` of ``sigmoid(a * z + b)`` fitted to pass/fail ``y`` (the identity when there
    is one class only, or nothing, to fit)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    if len(y) == 0 or y.all() or not y.any():
        return (1.0, 0.0)
    model = LogisticRegression(C=1e4, solver="lbfgs")
    model.fit(z.reshape(-1, 1), y.astype(np.int64))
    return (float(model.coef_[0, 0]), float(model.intercept_[0]))


def _cross_fitted(oof: np.ndarray, data: _Data, folds: int) -> np.ndarray:
    """Held-out probabilities: fold ``k`` calibrated by a Platt fit on the other folds."""
    import numpy as np

    out = np.zeros(len(oof))
    passed = data.score >= 0.5
    for tier in TIERS:
        in_tier = data.tier_of == tier.rank
        for k in range(folds):
            test = in_tier & (data.fold == k)
            train = in_tier & (data.fold != k)
            if not test.any():
                continue
            a, b = _fit_platt(oof[train], passed[train]) if train.any() else (1.0, 0.0)
            out[test] = 1.0 / (1.0 + np.exp(-np.clip(a * oof[test] + b, -40, 40)))
    return out


def _meta(
    outcomes: Sequence[Outcome],
    data: _Data,
    options: FitOptions,
    held_out: np.ndarray,
    version: str,
) -> dict[str, Any]:
    tiers: dict[str, dict[str, Any]] = {}
    for tier in TIERS:
        mine = [o for o in outcomes if o.tier is tier]
        costs = [o.cost_nanos for o in mine if o.cost_nanos is not None]
        ins = [o.input_tokens for o in mine if o.input_tokens is not None]
        outs = [o.output_tokens for o in mine if o.output_tokens is not None]
        tiers[tier.value] = {
            "outcomes": len(mine),
            "passed": sum(o.passed for o in mine),
            "mean_cost_nanos": sum(costs) // len(costs) if costs else None,
            "mean_input_tokens": sum(ins) // len(ins) if ins else None,
            "mean_output_tokens": sum(outs) // len(outs) if outs else None,
        }
    agents: Counter[tuple[str, str]] = Counter(
        ((o.agent or "default"), o.tier.value) for o in outcomes
    )
    by_agent: dict[str, dict[str, int]] = {}
    for (agent, tier_name), n in sorted(agents.items()):
        by_agent.setdefault(agent, {})[tier_name] = n
    stamps = [o.ts_us for o in outcomes if o.ts_us]
    return {
        "format_version": 1,
        "feature_version": FEATURE_VERSION,
        "feature_spec": options.spec.to_dict(),
        "mode": options.mode,
        "c": options.c,
        "folds": options.folds,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "gearshift_version": version,
        "summary": {
            "outcomes": len(outcomes),
            "tasks": len(data.tasks),
            "paired_tasks": int(_paired(data)),
            "sources": dict(Counter(o.source for o in outcomes)),
            "tiers": tiers,
            "agents": by_agent,
            "task_types": dict(Counter(o.task_type for o in outcomes if o.task_type)),
            "first_us": min(stamps) if stamps else None,
            "last_us": max(stamps) if stamps else None,
        },
        "metrics": _held_out_metrics(held_out, data),
    }


def _paired(data: _Data) -> int:
    """Tasks with outcomes on at least two tiers."""
    import numpy as np

    pairs = np.unique(np.stack([data.task_of, data.tier_of]), axis=1)
    return int((np.bincount(pairs[0]) >= 2).sum())


def _held_out_metrics(p: np.ndarray, data: _Data) -> dict[str, Any]:
    import numpy as np

    y = (data.score >= 0.5).astype(np.float64)
    out: dict[str, Any] = {"overall": reliability(p, y)}
    for tier in TIERS:
        sel = data.tier_of == tier.rank
        if sel.any():
            out[tier.value] = reliability(p[sel], y[sel])
    return out


def _group_counts(outcomes: Sequence[Outcome]) -> tuple[list[str], Any]:
    import numpy as np

    counts: dict[str, list[list[int]]] = {}
    for o in outcomes:
        for key in group_keys(o.key):
            c = counts.setdefault(key, [[0, 0], [0, 0], [0, 0]])
            c[o.tier.rank][0] += int(o.passed)
            c[o.tier.rank][1] += 1
    keys = sorted(counts)
    array = np.array([counts[k] for k in keys], dtype=np.int64).reshape(len(keys), len(TIERS), 2)
    return keys, array


def _recent_tasks(outcomes: Sequence[Outcome]) -> tuple[list[TaskText], Any]:
    """The most recent :data:`SKETCH_MAX` distinct tasks and their (passed, trials) per tier."""
    import numpy as np

    last: dict[TaskText, int] = {}
    counts: dict[TaskText, list[list[int]]] = {}
    for i, o in enumerate(outcomes):
        key = o.key
        last[key] = max(last.get(key, 0), o.ts_us * 1_000_000 + i)
        c = counts.setdefault(key, [[0, 0], [0, 0], [0, 0]])
        c[o.tier.rank][0] += int(o.passed)
        c[o.tier.rank][1] += 1
    keep = sorted(last, key=lambda k: -last[k])[:SKETCH_MAX]
    array = np.array([counts[k] for k in keep], dtype=np.int32).reshape(len(keep), len(TIERS), 2)
    return keep, array


def _baselines(data: _Data) -> dict[str, Any]:
    """The length and rubric baselines of ``learn eval``, fitted on the training outcomes."""
    import numpy as np

    length_fit = np.zeros((len(TIERS), 2))
    rates = np.full((len(TIERS), 7), 0.5)
    log_length = np.log1p(np.array([len(t.text) for t in data.tasks], dtype=np.float64))
    for tier in TIERS:
        sel = data.tier_of == tier.rank
        if not sel.any():
            continue
        y = data.score[sel] >= 0.5
        if y.all() or not y.any():
            length_fit[tier.rank] = (0.0, _logit((y.sum() + 1) / (len(y) + 2)))
        else:
            length_fit[tier.rank] = _fit_platt(log_length[data.task_of[sel]], y)
        t = data.totals[data.task_of[sel]] - 3
        passes = np.bincount(t, weights=y.astype(np.float64), minlength=7)
        trials = np.bincount(t, minlength=7)
        rates[tier.rank] = (passes + 2 * float(y.mean())) / (trials + 2)
    return {"length_fit": length_fit, "rubric_rates": rates}


def _logit(p: float) -> float:
    return math.log(p / (1 - p))
