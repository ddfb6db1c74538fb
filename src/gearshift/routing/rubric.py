"""The article's complexity rubric: three questions, each scored 1-3, summed into a tier.

1. *Multi-step reasoning*: must the model hold state, follow dependencies, reason about cause?
2. *Subjective judgment*: are there aesthetic, contextual or trade-off decisions?
3. *Cost of being wrong*: does a wrong answer cascade (production, security, money)?

The sum (3-9) picks the tier: 3-4 haiku, 5-6 sonnet, 7-9 opus. The band edges are
:class:`Thresholds` so a team can move them after looking at its own outcomes. A task can instead
carry a label (low / medium / high), which maps straight to a tier, as in the article's
``task-router``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gearshift.catalog.tiers import Tier
from gearshift.errors import ConfigError

__all__ = [
    "DIMENSIONS",
    "LABEL_TIER",
    "Assessment",
    "Label",
    "Rubric",
    "Scores",
    "Thresholds",
]

#: The three rubric questions, in the article's order.
DIMENSIONS = ("multi_step", "judgment", "stakes")

_ALIASES = {
    "multi_step": "multi_step",
    "multistep": "multi_step",
    "reasoning": "multi_step",
    "steps": "multi_step",
    "judgment": "judgment",
    "judgement": "judgment",
    "subjective": "judgment",
    "stakes": "stakes",
    "risk": "stakes",
    "cost_of_error": "stakes",
    "cost_of_being_wrong": "stakes",
}


class Label(enum.Enum):
    """A coarse complexity label; the article's ``task.complexity`` values."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @classmethod
    def parse(cls, value: str | Label) -> Label:
        if isinstance(value, Label):
            return value
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ConfigError(
                f"unknown complexity {value!r}", hint="use low, medium or high"
            ) from None


LABEL_TIER: Mapping[Label, Tier] = {
    Label.LOW: Tier.HAIKU,
    Label.MEDIUM: Tier.SONNET,
    Label.HIGH: Tier.OPUS,
}
_TIER_LABEL = {tier: label for label, tier in LABEL_TIER.items()}


@dataclass(frozen=True, slots=True)
class Scores:
    """The three rubric scores, each 1 (low), 2 (medium) or 3 (high)."""

    multi_step: int
    judgment: int
    stakes: int

    def __post_init__(self) -> None:
        for name in DIMENSIONS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3:
                raise ConfigError(f"score {name} must be 1, 2 or 3, not {value!r}")

    @property
    def total(self) -> int:
        return self.multi_step + self.judgment + self.stakes

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.multi_step, self.judgment, self.stakes)

    def to_dict(self) -> dict[str, int]:
        return {
            "multi_step": self.multi_step,
            "judgment": self.judgment,
            "stakes": self.stakes,
            "total": self.total,
        }

    @classmethod
    def uniform(cls, value: int) -> Scores:
        return cls(value, value, value)

    @classmethod
    def parse(cls, value: Any) -> Scores:
        """From ``[m, j, s]``, ``"m,j,s"`` or a mapping (``multi_step``/``judgment``/``stakes``,
        with aliases such as ``reasoning`` and ``risk``); raise ConfigError otherwise."""
        if isinstance(value, Scores):
            return value
        if isinstance(value, str):
            value = [v.strip() for v in value.replace("/", ",").split(",")]
        if isinstance(value, Mapping):
            picked: dict[str, Any] = {}
            for key, item in value.items():
                canon = _ALIASES.get(str(key).lower().replace("-", "_"))
                if canon is not None:
                    picked[canon] = item
                elif key not in {"total", "sum"}:
                    raise ConfigError(f"unknown score {key!r}", hint=f"use {', '.join(DIMENSIONS)}")
            missing = [d for d in DIMENSIONS if d not in picked]
            if missing:
                raise ConfigError(f"scores lack {', '.join(missing)}")
            value = [picked[d] for d in DIMENSIONS]
        if not isinstance(value, list | tuple) or len(value) != 3:
            raise ConfigError(
                f"scores must be three numbers 1-3, not {value!r}",
                hint="e.g. [1, 2, 3] or {multi_step: 1, judgment: 2, stakes: 3}",
            )
        try:
            ints = [int(v) if isinstance(v, str) else v for v in value]
        except ValueError:
            raise ConfigError(f"scores must be integers, not {value!r}") from None
        return cls(*ints)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Band edges of the summed score: ``<= haiku_max`` is haiku, ``<= sonnet_max`` sonnet,
    above it opus. The article's bands are 3-4, 5-6 and 7-9."""

    haiku_max: int = 4
    sonnet_max: int = 6

    def __post_init__(self) -> None:
        if not 2 <= self.haiku_max < self.sonnet_max <= 9:
            raise ConfigError(
                f"thresholds must satisfy 2 <= haiku_max < sonnet_max <= 9, "
                f"not {self.haiku_max}/{self.sonnet_max}"
            )

    def tier(self, total: int) -> Tier:
        if total <= self.haiku_max:
            return Tier.HAIKU
        if total <= self.sonnet_max:
            return Tier.SONNET
        return Tier.OPUS

    def band(self, tier: Tier) -> tuple[int, int]:
        """The lowest and highest totals that land on ``tier``."""
        if tier is Tier.HAIKU:
            return (3, self.haiku_max)
        if tier is Tier.SONNET:
            return (self.haiku_max + 1, self.sonnet_max)
        return (self.sonnet_max + 1, 9)


@dataclass(frozen=True, slots=True)
class Assessment:
    """Scores with their origin and the evidence behind each one.

    ``source`` is ``given`` (the task carried scores), ``label`` (only a low/medium/high label;
    the scores are then the label's representative 1/2/3 on every question), ``estimator``
    (the keyword estimator) or the name of another assessor (``llm-judge``).
    ``evidence`` maps each dimension to the phrases that moved its score.
    """

    scores: Scores
    source: str
    evidence: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    label: Label | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.scores.to_dict(),
            "source": self.source,
            "label": self.label.value if self.label else None,
            "evidence": {d: list(self.evidence.get(d, ())) for d in DIMENSIONS},
        }

    @classmethod
    def from_label(cls, label: Label) -> Assessment:
        """The label's assessment (shared instances: they are immutable)."""
        return _FROM_LABEL[label]


def _label_assessment(label: Label) -> Assessment:
    value = {Label.LOW: 1, Label.MEDIUM: 2, Label.HIGH: 3}[label]
    note = (f"label: {label.value}",)
    return Assessment(Scores.uniform(value), "label", dict.fromkeys(DIMENSIONS, note), label)


_FROM_LABEL = {label: _label_assessment(label) for label in Label}


@dataclass(frozen=True, slots=True)
class Rubric:
    """Turns an assessment into a tier and a label, with configurable thresholds."""

    thresholds: Thresholds = Thresholds()

    def tier_for(self, assessment: Assessment | Scores) -> Tier:
        if isinstance(assessment, Scores):
            return self.thresholds.tier(assessment.total)
        if assessment.label is not None and assessment.source == "label":
            return LABEL_TIER[assessment.label]
        return self.thresholds.tier(assessment.scores.total)

    def label_for(self, assessment: Assessment | Scores) -> Label:
        if isinstance(assessment, Assessment) and assessment.label is not None:
            return assessment.label
        return _TIER_LABEL[self.tier_for(assessment)]

    def edge(self, total: int) -> str | None:
        """``"low"``/``"high"`` when ``total`` is the lowest/highest total of its band.

        Totals on a band edge are the rubric's near-ties: one point moves them to the next
        tier, so a task's objective (cost, quality, speed) may break the tie.
        """
        low, high = self.thresholds.band(self.thresholds.tier(total))
        if total == low and total > 3:
            return "low"
        if total == high and total < 9:
            return "high"
        return None
