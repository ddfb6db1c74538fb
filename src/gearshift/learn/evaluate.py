"""``learn eval``: the learned router against baselines on held-out tasks with known outcomes
on every tier, with bootstrap intervals.

Every router routes by the same rule (:func:`gearshift.routing.learned.choose_tiers`, one-shot:
the data has no escalation, and no probability floor), swept over the failure cost, each with
its own P(success | task, tier):

* ``learned`` -- the trained predictor;
* ``rubric`` -- the pass rate of each tier per rubric total (3-9) on the training outcomes;
* ``length`` -- a logistic fit of each tier's outcome on the log of the task's length;
* ``random`` -- a coin per task between always-weak and always-strong (the straight line);
* ``oracle`` -- knows every outcome (the ceiling, for scale).

The expected token cost per tier is the mean cost of that tier in the training outcomes (the
catalog's price of 1,000 input and output tokens when unknown). APGR and CPT are as
:mod:`.curve` defines them; intervals are percentiles of ``bootstrap`` resamples of the tasks,
the same resamples for every router, so ``learned - baseline`` is a paired difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Catalog, Usage
from gearshift.catalog.cost import usd_text
from gearshift.learn.curve import Curve, Routings, curve_of, normalised_points
from gearshift.learn.files import WideTable
from gearshift.routing.features import TaskText, rubric_scores
from gearshift.routing.learned import choose_tiers
from gearshift.routing.predictor import TIERS, Predictor

if TYPE_CHECKING:
    import numpy as np

__all__ = ["BASELINES", "EvalReport", "RouterResult", "evaluate", "expected_cost_per_tier"]

BASELINES = ("random", "length", "rubric")
SETTINGS = 200


@dataclass(slots=True)
class RouterResult:
    name: str
    curve: Curve
    apgr: float
    cpt50: float | None
    cpt80: float | None
    apgr_ci: tuple[float, float] = (math.nan, math.nan)
    diff: float | None = None  # learned - this router
    diff_ci: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "router": self.name,
            "apgr": self.apgr,
            "apgr_ci95": list(self.apgr_ci),
            "cpt50": self.cpt50,
            "cpt80": self.cpt80,
            "learned_minus_this": self.diff,
            "learned_minus_this_ci95": list(self.diff_ci) if self.diff_ci else None,
            "curve": {"x": self.curve.x.round(5).tolist(), "y": self.curve.y.round(5).tolist()},
        }


@dataclass(slots=True)
class EvalReport:
    tasks: int
    bootstrap: int
    routers: list[RouterResult]
    always: dict[str, dict[str, Any]] = field(default_factory=dict)

    def result(self, name: str) -> RouterResult:
        return next(r for r in self.routers if r.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "bootstrap": self.bootstrap,
            "always": self.always,
            "routers": [r.to_dict() for r in self.routers],
        }


def expected_cost_per_tier(predictor: Predictor, catalog: Catalog) -> list[float]:
    """Dollars per task on each tier: the training outcomes' mean, else a catalog estimate."""
    tiers = predictor.meta.get("summary", {}).get("tiers", {})
    out = []
    for tier in TIERS:
        mean = (tiers.get(tier.value) or {}).get("mean_cost_nanos")
        if mean is None:
            mean = catalog.cost(catalog.default_for(tier), Usage(1000, 1000)).nanos
        out.append(mean / 1e9)
    return out


def evaluate(
    table: WideTable,
    predictor: Predictor,
    catalog: Catalog,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    baselines: Sequence[str] = BASELINES,
) -> EvalReport:
    """Score the learned router and ``baselines`` on ``table`` (see the module docstring)."""
    import numpy as np

    score = np.asarray(table.score, dtype=np.float64)
    cost = np.asarray(table.cost_nanos, dtype=np.float64) / 1e9
    rows = [
        TaskText(t, a, k) for t, a, k in zip(table.texts, table.agents, table.types, strict=True)
    ]
    rng = np.random.default_rng(seed)
    planned = expected_cost_per_tier(predictor, catalog)
    probs = {"learned": predictor.predict_array(rows)}
    if "length" in baselines:
        probs["length"] = length_probabilities(predictor, rows)
    if "rubric" in baselines:
        probs["rubric"] = rubric_probabilities(predictor, rows)
    routings = [Routings(name, sweep(p, planned)) for name, p in probs.items()]
    if "random" in baselines:
        routings.append(Routings("random", random_routings(len(rows), rng)))
    routings.append(Routings("oracle", sweep(score, cost, actual=True)))
    results = []
    for r in routings:
        c = curve_of(*normalised_points(r.tiers, score, cost))
        results.append(RouterResult(r.name, c, c.apgr, c.cpt(0.5), c.cpt(0.8)))
    if bootstrap > 0:
        _bootstrap(results, routings, score, cost, bootstrap, rng)
    always = {
        t.value: {
            "quality": float(score[:, t.rank].mean()),
            "cost_usd": usd_text(sum(row[t.rank] for row in table.cost_nanos)),
        }
        for t in TIERS
    }
    rank = {name: i for i, name in enumerate(("learned", *BASELINES, "oracle"))}
    results.sort(key=lambda r: rank.get(r.name, len(rank)))
    return EvalReport(len(rows), bootstrap, results, always)


def sweep(p: np.ndarray, cost: Sequence[float] | np.ndarray, *, actual: bool = False) -> np.ndarray:
    """Routings (``(SETTINGS, n)`` tier ranks) over failure costs from 0 to beyond the last
    point where any task's choice changes. ``cost`` is per tier, or per task and tier when
    ``actual`` (the oracle's)."""
    import numpy as np

    n = p.shape[0]
    c = np.asarray(cost, dtype=np.float64)
    c = c if c.ndim == 2 else np.broadcast_to(c, (n, len(TIERS)))
    breaks = []
    for i in range(len(TIERS)):
        for j in range(i + 1, len(TIERS)):
            gain = p[:, j] - p[:, i]
            ok = gain > 1e-9
            breaks.append((c[ok, j] - c[ok, i]) / gain[ok])
    points = np.concatenate(breaks) if breaks else np.zeros(0)
    points = points[np.isfinite(points) & (points >= 0)]
    levels = np.quantile(points, np.linspace(0, 1, SETTINGS - 2)) if len(points) else np.zeros(0)
    grid = np.concatenate(
        [[0.0], levels * (1 + 1e-9), [points.max() * 2 + 1 if len(points) else 1.0]]
    )
    out: np.ndarray = np.stack(
        [choose_tiers(c, p, failure_cost=float(r), min_p=0.0, escalate=False) for r in grid]
    )
    return out


def random_routings(n: int, rng: np.random.Generator) -> np.ndarray:
    """Always-weak to always-strong, each task promoted at its own random share."""
    import numpy as np

    u = rng.random(n)
    shares = np.linspace(0, 1, SETTINGS)
    out: np.ndarray = np.where(u[None, :] < shares[:, None], len(TIERS) - 1, 0)
    return out


def length_probabilities(predictor: Predictor, rows: Sequence[TaskText]) -> np.ndarray:
    import numpy as np

    fit = predictor.arrays["length_fit"]
    z = np.log1p(np.array([len(r.text) for r in rows], dtype=np.float64))[:, None]
    out: np.ndarray = 1.0 / (1.0 + np.exp(-(fit[:, 0] * z + fit[:, 1])))
    return out


def rubric_probabilities(predictor: Predictor, rows: Sequence[TaskText]) -> np.ndarray:
    import numpy as np

    totals = np.array([rubric_scores(r.text).total for r in rows]) - 3
    out: np.ndarray = predictor.arrays["rubric_rates"].T[totals]
    return out


def _bootstrap(
    results: list[RouterResult],
    routings: list[Routings],
    score: np.ndarray,
    cost: np.ndarray,
    rounds: int,
    rng: np.random.Generator,
) -> None:
    import numpy as np

    n = score.shape[0]
    draws = np.zeros((len(routings), rounds))
    for b in range(rounds):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        for k, r in enumerate(routings):
            draws[k, b] = curve_of(*normalised_points(r.tiers, score, cost, w)).apgr
    learned = next((k for k, r in enumerate(routings) if r.name == "learned"), None)
    for k, result in enumerate(results):
        lo, hi = np.percentile(draws[k], [2.5, 97.5])
        result.apgr_ci = (float(lo), float(hi))
        if learned is not None and k != learned:
            d = draws[learned] - draws[k]
            lo, hi = np.percentile(d, [2.5, 97.5])
            result.diff = result_apgr(results, learned) - result.apgr
            result.diff_ci = (float(lo), float(hi))


def result_apgr(results: list[RouterResult], index: int) -> float:
    return results[index].apgr
