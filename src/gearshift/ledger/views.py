"""Spend read from the rollups (:mod:`gearshift.ledger.rollup`): the numbers of
:func:`gearshift.ledger.queries.spend` without summing every execution.

A question is a set of time intervals, each with a label (a local day, week or month, or one
interval for a range), and the columns to group by. Every interval is answered from whole UTC
days of ``spend_rollup_day`` plus the 15-minute buckets of ``spend_rollup_quarter`` it shares
with the days at its ends -- added, or subtracted from a whole day when that reads fewer
buckets -- plus the executions themselves for a part of a bucket (a ``--since 12h``). Labels
are given per 15-minute bucket, from the bucket's start, exactly as ``spend`` gives them, so
both agree in every zone (a day of 23 or 25 hours, a zone at +5:30, a DST change at
midnight). Filters the rollups cannot answer (a tag, a session) read the executions.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from gearshift.catalog.cost import usd_text
from gearshift.ledger.queries import (
    BUCKET_US,
    COLUMN_GROUPS,
    TIME_GROUPS,
    Filters,
    SpendReport,
    SpendRow,
    report_of_rows,
    spend,
)
from gearshift.ledger.record import us_from_ts
from gearshift.ledger.rollup import (
    DIMENSIONS,
    HOUR_US,
    QUARTER_US,
    QUARTERS_PER_DAY,
    SUM_NAMES,
    SUMS,
)
from gearshift.ledger.rollup_plan import (
    Interval,
    Plan,
    ceil_to,
    floor_to,
    labelled_intervals,
    plan_reads,
)

if TYPE_CHECKING:
    from gearshift.ledger.bulk import Reader

__all__ = [
    "COST_SUMS",
    "SPEND_SUMS",
    "Totals",
    "data_span",
    "data_version",
    "period_totals",
    "range_totals",
    "report_of",
    "report_of_rows",
    "spend_report",
]

Key = tuple[str, ...]
Grouped = dict[Key, "Totals"]

if BUCKET_US != QUARTER_US:  # pragma: no cover
    raise RuntimeError("the rollups' buckets must be spend's")


@dataclass(slots=True)
class Totals:
    """The sums of a group of executions (the rollups' columns)."""

    executions: int = 0
    first_attempts: int = 0
    successes: int = 0
    failures: int = 0
    errors: int = 0
    blocked: int = 0
    escalations: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    cost_nanos: int = 0
    latency_ms: int = 0
    latencies: int = 0

    def add(self, values: Sequence[Any], sign: int = 1) -> None:
        """Add (``sign`` -1: subtract) sums given in the rollups' column order."""
        for name, value in zip(_NAMES, values, strict=True):
            setattr(self, name, getattr(self, name) + sign * int(value or 0))

    def merge(self, other: Totals) -> None:
        self.add([getattr(other, n) for n in _NAMES])

    @property
    def cache_creation_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    def spend_row(self, key: str) -> SpendRow:
        return SpendRow(
            key,
            self.executions,
            self.input_tokens,
            self.output_tokens,
            self.cache_creation_tokens,
            self.cache_read_tokens,
            self.cost_nanos,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: counts as integers, ``cost_usd`` as a decimal string."""
        out: dict[str, Any] = {n: getattr(self, n) for n in _NAMES if n != "cost_nanos"}
        out["cost_usd"] = usd_text(self.cost_nanos)
        return out


_NAMES = tuple(f.name for f in fields(Totals))
if _NAMES != SUM_NAMES:  # pragma: no cover
    raise RuntimeError("Totals is out of step with gearshift.ledger.rollup.SUMS")
_RAW_SUMS = dict(SUMS)
#: What a spend report needs (``executions`` first: it tells an empty group).
SPEND_SUMS = (
    "executions",
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "cost_nanos",
)
#: Spend over time: how many, what they cost.
COST_SUMS = ("executions", "cost_nanos")


# -- questions ----------------------------------------------------------------------------------


def spend_report(
    ledger: Reader, by: str, filters: Filters | None = None, tz: dt.tzinfo = dt.UTC
) -> SpendReport:
    """:func:`gearshift.ledger.queries.spend` (same rows, same order, same numbers), answered
    from the rollups where they hold the grouping and the filters."""
    filters = filters or Filters()
    if by not in (*TIME_GROUPS, *DIMENSIONS) or not _rollup_can(filters):
        return spend(ledger, by, filters, tz)
    if by in TIME_GROUPS:
        periods = period_totals(ledger, by, (), filters, tz, sums=SPEND_SUMS)
        rows = [grouped[()].spend_row(key) for key, grouped in periods.items() if () in grouped]
        return report_of_rows(by, rows)
    return report_of(range_totals(ledger, (by,), filters, sums=SPEND_SUMS), (by,), by)


def report_of(grouped: Grouped, dims: Sequence[str], by: str) -> SpendReport:
    """The spend report by one of ``dims`` from totals grouped by ``dims`` (one read of the
    rollups answers several reports): rows as ``spend`` orders and names them."""
    at = list(dims).index(by)
    found: dict[str, SpendRow] = {}
    for key, totals in grouped.items():
        label = key[at] if key[at] != "" else "(none)"
        found.setdefault(label, SpendRow(label)).add(totals.spend_row(label).sums())
    return report_of_rows(by, sorted(found.values(), key=lambda r: (-r.cost_nanos, r.key)))


def period_totals(
    ledger: Reader,
    by: str,
    dims: Sequence[str],
    filters: Filters | None = None,
    tz: dt.tzinfo = dt.UTC,
    *,
    sums: Sequence[str] = SUM_NAMES,
) -> dict[str, Grouped]:
    """Per local period (``by``: day, week or month in ``tz``, keyed as ``spend`` keys them,
    in order), the totals per value of ``dims``; periods without executions are left out.
    Only ``sums`` are added up (the others stay 0): each costs the database a step per row."""
    if by not in TIME_GROUPS:
        raise ValueError(f"not a period: {by!r}")
    filters = filters or Filters()
    span = _span(ledger, filters)
    if span is None:
        return {}

    intervals = labelled_intervals(span[0], span[1], by, tz)
    grouped = _Question(tuple(dims), filters, _sum_names(sums)).answer(ledger, intervals)
    return {key: grouped[key] for key in sorted(grouped) if grouped[key]}


def range_totals(
    ledger: Reader,
    dims: Sequence[str],
    filters: Filters | None = None,
    *,
    sums: Sequence[str] = SUM_NAMES,
) -> Grouped:
    """The totals of the executions ``filters`` selects, per value of ``dims`` (only ``sums``
    added up, as :func:`period_totals`)."""
    filters = filters or Filters()
    span = _span(ledger, filters)
    if span is None:
        return {}
    question = _Question(tuple(dims), filters, _sum_names(sums))
    return question.answer(ledger, [(span[0], span[1], "")]).get("", {})


def _sum_names(sums: Sequence[str]) -> tuple[str, ...]:
    unknown = set(sums) - set(SUM_NAMES)
    if unknown:
        raise ValueError(f"not a sum: {sorted(unknown)}")
    return ("executions", *(s for s in sums if s != "executions"))


def data_version(ledger: Reader) -> tuple[int, ...]:
    """A fingerprint of what the ledger holds, read from the daily rollup (a few thousand
    rows): it changes when an execution is written, replaced or re-attributed. For keeping a
    slow answer until the ledger changes."""
    row = ledger.query(
        "SELECT COUNT(*), SUM(executions), SUM(cost_nanos), SUM(input_tokens + output_tokens), "
        "SUM(LENGTH(agent) * executions) FROM spend_rollup_day WHERE shift = 0"
    )[0]
    return tuple(int(v or 0) for v in row)


def data_span(ledger: Reader) -> tuple[int, int] | None:
    """``(first, last)`` execution time in microseconds, or ``None`` for an empty ledger."""
    # two subqueries: SQLite reads a lone MIN or MAX from the index, both together by a scan
    first, last = ledger.query(
        "SELECT (SELECT MIN(ts_us) FROM executions), (SELECT MAX(ts_us) FROM executions)"
    )[0]
    return None if first is None else (int(first), int(last))


# -- planning -----------------------------------------------------------------------------------


def _rollup_can(filters: Filters) -> bool:
    return filters.tag is None and filters.session is None


def _span(ledger: Reader, filters: Filters) -> tuple[int, int] | None:
    """``[start, end)`` in microseconds: the filter's bounds, or the data's."""
    known = data_span(ledger)
    if known is None:
        return None
    # the data's bounds widened to whole buckets (nothing lies outside them): no part of a
    # bucket to read from the table
    first, after = floor_to(known[0], QUARTER_US), ceil_to(known[1] + 1, QUARTER_US)
    start = us_from_ts(filters.since) if filters.since is not None else first
    end = us_from_ts(filters.until) if filters.until is not None else after
    start, end = max(start, first), min(end, after)
    return (start, end) if start < end else None


# -- answering ----------------------------------------------------------------------------------

Put = Callable[[str, Key, Sequence[Any], int], None]


@dataclass(frozen=True, slots=True)
class _Question:
    """What to group by, which executions, which sums."""

    dims: Key
    filters: Filters
    sums: tuple[str, ...]

    def answer(self, ledger: Reader, intervals: list[Interval]) -> dict[str, Grouped]:
        """The totals per ``dims`` of each labelled interval, summed per label."""
        for d in self.dims:
            if d not in (*DIMENSIONS, *COLUMN_GROUPS):
                raise ValueError(f"cannot group by {d!r}")
        found: dict[str, dict[Key, list[int]]] = defaultdict(dict)

        def put(text: str, key: Key, values: Sequence[Any], sign: int) -> None:
            # plain lists while adding up: Totals' attributes cost a row ten times as much
            group = found[text]
            held = group.get(key)
            if held is None:
                group[key] = [sign * int(v or 0) for v in values]
            elif sign == 1:
                group[key] = [a + int(b or 0) for a, b in zip(held, values, strict=True)]
            else:
                group[key] = [a - int(b or 0) for a, b in zip(held, values, strict=True)]

        if not _rollup_can(self.filters) or any(d not in DIMENSIONS for d in self.dims):
            self._read_table(ledger, intervals, put)
        else:
            plan = plan_reads(intervals)
            self._read_days(ledger, plan, put)
            for quarters, by_day in plan.quarters.items():
                for first, last in _runs(sorted(by_day)):
                    self._read_run(ledger, quarters, first, last, by_day, put)
            for lo, hi, text in plan.raw:
                self._read_raw(ledger, lo, hi, text, put)
        return {
            text: {
                key: Totals(**dict(zip(self.sums, values, strict=True)))
                for key, values in group.items()
                if values[0]  # executions: none left once subtracted
            }
            for text, group in found.items()
        }

    def _select(self, table: bool) -> str:
        dims = "".join(f"{d}, " for d in self.dims)
        if table:
            return dims + ", ".join(f"SUM({_RAW_SUMS[s].format(r='')})" for s in self.sums)
        return dims + ", ".join(f"SUM({s})" for s in self.sums)

    def _where(self) -> tuple[str, dict[str, Any]]:
        """`` AND ...`` for the columns a rollup holds (``since``/``until`` are the
        intervals')."""
        clauses, params = [], {}
        for name in DIMENSIONS:
            value = getattr(self.filters, name)
            if value is not None:
                clauses.append(f" AND {name} = :{name}")
                params[name] = value
        return "".join(clauses), params

    def _emit(self, rows: Iterable[Sequence[Any]], lookup: Callable[[Any], Any], put: Put) -> None:
        """Each row (a time key, the dims, the sums) to the intervals ``lookup`` gives."""
        n = len(self.dims)
        for row in rows:
            key = tuple("" if v is None else str(v) for v in row[1 : 1 + n])
            for text, sign in lookup(row[0]):
                put(text, key, row[1 + n :], sign)

    def _read_days(self, ledger: Reader, plan: Plan, put: Put) -> None:
        """Whole days: a run of days that all go to the same intervals (a range, a week, a
        month) is summed by the database in one row per key; the other days are read day by
        day."""
        for shift in sorted({shift for shift, _ in plan.days}):
            days = {day: entries for (h, day), entries in plan.days.items() if h == shift}
            single: dict[int, list[tuple[str, int]]] = {}
            for first, last in _runs(sorted(days), same=days.get):
                if last - first + 1 < _LONG_RUN:
                    single.update((d, days[d]) for d in range(first, last + 1))
                    continue
                where, params = self._where()
                params.update(gs_shift=shift, gs_d0=first, gs_d1=last + 1)
                sql = (
                    f"SELECT 0, {self._select(False)} FROM spend_rollup_day WHERE shift = "
                    f":gs_shift AND day >= :gs_d0 AND day < :gs_d1{where}{_group(self.dims)}"
                )
                self._emit(ledger.query(sql, params), _always(days[first]), put)
            if single:
                where, params = self._where()
                params.update(gs_shift=shift, gs_d0=min(single), gs_d1=max(single) + 1)
                sql = (
                    f"SELECT day, {self._select(False)} FROM spend_rollup_day WHERE shift = "
                    f":gs_shift AND day >= :gs_d0 AND day < :gs_d1{where}"
                    f"{_group(('day', *self.dims))}"
                )
                self._emit(ledger.query(sql, params), _by_day(single), put)

    def _read_run(
        self,
        ledger: Reader,
        quarters: tuple[int, int, int],
        first_day: int,
        last_day: int,
        by_day: dict[int, list[tuple[str, int]]],
        put: Put,
    ) -> None:
        """The same quarters of consecutive (shifted) days. Grouped by the key's leading
        columns when the dims are them (SQLite's rows come in that order: no sort), else by
        day (fewer rows back)."""
        shift, q0, q1 = quarters
        lead = shift * HOUR_US // QUARTER_US  # buckets the shifted days start before UTC's
        where, params = self._where()
        params.update(
            gs_b0=first_day * QUARTERS_PER_DAY - lead,
            gs_b1=(last_day + 1) * QUARTERS_PER_DAY - lead,
        )
        # integers: safe to inline
        wanted = ", ".join(str((q - lead) % QUARTERS_PER_DAY) for q in range(q0, q1))
        day = f"(bucket + {lead}) / {QUARTERS_PER_DAY}"
        if self.dims == DIMENSIONS[: len(self.dims)]:
            group: tuple[str, ...] = ("quarter", "bucket", *self.dims)
        else:
            group = (day, *self.dims)
        sql = (
            f"SELECT {day}, {self._select(False)} FROM spend_rollup_quarter "
            f"WHERE quarter IN ({wanted}) AND bucket >= :gs_b0 AND bucket < :gs_b1{where}"
            f"{_group(group)}"
        )
        self._emit(ledger.query(sql, params), lambda d: by_day.get(int(d), ()), put)

    def _read_raw(self, ledger: Reader, lo: int, hi: int, text: str, put: Put) -> None:
        """The executions of a part of a bucket."""
        where, params = self._where()
        params.update(gs_lo=lo, gs_hi=hi)
        sql = (
            f"SELECT 0, {self._select(True)} FROM executions "
            f"WHERE ts_us >= :gs_lo AND ts_us < :gs_hi{where}{_group(self.dims)}"
        )
        self._emit(ledger.query(sql, params), lambda _: ((text, 1),), put)

    def _read_table(self, ledger: Reader, intervals: list[Interval], put: Put) -> None:
        """The executions themselves, summed per 15-minute bucket and labelled as ``spend``
        labels them (a tag or session filter, a grouping the rollups do not hold)."""
        if not intervals:
            return
        where, params = self.filters.sql()
        params.update(gs_lo=intervals[0][0], gs_hi=intervals[-1][1])
        bucket = f"ts_us / {QUARTER_US}"
        sql = (
            f"SELECT {bucket}, {self._select(True)} FROM executions "
            f"WHERE ts_us >= :gs_lo AND ts_us < :gs_hi AND {where}"
            f"{_group((bucket, *self.dims))}"
        )
        starts = [lo for lo, _, _ in intervals]

        def lookup(b: Any) -> tuple[tuple[str, int]]:
            i = max(0, bisect.bisect_right(starts, int(b) * QUARTER_US) - 1)
            return ((intervals[i][2], 1),)

        self._emit(ledger.query(sql, params), lookup, put)


def _always(entries: list[tuple[str, int]]) -> Callable[[Any], list[tuple[str, int]]]:
    return lambda _: entries


def _by_day(
    days: dict[int, list[tuple[str, int]]],
) -> Callable[[Any], Sequence[tuple[str, int]]]:
    return lambda day: days.get(int(day), ())


#: From this many consecutive days going to the same intervals, the database sums them.
_LONG_RUN = 3


def _runs(
    days: list[int], same: Callable[[int], object] = lambda _: None
) -> Iterator[tuple[int, int]]:
    """``(first, last)`` of each run of consecutive days in sorted ``days`` that ``same``
    gives equal values."""
    first = 0
    for i in range(1, len(days) + 1):
        if i == len(days) or days[i] != days[i - 1] + 1 or same(days[i]) != same(days[i - 1]):
            yield days[first], days[i - 1]
            first = i


def _group(columns: Sequence[str]) -> str:
    return f" GROUP BY {', '.join(columns)}" if columns else ""
