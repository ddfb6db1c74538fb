"""Evaluation tables: tasks with an outcome and a cost on every tier, from a wide file or from
long rows (``task, tier, success, cost_usd``) grouped by task."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gearshift.catalog import Catalog, Tier
from gearshift.errors import DefinitionError
from gearshift.learn.files import Ladder, WideTable, _is_wide, read_outcomes, read_rows, read_wide
from gearshift.routing.features import TaskText

__all__ = ["eval_table"]


def eval_table(
    path: Path,
    catalog: Catalog,
    *,
    ladder: Ladder | None = None,
    where: Mapping[str, str] | None = None,
) -> WideTable:
    """The file as a table of tasks known on every tier. Long rows of one task and tier are
    averaged (score and cost); tasks missing a tier are left out and counted in ``dropped``."""
    rows = list(read_rows(path))
    if rows and _is_wide(rows[0][1]):
        return read_wide(path, catalog, ladder=ladder, where=where, rows=rows)
    outcomes = read_outcomes(path, catalog, ladder=ladder, where=where)
    sums: dict[TaskText, list[list[float]]] = {}
    for o in outcomes:
        if o.cost_nanos is None:
            raise DefinitionError(
                f"{path}: the outcome of {o.task[:40]!r} on {o.tier} has no cost_usd",
                hint="evaluation compares costs: give every row a cost_usd",
            )
        acc = sums.setdefault(o.key, [[0.0, 0.0, 0.0] for _ in Tier.ordered()])
        acc[o.tier.rank][0] += o.score
        acc[o.tier.rank][1] += o.cost_nanos
        acc[o.tier.rank][2] += 1
    table = WideTable([], [], [], [], [], {})
    for key, acc in sums.items():
        if any(n == 0 for _, _, n in acc):
            table.dropped += 1
            continue
        table.texts.append(key.text)
        table.agents.append(key.agent)
        table.types.append(key.task_type)
        table.score.append([s / n for s, _, n in acc])
        table.cost_nanos.append([round(c / n) for _, c, n in acc])
    if not table.texts:
        raise DefinitionError(
            f"{path}: no task has an outcome on every tier ({len(sums)} tasks seen)",
            hint="evaluation needs each task's outcome on haiku, sonnet and opus",
        )
    return table
