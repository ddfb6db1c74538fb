"""The ledger's side of learning: outcomes to train on and the trained models.

Outcomes come from two places, both read here so that every statement against ``executions``
stays in the ledger:

* the ledger's own executions whose validator gave a verdict -- ``validation`` starting with
  ``pass`` or ``fail`` (the engine writes ``pass: ...`` / ``fail: ...``; ``gearshift record`` and
  :meth:`Ledger.record` accept the same) -- with their task text, on a known tier, not an LLM
  judge's own call; attempts of one escalation chain share ``chain_id`` (paired outcomes);
* ``learn_outcomes``, filled by ``gearshift learn import`` (outside data, not this team's spend).

Models are rows of ``learned_models`` (JSON metadata and an ``.npz`` blob); the newest is the
one routing uses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from gearshift.ledger.record import new_id, us_from_ts

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger

__all__ = [
    "ExecutionOutcome",
    "ImportedOutcome",
    "StoredModel",
    "execution_outcomes",
    "import_seen",
    "imported_outcomes",
    "insert_outcomes",
    "latest_model",
    "outcome_counts",
    "save_model",
]

#: Which executions are outcomes (a validator verdict on a task of a known tier, not a judge).
_IS_OUTCOME = (
    "task IS NOT NULL AND tier IN ('haiku', 'sonnet', 'opus') AND status <> 'error' "
    "AND (validation LIKE 'pass%' OR validation LIKE 'fail%') "
    "AND replace(tags, '\"role\":\"judge\"', '') = tags"
)
_EXECUTION_OUTCOMES = (
    "SELECT task, agent, task_type, model, tier, validation, cost_nanos, input_tokens, "
    f"output_tokens, ts_us, chain_id FROM executions WHERE {_IS_OUTCOME} AND ts_us >= :since "
    "ORDER BY ts_us, id"
)
_IMPORTED = (
    "SELECT task, agent, task_type, model, tier, score, cost_nanos, input_tokens, "
    "output_tokens, ts_us FROM learn_outcomes WHERE ts_us >= :since ORDER BY ts_us, import_id, line"
)


@dataclass(frozen=True, slots=True)
class ExecutionOutcome:
    """An execution with a validator verdict: ``passed`` from ``validation``."""

    task: str
    agent: str
    task_type: str | None
    model: str
    tier: str
    passed: bool
    cost_nanos: int
    input_tokens: int
    output_tokens: int
    ts_us: int
    chain_id: str | None


@dataclass(frozen=True, slots=True)
class ImportedOutcome:
    task: str
    agent: str | None
    task_type: str | None
    model: str | None
    tier: str
    score: float
    cost_nanos: int | None
    input_tokens: int | None
    output_tokens: int | None
    ts_us: int


def _since(since: dt.datetime | None) -> int:
    return us_from_ts(since) if since is not None else 0


def execution_outcomes(
    ledger: Ledger, since: dt.datetime | None = None
) -> Iterator[ExecutionOutcome]:
    """Executions with a validator verdict, oldest first."""
    for row in ledger.query(_EXECUTION_OUTCOMES, {"since": _since(since)}):
        task, agent, ttype, model, tier, validation, cost, i, o, ts, chain = row
        yield ExecutionOutcome(
            task,
            agent,
            ttype,
            model,
            tier,
            str(validation).startswith("pass"),
            int(cost),
            int(i),
            int(o),
            int(ts),
            chain,
        )


def imported_outcomes(
    ledger: Ledger, since: dt.datetime | None = None
) -> Iterator[ImportedOutcome]:
    """Imported outcomes, oldest first."""
    for row in ledger.query(_IMPORTED, {"since": _since(since)}):
        task, agent, ttype, model, tier, score, cost, i, o, ts = row
        yield ImportedOutcome(
            task,
            agent,
            ttype,
            model,
            tier,
            float(score),
            None if cost is None else int(cost),
            None if i is None else int(i),
            None if o is None else int(o),
            int(ts),
        )


def outcome_counts(ledger: Ledger) -> dict[str, int]:
    """How many outcomes each source holds (``ledger``: executions with a verdict)."""
    executions = ledger.query(f"SELECT COUNT(*) FROM executions WHERE {_IS_OUTCOME}")[0][0]
    imported = ledger.query("SELECT COUNT(*) FROM learn_outcomes")[0][0]
    return {"ledger": int(executions), "import": int(imported)}


def import_seen(ledger: Ledger, import_id: str) -> int:
    """How many outcomes an earlier import of the same file (by digest) added."""
    rows = ledger.query(
        "SELECT COUNT(*) FROM learn_outcomes WHERE import_id = :i", {"i": import_id}
    )
    return int(rows[0][0])


def insert_outcomes(ledger: Ledger, import_id: str, rows: Sequence[dict[str, Any]]) -> int:
    """Insert imported outcomes (dicts of ``learn_outcomes`` columns without ``id``,
    ``import_id`` and ``ts_us``) in one transaction: all of them or none."""
    now = us_from_ts(dt.datetime.now(dt.UTC))
    params = [
        {**row, "id": new_id(now // 1000), "import_id": import_id, "ts_us": now} for row in rows
    ]
    if not params:
        return 0
    sql = text(
        "INSERT INTO learn_outcomes (id, ts_us, import_id, line, task, agent, task_type, model, "
        "tier, score, cost_nanos, input_tokens, output_tokens) VALUES (:id, :ts_us, "
        ":import_id, :line, :task, :agent, :task_type, :model, :tier, :score, :cost_nanos, "
        ":input_tokens, :output_tokens)"
    )
    with ledger.write() as conn:
        conn.execute(sql, params)
    return len(params)


@dataclass(frozen=True, slots=True)
class StoredModel:
    id: str
    created_us: int
    format_version: int
    meta: str
    digest: str
    blob: bytes


def save_model(
    ledger: Ledger, *, format_version: int, meta: str, digest: str, blob: bytes
) -> StoredModel:
    """Store a trained model; it becomes the newest."""
    now = us_from_ts(dt.datetime.now(dt.UTC))
    model = StoredModel(new_id(now // 1000), now, format_version, meta, digest, blob)
    with ledger.write() as conn:
        conn.execute(
            text(
                "INSERT INTO learned_models (id, created_us, format_version, meta, digest, blob) "
                "VALUES (:id, :c, :f, :m, :d, :b)"
            ),
            {"id": model.id, "c": now, "f": format_version, "m": meta, "d": digest, "b": blob},
        )
    return model


def latest_model(ledger: Ledger) -> StoredModel | None:
    """The newest stored model, or ``None``."""
    rows = ledger.query(
        "SELECT id, created_us, format_version, meta, digest, blob FROM learned_models "
        "ORDER BY created_us DESC, id DESC LIMIT 1"
    )
    if not rows:
        return None
    i, c, f, m, d, b = rows[0]
    return StoredModel(i, int(c), int(f), m, d, bytes(b))
