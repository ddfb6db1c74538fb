"""Leave-one-writer-out (LOWO) experiments for the zero-shot tier estimator.

    HF_HUB_OFFLINE=1 .mlvenv/bin/python scripts/zero_shot_embed.py --tokens --words  # torch
    .venv/bin/python scripts/zero_shot_experiments.py [--only NAME ...]   # about 5 minutes

Folds: each tuning writer of ``tests/data/routing/independent_tasks.jsonl`` (A, B, D to I) in
turn is left out; the model is trained on the hand-labelled set and the other tuning writers,
and predicts the left-out writer's tasks. Writer C (``split == "held-out"``) is never read: the
rows come from :func:`gearshift.routing.zeroshot_fit.training_rows`, which reads only
``split == "tune"``. Each candidate's tier comes from the same decision as the shipped
estimator's (P(tier >= sonnet), P(tier >= opus), abstain to sonnet under 0.45) unless it says
otherwise. Prints a markdown table: per-writer and pooled exact tier, and haiku<->opus count.

Candidates that need embeddings read ``bench/.cache/zero_shot/`` (``zero_shot_embed.py``); the
static ("model2vec-style") ones are computed here in numpy from the token table, with a plain
Python WordPiece tokenizer, as a torch-free runtime would. Without the cache only the TF-IDF
rows run. The table and what it means: docs/routing.md, "Leave-one-writer-out experiments".
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gearshift.catalog.tiers import Tier  # noqa: E402
from gearshift.routing.zeroshot import window  # noqa: E402
from gearshift.routing.zeroshot_fit import TrainingRow, training_rows  # noqa: E402

LABELLED = ROOT / "tests" / "data" / "labelled_tasks.jsonl"
INDEPENDENT = ROOT / "tests" / "data" / "routing" / "independent_tasks.jsonl"
CACHE = ROOT / "bench" / ".cache" / "zero_shot"
ORDER = (Tier.HAIKU, Tier.SONNET, Tier.OPUS)
ABSTAIN = 0.45


# ---------------------------------------------------------------- data


def labeller_tiers() -> dict[str, list[int]]:
    """Per tuning task id, the three labellers' tiers (for soft labels). Tune rows only."""
    out: dict[str, list[int]] = {}
    for line in INDEPENDENT.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        if d["split"] != "tune":
            continue
        out[d["id"]] = [ORDER.index(Tier.parse(v["tier"])) for v in d["labels"].values()]
    return out


def first_sentence(text: str) -> str:
    """The main clause: the text up to the first sentence end or line break."""
    return re.split(r"(?<=[.!?])\s+|\n", text.strip(), maxsplit=1)[0]


# ---------------------------------------------------------------- WordPiece (pure Python)

_PUNCT = re.compile(r"(\w+|[^\w\s])", re.UNICODE)


class WordPiece:
    """BERT-uncased tokenization (basic tokenizer + greedy longest-match WordPiece)."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self.index = {t: i for i, t in enumerate(tokens)}
        self.unk = self.index["[UNK]"]
        self.cache: dict[str, list[int]] = {}

    def words(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
        return _PUNCT.findall(text)

    def piece(self, word: str) -> list[int]:
        hit = self.cache.get(word)
        if hit is not None:
            return hit
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.index:
                    found = self.index[sub]
                    break
                end -= 1
            if found is None:
                ids = [self.unk]
                break
            ids.append(found)
            start = end
        if len(word) > 100:
            ids = [self.unk]
        self.cache[word] = ids
        return ids

    def __call__(self, text: str) -> list[int]:
        out: list[int] = []
        for w in self.words(text):
            out.extend(self.piece(w))
        return out


# ---------------------------------------------------------------- models

Fold = tuple[list[int], list[int]]


@dataclass
class Data:
    rows: list[TrainingRow]
    y: np.ndarray
    soft: list[list[int]]  # per row the labellers' tiers (one for a hand-labelled row)
    texts: list[str]
    cache: dict[str, Any] = field(default_factory=dict)


def tfidf(data: Data, train: list[int], test: list[int], *, first: float = 0.0) -> tuple[Any, Any]:
    """The shipped representation: word 1-2 + char_wb 2-5 TF-IDF, fitted on ``train``."""
    key = ("tfidf", tuple(test), first)
    if key in data.cache:
        return data.cache[key]
    tr = [data.texts[i] for i in train]
    te = [data.texts[i] for i in test]
    word = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True)
    blocks_tr = [word.fit_transform(tr), char.fit_transform(tr)]
    blocks_te = [word.transform(te), char.transform(te)]
    if first:
        head = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
        blocks_tr.append(head.fit_transform([first_sentence(t) for t in tr]) * first)
        blocks_te.append(head.transform([first_sentence(t) for t in te]) * first)
    out = (hstack(blocks_tr).tocsr(), hstack(blocks_te).tocsr())
    data.cache[key] = out
    return out


def ordinal_logits(
    xtr: Any,
    ytr: np.ndarray,
    xte: Any,
    *,
    c: float,
    balanced: bool = True,
    weights: np.ndarray | None = None,
    soft: list[list[int]] | None = None,
) -> np.ndarray:
    """Decision values of the two ordinal heads (tier >= sonnet, tier >= opus) on ``xte``."""
    out = []
    for step in (1, 2):
        if soft is None:
            x, t, w = xtr, (ytr >= step).astype(int), weights
        else:  # one copy of each row per labeller, weight 1/labellers
            index = [i for i, labels in enumerate(soft) for _ in labels]
            t = np.array([int(v >= step) for labels in soft for v in labels])
            w = np.array([1.0 / len(labels) for labels in soft for _ in labels])
            x = xtr[index]
        lr = LogisticRegression(C=c, class_weight="balanced" if balanced else None, max_iter=5000)
        lr.fit(x, t, sample_weight=w)
        out.append(lr.decision_function(xte))
    return np.vstack(out).T


def decide(logits: np.ndarray, abstain: float = ABSTAIN) -> np.ndarray:
    """The shipped decision rule on ordinal logits."""
    up1 = 1 / (1 + np.exp(-logits[:, 0]))
    up2 = np.minimum(up1, 1 / (1 + np.exp(-logits[:, 1])))
    probs = np.vstack([1 - up1, up1 - up2, up2]).T
    best = probs.argmax(1)
    sure = probs.max(1) >= abstain
    return np.where((best == 1) | sure, best, 1)


Candidate = Callable[[Data, list[int], list[int]], np.ndarray]


def tfidf_candidate(
    c: float = 30.0, *, balanced: bool = True, soft: bool = False, first: float = 0.0
) -> Candidate:
    def run(data: Data, train: list[int], test: list[int]) -> np.ndarray:
        xtr, xte = tfidf(data, train, test, first=first)
        s = [data.soft[i] for i in train] if soft else None
        return ordinal_logits(xtr, data.y[train], xte, c=c, balanced=balanced, soft=s)

    return run


def svm_candidate(c: float) -> Candidate:
    """Calibrated linear SVMs (sigmoid, 3-fold) as the two ordinal heads, on the TF-IDF."""

    def run(data: Data, train: list[int], test: list[int]) -> np.ndarray:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import LinearSVC

        xtr, xte = tfidf(data, train, test)
        out = []
        for step in (1, 2):
            svm = LinearSVC(C=c, class_weight="balanced", max_iter=20000)
            model = CalibratedClassifierCV(svm, method="sigmoid", cv=3)
            model.fit(xtr, (data.y[train] >= step).astype(int))
            p = np.clip(model.predict_proba(xte)[:, 1], 1e-6, 1 - 1e-6)
            out.append(np.log(p / (1 - p)))
        return np.vstack(out).T

    return run


def dense_candidate(name: str, c: float, *, standardize: bool = False) -> Candidate:
    def run(data: Data, train: list[int], test: list[int]) -> np.ndarray:
        e = data.cache[name]
        xtr, xte = e[train], e[test]
        if standardize:  # the training fold's mean and spread per dimension
            mean, std = xtr.mean(0), xtr.std(0) + 1e-9
            xtr, xte = (xtr - mean) / std, (xte - mean) / std
        return ordinal_logits(xtr, data.y[train], xte, c=c)

    return run


def concat_candidate(name: str, scale: float, c: float = 30.0) -> Candidate:
    def run(data: Data, train: list[int], test: list[int]) -> np.ndarray:
        xtr, xte = tfidf(data, train, test)
        e = data.cache[name] * scale
        xtr = hstack([xtr, csr_matrix(e[train])]).tocsr()
        xte = hstack([xte, csr_matrix(e[test])]).tocsr()
        return ordinal_logits(xtr, data.y[train], xte, c=c)

    return run


def fusion_candidate(a: Candidate, b: Candidate, weight: float) -> Candidate:
    def run(data: Data, train: list[int], test: list[int]) -> np.ndarray:
        return (1 - weight) * memo(data, a, train, test) + weight * memo(data, b, train, test)

    return run


def memo(data: Data, cand: Candidate, train: list[int], test: list[int]) -> np.ndarray:
    key = ("logits", id(cand), tuple(test))
    if key not in data.cache:
        data.cache[key] = cand(data, train, test)
    result: np.ndarray = data.cache[key]
    return result


# ---------------------------------------------------------------- static embeddings


def static_embeddings(data: Data, dims: int, weighting: str) -> np.ndarray:
    """Mean-pooled static WordPiece embeddings of every text (model2vec-style): the token
    table (each token alone through MiniLM) reduced by PCA to ``dims``; ``weighting`` "none"
    or "zipf" (model2vec's SIF weight from the token's rank in the vocabulary)."""
    table = np.load(CACHE / "tokens.npz")
    tokens = [str(t) for t in table["tokens"]]
    emb = table["emb"]
    if dims < emb.shape[1]:
        emb = PCA(n_components=dims, random_state=0).fit_transform(emb)
    if weighting == "zipf":
        rank = np.arange(1, len(tokens) + 1)
        emb = emb * np.log(1 + rank)[:, None] / np.log(1 + rank).max()
    tok = WordPiece(tokens)
    special = {i for i, t in enumerate(tokens) if t.startswith("[") and t.endswith("]")}
    out = np.zeros((len(data.texts), emb.shape[1]))
    for n, text in enumerate(data.texts):
        ids = [i for i in tok(text) if i not in special]
        if ids:
            v = emb[ids].mean(0)
            out[n] = v / (np.linalg.norm(v) or 1.0)
    return out


def static_word_embeddings(data: Data, dims: int) -> np.ndarray:
    """As :func:`static_embeddings`, but a word of the dictionary table (``words.npz``) counts
    as one item with its whole-word embedding; other words fall back to WordPiece tokens."""
    table = np.load(CACHE / "tokens.npz")
    words = np.load(CACHE / "words.npz")
    tokens = [str(t) for t in table["tokens"]]
    both = np.vstack([table["emb"], words["emb"]])
    if dims < both.shape[1]:
        both = PCA(n_components=dims, random_state=0).fit_transform(both)
    word_index = {str(w): len(tokens) + i for i, w in enumerate(words["words"])}
    tok = WordPiece(tokens)
    special = {i for i, t in enumerate(tokens) if t.startswith("[") and t.endswith("]")}
    out = np.zeros((len(data.texts), both.shape[1]))
    for n, text in enumerate(data.texts):
        ids: list[int] = []
        for w in tok.words(text):
            if w in word_index:
                ids.append(word_index[w])
            else:
                ids.extend(i for i in tok.piece(w) if i not in special)
        if ids:
            v = both[ids].mean(0)
            out[n] = v / (np.linalg.norm(v) or 1.0)
    return out


# ---------------------------------------------------------------- evaluation


def evaluate(data: Data, folds: dict[str, Fold], cand: Candidate) -> dict[str, Any]:
    return scored(data.y, folds, lambda train, test: decide(memo(data, cand, train, test)))


def scored(
    y: np.ndarray, folds: dict[str, Fold], predict: Callable[[list[int], list[int]], np.ndarray]
) -> dict[str, Any]:
    """Each left-out writer's tiers predicted: pooled exact tier, per writer, haiku<->opus, and
    the confusion matrix (rows: the labelled tier)."""
    confusion = np.zeros((3, 3), dtype=int)
    per: dict[str, float] = {}
    for writer, (train, test) in folds.items():
        pred = predict(train, test)
        truth = y[test]
        for t, p in zip(truth, pred, strict=True):
            confusion[t, p] += 1
        per[writer] = float((pred == truth).mean())
    return {
        "pooled": float(np.trace(confusion) / confusion.sum()),
        "per": per,
        "ho": int(confusion[0, 2] + confusion[2, 0]),
        "confusion": confusion.tolist(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="substrings of candidate names to run")
    args = parser.parse_args()
    rows = training_rows(LABELLED, INDEPENDENT)
    assert all(r.group != "C" for r in rows), "writer C must never be read"
    soft_map = labeller_tiers()
    data = Data(
        rows=rows,
        y=np.array([ORDER.index(r.tier) for r in rows]),
        soft=[
            soft_map.get(r.id, [ORDER.index(r.tier)]) if r.group != "L" else [ORDER.index(r.tier)]
            for r in rows
        ],
        texts=[window(r.text) for r in rows],
    )
    writers = sorted({r.group for r in rows} - {"L"})
    folds = {
        w: (
            [i for i, r in enumerate(rows) if r.group != w],
            [i for i, r in enumerate(rows) if r.group == w],
        )
        for w in writers
    }
    have_sent = (CACHE / "sentences.npz").exists()
    if have_sent:
        s = np.load(CACHE / "sentences.npz")
        by_id = dict(zip((str(i) for i in s["ids"]), s["emb"], strict=True))
        data.cache["minilm"] = np.array([by_id[r.id] for r in rows])
    have_tokens = (CACHE / "tokens.npz").exists()

    base = tfidf_candidate()
    cands: dict[str, Candidate] = {"baseline: shipped TF-IDF ordinal (C 30, balanced)": base}
    for c in (3.0, 10.0, 100.0):
        cands[f"(c) TF-IDF ordinal C {c:g}"] = tfidf_candidate(c)
    cands["(c) TF-IDF ordinal, no class weights"] = tfidf_candidate(balanced=False)
    cands["(c) soft labels (one copy per labeller)"] = tfidf_candidate(soft=True)
    cands["(c) + first-sentence word block x1"] = tfidf_candidate(first=1.0)
    cands["(c) + first-sentence word block x0.5"] = tfidf_candidate(first=0.5)
    if have_sent:
        for c in (0.3, 1.0, 3.0, 10.0):
            cands[f"(a) MiniLM ordinal C {c:g}"] = dense_candidate("minilm", c)
        for scale in (0.5, 1.0, 2.0):
            cands[f"(a) TF-IDF + MiniLM x{scale:g} concatenated"] = concat_candidate(
                "minilm", scale
            )
        emb = dense_candidate("minilm", 1.0)
        for w in (0.3, 0.5, 0.7):
            cands[f"(a) late fusion: {1 - w:.1f} TF-IDF + {w:.1f} MiniLM logits"] = (
                fusion_candidate(base, emb, w)
            )
    if have_tokens:
        for dims, weighting in ((128, "none"), (128, "zipf"), (64, "zipf"), (384, "zipf")):
            name = f"static{dims}{weighting}"
            data.cache[name] = static_embeddings(data, dims, weighting)
            for c in (1.0, 3.0):
                cands[f"(b) static {dims}d {weighting} ordinal C {c:g}"] = dense_candidate(name, c)
            st = dense_candidate(name, 3.0)
            for w in (0.3, 0.5):
                cands[f"(b) late fusion: TF-IDF + {w:.1f} static {dims}d {weighting}"] = (
                    fusion_candidate(base, st, w)
                )
            cands[f"(b) TF-IDF + static {dims}d {weighting} x1 concatenated"] = concat_candidate(
                name, 1.0
            )

    c10 = tfidf_candidate(10.0)
    for c in (0.1, 0.5):
        cands[f"(c) calibrated linear SVM heads C {c:g}"] = svm_candidate(c)
    cands["(c) soft labels, C 10"] = tfidf_candidate(10.0, soft=True)
    c3 = tfidf_candidate(3.0)
    cands["(c) ensemble: mean logits of C 3, 10, 30"] = fusion_candidate(
        fusion_candidate(c3, c10, 0.5), base, 1 / 3
    )
    c10_first = tfidf_candidate(10.0, first=1.0)
    cands["(c) TF-IDF ordinal C 10 + first-sentence block x1"] = c10_first
    if have_sent:
        mini = dense_candidate("minilm", 1.0)
        cands["(a) late fusion: 0.5 TF-IDF C 10 + 0.5 MiniLM logits"] = fusion_candidate(
            c10, mini, 0.5
        )
    if have_tokens:
        for dims in (128, 384):
            name = f"static{dims}zipf"
            for c in (0.01, 0.03, 0.1):
                cands[f"(b) static {dims}d zipf standardized C {c:g}"] = dense_candidate(
                    name, c, standardize=True
                )
            st = dense_candidate(name, 0.03, standardize=True)
            for base_name, b in (("C 30", base), ("C 10", c10), ("C 10 + first", c10_first)):
                for w in (0.3, 0.5):
                    cands[
                        f"(b) late fusion: TF-IDF {base_name} + {w:.1f} static {dims}d std C 0.03"
                    ] = fusion_candidate(b, st, w)

    if have_tokens and (CACHE / "words.npz").exists():
        for dims in (128, 384):
            name = f"words{dims}"
            data.cache[name] = static_word_embeddings(data, dims)
            for c in (0.03, 0.3):
                cands[f"(b) static words {dims}d standardized C {c:g}"] = dense_candidate(
                    name, c, standardize=True
                )
            sw = dense_candidate(name, 0.03, standardize=True)
            for w in (0.3, 0.5):
                cands[f"(b) late fusion: TF-IDF C 30 + {w:.1f} static words {dims}d"] = (
                    fusion_candidate(base, sw, w)
                )

    group = {"ba": 0, "(a": 1, "(b": 2, "(c": 3}
    rows = [
        (name, functools.partial(evaluate, data, folds, cand))
        for name, cand in sorted(cands.items(), key=lambda kv: group[kv[0][:2]])
        if not args.only or any(o in name for o in args.only) or cand is base
    ]
    print_table(writers, rows)
    return 0


def print_table(
    writers: Sequence[str], rows: Sequence[tuple[str, Callable[[], dict[str, Any]]]]
) -> None:
    """The markdown table of the candidates, each row's result computed as it is printed (its
    time and confusion matrix on stderr): pooled exact tier, haiku<->opus, per writer."""
    print("| candidate (LOWO over A, B, D–I) | pooled | haiku↔opus | " + " | ".join(writers) + " |")
    print("|---|---:|---:|" + "---:|" * len(writers))
    for name, run in rows:
        t0 = time.perf_counter()
        r = run()
        cells = " | ".join(f"{100 * r['per'][w]:.1f}" for w in writers)
        print(f"| {name} | {100 * r['pooled']:.1f}% | {r['ho']} | {cells} |", flush=True)
        print(f"  {time.perf_counter() - t0:.0f}s confusion {r['confusion']}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
