"""A trained tier predictor: P(success | task, tier) for each tier, from plain arrays.

A model is a JSON-able ``meta`` mapping and a few numpy arrays -- no pickled objects, so a
model read from a shared ledger cannot run code (:mod:`gearshift.learn.artefact` stores it).
The arrays:

* ``idf`` -- inverse document frequencies of the text columns (:mod:`.features`);
* ``weights`` -- ``(3, width)``: one linear model per tier over the features (a model trained
  with tier as an interaction stores its shared part added into each row);
* ``bias`` -- ``(3,)`` intercepts; ``calibration`` -- ``(3, 2)`` Platt ``(a, b)``: the
  probability is ``sigmoid(a * logit + b)``, fitted on out-of-fold predictions;
* ``known`` -- ``(3,)`` whether each tier had training outcomes (an unknown tier gets ``None``);
* ``group_counts`` -- ``(G, 3, 2)`` successes and trials per context group (``meta["groups"]``:
  ``agent=NAME`` or ``type=NAME``) and tier: the evidence behind a decision and the Beta
  posteriors exploration samples from;
* ``sketch`` / ``sketch_counts`` -- a 64-dimensional signed hash of each known task's words and
  its successes and trials per tier, to name the nearest known outcomes of a task;
* ``length_fit`` -- ``(3, 2)`` a logistic fit of each tier's outcome on the log length, and
  ``rubric_rates`` -- ``(3, 7)`` each tier's smoothed pass rate per rubric total 3..9: the
  baselines ``learn eval`` compares the model with, fitted on the same training outcomes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gearshift.catalog.tiers import Tier
from gearshift.errors import ConfigError
from gearshift.routing.features import (
    FEATURE_VERSION,
    FeatureSpec,
    TaskText,
    featurize,
    require_sklearn,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "TIERS",
    "GroupEvidence",
    "Neighbours",
    "PSuccess",
    "Predictor",
    "group_keys",
    "sketch",
]

TIERS: tuple[Tier, ...] = Tier.ordered()
SKETCH_BITS = 6

#: P(success) per tier; ``None`` for a tier the model has no outcomes of.
PSuccess = Mapping[Tier, float | None]


@dataclass(frozen=True, slots=True)
class GroupEvidence:
    """Known outcomes of one context group (``agent=NAME`` or ``type=NAME``) per tier."""

    key: str
    successes: tuple[int, int, int]
    trials: tuple[int, int, int]

    @property
    def total(self) -> int:
        return sum(self.trials)

    def rate(self, tier: Tier) -> float | None:
        n = self.trials[tier.rank]
        return self.successes[tier.rank] / n if n else None

    def describe(self) -> str:
        kind, _, name = self.key.partition("=")
        what = "agent" if kind == "agent" else "type"
        parts = []
        for tier in TIERS:
            rate = self.rate(tier)
            if rate is not None:
                n = self.trials[tier.rank]
                parts.append(f"{n} on {tier} passed {rate:.0%} of the time")
        return f"tasks of {what} {name}: " + ("; ".join(parts) or "none known")


@dataclass(frozen=True, slots=True)
class Neighbours:
    """The nearest known tasks by wording, and how they fared per tier."""

    count: int
    successes: tuple[int, int, int]
    trials: tuple[int, int, int]
    similarity: float

    def describe(self) -> str:
        parts = []
        for tier in TIERS:
            n = self.trials[tier.rank]
            if n:
                parts.append(f"{tier} {self.successes[tier.rank] / n:.0%} of {n}")
        return (
            f"like {self.count} known tasks worded most like it (mean similarity "
            f"{self.similarity:.2f}), which passed on " + ", ".join(parts)
        )


def group_keys(row: TaskText) -> list[str]:
    """The context groups a task belongs to: its agent (``default`` when none) and its type."""
    keys = [f"agent={(row.agent or 'default').lower()}"]
    if row.task_type:
        keys.append(f"type={row.task_type.lower()}")
    return keys


def sketch(texts: Sequence[str]) -> np.ndarray:
    """A unit-length 64-dimensional signed hash of each text's words (float32 rows)."""
    import numpy as np
    from sklearn.feature_extraction.text import HashingVectorizer

    vec = HashingVectorizer(n_features=1 << SKETCH_BITS, alternate_sign=True, norm="l2")
    out: np.ndarray = vec.transform(list(texts)).toarray().astype(np.float32)
    return out


_ARRAYS: dict[str, tuple[str, ...]] = {
    # name: shape, symbolically (W: spec width, T: text width, G: groups, N: sketched tasks)
    "idf": ("T",),
    "weights": ("3", "W"),
    "bias": ("3",),
    "calibration": ("3", "2"),
    "known": ("3",),
    "group_counts": ("G", "3", "2"),
    "sketch": ("N", "S"),
    "sketch_counts": ("N", "3", "2"),
    "length_fit": ("3", "2"),
    "rubric_rates": ("3", "7"),
}


class Predictor:
    """P(success | task, tier) from a stored model. Build with :meth:`from_arrays`."""

    def __init__(self, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        self.meta = dict(meta)
        self.spec = FeatureSpec.from_dict(dict(meta["feature_spec"]))
        self.arrays = dict(arrays)
        self._weights_t = self.arrays["weights"].T.copy()
        self._groups = {key: i for i, key in enumerate(meta["groups"])}

    @classmethod
    def from_arrays(cls, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Predictor:
        """Check that ``arrays`` are exactly what ``meta`` says (names, shapes, kinds), then
        build the predictor; ConfigError otherwise."""
        require_sklearn()
        import numpy as np

        if meta.get("feature_version") != FEATURE_VERSION:
            raise ConfigError(
                f"the model's features are version {meta.get('feature_version')!r}; "
                f"this gearshift reads version {FEATURE_VERSION}",
                hint="run `gearshift learn fit` again",
            )
        spec = FeatureSpec.from_dict(dict(meta.get("feature_spec") or {}))
        groups = meta.get("groups")
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise ConfigError("model metadata: 'groups' must be a list of strings")
        if set(arrays) != set(_ARRAYS):
            raise ConfigError(
                f"model arrays {sorted(arrays)} are not the expected {sorted(_ARRAYS)}"
            )
        sizes = {
            "3": len(TIERS),
            "2": 2,
            "W": spec.width,
            "T": spec.text_width,
            "G": len(groups),
            "N": arrays["sketch"].shape[0],
            "S": 1 << SKETCH_BITS,
            "7": 7,
        }
        for name, symbols in _ARRAYS.items():
            want = tuple(sizes[s] for s in symbols)
            got = arrays[name].shape
            if got != want:
                raise ConfigError(f"model array {name!r} has shape {got}, expected {want}")
            if arrays[name].dtype.kind not in "fiub" or arrays[name].dtype.hasobject:
                raise ConfigError(f"model array {name!r} is not numeric")
            if arrays[name].dtype.kind == "f" and not np.isfinite(arrays[name]).all():
                raise ConfigError(f"model array {name!r} holds NaN or infinite values")
        return cls(meta, arrays)

    @property
    def known_tiers(self) -> tuple[Tier, ...]:
        return tuple(t for t in TIERS if bool(self.arrays["known"][t.rank]))

    def predict(self, rows: Sequence[TaskText]) -> list[dict[Tier, float | None]]:
        """P(success) per tier for each row (``None`` for tiers without training data)."""
        probs = self.predict_array(rows)
        known = [bool(k) for k in self.arrays["known"]]
        return [{t: (float(p[t.rank]) if known[t.rank] else None) for t in TIERS} for p in probs]

    def predict_array(self, rows: Sequence[TaskText]) -> np.ndarray:
        """``(len(rows), 3)`` calibrated probabilities (unknown tiers included, meaningless)."""
        import numpy as np

        x = featurize(self.spec, rows, self.arrays["idf"])
        logits = np.asarray(x @ self._weights_t, dtype=np.float64) + self.arrays["bias"]
        return calibrated(logits, self.arrays["calibration"])

    def evidence(self, row: TaskText) -> list[GroupEvidence]:
        """The known outcomes of each context group the task belongs to (groups never seen in
        training are listed with zero counts)."""
        counts = self.arrays["group_counts"]
        out = []
        for key in group_keys(row):
            i = self._groups.get(key)
            if i is None:
                out.append(GroupEvidence(key, (0, 0, 0), (0, 0, 0)))
            else:
                s = tuple(int(v) for v in counts[i, :, 0])
                n = tuple(int(v) for v in counts[i, :, 1])
                out.append(GroupEvidence(key, s, n))  # type: ignore[arg-type]
        return out

    def neighbours(self, row: TaskText, k: int = 12) -> Neighbours | None:
        """The ``k`` known tasks whose wording is nearest (cosine of the sketches)."""
        import numpy as np

        known = self.arrays["sketch"]
        if known.shape[0] == 0:
            return None
        sims = known @ sketch([row.text])[0]
        k = min(k, sims.shape[0])
        nearest = np.argpartition(-sims, k - 1)[:k]
        counts = self.arrays["sketch_counts"][nearest].sum(axis=0)
        s = tuple(int(v) for v in counts[:, 0])
        n = tuple(int(v) for v in counts[:, 1])
        return Neighbours(k, s, n, float(sims[nearest].mean()))  # type: ignore[arg-type]


def calibrated(logits: np.ndarray, calibration: np.ndarray) -> np.ndarray:
    """Platt scaling per tier column: ``sigmoid(a * z + b)``."""
    import numpy as np

    z = logits * calibration[:, 0] + calibration[:, 1]
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))
    return out
