"""Outcomes in and out of the ledger: ``learn import`` (all or nothing) and the training set.

The training set is every imported outcome plus every ledger execution with a validator
verdict (:mod:`gearshift.ledger.learning`), as :class:`~gearshift.learn.outcome.Outcome`\\ s.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gearshift.catalog import Catalog, Tier
from gearshift.errors import DefinitionError
from gearshift.learn.files import Ladder, read_outcomes
from gearshift.learn.outcome import Outcome
from gearshift.ledger.learning import (
    execution_outcomes,
    import_seen,
    imported_outcomes,
    insert_outcomes,
)

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger

__all__ = ["ImportResult", "import_file", "training_outcomes"]


@dataclass(frozen=True, slots=True)
class ImportResult:
    path: str
    outcomes: int
    per_tier: dict[str, int]
    already: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.path,
            "imported": 0 if self.already else self.outcomes,
            "per_tier": self.per_tier,
            "already_imported": self.already,
        }


def import_file(
    ledger: Ledger,
    path: Path,
    catalog: Catalog,
    *,
    ladder: Ladder | None = None,
    where: Mapping[str, str] | None = None,
    force: bool = False,
) -> ImportResult:
    """Import every outcome of ``path`` or none (DefinitionError naming the bad lines). A file
    whose exact bytes were imported before adds nothing unless ``force``."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise DefinitionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    import_id = (
        digest
        if not where
        else hashlib.sha256((digest + repr(sorted(where.items()))).encode()).hexdigest()
    )
    outcomes = read_outcomes(path, catalog, ladder=ladder, where=where)
    if not outcomes:
        raise DefinitionError(f"{path}: no outcomes to import", hint="is the file empty?")
    per_tier = {t.value: sum(o.tier is t for o in outcomes) for t in Tier.ordered()}
    if not force and import_seen(ledger, import_id):
        return ImportResult(str(path), len(outcomes), per_tier, already=True)
    rows = [
        {
            "line": i + 1,
            "task": o.task,
            "agent": o.agent,
            "task_type": o.task_type,
            "model": o.model,
            "tier": o.tier.value,
            "score": o.score,
            "cost_nanos": o.cost_nanos,
            "input_tokens": o.input_tokens,
            "output_tokens": o.output_tokens,
        }
        for i, o in enumerate(outcomes)
    ]
    insert_outcomes(ledger, import_id, rows)
    return ImportResult(str(path), len(outcomes), per_tier)


def training_outcomes(ledger: Ledger, since: dt.datetime | None = None) -> list[Outcome]:
    """Imported outcomes and the ledger's validated executions since ``since``, oldest first."""
    out = [
        Outcome(
            task=o.task,
            tier=Tier.parse(o.tier),
            score=o.score,
            agent=o.agent,
            task_type=o.task_type,
            model=o.model,
            cost_nanos=o.cost_nanos,
            input_tokens=o.input_tokens,
            output_tokens=o.output_tokens,
            ts_us=o.ts_us,
            source="import",
        )
        for o in imported_outcomes(ledger, since)
    ]
    out += [
        Outcome(
            task=e.task,
            tier=Tier.parse(e.tier),
            score=1.0 if e.passed else 0.0,
            agent=e.agent,
            task_type=e.task_type,
            model=e.model,
            cost_nanos=e.cost_nanos,
            input_tokens=e.input_tokens,
            output_tokens=e.output_tokens,
            ts_us=e.ts_us,
            chain_id=e.chain_id,
            source="ledger",
        )
        for e in execution_outcomes(ledger, since)
    ]
    out.sort(key=lambda o: o.ts_us)
    return out
