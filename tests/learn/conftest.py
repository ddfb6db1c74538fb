"""Small synthetic outcomes: easy chores pass on every tier, hard design work only on opus
(mostly), so a model that reads the text can learn where the cheap tier fails."""

from __future__ import annotations

import random

import pytest

from gearshift.catalog import Tier
from gearshift.learn.files import WideTable
from gearshift.learn.outcome import Outcome
from gearshift.learn.train import FitOptions
from gearshift.routing.features import FeatureSpec

pytest.importorskip("sklearn")

SMALL = FeatureSpec(word_bits=10, char_bits=10, context_bits=6)
FAST = FitOptions(spec=SMALL, folds=3)
EASY = ["lint", "format", "rename", "sort the imports of", "fix the typo in"]
HARD = ["design the failover of", "architect the sharding of", "plan the migration of"]
THINGS = ["billing", "search", "auth", "orders", "reports", "cache", "queue", "api", "ledger"]
PASS = {  # P(pass) per tier: (haiku, sonnet, opus)
    "easy": (0.92, 0.95, 0.97),
    "hard": (0.10, 0.45, 0.90),
}
COST = (1_000_000, 5_000_000, 15_000_000)  # nanos per task and tier


def synthetic(n: int, seed: int, *, shuffle_labels: bool = False) -> WideTable:
    """``n`` tasks with a drawn outcome and a cost on every tier."""
    rng = random.Random(seed)
    table = WideTable([], [], [], [], [], {})
    for i in range(n):
        hard = rng.random() < 0.4
        verb = rng.choice(HARD if hard else EASY)
        text = f"{verb} the {rng.choice(THINGS)} {rng.choice(THINGS)} module #{seed}-{i}"
        probs = PASS["hard" if hard else "easy"]
        table.texts.append(text)
        table.agents.append(None)
        table.types.append(None)
        table.score.append([1.0 if rng.random() < p else 0.0 for p in probs])
        table.cost_nanos.append(list(COST))
    if shuffle_labels:
        rng.shuffle(table.score)
    return table


def outcomes(n: int, seed: int, **kwargs: object) -> list[Outcome]:
    return synthetic(n, seed, **kwargs).outcomes()  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def trained():  # type: ignore[no-untyped-def]
    from gearshift.learn.train import fit

    return fit(outcomes(240, seed=1), FAST, version="test")


__all__ = ["COST", "FAST", "SMALL", "Tier", "outcomes", "synthetic"]
