"""Looking at executions one by one: recent ones (searched, a page at a time), an escalation
chain, and what the last minutes look like -- the reads behind a dashboard's lists and its live
view. Each is an indexed read (time, chain), never a pass over the whole table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gearshift.catalog.cost import usd_text
from gearshift.ledger.queries import Filters
from gearshift.ledger.record import Execution, ts_from_us, us_from_ts

if TYPE_CHECKING:
    from gearshift.ledger.bulk import Reader
    from gearshift.ledger.store import Ledger

__all__ = [
    "SEARCHED",
    "Activity",
    "Page",
    "activity",
    "chain",
    "cursor",
    "find",
    "parse_cursor",
    "recent",
]

#: The columns a search looks in.
SEARCHED = ("id", "chain_id", "agent", "task", "model", "project", "session", "task_type")


@dataclass(frozen=True, slots=True)
class Page:
    """Executions, newest first, and the cursor of the next page (``None``: no more)."""

    executions: list[Execution]
    next: str | None


def recent(
    ledger: Ledger,
    filters: Filters | None = None,
    search: str | None = None,
    *,
    limit: int = 50,
    before: str | None = None,
) -> Page:
    """The newest executions ``filters`` selects whose searched columns contain ``search``
    (case-insensitive, taken literally: ``%`` and ``_`` are not wildcards), older than the
    ``before`` cursor of an earlier page."""
    where, params = (filters or Filters()).sql()
    if search:
        pattern = "%" + _escape_like(search.lower()) + "%"
        matches = " OR ".join(f"LOWER(COALESCE({c}, '')) LIKE :gs_q ESCAPE '\\'" for c in SEARCHED)
        where += f" AND ({matches})"
        params["gs_q"] = pattern
    if before:
        ts, cursor_id = parse_cursor(before)
        where += " AND (ts_us < :gs_bts OR (ts_us = :gs_bts AND id < :gs_bid))"
        params.update(gs_bts=ts, gs_bid=cursor_id)
    rows = list(
        ledger.executions(where=where, params=params, order="ts_us DESC, id DESC", limit=limit + 1)
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, cursor(rows[-1]) if more and rows else None)


def find(ledger: Ledger, execution_id: str) -> Execution | None:
    """The execution with this id, or ``None``."""
    found = list(ledger.executions(where="id = :gs_id", params={"gs_id": execution_id}, limit=1))
    return found[0] if found else None


def chain(ledger: Ledger, execution: Execution) -> list[Execution]:
    """Every attempt of ``execution``'s escalation chain in order (itself alone when it has
    no chain)."""
    if not execution.chain_id:
        return [execution]
    return list(
        ledger.executions(
            where="chain_id = :gs_chain",
            params={"gs_chain": execution.chain_id},
            order="attempt, ts_us, id",
        )
    )


def cursor(execution: Execution) -> str:
    """Where a page ending at ``execution`` stops (see :func:`recent`)."""
    return f"{us_from_ts(execution.ts)}.{execution.id}"


def parse_cursor(text: str) -> tuple[int, str]:
    """``(ts_us, id)`` of a cursor from :func:`recent`; ``ValueError`` when it is not one."""
    ts, sep, execution_id = text.partition(".")
    if not sep or not ts.isdigit() or not execution_id or len(execution_id) > 64:
        raise ValueError(f"not a cursor: {text!r}")
    return int(ts), execution_id


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True, slots=True)
class Activity:
    """What happened in one unit of time (a second, a minute)."""

    unit: int  # the unit's index since the epoch (ts_us // unit_us)
    executions: int
    cost_nanos: int
    escalations: int
    blocked: int
    failed: int  # failures and errors
    tokens: int  # of every kind

    def to_dict(self, unit_us: int) -> dict[str, Any]:
        at = ts_from_us(self.unit * unit_us).isoformat().replace("+00:00", "Z")
        return {
            "at": at,
            "executions": self.executions,
            "cost_usd": usd_text(self.cost_nanos),
            "escalations": self.escalations,
            "blocked": self.blocked,
            "failed": self.failed,
            "tokens": self.tokens,
        }


def activity(ledger: Reader, since_us: int, unit_us: int) -> list[Activity]:
    """Per ``unit_us`` from ``since_us`` on (units with executions only, in order): a range of
    the time index, so its cost follows the rows in the window, not the table."""
    unit = int(unit_us)
    sql = (
        f"SELECT ts_us / {unit}, COUNT(*), SUM(cost_nanos), "
        "SUM(CASE WHEN escalation_reason IS NOT NULL THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status = 'blocked' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status IN ('failure', 'error') THEN 1 ELSE 0 END), "
        "SUM(input_tokens + output_tokens + cache_write_5m_tokens + cache_write_1h_tokens"
        " + cache_read_tokens) "
        f"FROM executions WHERE ts_us >= :gs_since GROUP BY ts_us / {unit} ORDER BY 1"
    )
    return [
        Activity(*(int(v or 0) for v in row)) for row in ledger.query(sql, {"gs_since": since_us})
    ]
