"""The learned zero-shot estimator: a tier from the words of a task, trained on labelled tasks.

A team with no outcomes yet still needs a tier for every task. The keyword estimator reads cue
phrases written by one hand and holds up poorly on other people's words; this estimator learns
instead, from tasks people labelled (``tests/data/labelled_tasks.jsonl`` and the tuning part of
``tests/data/routing/independent_tasks.jsonl``), with :mod:`.zeroshot_fit` (run by
``scripts/train_zero_shot.py``):

* the text becomes word 1-2-gram and character 2-5-gram TF-IDF vectors (scikit-learn's
  ``TfidfVectorizer`` with sublinear counts, reproduced here exactly in plain Python);
* an ordinal model gives the tier: two logistic regressions for P(tier >= sonnet) and
  P(tier >= opus), so a task's probabilities respect the order haiku < sonnet < opus;
* a task whose most likely tier is haiku or opus but with a probability under the calibrated
  ``abstain_below`` goes to sonnet: a wrong haiku or opus is the costly mistake;
* three ridge regressions give the rubric scores, nudged into the chosen tier's band, so the
  assessment adds up like any other;
* the nearest labelled tasks (cosine of the word vectors) are the evidence: "like: <task> (opus)".

The model is a gzip'd JSON file of vocabularies and coefficients under ``routing/data`` (never a
pickle: loading it runs no code), read on first use. Prediction needs neither numpy nor
scikit-learn, so ``import gearshift`` stays light and the base install can use it.
"""

from __future__ import annotations

import heapq
import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gearshift.catalog.tiers import Tier
from gearshift.errors import ConfigError
from gearshift.routing.rubric import DIMENSIONS, Assessment, Scores, Thresholds

__all__ = [
    "ARTEFACT",
    "FORMAT",
    "FORMAT_VERSION",
    "LearnedEstimator",
    "Prediction",
    "char_wb_ngrams",
    "default_estimator",
    "load_artefact",
    "window",
    "word_ngrams",
]

FORMAT = "gearshift-zero-shot"
FORMAT_VERSION = 1
#: The bundled artefact's file name (in ``gearshift/routing/data``).
ARTEFACT = "zero_shot_v1.json.gz"

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_SPACES = re.compile(r"\s\s+")
_TIERS = (Tier.HAIKU, Tier.SONNET, Tier.OPUS)
#: Characters of a long text's start and end that the model reads (the labelled tasks are all
#: shorter than their sum), so a pasted log cannot make a prediction slow.
HEAD, TAIL = 400, 600


def window(text: str) -> str:
    """``text``, or its first :data:`HEAD` and last :data:`TAIL` characters when longer."""
    if len(text) <= HEAD + TAIL:
        return text
    return text[:HEAD] + " \n " + text[len(text) - TAIL :]


def word_ngrams(text: str, low: int = 1, high: int = 2) -> list[str]:
    """scikit-learn's ``analyzer="word"`` n-grams of lower-cased ``text`` (its default
    ``token_pattern``)."""
    tokens = _TOKEN.findall(text.lower())
    grams: list[str] = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high, len(tokens)) + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def char_wb_ngrams(text: str, low: int = 2, high: int = 5) -> list[str]:
    """scikit-learn's ``analyzer="char_wb"`` n-grams of lower-cased ``text``: character
    n-grams inside space-padded words, a short word counted once."""
    grams: list[str] = []
    for word in _SPACES.sub(" ", text.lower()).split():
        w = f" {word} "
        size = len(w)
        for n in range(low, high + 1):
            offset = 0
            grams.append(w[:n])
            while offset + n < size:
                offset += 1
                grams.append(w[offset : offset + n])
            if offset == 0:
                break
    return grams


@dataclass(frozen=True, slots=True)
class _Block:
    """One TF-IDF block: per term its column's idf and model weights."""

    analyzer: str
    ngram: tuple[int, int]
    scale: float
    terms: Mapping[str, tuple[float, tuple[float, ...]]]

    def grams(self, text: str) -> list[str]:
        low, high = self.ngram
        if self.analyzer == "word":
            return word_ngrams(text, low, high)
        return char_wb_ngrams(text, low, high)

    def vector(self, text: str) -> dict[str, float]:
        """The block's unit-length sublinear TF-IDF vector of ``text`` (known terms only)."""
        out: dict[str, float] = {}
        for term, count in Counter(self.grams(text)).items():
            entry = self.terms.get(term)
            if entry is not None:
                out[term] = (1.0 + math.log(count)) * entry[0]
        norm = math.sqrt(sum(v * v for v in out.values()))
        if norm > 0:
            for term in out:
                out[term] /= norm
        return out

    def add_scores(self, vector: Mapping[str, float], sums: list[float]) -> None:
        for term, value in vector.items():
            weights = self.terms[term][1]
            v = value * self.scale
            for i, w in enumerate(weights):
                sums[i] += w * v


@dataclass(frozen=True, slots=True)
class Prediction:
    """The model's view of a task: tier probabilities, the tier chosen (after abstaining to
    sonnet), the raw rubric score estimates and the nearest labelled tasks."""

    probabilities: Mapping[Tier, float]
    tier: Tier
    abstained: bool
    raw_scores: tuple[float, float, float]
    neighbours: tuple[tuple[str, Tier, float], ...]


_DEFAULT: list[LearnedEstimator] = []


def default_estimator() -> LearnedEstimator:
    """The shared estimator over the bundled artefact (made on first call; the artefact is
    read on its first estimate). The router's default zero-shot estimator."""
    if not _DEFAULT:
        _DEFAULT.append(LearnedEstimator())
    return _DEFAULT[0]


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def load_artefact(path: Path | str | None = None) -> dict[str, Any]:
    """The artefact's JSON (the bundled one without ``path``); ConfigError if it is not a
    zero-shot model of a version this code reads."""
    import gzip  # read once, on first use: keep them off `import gearshift.routing`
    from importlib import resources

    if path is None:
        raw = resources.files("gearshift.routing").joinpath("data", ARTEFACT).read_bytes()
    else:
        raw = Path(path).read_bytes()
    try:
        data = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"zero-shot model: unreadable artefact ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError("zero-shot model: not a gearshift zero-shot artefact")
    if data.get("version") != FORMAT_VERSION:
        raise ConfigError(
            f"zero-shot model: artefact version {data.get('version')!r}, "
            f"this gearshift reads {FORMAT_VERSION}",
            hint="retrain it with scripts/train_zero_shot.py",
        )
    return data


class LearnedEstimator:
    """Rubric scores and a tier from a trained model; see the module docstring.

    The same interface as :class:`~gearshift.routing.estimator.KeywordEstimator`
    (``estimate`` and the async ``assess``). The artefact is read on the first estimate, not at
    construction. ``neighbours`` is how many labelled tasks the evidence quotes. The agent's
    role and description are not used: the model learned from task texts alone.
    """

    name = "learned-estimator"

    def __init__(self, path: Path | str | None = None, *, neighbours: int = 3) -> None:
        self._path = path
        self._k = neighbours
        self._model: _Model | None = None

    @classmethod
    def from_artefact(cls, data: Mapping[str, Any], *, neighbours: int = 3) -> LearnedEstimator:
        """An estimator over an artefact already in memory (what :func:`load_artefact` or the
        trainer returns)."""
        estimator = cls(neighbours=neighbours)
        estimator._model = _Model(data)
        return estimator

    @property
    def model(self) -> _Model:
        if self._model is None:
            self._model = _Model(load_artefact(self._path))
        return self._model

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The artefact's training record (data, options, cross-validation figures)."""
        return self.model.metadata

    def predict(self, text: str) -> Prediction:
        return self.model.predict(text, self._k)

    def estimate(self, text: str, *, role: str = "", description: str = "") -> Assessment:
        """Assess ``text`` (``role`` and ``description`` are accepted and ignored). Each
        question's evidence is its learned value and the tier probabilities; the nearest
        labelled tasks ("like: ...") are listed once, under ``multi_step``."""
        model = self.model
        p = model.predict(text, 0)  # the neighbours only when the evidence is read
        scores = _scores_in_band(p.raw_scores, p.tier, model.thresholds)
        return Assessment(scores, self.name, _Evidence(model, text, self._k, p))

    async def assess(self, text: str, *, role: str = "", description: str = "") -> Assessment:
        """The :class:`~gearshift.routing.assessor.Assessor` interface (no I/O)."""
        return self.estimate(text, role=role, description=description)


class _Evidence(Mapping[str, tuple[str, ...]]):
    """An estimate's evidence, written on first read: finding the nearest labelled tasks costs
    three times the prediction itself, and most decisions (a worker's, the gateway's) are never
    explained. A read-only mapping (``Assessment.to_dict`` or ``dict(evidence)`` for JSON);
    copied or pickled, it is a plain dict."""

    __slots__ = ("_args", "_items")

    def __init__(self, model: _Model, text: str, k: int, p: Prediction) -> None:
        self._args: tuple[_Model, str, int, Prediction] | None = (model, text, k, p)
        self._items: dict[str, tuple[str, ...]] = {}

    def _built(self) -> dict[str, tuple[str, ...]]:
        if self._args is not None:
            model, text, k, p = self._args
            probs = "/".join(f"{p.probabilities[t]:.2f}" for t in _TIERS)
            head = f"learned: P(haiku/sonnet/opus) = {probs} -> {p.tier.value}"
            if p.abstained:
                head += " (not sure enough of haiku or opus: sonnet)"
            near = model.nearest(text, k)
            like = tuple(f"like: {t!r} ({tier.value}, {sim:.2f})" for t, tier, sim in near)
            self._items = {
                d: (f"learned {d} {raw:.2f}", head, *(like if i == 0 else ()))
                for i, (d, raw) in enumerate(zip(DIMENSIONS, p.raw_scores, strict=True))
            }
            self._args = None
        return self._items

    def __getitem__(self, key: str) -> tuple[str, ...]:
        return self._built()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())

    def __repr__(self) -> str:
        return repr(self._built())

    def __reduce__(self) -> tuple[Any, ...]:  # a copy or a pickle is the plain dict, not the model
        return (dict, (self._built(),))


class _Model:
    """The artefact, turned into lookup tables."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        heads = data["heads"]
        self.metadata: Mapping[str, Any] = data.get("metadata", {})
        self.abstain_below = float(data["abstain_below"])
        self.intercepts: tuple[float, ...] = tuple(heads["intercept"])
        bands = data.get("thresholds", {"haiku_max": 4, "sonnet_max": 6})
        self.thresholds = Thresholds(int(bands["haiku_max"]), int(bands["sonnet_max"]))
        self.blocks = tuple(_block(b, heads["coef"][b["name"]]) for b in data["blocks"])
        self.word = next(b for b in self.blocks if b.analyzer == "word")
        examples = data["examples"]
        self.examples: tuple[tuple[str, Tier], ...] = tuple(
            (t, Tier.parse(tier))
            for t, tier in zip(examples["text"], examples["tier"], strict=True)
        )
        self.postings = _postings(self.word.vector(t) for t, _ in self.examples)

    def predict(self, text: str, k: int) -> Prediction:
        text = window(text)
        sums = list(self.intercepts)
        word_vector: dict[str, float] = {}
        for block in self.blocks:
            vector = block.vector(text)
            block.add_scores(vector, sums)
            if block is self.word:
                word_vector = vector
        up1, up2 = _sigmoid(sums[0]), _sigmoid(sums[1])
        up2 = min(up1, up2)
        probs = {Tier.HAIKU: 1.0 - up1, Tier.SONNET: up1 - up2, Tier.OPUS: up2}
        best = max(_TIERS, key=probs.__getitem__)
        abstained = best is not Tier.SONNET and probs[best] < self.abstain_below
        tier = Tier.SONNET if abstained else best
        raw = (sums[2], sums[3], sums[4])
        return Prediction(probs, tier, abstained, raw, self._nearest(word_vector, k))

    def nearest(self, text: str, k: int) -> tuple[tuple[str, Tier, float], ...]:
        """The ``k`` labelled tasks nearest to ``text`` (cosine of the word vectors)."""
        return self._nearest(self.word.vector(window(text)), k)

    def _nearest(self, vector: Mapping[str, float], k: int) -> tuple[tuple[str, Tier, float], ...]:
        if k <= 0:
            return ()
        sims: dict[int, float] = {}
        for term, value in vector.items():
            for doc, weight in self.postings.get(term, ()):
                sims[doc] = sims.get(doc, 0.0) + value * weight
        top = heapq.nlargest(k, sims.items(), key=lambda pair: (pair[1], -pair[0]))
        return tuple((*self.examples[i], round(s, 2)) for i, s in top if s > 0)


def _block(spec: Mapping[str, Any], coef: Sequence[Sequence[float]]) -> _Block:
    vocabulary: Sequence[str] = spec["vocabulary"]
    idf: Sequence[float] = spec["idf"]
    if not len(vocabulary) == len(idf) == len(coef[0]):
        raise ConfigError(f"zero-shot model: block {spec['name']!r} has mismatched arrays")
    columns = list(zip(*coef, strict=True))
    terms = {t: (float(i), tuple(c)) for t, i, c in zip(vocabulary, idf, columns, strict=True)}
    low, high = spec["ngram"]
    return _Block(str(spec["analyzer"]), (int(low), int(high)), float(spec["scale"]), terms)


def _postings(vectors: Iterable[Mapping[str, float]]) -> dict[str, list[tuple[int, float]]]:
    index: dict[str, list[tuple[int, float]]] = {}
    for doc, vector in enumerate(vectors):
        for term, value in vector.items():
            index.setdefault(term, []).append((doc, value))
    return index


def _scores_in_band(raw: Sequence[float], tier: Tier, thresholds: Thresholds) -> Scores:
    """The raw score estimates rounded to 1-3, then moved one point at a time (the question
    nearest to rounding the other way first) until their total lands in ``tier``'s band."""
    values = [min(3, max(1, round(r))) for r in raw]
    low, high = thresholds.band(tier)
    while sum(values) < low:
        i = max((i for i in range(3) if values[i] < 3), key=lambda i: raw[i] - values[i])
        values[i] += 1
    while sum(values) > high:
        i = max((i for i in range(3) if values[i] > 1), key=lambda i: values[i] - raw[i])
        values[i] -= 1
    return Scores(*values)
