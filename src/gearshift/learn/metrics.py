"""How good are the probabilities: log loss, Brier score, AUC and reliability (ECE and a
reliability table) of predicted P(success) against what happened."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["BINS", "auc", "reliability"]

#: Equal-width probability bins of the reliability table.
BINS = 10


def reliability(p: np.ndarray, y: np.ndarray, bins: int = BINS) -> dict[str, Any]:
    """Metrics of probabilities ``p`` for outcomes ``y`` (1 passed, 0 failed).

    ``ece`` is the expected calibration error: the mean over bins of ``|mean p - pass rate|``,
    weighted by the share of predictions in the bin. ``table`` lists every non-empty bin.
    """
    import numpy as np

    n = len(p)
    if n == 0:
        return {"n": 0, "log_loss": None, "brier": None, "auc": None, "ece": None, "table": []}
    q = np.clip(p, 1e-6, 1 - 1e-6)
    log_loss = float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))
    brier = float(np.mean((p - y) ** 2))
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    table = []
    ece = 0.0
    for b in range(bins):
        sel = which == b
        k = int(sel.sum())
        if not k:
            continue
        mean_p, rate = float(p[sel].mean()), float(y[sel].mean())
        ece += k / n * abs(mean_p - rate)
        table.append(
            {"bin": [b / bins, (b + 1) / bins], "n": k, "mean_p": mean_p, "pass_rate": rate}
        )
    return {
        "n": n,
        "pass_rate": float(y.mean()),
        "log_loss": log_loss,
        "brier": brier,
        "auc": auc(p, y),
        "ece": ece,
        "table": table,
    }


def auc(p: np.ndarray, y: np.ndarray) -> float | None:
    """Area under the ROC curve (the chance a random pass is ranked above a random failure,
    ties counting half); ``None`` with one class only."""
    from scipy.stats import rankdata

    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return None
    ranks = rankdata(p)
    value = (float(ranks[y == 1].sum()) - pos * (pos + 1) / 2) / (pos * neg)
    return value if math.isfinite(value) else None
