"""LOWO experiments: learn the three rubric scores, not the tier, from the labelled set.

    .venv/bin/python scripts/zero_shot_questions.py            # about 25 minutes on 1 core
    .venv/bin/python scripts/zero_shot_questions.py --no-stack  # without (2), about 12 minutes

Same protocol as ``scripts/zero_shot_experiments.py`` (whose helpers it reuses): each tuning
writer (A, B, D to I) is left out in turn, the model trains on the hand-labelled set and the
other seven writers, and predicts the left-out writer; pooled exact tier over the 1,140 tuning
tasks and the count of haiku<->opus confusions. Writer C is filtered out at load time: rows
come from :func:`training_rows` (``split == "tune"`` only) and the per-labeller scores from
:func:`labeller_scores`, which drops every line whose split is not ``tune`` or whose writer is
C before keeping anything from it; both are asserted.

Candidates (all over the shipped representation, word 1-2 + char_wb 2-5 TF-IDF, refitted on
each training fold):

1. Three per-question classifiers (scores 1-3; C 30, balanced classes), with labels either the
   labellers' mean score rounded, or one copy per labeller weighted 1/labellers; heads either
   ordinal (P(score >= 2), P(score >= 3)) or multinomial. Each gives two tiers: the sum of the
   three most likely scores in the rubric bands (3-4 haiku, 5-6 sonnet, 7-9 opus), and the
   expected total (sum of the per-question expectations; < 4.5 haiku, < 6.5 sonnet).
2. Stacking: the nine per-question probabilities (mean-label ordinal model) and the shipped
   tier model's two logits feed a small ordinal model (standardized, C 1, balanced), then the
   shipped decision (abstain to sonnet under 0.45). Stage-2 training features are out-of-fold:
   inside each outer fold, an inner leave-one-group-out over the outer training rows (the seven
   writers and the hand-labelled set as groups) refits TF-IDF and both first-stage models, so
   no left-out writer is seen at any stage. A second stage-2 model on the same features
   (multinomial, C 1, argmax with the abstention) was added after seeing the first's result.
3. The tier distribution implied by the per-question distributions (their convolution, summed
   over each band), alone and averaged 50/50 with the shipped tier model's three
   probabilities, then the shipped decision (argmax, abstain to sonnet under 0.45).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from zero_shot_experiments import (  # noqa: E402
    ABSTAIN,
    INDEPENDENT,
    LABELLED,
    ORDER,
    decide,
    print_table,
    scored,
)

from gearshift.routing.zeroshot import window  # noqa: E402
from gearshift.routing.zeroshot_fit import training_rows  # noqa: E402

C_FIRST = 30.0
Scores = tuple[int, int, int]


# ---------------------------------------------------------------- data


def labeller_scores() -> dict[str, list[Scores]]:
    """Per tuning task id, each labeller's three scores (reasoning, judgment, stakes).
    Writer C's lines (split not ``tune``, or writer ``C``) are skipped before use."""
    out: dict[str, list[Scores]] = {}
    for line in INDEPENDENT.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        if d.get("split") != "tune" or d.get("writer") == "C":
            continue
        per = []
        for label in d["labels"].values():
            s = label["scores"]
            per.append((int(s["reasoning"]), int(s["judgment"]), int(s["stakes"])))
        out[d["id"]] = per
    return out


class Data:
    def __init__(self) -> None:
        rows = training_rows(LABELLED, INDEPENDENT)
        assert all(r.group != "C" for r in rows), "writer C must never be read"
        scores = labeller_scores()
        self.rows = rows
        self.groups = np.array([r.group for r in rows])
        self.y = np.array([ORDER.index(r.tier) for r in rows])
        self.texts = [window(r.text) for r in rows]
        # per row, each labeller's scores (the hand-labelled set: its one set of scores)
        self.labels: list[list[Scores]] = []
        for r in rows:
            if r.group == "L":
                self.labels.append([tuple(round(v) for v in r.scores)])  # type: ignore[misc]
            else:
                self.labels.append(scores[r.id])
        # the rounded mean score per question (half up: 1.5 -> 2, 2.5 -> 3)
        self.mean = np.array(
            [
                [int(np.floor(np.mean([s[q] for s in ls]) + 0.5)) for q in range(3)]
                for ls in self.labels
            ]
        )
        self.cache: dict[Any, Any] = {}


def features(data: Data, train: list[int], test: list[int]) -> tuple[Any, Any]:
    """The shipped TF-IDF, fitted on ``train`` only (cached by both index sets)."""
    key = ("x", tuple(train), tuple(test))
    if key not in data.cache:
        tr = [data.texts[i] for i in train]
        te = [data.texts[i] for i in test]
        word = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)
        xtr = hstack([word.fit_transform(tr), char.fit_transform(tr)]).tocsr()
        xte = hstack([word.transform(te), char.transform(te)]).tocsr()
        data.cache[key] = (xtr, xte)
    result: tuple[Any, Any] = data.cache[key]
    return result


# ---------------------------------------------------------------- first-stage models


def tier_logits(data: Data, train: list[int], test: list[int]) -> np.ndarray:
    """The shipped tier model (ordinal, C 30, balanced): two decision values per test row."""
    key = ("tier", tuple(train), tuple(test))
    if key not in data.cache:
        xtr, xte = features(data, train, test)
        out = []
        for step in (1, 2):
            lr = LogisticRegression(C=30.0, class_weight="balanced", max_iter=5000)
            lr.fit(xtr, (data.y[train] >= step).astype(int))
            out.append(lr.decision_function(xte))
        data.cache[key] = np.vstack(out).T
    result: np.ndarray = data.cache[key]
    return result


def tier_probs(logits: np.ndarray) -> np.ndarray:
    up1 = 1 / (1 + np.exp(-logits[:, 0]))
    up2 = np.minimum(up1, 1 / (1 + np.exp(-logits[:, 1])))
    return np.vstack([1 - up1, up1 - up2, up2]).T


def question_probs(
    data: Data, train: list[int], test: list[int], *, labels: str, heads: str
) -> np.ndarray:
    """P(score = 1, 2, 3) per test row and question: shape (n_test, 3 questions, 3 scores).

    ``labels``: "mean" (rounded mean over labellers, one row each) or "each" (one copy per
    labeller, weight 1/labellers). ``heads``: "ordinal" or "multinomial"."""
    key = ("q", labels, heads, tuple(train), tuple(test))
    if key in data.cache:
        result: np.ndarray = data.cache[key]
        return result
    xtr, xte = features(data, train, test)
    if labels == "mean":
        index = list(range(len(train)))
        target = data.mean[train]
        weight = np.ones(len(train))
    else:
        index, tgt, w = [], [], []
        for k, i in enumerate(train):
            for s in data.labels[i]:
                index.append(k)
                tgt.append(s)
                w.append(1.0 / len(data.labels[i]))
        target, weight = np.array(tgt), np.array(w)
    x = xtr[index]
    out = np.zeros((xte.shape[0], 3, 3))
    for q in range(3):
        t = target[:, q]
        if heads == "ordinal":
            up = []
            for step in (2, 3):
                lr = LogisticRegression(C=C_FIRST, class_weight="balanced", max_iter=5000)
                lr.fit(x, (t >= step).astype(int), sample_weight=weight)
                up.append(lr.predict_proba(xte)[:, 1])
            up2 = np.minimum(up[0], up[1])
            out[:, q] = np.vstack([1 - up[0], up[0] - up2, up2]).T
        else:
            lr = LogisticRegression(C=C_FIRST, class_weight="balanced", max_iter=5000)
            lr.fit(x, t, sample_weight=weight)
            p = lr.predict_proba(xte)
            for j, cls in enumerate(lr.classes_):
                out[:, q, int(cls) - 1] = p[:, j]
    data.cache[key] = out
    return out


# ---------------------------------------------------------------- decoders


def band(total: np.ndarray, haiku_below: float, opus_from: float) -> np.ndarray:
    return np.where(total < haiku_below, 0, np.where(total >= opus_from, 2, 1))


def sum_of_argmax(p: np.ndarray) -> np.ndarray:
    return band((p.argmax(2) + 1).sum(1), 4.5, 6.5)


def expected_total(p: np.ndarray) -> np.ndarray:
    return band((p * np.array([1, 2, 3])).sum((1, 2)), 4.5, 6.5)


def convolved_tiers(p: np.ndarray) -> np.ndarray:
    """P(haiku, sonnet, opus) from the distribution of the total (questions independent)."""
    out = np.zeros((p.shape[0], 3))
    for n in range(p.shape[0]):
        dist = np.array([1.0])  # index: total - (questions so far)
        for q in range(3):
            dist = np.convolve(dist, p[n, q])
        # dist[k] = P(total = 3 + k), k = 0..6
        out[n] = [dist[:2].sum(), dist[2:4].sum(), dist[4:].sum()]
    return out


def decide_probs(probs: np.ndarray, abstain: float = ABSTAIN) -> np.ndarray:
    """The shipped decision on three tier probabilities: argmax, abstain to sonnet."""
    best = probs.argmax(1)
    sure = probs.max(1) >= abstain
    return np.where((best == 1) | sure, best, 1)


# ---------------------------------------------------------------- stacking


def stack_features(data: Data, train: list[int], test: list[int]) -> np.ndarray:
    """Nine per-question probabilities (mean labels, ordinal) and the tier model's two logits."""
    p = question_probs(data, train, test, labels="mean", heads="ordinal")
    return np.hstack([p.reshape(len(test), 9), tier_logits(data, train, test)])


def stage_two(data: Data, train: list[int], test: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold stage-1 features of ``train`` and stage-1 features of ``test``, both
    standardized on ``train``'s."""
    from sklearn.preprocessing import StandardScaler

    key = ("stack", tuple(train), tuple(test))
    if key not in data.cache:
        z = np.zeros((len(train), 11))
        pos = {i: k for k, i in enumerate(train)}
        for g in sorted(set(data.groups[train])):
            itest = [i for i in train if data.groups[i] == g]
            itrain = [i for i in train if data.groups[i] != g]
            t0 = time.perf_counter()
            z[[pos[i] for i in itest]] = stack_features(data, itrain, itest)
            print(f"    inner {g}: {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
        zte = stack_features(data, train, test)
        scaler = StandardScaler().fit(z)
        data.cache[key] = (scaler.transform(z), scaler.transform(zte))
    result: tuple[np.ndarray, np.ndarray] = data.cache[key]
    return result


def stacked(data: Data, train: list[int], test: list[int]) -> np.ndarray:
    """Second stage: ordinal heads (C 1, balanced), the shipped decision."""
    z, zte = stage_two(data, train, test)
    out = []
    for step in (1, 2):
        lr = LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000)
        lr.fit(z, (data.y[train] >= step).astype(int))
        out.append(lr.decision_function(zte))
    return decide(np.vstack(out).T)


def stacked_multinomial(data: Data, train: list[int], test: list[int]) -> np.ndarray:
    """Second stage: multinomial (C 1, no class weights), argmax and abstain to sonnet.
    Added after seeing the ordinal stacker's few sonnets and many haiku<->opus."""
    z, zte = stage_two(data, train, test)
    lr = LogisticRegression(C=1.0, max_iter=5000).fit(z, data.y[train])
    return decide_probs(lr.predict_proba(zte))


# ---------------------------------------------------------------- evaluation

Predictor = Callable[[Data, list[int], list[int]], np.ndarray]


def evaluate(data: Data, folds: dict[str, tuple[list[int], list[int]]], fn: Predictor) -> dict:
    return scored(data.y, folds, lambda train, test: fn(data, train, test))


def candidates(stack: bool) -> dict[str, Predictor]:
    c: dict[str, Predictor] = {
        "baseline: shipped TF-IDF ordinal (C 30, balanced)": lambda d, tr, te: decide(
            tier_logits(d, tr, te)
        )
    }
    for labels in ("mean", "each"):
        for heads in ("ordinal", "multinomial"):

            def q(d: Data, tr: list[int], te: list[int], labels=labels, heads=heads) -> np.ndarray:
                return question_probs(d, tr, te, labels=labels, heads=heads)

            name = f"{heads}, {'rounded mean' if labels == 'mean' else 'one copy per labeller'}"
            c[f"(1) questions {name}: sum of most likely scores"] = lambda d, tr, te, q=q: (
                sum_of_argmax(q(d, tr, te))
            )
            c[f"(1) questions {name}: expected total"] = lambda d, tr, te, q=q: expected_total(
                q(d, tr, te)
            )
            c[f"(3) questions {name}: convolved tier probs, abstain"] = lambda d, tr, te, q=q: (
                decide_probs(convolved_tiers(q(d, tr, te)))
            )
            c[f"(3) 0.5 tier model + 0.5 questions {name} (convolved), abstain"] = (
                lambda d, tr, te, q=q: decide_probs(
                    0.5 * tier_probs(tier_logits(d, tr, te)) + 0.5 * convolved_tiers(q(d, tr, te))
                )
            )
    if stack:
        c["(2) stacking: 9 question probs + 2 tier logits, nested LOWO, ordinal C 1"] = stacked
        c["(2) the same stacking features, multinomial C 1, abstain"] = stacked_multinomial
    return c


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-stack", action="store_true", help="skip (2), the slow one")
    parser.add_argument("--only", nargs="*", help="substrings of candidate names to run")
    args = parser.parse_args()
    data = Data()
    writers = sorted(set(data.groups) - {"L"})
    assert "C" not in writers and len(data.y) - int((data.groups == "L").sum()) == 1140
    folds = {
        w: (
            [i for i in range(len(data.y)) if data.groups[i] != w],
            [i for i in range(len(data.y)) if data.groups[i] == w],
        )
        for w in writers
    }
    rows = [
        (name, functools.partial(evaluate, data, folds, fn))
        for name, fn in candidates(not args.no_stack).items()
        if not args.only or name.startswith("baseline") or any(o in name for o in args.only)
    ]
    print_table(writers, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
