"""How a question over time becomes reads of the spend rollups (for
:mod:`gearshift.ledger.views`).

A period series is first cut into labelled intervals, the label given per 15-minute bucket
from the bucket's start exactly as ``spend`` gives it (:func:`labelled_intervals`). Each
interval is then planned as whole days of one of the day rollups (whichever shifted grid of
days fits it best), 15-minute buckets added to or taken from the days at its ends (whichever
reads fewer), and the executions themselves for a part of a bucket (:func:`plan_reads`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from gearshift.ledger.queries import period_label
from gearshift.ledger.record import ts_from_us
from gearshift.ledger.rollup import DAY_US, HOUR_US, QUARTER_US, QUARTERS_PER_DAY, SHIFTS

__all__ = ["Interval", "Plan", "ceil_to", "floor_to", "labelled_intervals", "plan_reads"]

Interval = tuple[int, int, str]  # [start, end) in microseconds, and the label


def _label(us: int, by: str, tz: dt.tzinfo) -> str:
    return period_label(ts_from_us(us).astimezone(tz).date(), by)


def labelled_intervals(start: int, end: int, by: str, tz: dt.tzinfo) -> list[Interval]:
    """``[start, end)`` cut where the label of the 15-minute buckets changes, each piece with
    its label. Per UTC day: with one offset all day, the local date changes at most once, so
    the label does too (found by a binary search); a day with a DST change is labelled bucket by
    bucket."""
    out: list[Interval] = []

    def put(lo: int, hi: int, text: str) -> None:
        lo, hi = max(lo, start), min(hi, end)
        if lo >= hi:
            return
        if out and out[-1][2] == text and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi, text)
        else:
            out.append((lo, hi, text))

    last_q = (QUARTERS_PER_DAY - 1) * QUARTER_US
    for day in range(start // DAY_US, ceil_to(end, DAY_US) // DAY_US):
        base = day * DAY_US
        if _offset(base, tz) != _offset(base + last_q, tz):
            for q in range(QUARTERS_PER_DAY):
                at = base + q * QUARTER_US
                put(at, at + QUARTER_US, _label(at, by, tz))
            continue
        head, tail = _label(base, by, tz), _label(base + last_q, by, tz)
        split = QUARTERS_PER_DAY
        if head != tail:
            lo, split = 0, QUARTERS_PER_DAY - 1
            while lo < split:  # the first bucket labelled ``tail``
                mid = (lo + split) // 2
                if _label(base + mid * QUARTER_US, by, tz) == head:
                    lo = mid + 1
                else:
                    split = mid
        put(base, base + split * QUARTER_US, head)
        put(base + split * QUARTER_US, base + DAY_US, tail)
    return out


def _offset(us: int, tz: dt.tzinfo) -> dt.timedelta | None:
    return ts_from_us(us).astimezone(tz).utcoffset()


def floor_to(us: int, unit: int) -> int:
    return us // unit * unit


def ceil_to(us: int, unit: int) -> int:
    return -(-us // unit) * unit


@dataclass(slots=True)
class Plan:
    """Where each interval's sums come from: whole days of one of the day rollups (keyed by
    ``(shift, day)``), runs of 15-minute buckets added to or taken from such a day (keyed by
    ``(shift, first quarter, end quarter)`` of the shifted day), and raw ranges of the table."""

    days: dict[tuple[int, int], list[tuple[str, int]]]
    quarters: dict[tuple[int, int, int], dict[int, list[tuple[str, int]]]]
    raw: list[tuple[int, int, str]]


def plan_reads(intervals: Iterable[Interval]) -> Plan:
    plan = Plan(defaultdict(list), defaultdict(lambda: defaultdict(list)), [])
    for lo, hi, text in intervals:
        aligned_lo, aligned_hi = ceil_to(lo, QUARTER_US), floor_to(hi, QUARTER_US)
        if aligned_lo >= aligned_hi:
            plan.raw.append((lo, hi, text))
            continue
        if lo < aligned_lo:
            plan.raw.append((lo, aligned_lo, text))
        if aligned_hi < hi:
            plan.raw.append((aligned_hi, hi, text))
        _plan_aligned(plan, aligned_lo, aligned_hi, text)
    return plan


Segment = tuple[int, int, int, int]  # (day, first quarter, end quarter, sign)
Option = tuple[int, int, list[Segment]]  # days [first, last), and the segments


def _plan_aligned(plan: Plan, lo: int, hi: int, text: str) -> None:
    """``[lo, hi)`` (whole buckets) as whole days of the day rollup whose days fit it best,
    plus the fewest buckets: at each end, the part of the end's day inside the interval, or
    the whole day less the part outside."""
    best: tuple[tuple[int, int, int], int, Option] | None = None
    for shift in SHIFTS:
        offset = shift * HOUR_US
        option = _best_option(lo + offset, hi + offset)
        first, last, segments = option
        cost = (sum(s[2] - s[1] for s in segments), last - first, len(segments))
        if best is None or cost < best[0]:
            best = (cost, shift, option)
    assert best is not None
    _, shift, (first, last, segments) = best
    for day in range(first, last):
        plan.days[(shift, day)].append((text, 1))
    for day, q0, q1, sign in segments:
        plan.quarters[(shift, q0, q1)][day].append((text, sign))


def _best_option(lo: int, hi: int) -> Option:
    """The cheapest decomposition of ``[lo, hi)`` into days and buckets, on a grid of days
    starting at multiples of a day."""
    day_lo, q_lo = divmod(lo, DAY_US)
    day_hi, q_hi = divmod(hi, DAY_US)
    q_lo //= QUARTER_US
    q_hi //= QUARTER_US
    full = QUARTERS_PER_DAY
    starts: list[tuple[int, list[Segment]]] = (
        [(day_lo, [])]
        if q_lo == 0
        else [(day_lo + 1, [(day_lo, q_lo, full, 1)]), (day_lo, [(day_lo, 0, q_lo, -1)])]
    )
    ends: list[tuple[int, list[Segment]]] = (
        [(day_hi, [])]
        if q_hi == 0
        else [(day_hi, [(day_hi, 0, q_hi, 1)]), (day_hi + 1, [(day_hi, q_hi, full, -1)])]
    )
    options: list[Option] = [(a, b, sa + sb) for a, sa in starts for b, sb in ends if a <= b]
    if day_lo == day_hi:
        options.append((day_lo, day_lo, [(day_lo, q_lo, q_hi, 1)]))
    return min(options, key=lambda o: (sum(s[2] - s[1] for s in o[2]), o[1] - o[0], len(o[2])))
