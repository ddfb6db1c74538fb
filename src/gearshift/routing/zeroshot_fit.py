"""Training the learned zero-shot estimator (:mod:`.zeroshot`) from labelled tasks.

Needs scikit-learn (the ``learn`` extra). :func:`training_rows` reads the two labelled sets —
the hand-written ``labelled_tasks.jsonl`` (every row) and the *tuning* part of the independent
set (writers A and B; the held-out writer C is never read here) — and :func:`fit` returns the
artefact as a JSON-ready dict, the same bytes for the same inputs. ``scripts/train_zero_shot.py``
writes it to ``gearshift/routing/data``; :func:`cross_writer` is the check used to choose the
options: train without one writer, test on that writer.

Labels: a labelled-set row's tier and scores as given; an independent row's majority tier and
the mean of its three labellers' scores, weighted 1 when all three agreed on the tier and
``split_weight`` when one dissented.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gearshift.catalog.tiers import Tier
from gearshift.errors import DefinitionError
from gearshift.routing.calibration import load_labelled
from gearshift.routing.features import require_sklearn
from gearshift.routing.rubric import DIMENSIONS
from gearshift.routing.zeroshot import FORMAT, FORMAT_VERSION, window

__all__ = [
    "Options",
    "TrainingRow",
    "cross_writer",
    "dump",
    "fit",
    "load_independent",
    "training_rows",
]

_ORDER = (Tier.HAIKU, Tier.SONNET, Tier.OPUS)
_DIM_ALIASES = {"reasoning": "multi_step", "multi_step": "multi_step"}


@dataclass(frozen=True, slots=True)
class TrainingRow:
    """A labelled task as the trainer sees it. ``group``: who wrote it (``L`` for the
    hand-written set, else the independent writer)."""

    id: str
    text: str
    tier: Tier
    scores: tuple[float, float, float]
    group: str
    unanimous: bool = True


@dataclass(frozen=True, slots=True)
class Options:
    """The model's options (chosen by :func:`cross_writer` on writers A and B)."""

    word_ngram: tuple[int, int] = (1, 2)
    char_ngram: tuple[int, int] = (2, 5)
    word_min_df: int = 1
    char_min_df: int = 2
    char_scale: float = 1.0
    c: float = 30.0
    ridge_alpha: float = 1.0
    abstain_below: float = 0.45
    split_weight: float = 1.0
    precision: int = 5


def load_independent(path: Path | str, *, split: str = "tune") -> list[TrainingRow]:
    """The rows of ``independent_tasks.jsonl`` in ``split`` (``tune`` or ``held-out``)."""
    rows: list[TrainingRow] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if data["split"] != split:
                continue
            labels = data["labels"].values()
            means = tuple(
                sum(_score(label["scores"], d) for label in labels) / len(labels)
                for d in DIMENSIONS
            )
            rows.append(
                TrainingRow(
                    str(data["id"]),
                    str(data["text"]),
                    Tier.parse(data["tier"]),
                    (means[0], means[1], means[2]),
                    str(data["writer"]),
                    data["agreement"] == 3,
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise DefinitionError(f"{path}:{number}: bad independent task: {exc}") from None
    return rows


def _score(scores: dict[str, int], dimension: str) -> int:
    for key, value in scores.items():
        if _DIM_ALIASES.get(key, key) == dimension:
            return int(value)
    raise KeyError(dimension)


def training_rows(labelled: Path | str, independent: Path | str) -> list[TrainingRow]:
    """Every hand-labelled row and the independent set's tuning rows (never its held-out)."""
    rows = [
        TrainingRow(r.id, r.text, r.tier, tuple(map(float, r.scores.as_tuple())), "L")  # type: ignore[arg-type]
        for r in load_labelled(labelled)
    ]
    return rows + load_independent(independent, split="tune")


def _weights(rows: Sequence[TrainingRow], options: Options) -> list[float]:
    """1 for a unanimous or hand-labelled row, ``split_weight`` for a 2-of-3 one."""
    return [1.0 if r.unanimous else options.split_weight for r in rows]


def fit(rows: Sequence[TrainingRow], options: Options | None = None) -> dict[str, Any]:
    """The artefact (a JSON-ready dict) of a model trained on ``rows``."""
    require_sklearn()
    import numpy as np
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge

    o = options or Options()
    texts = [window(r.text) for r in rows]
    vectorizers = {
        "word": TfidfVectorizer(ngram_range=o.word_ngram, min_df=o.word_min_df, sublinear_tf=True),
        "char": TfidfVectorizer(
            analyzer="char_wb", ngram_range=o.char_ngram, min_df=o.char_min_df, sublinear_tf=True
        ),
    }
    scales = {"word": 1.0, "char": o.char_scale}
    x = hstack([v.fit_transform(texts) * scales[n] for n, v in vectorizers.items()]).tocsr()
    y = np.array([_ORDER.index(r.tier) for r in rows])
    w = np.array(_weights(rows, o))
    coef: list[np.ndarray] = []
    intercept: list[float] = []
    for step in (1, 2):
        lr = LogisticRegression(C=o.c, class_weight="balanced", max_iter=5000)
        lr.fit(x, (y >= step).astype(int), sample_weight=w)
        coef.append(lr.coef_[0])
        intercept.append(float(lr.intercept_[0]))
    ridge = Ridge(alpha=o.ridge_alpha).fit(x, np.array([r.scores for r in rows]), sample_weight=w)
    coef.extend(ridge.coef_)
    intercept.extend(float(v) for v in ridge.intercept_)
    matrix = np.vstack(coef)
    blocks: list[dict[str, Any]] = []
    heads_coef: dict[str, list[list[float]]] = {}
    start = 0
    for name, vec in vectorizers.items():
        vocabulary = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
        end = start + len(vocabulary)
        blocks.append(
            {
                "name": name,
                "analyzer": "word" if name == "word" else "char_wb",
                "ngram": list(vec.ngram_range),
                "scale": scales[name],
                "vocabulary": vocabulary,
                "idf": _rounded(vec.idf_, o.precision),
            }
        )
        heads_coef[name] = [_rounded(row, o.precision) for row in matrix[:, start:end]]
        start = end
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "metadata": _metadata(rows, o),
        "abstain_below": o.abstain_below,
        "thresholds": {"haiku_max": 4, "sonnet_max": 6},
        "heads": {
            "names": ["tier>=sonnet", "tier>=opus", *DIMENSIONS],
            "intercept": [round(v, o.precision + 2) for v in intercept],
            "coef": heads_coef,
        },
        "blocks": blocks,
        "examples": {"text": texts, "tier": [r.tier.value for r in rows]},
    }


def _rounded(values: Any, precision: int) -> list[float]:
    return [round(float(v), precision) for v in values]


def _metadata(rows: Sequence[TrainingRow], o: Options) -> dict[str, Any]:
    digest = hashlib.sha256("\n".join(f"{r.id}\t{r.text}" for r in rows).encode()).hexdigest()
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        per = counts.setdefault(r.group, dict.fromkeys((t.value for t in _ORDER), 0))
        per[r.tier.value] += 1
    options = asdict(o)
    options["word_ngram"] = list(o.word_ngram)
    options["char_ngram"] = list(o.char_ngram)
    return {"rows": len(rows), "by_writer": counts, "rows_sha256": digest, "options": options}


def cross_writer(rows: Sequence[TrainingRow], options: Options | None = None) -> dict[str, Any]:
    """Train without each independent writer in turn and predict that writer's tasks: exact-tier
    accuracy per writer and overall, and the pooled confusion matrix (rows: human tier)."""
    from gearshift.routing.zeroshot import LearnedEstimator

    writers = sorted({r.group for r in rows} - {"L"})
    confusion = [[0, 0, 0] for _ in _ORDER]
    per_writer: dict[str, float] = {}
    for writer in writers:
        artefact = fit([r for r in rows if r.group != writer], options)
        estimator = LearnedEstimator.from_artefact(artefact)
        held = [r for r in rows if r.group == writer]
        right = 0
        for r in held:
            predicted = estimator.predict(r.text).tier
            confusion[_ORDER.index(r.tier)][_ORDER.index(predicted)] += 1
            right += predicted is r.tier
        per_writer[writer] = right / len(held)
    total = sum(map(sum, confusion))
    correct = sum(confusion[i][i] for i in range(3))
    return {
        "accuracy": correct / total if total else 0.0,
        "per_writer": per_writer,
        "confusion": confusion,
        "haiku_opus": confusion[0][2] + confusion[2][0],
    }


def dump(artefact: dict[str, Any]) -> bytes:
    """The artefact as gzip'd compact JSON, byte for byte the same for the same model."""
    text = json.dumps(artefact, ensure_ascii=False, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)
