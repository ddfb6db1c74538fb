"""The cost-quality curve of a router and the routing metrics on it: APGR and CPT.

On a set of tasks whose outcome and cost are known on every tier (``score`` and ``cost``, both
``(n, 3)``, tiers in order haiku, sonnet, opus), a *routing* puts each task on one tier; its
quality is the mean score of the chosen tiers and its cost their summed cost. With *weak* the
cheapest tier and *strong* the most capable one, a routing is the point

    x = (cost - cost(always weak)) / (cost(always strong) - cost(always weak))
    y = (quality - quality(always weak)) / (quality(always strong) - quality(always weak))

so always-weak is (0, 0) and always-strong is (1, 1). A router with a knob gives one routing
per setting; its curve runs through (0, 0), its points with ``0 <= x <= 1`` (a point cheaper
than always-weak counts at ``x = 0``) and (1, 1), in order of cost, with each point's quality
raised to the best quality reached at or below its cost (a budget never buys less), joined by
straight lines (flipping a coin per task between two settings reaches any point between them).

* **APGR** (average performance gap recovered) is the area under that curve over ``0 <= x <= 1``:
  0.5 for a router no better than a coin (the straight line), 1 for a router that recovers all
  of the gap at no cost, above 1 for one that beats always-strong by sending tasks the strong
  tier fails to a tier that passes.
* **CPT(p%)** (cost to performance threshold) is the least normalised cost ``x`` at which the
  curve reaches ``y = p / 100``: lower is better; always at most 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Curve", "Routings", "apgr", "curve_of", "normalised_points"]


@dataclass(frozen=True, slots=True)
class Routings:
    """One router's routings, one per knob setting: ``tiers`` is ``(settings, n)`` tier ranks."""

    name: str
    tiers: np.ndarray


@dataclass(frozen=True, slots=True)
class Curve:
    """Points of a curve (``x`` ascending, ``y`` non-decreasing), from (0, 0) to (1, ...)."""

    x: np.ndarray
    y: np.ndarray

    @property
    def apgr(self) -> float:
        import numpy as np

        return float(np.sum((self.x[1:] - self.x[:-1]) * (self.y[1:] + self.y[:-1]) / 2))

    def cpt(self, level: float) -> float | None:
        """The least ``x`` with ``y >= level`` (linear between points), or ``None``."""
        import numpy as np

        above = np.nonzero(self.y >= level)[0]
        if len(above) == 0:
            return None
        i = int(above[0])
        if i == 0:
            return float(self.x[0])
        x0, x1, y0, y1 = self.x[i - 1], self.x[i], self.y[i - 1], self.y[i]
        return float(x0 + (x1 - x0) * (level - y0) / (y1 - y0)) if y1 > y0 else float(x1)


def normalised_points(
    routings: np.ndarray, score: np.ndarray, cost: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of each routing (rows of ``routings``), with each task counted ``weights``
    times (a bootstrap resample; default once)."""
    import numpy as np

    n = score.shape[0]
    w = np.ones(n) if weights is None else weights
    idx = np.arange(n)
    quality = (score[idx, routings] * w).sum(axis=1)
    spend = (cost[idx, routings] * w).sum(axis=1)
    q_weak, q_strong = float((score[:, 0] * w).sum()), float((score[:, -1] * w).sum())
    c_weak, c_strong = float((cost[:, 0] * w).sum()), float((cost[:, -1] * w).sum())
    dq = q_strong - q_weak
    dc = c_strong - c_weak
    x = (spend - c_weak) / dc if dc > 0 else np.zeros(len(spend))
    y = (quality - q_weak) / dq if dq != 0 else np.zeros(len(quality))
    return x, y


def curve_of(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> Curve:
    """The curve through (0, 0), the points and (1, 1), as the module docstring defines it."""
    import numpy as np

    xs = np.concatenate([[0.0], np.maximum(np.asarray(x, dtype=np.float64), 0.0), [1.0]])
    ys = np.concatenate([[0.0], np.asarray(y, dtype=np.float64), [1.0]])
    keep = xs <= 1.0
    xs, ys = xs[keep], ys[keep]
    order = np.lexsort((ys, xs))
    xs, ys = xs[order], np.maximum.accumulate(ys[order])
    if xs[-1] < 1.0:  # unreachable: (1, 1) is always kept; a guard for the area
        xs, ys = np.append(xs, 1.0), np.append(ys, ys[-1])
    return Curve(xs, ys)


def apgr(routings: np.ndarray, score: np.ndarray, cost: np.ndarray) -> float:
    """APGR of a router's routings on tasks with known ``score`` and ``cost`` per tier."""
    return curve_of(*normalised_points(routings, score, cost)).apgr
