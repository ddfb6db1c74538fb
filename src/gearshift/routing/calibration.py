"""Labelled tasks: a stable calibration / held-out split, and how well an assessor does on them.

An estimator is only as good as the evidence that it agrees with people. A labelled set is a
JSONL file of tasks with the three scores a person gave them (and the resulting tier). The split
is by a hash of each task's id, so it never changes when tasks are added or reordered: tune on
the calibration part only, report on the held-out part. :func:`evaluate` gives exact-tier
accuracy, the 3x3 confusion matrix (rows = human tier, columns = predicted), per-question mean
absolute error, and the list of misses to look at.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gearshift.catalog.tiers import Tier
from gearshift.errors import DefinitionError
from gearshift.routing.rubric import DIMENSIONS, Rubric, Scores

__all__ = ["Evaluation", "LabelledTask", "evaluate", "load_labelled", "split", "split_of"]

#: Share of the labelled tasks held out from calibration.
HELD_OUT_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class LabelledTask:
    """A task with the scores a person gave it."""

    id: str
    text: str
    agent: str | None
    role: str
    category: str
    scores: Scores
    tier: Tier


def load_labelled(path: Path | str) -> list[LabelledTask]:
    """Read a labelled JSONL file; each line: id, text, agent, role, category, scores, tier."""
    rows = []
    rubric = Rubric()
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data: dict[str, Any] = json.loads(line)
            scores = Scores.parse(data["scores"])
            row = LabelledTask(
                id=str(data["id"]),
                text=str(data["text"]),
                agent=data.get("agent"),
                role=str(data.get("role") or ""),
                category=str(data.get("category") or ""),
                scores=scores,
                tier=Tier.parse(data["tier"]),
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DefinitionError(f"{where}: bad labelled task: {exc}") from None
        if rubric.tier_for(scores) is not row.tier:
            raise DefinitionError(f"{where}: tier {row.tier} does not match scores {scores}")
        rows.append(row)
    return rows


def split_of(task_id: str, held_out_share: float = HELD_OUT_SHARE) -> str:
    """``"held-out"`` or ``"calibration"``, from a SHA-256 of the id (stable forever)."""
    bucket = int.from_bytes(hashlib.sha256(task_id.encode()).digest()[:8], "big") / 2**64
    return "held-out" if bucket < held_out_share else "calibration"


def split(
    rows: Iterable[LabelledTask], held_out_share: float = HELD_OUT_SHARE
) -> tuple[list[LabelledTask], list[LabelledTask]]:
    """``(calibration, held_out)``."""
    calibration: list[LabelledTask] = []
    held_out: list[LabelledTask] = []
    for row in rows:
        (held_out if split_of(row.id, held_out_share) == "held-out" else calibration).append(row)
    return calibration, held_out


@dataclass(slots=True)
class Evaluation:
    """How predicted tiers compare with the human ones."""

    total: int = 0
    correct: int = 0
    confusion: dict[Tier, dict[Tier, int]] = field(
        default_factory=lambda: {h: dict.fromkeys(Tier.ordered(), 0) for h in Tier.ordered()}
    )
    abs_error: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DIMENSIONS, 0))
    misses: list[tuple[LabelledTask, Scores, Tier]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def opus_to_haiku(self) -> int:
        """Opus tasks routed to Haiku: the one confusion that must never happen."""
        return self.confusion[Tier.OPUS][Tier.HAIKU]

    def mae(self, dimension: str) -> float:
        return self.abs_error[dimension] / self.total if self.total else 0.0

    def matrix_markdown(self) -> str:
        """The confusion matrix as a Markdown table (rows human, columns predicted)."""
        tiers = Tier.ordered()
        lines = [
            "| human \\ predicted | " + " | ".join(t.value for t in tiers) + " |",
            "|---|" + "---:|" * len(tiers),
        ]
        for human in tiers:
            cells = " | ".join(str(self.confusion[human][p]) for p in tiers)
            lines.append(f"| **{human.value}** | {cells} |")
        return "\n".join(lines)


def evaluate(
    rows: Iterable[LabelledTask],
    assess: Callable[[LabelledTask], Scores],
    rubric: Rubric | None = None,
) -> Evaluation:
    """Score every row with ``assess`` and compare its tier with the human tier."""
    rubric = rubric or Rubric()
    result = Evaluation()
    for row in rows:
        scores = assess(row)
        predicted = rubric.tier_for(scores)
        human = rubric.tier_for(row.scores)
        result.total += 1
        result.confusion[human][predicted] += 1
        for dim in DIMENSIONS:
            result.abs_error[dim] += abs(getattr(scores, dim) - getattr(row.scores, dim))
        if predicted is human:
            result.correct += 1
        else:
            result.misses.append((row, scores, predicted))
    return result
