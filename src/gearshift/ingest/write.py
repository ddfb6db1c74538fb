"""Write stage: the kept responses, attributed and priced, -> ledger records, in one transaction
with what the run learned (file states, agent facts).

Every record carries a dedup key naming the copy it came from (see
:mod:`gearshift.ingest.reconcile`), so a run is idempotent: on a ledger that has ingested before,
each copy is reconciled with the copies of its message already recorded, by the rules of one
run -- a duplicate is dropped unless it is the better copy (a response whose lines straddle two
runs), which then replaces the recorded one. The comparison runs inside the write transaction,
so two runs at once never both keep a copy of one message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from gearshift.ingest import SOURCE
from gearshift.ingest.copies import Slot
from gearshift.ingest.plan import Plan
from gearshift.ingest.reconcile import reconcile
from gearshift.ingest.summary import IngestSummary
from gearshift.ingest.usage_line import Entry
from gearshift.ledger.bulk import BulkLedger, Reader, Row, Statement
from gearshift.ledger.columns import FLAG_FAST, dedup_group, tags_json
from gearshift.ledger.ids import new_ids_now
from gearshift.ledger.ingest_queries import has_keyed_records

__all__ = ["COLUMNS", "FIXED", "build_rows", "write_records"]

#: The columns of a transcript record that vary; the rest are the same in every one (FIXED).
COLUMNS = (
    "id",
    "ts_us",
    "project",
    "session",
    "agent",
    "model",
    "tier",
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "cost_nanos",
    "price_version",
    "status",
    "flags",
    "tags",
    "dedup_key",
    "dedup_group",  # the writer checks it against the key (see ledger.dedup.with_groups)
)
FIXED = {
    "task": None,
    "task_hash": None,
    "task_type": None,
    "latency_ms": None,
    "attempt": 1,
    "chain_id": None,
    "strategy": None,
    "source": SOURCE,
    "validation": None,
    "escalation_reason": None,
    "run_id": None,
    "task_key": None,
}

Attribute = Callable[[Entry, Plan], tuple[str, dict[str, str]]]
Price = Callable[
    [str, int, tuple[int, int, int, int, int], bool, str | None, bool],
    tuple[str, str, int, str, bool],
]


def build_rows(
    kept: Sequence[Slot],
    plans: Sequence[Plan],
    attribute: Attribute,
    price: Price,
    summary: IngestSummary,
) -> list[Row]:
    """One record (of :data:`COLUMNS`) per kept ``[entry, file index]``, attributed and priced;
    ``summary`` counts the API errors and unpriced models."""
    unpriced: Counter[str] = Counter()
    agents: dict[tuple[object, ...], tuple[str, str]] = {}  # most entries share their agent
    # Ids of the time of recording (the ts_us column keeps the response's): a run's new ids
    # sit together at the end of the id index instead of all over it.
    ids = new_ids_now(len(kept))
    rows: list[Row] = []
    for (e, file_index), row_id in zip(kept, ids, strict=True):
        plan = plans[file_index]
        model_id, tier, cost, price_version, known = price(
            e.model, e.ts_us, e.tokens, e.fast, e.cost_usd, e.api_error
        )
        if e.api_error:
            summary.api_errors += 1
        elif not known:
            unpriced[e.model or "(none)"] += 1
        facts = (
            e.agent_id,
            e.sidechain,
            e.attribution_agent,
            e.git_branch,
            e.entrypoint,
            file_index,
        )
        agent = agents.get(facts)
        if agent is None:
            name, tags = attribute(e, plan)
            agent = agents[facts] = (name, tags_json(tags) if tags else "{}")
        kind = "p" if e.from_progress else ("s" if e.sidechain else "m")
        key = f"cc:{e.message_id}|{e.request_id or ''}|{kind}"
        rows.append(
            (  # the order of COLUMNS
                row_id,
                e.ts_us,
                e.project or plan.file.project_key,
                plan.file.session or e.session_id,
                agent[0],
                model_id,
                tier,
                *e.tokens,
                cost,
                price_version,
                "error" if e.api_error else "success",
                FLAG_FAST if e.fast else 0,
                agent[1],
                key,
                dedup_group(key),
            )
        )
    summary.unpriced_models = dict(unpriced)
    return rows


def write_records(ledger: BulkLedger, rows: list[Row], then: list[Statement]) -> tuple[int, int]:
    """Record ``rows`` and run ``then`` in the same transaction; return (new records, cost
    added)."""
    if not rows:
        ledger.write_rows([], then=then)
        return 0, 0
    settled: list[tuple[list[Row], list[str], int]] = []

    def settle(reader: Reader) -> tuple[list[Row], list[str]]:
        # In the write transaction, with no other writer of dedup keys: what this run keeps
        # is decided against everything any run has recorded.
        if has_keyed_records(reader):
            settled.append(reconcile(reader, rows, COLUMNS))
        else:  # the first ingest: nothing recorded to reconcile with
            settled.append((rows, [], 0))
        return settled[-1][0], settled[-1][1]

    inserted = ledger.write_rows(rows, columns=COLUMNS, fixed=FIXED, then=then, settle=settle)
    fresh, replaced, removed_cost = settled[-1]
    cost_at = COLUMNS.index("cost_nanos")
    added = sum(int(r[cost_at]) for r in fresh) - removed_cost
    return inserted - len(replaced), added
