"""What the tier predictor sees of a task: hashed text n-grams, its agent and type, its rubric
scores and its length -- stateless, so a trained model is nothing but arrays.

The text goes through two :class:`sklearn.feature_extraction.text.HashingVectorizer` blocks (word
1-2-grams over the whole window, character 3-5-grams over its tail, where a few-shot prompt keeps
its actual question), each with sublinear term frequency, the inverse document frequencies of
the training data (an array stored with the model) and unit length. A third, small block hashes
the task's context as named values: ``agent=...``, ``type=...``, each rubric score, the total,
and the log of the length. Hashing needs no vocabulary, so the same :class:`FeatureSpec`
(stored with the model, with its :data:`FEATURE_VERSION`) always gives the same columns.

scikit-learn, numpy and scipy load on first use: ``import gearshift.routing`` and the rubric
chain never import them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from gearshift.errors import ConfigError
from gearshift.routing.estimator import KeywordEstimator
from gearshift.routing.rubric import Scores

if TYPE_CHECKING:
    import numpy as np
    from scipy.sparse import csr_matrix

__all__ = [
    "FEATURE_VERSION",
    "FeatureSpec",
    "TaskText",
    "featurize",
    "idf_of",
    "require_sklearn",
    "rubric_scores",
    "sklearn_available",
    "weigh",
]

#: Bumped whenever the same spec would map a task to different columns.
FEATURE_VERSION = 1


@dataclass(frozen=True, slots=True)
class TaskText:
    """The parts of a task the predictor reads (training rows and routed tasks alike)."""

    text: str
    agent: str | None = None
    task_type: str | None = None


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """How a task becomes a vector. ``head``/``tail``: characters of a long text kept for the
    word block (its start and its end); ``char_tail``: characters of the end kept for the
    character block. Block sizes are powers of two."""

    word_bits: int = 17
    char_bits: int = 17
    context_bits: int = 10
    head: int = 200
    tail: int = 600
    char_tail: int = 250

    def __post_init__(self) -> None:
        for name in ("word_bits", "char_bits", "context_bits"):
            bits = getattr(self, name)
            if isinstance(bits, bool) or not isinstance(bits, int) or not 4 <= bits <= 22:
                raise ConfigError(f"feature spec: {name} must be an integer from 4 to 22")
        for name in ("head", "tail", "char_tail"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"feature spec: {name} must be a non-negative integer")

    @property
    def text_width(self) -> int:
        """Columns of the two text blocks (the part the stored IDF weights cover)."""
        return (1 << self.word_bits) + (1 << self.char_bits)

    @property
    def width(self) -> int:
        return self.text_width + (1 << self.context_bits)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"feature spec: unknown field(s) {', '.join(sorted(unknown))}")
        return cls(**data)


def sklearn_available() -> bool:
    """Whether scikit-learn is installed (found without importing it)."""
    from importlib.util import find_spec

    return find_spec("sklearn") is not None


def require_sklearn() -> None:
    """Raise a ConfigError with the install hint when scikit-learn is missing."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ConfigError(
            "the learned router needs scikit-learn",
            hint="pip install 'gearshift[learn]'",
        ) from None


def _window(text: str, head: int, tail: int) -> str:
    if len(text) <= head + tail:
        return text
    return text[:head] + " \n " + text[len(text) - tail :]


class _Vectorizers:
    """The spec's hashers (they hold no learned state: building them is cheap)."""

    def __init__(self, spec: FeatureSpec) -> None:
        require_sklearn()
        from sklearn.feature_extraction import FeatureHasher
        from sklearn.feature_extraction.text import HashingVectorizer

        common: dict[str, Any] = {"alternate_sign": False, "norm": None, "dtype": _float32()}
        self.words = HashingVectorizer(
            analyzer="word", ngram_range=(1, 2), n_features=1 << spec.word_bits, **common
        )
        self.chars = HashingVectorizer(
            analyzer="char_wb", ngram_range=(3, 5), n_features=1 << spec.char_bits, **common
        )
        self.context = FeatureHasher(
            n_features=1 << spec.context_bits,
            input_type="pair",
            alternate_sign=False,
            dtype=_float32(),
        )


def _float32() -> Any:
    import numpy as np

    return np.float32


#: The default keyword estimator, made on first use (it compiles its cue patterns once).
_ESTIMATOR: list[KeywordEstimator] = []


def _vectorizers(spec: FeatureSpec) -> _Vectorizers:
    return _Vectorizers(spec)


def _estimator() -> KeywordEstimator:
    if not _ESTIMATOR:
        _ESTIMATOR.append(KeywordEstimator())
    return _ESTIMATOR[0]


def rubric_scores(text: str) -> Scores:
    """The keyword estimator's scores of a task's text alone (its first 100 and last 200
    characters: the estimator's time grows with the text, and a long prompt's start and end
    say what it asks). The same at training and routing time, whatever the router was given."""
    return _estimator().estimate(_window(text, 100, 200)).scores


def context_pairs(row: TaskText, scores: Scores | None = None) -> list[tuple[str, float]]:
    """The context block's named values: agent, type, rubric scores (``scores`` when already
    known, else :func:`rubric_scores`) and the log length."""
    s = scores if scores is not None else rubric_scores(row.text)
    return [
        (f"agent={(row.agent or 'default').lower()}", 1.0),
        (f"type={(row.task_type or '').lower()}", 1.0),
        (f"multi_step={s.multi_step}", 1.0),
        (f"judgment={s.judgment}", 1.0),
        (f"stakes={s.stakes}", 1.0),
        (f"total={s.total}", 1.0),
        ("log_length", math.log1p(len(row.text)) / 8.0),
        ("bias", 1.0),
    ]


def featurize(
    spec: FeatureSpec,
    rows: Sequence[TaskText],
    idf: np.ndarray | None = None,
    *,
    scores: Sequence[Scores] | None = None,
) -> csr_matrix:
    """The rows as a CSR matrix of ``spec.width`` columns. ``idf`` (``spec.text_width`` values)
    weights the text blocks; without it they are raw sublinear counts (what :func:`idf_of`
    reads, and :func:`weigh` turns into the weighted matrix)."""
    import numpy as np
    from scipy.sparse import hstack

    vec = _vectorizers(spec)
    words = vec.words.transform([_window(r.text, spec.head, spec.tail) for r in rows])
    chars = vec.chars.transform([_window(r.text, 0, spec.char_tail) for r in rows])
    given = scores if scores is not None else [None] * len(rows)
    context = vec.context.transform([context_pairs(r, s) for r, s in zip(rows, given, strict=True)])
    raw: csr_matrix = hstack([words, chars, context], format="csr", dtype=np.float32)
    text = raw.indices < spec.text_width
    raw.data[text] = np.log1p(raw.data[text])
    return raw if idf is None else weigh(spec, raw, idf)


def weigh(spec: FeatureSpec, raw: csr_matrix, idf: np.ndarray) -> csr_matrix:
    """``raw`` (from :func:`featurize` without ``idf``) with its text columns multiplied by
    ``idf`` and its word and character parts scaled to unit length per row (a new matrix)."""

    if idf.shape != (spec.text_width,):
        raise ConfigError(f"idf has shape {idf.shape}, the spec needs ({spec.text_width},)")
    out = raw.copy()
    text = out.indices < spec.text_width
    out.data[text] *= idf[out.indices[text]]
    _normalize_blocks(out, spec)
    return out


def _normalize_blocks(m: csr_matrix, spec: FeatureSpec) -> None:
    """Scale the word and the character part of every row to unit length each (in place), so
    a long few-shot prompt and a one-line task weigh the same; the context part is left."""
    import numpy as np

    split = 1 << spec.word_bits
    block = np.where(m.indices < split, 0, np.where(m.indices < spec.text_width, 1, 2))
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    squares = m.data.astype(np.float64) ** 2
    n = m.shape[0]
    norms = np.stack(
        [np.sqrt(np.bincount(rows, weights=squares * (block == b), minlength=n)) for b in (0, 1)]
    )
    text = block < 2
    norm = norms[block[text], rows[text]]
    norm[norm == 0] = 1.0
    m.data[text] /= norm.astype(np.float32)


def idf_of(spec: FeatureSpec, raw: csr_matrix) -> np.ndarray:
    """Smoothed inverse document frequency of each text column of ``raw`` (from
    :func:`featurize` without ``idf``): ``ln((1 + n) / (1 + df)) + 1``, as scikit-learn's."""
    import numpy as np

    text = raw[:, : spec.text_width]
    df = np.bincount(text.indices, minlength=spec.text_width)
    n = raw.shape[0]
    idf: np.ndarray = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
    return idf
