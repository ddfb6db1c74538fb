"""Aggregate queries over the ledger: spend by time or by a column, and per-agent summaries.

Time grouping happens in two steps so it is right in any zone on both stores: SQL sums per
15-minute UTC bucket (every real zone offset is a multiple of 15 minutes), then Python maps each
bucket to the user's local day, week or month.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gearshift.catalog.cost import nanos_to_decimal, usd_text
from gearshift.errors import ConfigError
from gearshift.ledger.record import ts_from_us, us_from_ts

if TYPE_CHECKING:
    from gearshift.ledger.bulk import Reader

__all__ = [
    "BUCKET_US",
    "GROUPS",
    "DayModelTotals",
    "Filters",
    "SessionDay",
    "SpendReport",
    "SpendRow",
    "agent_summary",
    "claude_code_sessions",
    "daily_model_totals",
    "period_key",
    "repeated_calls",
    "run_costs",
    "spend",
    "spend_by_bucket",
    "spent_and_held",
    "spent_nanos",
]

TIME_GROUPS = ("day", "week", "month")
COLUMN_GROUPS = ("agent", "model", "tier", "project", "session", "task_type", "source", "status")
GROUPS = TIME_GROUPS + COLUMN_GROUPS
#: Time sums are per 15-minute UTC bucket: every real zone offset is a multiple of it.
BUCKET_US = 900_000_000
_DAY_US = 86_400_000_000

_SUMS = (
    "COUNT(*), SUM(input_tokens), SUM(output_tokens), "
    "SUM(cache_write_5m_tokens + cache_write_1h_tokens), SUM(cache_read_tokens), SUM(cost_nanos)"
)


@dataclass(slots=True)
class Filters:
    """Which executions a query covers. ``since`` inclusive, ``until`` exclusive (UTC)."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    project: str | None = None
    agent: str | None = None
    model: str | None = None
    tier: str | None = None
    session: str | None = None
    source: str | None = None
    tag: tuple[str, str] | None = None

    def sql(self, *, tiered: bool = False) -> tuple[str, dict[str, Any]]:
        """A WHERE fragment and its parameters. ``tiered`` keeps only rows of a known tier (an
        ingested API error or an unpriced gateway model has tier ``unknown``)."""
        clauses: list[str] = ["tier IN ('haiku', 'sonnet', 'opus')"] if tiered else []
        params: dict[str, Any] = {}
        if self.since is not None:
            clauses.append("ts_us >= :since")
            params["since"] = us_from_ts(self.since)
        if self.until is not None:
            clauses.append("ts_us < :until")
            params["until"] = us_from_ts(self.until)
        for name in ("project", "agent", "model", "tier", "session", "source"):
            value = getattr(self, name)
            if value is not None:
                clauses.append(f"{name} = :{name}")
                params[name] = value
        if self.tag is not None:
            import json

            # exact, case-sensitive and wildcard-free on both stores: the canonical pair occurs
            # in the tags' JSON text when removing it changes the text (no LIKE, whose % and _
            # are wildcards and which ignores case on SQLite)
            clauses.append("replace(tags, :tag, '') <> tags")
            pair = {self.tag[0]: self.tag[1]}
            params["tag"] = json.dumps(pair, separators=(",", ":"), ensure_ascii=False)[1:-1]
        return (" AND ".join(clauses) or "1=1"), params


@dataclass(slots=True)
class SpendRow:
    key: str
    executions: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    cost_nanos: int = 0

    @property
    def cost_usd(self) -> Decimal:
        return nanos_to_decimal(self.cost_nanos)

    def add(self, values: tuple[Any, ...]) -> None:
        n, i, o, cw, cr, c = (int(v or 0) for v in values)
        self.executions += n
        self.input_tokens += i
        self.output_tokens += o
        self.cache_creation_tokens += cw
        self.cache_read_tokens += cr
        self.cost_nanos += c

    def sums(self) -> tuple[int, ...]:
        """Its numbers in :meth:`add`'s order."""
        return (
            self.executions,
            self.input_tokens,
            self.output_tokens,
            self.cache_creation_tokens,
            self.cache_read_tokens,
            self.cost_nanos,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "executions": self.executions,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_tokens": self.cache_creation_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cost_usd": usd_text(self.cost_nanos),
        }


@dataclass(slots=True)
class SpendReport:
    by: str
    rows: list[SpendRow]
    total: SpendRow = field(default_factory=lambda: SpendRow("total"))

    def to_dict(self) -> dict[str, Any]:
        total = self.total.to_dict()
        del total["key"]
        return {"rows": [r.to_dict() for r in self.rows], "total": total}


def report_of_rows(by: str, rows: list[SpendRow]) -> SpendReport:
    """A spend report of ``rows``, with their total."""
    report = SpendReport(by, rows)
    for row in rows:
        report.total.add(row.sums())
    return report


def spend(
    ledger: Reader, by: str, filters: Filters | None = None, tz: dt.tzinfo = dt.UTC
) -> SpendReport:
    """Spend grouped ``by`` a period (in ``tz``) or a column, filtered by ``filters``."""
    if by not in GROUPS:
        raise ConfigError(f"--by: cannot group by {by!r}", hint=f"use one of: {', '.join(GROUPS)}")
    where, params = (filters or Filters()).sql()
    rows: dict[str, SpendRow] = {}
    if by in TIME_GROUPS:
        sql = (
            f"SELECT ts_us / {BUCKET_US} AS b, {_SUMS} FROM executions "
            f"WHERE {where} GROUP BY ts_us / {BUCKET_US}"
        )
        for bucket, *values in ledger.query(sql, params):
            key = period_key(int(bucket), by, tz)
            rows.setdefault(key, SpendRow(key)).add(tuple(values))
        ordered = [rows[k] for k in sorted(rows)]
    else:
        sql = f"SELECT {by}, {_SUMS} FROM executions WHERE {where} GROUP BY {by}"
        for key, *values in ledger.query(sql, params):
            label = str(key) if key not in (None, "") else "(none)"
            rows.setdefault(label, SpendRow(label)).add(tuple(values))
        ordered = sorted(rows.values(), key=lambda r: (-r.cost_nanos, r.key))
    return report_of_rows(by, ordered)


def spent_nanos(ledger: Reader, filters: Filters) -> int:
    """Recorded spend of the executions ``filters`` selects, in nano-dollars."""
    where, params = filters.sql()
    sql = f"SELECT COALESCE(SUM(cost_nanos), 0) FROM executions WHERE {where}"
    return int(ledger.query(sql, params)[0][0])


def spend_by_bucket(ledger: Reader, filters: Filters) -> list[tuple[int, int]]:
    """``(bucket, nano-dollars)`` per 15-minute UTC bucket (:data:`BUCKET_US`) with spend."""
    where, params = filters.sql()
    sql = (
        f"SELECT ts_us / {BUCKET_US}, SUM(cost_nanos) FROM executions "
        f"WHERE {where} GROUP BY ts_us / {BUCKET_US}"
    )
    return [(int(b), int(total or 0)) for b, total in ledger.query(sql, params)]


def spent_and_held(ledger: Reader, filters: Filters, budget: str, now_us: int) -> tuple[int, int]:
    """(recorded spend of ``filters``, unexpired reservations held against ``budget``), read
    in ONE statement. Under PostgreSQL's READ COMMITTED every statement has its own snapshot:
    with two queries, a settle committing between them would be in neither (its execution not
    yet visible to the first, its reservation already gone from the second), and the budget
    would be under-counted. One statement sees that settle entirely before or after."""
    where, params = filters.sql()
    sql = (
        f"SELECT (SELECT COALESCE(SUM(cost_nanos), 0) FROM executions WHERE {where}), "
        "(SELECT COALESCE(SUM(amount_nanos), 0) FROM budget_reservations "
        "WHERE budget = :gs_budget AND expires_us > :gs_now)"
    )
    params.update(gs_budget=budget, gs_now=now_us)
    spent, held = ledger.query(sql, params)[0]
    return int(spent), int(held)


def run_costs(ledger: Reader, run_id: str) -> dict[str | None, int]:
    """Recorded spend of an engine run, per task key (job id; ``None`` for rows without)."""
    sql = (
        "SELECT task_key, SUM(cost_nanos) FROM executions WHERE run_id = :run_id GROUP BY task_key"
    )
    return {key: int(total or 0) for key, total in ledger.query(sql, {"run_id": run_id})}


def repeated_calls(ledger: Reader, run_id: str) -> int:
    """Model calls of an engine run recorded more than once: the same job, attempt number,
    model and tags (a job executed again after its worker died mid-call pays that call again).
    HTTP attempts the retry loop retried or dropped are not counted."""
    sql = (
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM executions "
        "WHERE run_id = :run_id AND status NOT IN ('retried', 'dropped') "
        "GROUP BY task_key, attempt, model, tags) d WHERE n > 1"
    )
    return int(ledger.query(sql, {"run_id": run_id})[0][0] or 0)


def period_key(bucket: int, by: str, tz: dt.tzinfo) -> str:
    """The day, ISO week or month (in ``tz``) a 15-minute UTC bucket falls in."""
    return period_label(ts_from_us(bucket * BUCKET_US).astimezone(tz).date(), by)


def period_label(day: dt.date, by: str) -> str:
    """``day``'s day, ISO week or month as ``spend`` names them (``by``)."""
    if by == "day":
        return day.isoformat()
    if by == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


@dataclass(slots=True)
class AgentModelStats:
    """One agent on one model: counts, tokens, cost and outcomes."""

    agent: str
    model: str
    tier: str
    executions: int = 0
    successes: int = 0
    failures: int = 0
    errors: int = 0
    escalated: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    cost_nanos: int = 0
    latency_ms_sum: int = 0
    latency_n: int = 0
    distinct_tasks: int = 0
    first_us: int = 0
    last_us: int = 0


#: A row that is a retried or dropped HTTP attempt: money, not an outcome (not counted as a run).
_RETRY = "status IN ('retried', 'dropped')"


def agent_summary(ledger: Reader, filters: Filters | None = None) -> list[AgentModelStats]:
    """Per (agent, model) statistics, the raw material of reports and recommendations.
    ``executions`` are runs -- retried and dropped HTTP attempts are left out of the counts
    (their cost and latency are in the sums)."""
    where, params = (filters or Filters()).sql()
    sql = (
        f"SELECT agent, model, tier, SUM(CASE WHEN {_RETRY} THEN 0 ELSE 1 END), "
        "SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status = 'failure' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN escalation_reason IS NOT NULL THEN 1 ELSE 0 END), "
        "SUM(input_tokens), SUM(output_tokens), "
        "SUM(cache_write_5m_tokens + cache_write_1h_tokens), SUM(cache_read_tokens), "
        "SUM(cost_nanos), SUM(COALESCE(latency_ms, 0)), "
        f"SUM(CASE WHEN latency_ms IS NULL OR {_RETRY} THEN 0 ELSE 1 END), "
        "COUNT(DISTINCT task_hash), MIN(ts_us), MAX(ts_us) "
        f"FROM executions WHERE {where} GROUP BY agent, model, tier"
    )
    out: list[AgentModelStats] = []
    for row in ledger.query(sql, params):
        agent, model, tier, *nums = row
        values = [int(v or 0) for v in nums]
        out.append(AgentModelStats(agent, model, tier, *values))
    out.sort(key=lambda s: (-s.cost_nanos, s.agent, s.model))
    return out


@dataclass(frozen=True, slots=True)
class DayModelTotals:
    """The records of one UTC day, model, source, price version (and tag set, when asked)."""

    day: dt.date
    model: str
    source: str
    price_version: str
    tags: str
    records: int
    input_tokens: int
    output_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    cache_read_tokens: int
    cost_nanos: int


def daily_model_totals(
    ledger: Reader,
    since: dt.datetime,
    until: dt.datetime,
    *,
    sources: tuple[str, ...] = (),
    with_tags: bool = False,
) -> list[DayModelTotals]:
    """Token and cost sums per UTC day (what Anthropic's usage and cost reports bucket by),
    model, source and price version, for records in ``[since, until)``; only ``sources`` when
    given. ``with_tags`` splits them by tag set too (the ``workspace_id`` / ``api_key_id`` tags
    say which workspace or key a call used); otherwise ``tags`` is ``"{}"``."""
    where = ["ts_us >= :since", "ts_us < :until"]
    params: dict[str, Any] = {"since": us_from_ts(since), "until": us_from_ts(until)}
    if sources:
        marks = ", ".join(f":s{i}" for i in range(len(sources)))
        where.append(f"source IN ({marks})")
        params.update({f"s{i}": source for i, source in enumerate(sources)})
    tags = "tags" if with_tags else "'{}'"
    sql = (
        f"SELECT ts_us / {_DAY_US} AS d, model, source, price_version, {tags} AS t, COUNT(*), "
        "SUM(input_tokens), SUM(output_tokens), SUM(cache_write_5m_tokens), "
        "SUM(cache_write_1h_tokens), SUM(cache_read_tokens), SUM(cost_nanos) "
        f"FROM executions WHERE {' AND '.join(where)} "
        f"GROUP BY ts_us / {_DAY_US}, model, source, price_version{', tags' if with_tags else ''}"
    )
    out = []
    for d, model, source, version, tag_text, *sums in ledger.query(sql, params):
        day = ts_from_us(int(d) * _DAY_US).date()
        values = [int(v or 0) for v in sums]
        out.append(DayModelTotals(day, model, source, version or "", tag_text or "{}", *values))
    out.sort(key=lambda t: (t.day, t.model, t.source, t.price_version, t.tags))
    return out


@dataclass(frozen=True, slots=True)
class SessionDay:
    """One Claude Code session's records on one UTC day (transcript ingestion, source
    ``claude-code``): the project is the session's working folder."""

    day: dt.date
    project: str
    session: str
    records: int
    input_tokens: int
    output_tokens: int
    cache_creation_tokens: int
    cache_read_tokens: int
    cost_nanos: int


def claude_code_sessions(
    ledger: Reader, since: dt.datetime, until: dt.datetime
) -> list[SessionDay]:
    """Per UTC day, project and session, what transcript ingestion recorded in
    ``[since, until)``."""
    sql = (
        f"SELECT ts_us / {_DAY_US} AS d, project, session, COUNT(*), SUM(input_tokens), "
        "SUM(output_tokens), SUM(cache_write_5m_tokens + cache_write_1h_tokens), "
        "SUM(cache_read_tokens), SUM(cost_nanos) FROM executions "
        "WHERE source = 'claude-code' AND ts_us >= :since AND ts_us < :until "
        f"GROUP BY ts_us / {_DAY_US}, project, session"
    )
    params = {"since": us_from_ts(since), "until": us_from_ts(until)}
    out = []
    for d, project, session, *sums in ledger.query(sql, params):
        day = ts_from_us(int(d) * _DAY_US).date()
        values = [int(v or 0) for v in sums]
        out.append(SessionDay(day, project or "", session or "", *values))
    out.sort(key=lambda s: (s.day, s.project, s.session))
    return out
