"""The what-if planner: a workload's monthly cost, quality and latency before and after a change.

One execution under a strategy (see :mod:`gearshift.insight.workload` for the file format):

* cost -- every step's tokens at the catalog's price for its tier, times the share of
  executions that run it (a tiered task that escalates pays both tiers);
* quality -- the chance the result is good: steps every execution runs are all needed (their
  success rates multiply); a step that runs for a share ``e`` of executions "when needed" rescues
  like an escalation, ``min(q, 1 - e) + e * s``;
* latency -- the steps run one after another, each weighted by its share.

Monthly figures are per execution x executions per day x ``days_per_month``. Money is exact.

A workload may list figures someone else stated (``article_figures``). Each is checked twice:
against ours -- computed from the same inputs and prices, so a difference means the stated figure
does not follow from its own inputs -- and against what the stated figures themselves imply
(a monthly figure is the per-execution figure x volume; a total is the sum of its parts; a
saving is before minus after). A stated figure "follows" when it is within half a unit of its
last stated digit (2% when marked approximate with ``~``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Usage
from gearshift.errors import DefinitionError

if TYPE_CHECKING:
    from gearshift.catalog import Catalog
    from gearshift.insight.workload import StatedFigure, Strategy, TaskType, Workload

__all__ = [
    "FigureCheck",
    "Implied",
    "Outcome",
    "Plan",
    "TaskPlan",
    "exact",
    "make_plan",
    "money",
    "outcome",
]

_FIELDS = (
    "before.per_execution",
    "before.monthly",
    "after.per_execution",
    "after.monthly",
    "saving.monthly",
    "saving.percent",
)
_TOTALS = ("before.monthly", "after.monthly", "saving.monthly", "saving.percent", "saving.yearly")


@dataclass(frozen=True, slots=True)
class Outcome:
    """One execution under a strategy: exact USD, quality in [0, 1], seconds."""

    per_execution: Fraction
    quality: Fraction
    latency_s: Fraction


def outcome(task: TaskType, strategy: Strategy, catalog: Catalog) -> Outcome:
    """Cost, quality and latency of one execution of ``task`` run on ``strategy``."""
    cost = latency = Fraction(0)
    quality: Fraction | None = None
    for step in strategy.steps:
        usage = Usage(step.input_tokens, step.output_tokens)
        cost += step.share * Fraction(catalog.cost(catalog.default_for(step.tier), usage).exact)
        latency += step.share * task.latency_s[step.tier]
        s = task.success[step.tier]
        if quality is None:
            quality = s
        elif step.share == 1:
            quality *= s
        else:
            quality = min(quality, 1 - step.share) + step.share * s
    return Outcome(cost, quality or Fraction(0), latency)


@dataclass(frozen=True, slots=True)
class TaskPlan:
    task: TaskType
    before: Outcome
    after: Outcome
    days: Fraction

    @property
    def per_month(self) -> Fraction:
        return self.task.per_day * self.days

    @property
    def monthly_before(self) -> Fraction:
        return self.before.per_execution * self.per_month

    @property
    def monthly_after(self) -> Fraction:
        return self.after.per_execution * self.per_month

    @property
    def saving(self) -> Fraction:
        return self.monthly_before - self.monthly_after


@dataclass(frozen=True, slots=True)
class Implied:
    """What the stated figures themselves imply for a figure, and how."""

    value: Fraction
    how: str
    consistent: bool


@dataclass(frozen=True, slots=True)
class FigureCheck:
    figure: StatedFigure
    ours: Fraction
    follows: bool
    implied: tuple[Implied, ...] = ()

    @property
    def difference(self) -> Fraction:
        return Fraction(self.figure.stated) - self.ours

    @property
    def ratio(self) -> Fraction | None:
        return Fraction(self.figure.stated) / self.ours if self.ours else None


@dataclass(slots=True)
class Plan:
    workload: Workload
    prices: str
    tasks: list[TaskPlan]
    checks: list[FigureCheck] = field(default_factory=list)

    @property
    def monthly_before(self) -> Fraction:
        return sum((t.monthly_before for t in self.tasks), Fraction(0))

    @property
    def monthly_after(self) -> Fraction:
        return sum((t.monthly_after for t in self.tasks), Fraction(0))

    @property
    def saving(self) -> Fraction:
        return self.monthly_before - self.monthly_after

    def quality(self, when: str) -> Fraction:
        """Expected share of good results over all executions (``before`` or ``after``)."""
        volume = sum((t.task.per_day for t in self.tasks), Fraction(0)) or Fraction(1)
        return sum((t.task.per_day * getattr(t, when).quality for t in self.tasks), Fraction(0)) / (
            volume
        )

    def ours(self, key: str) -> Fraction | None:
        """Our value of a figure key (``linting.before.monthly``, ``total.saving.percent``)."""
        name, rest = _split(key)
        if name == "total":
            values = {
                "before.monthly": self.monthly_before,
                "after.monthly": self.monthly_after,
                "saving.monthly": self.saving,
                "saving.yearly": self.saving * 12,
                "saving.percent": _percent(self.saving, self.monthly_before),
            }
            return values.get(rest)
        plan = next((t for t in self.tasks if t.task.name == name), None)
        if plan is None:
            return None
        return {
            "before.per_execution": plan.before.per_execution,
            "before.monthly": plan.monthly_before,
            "after.per_execution": plan.after.per_execution,
            "after.monthly": plan.monthly_after,
            "saving.monthly": plan.saving,
            "saving.percent": _percent(plan.saving, plan.monthly_before),
        }.get(rest)

    def to_dict(self) -> dict[str, Any]:
        def side(o: Outcome, monthly: Fraction, strategy: Strategy) -> dict[str, Any]:
            return {
                "strategy": strategy.describe(),
                "per_execution_usd": exact(o.per_execution),
                "monthly_usd": exact(monthly),
                "quality": exact(o.quality),
                "latency_s": exact(o.latency_s),
            }

        return {
            "workload": self.workload.name,
            "prices": self.prices,
            "days_per_month": exact(self.workload.days_per_month),
            "tasks": [
                {
                    "name": t.task.name,
                    "executions_per_day": exact(t.task.per_day),
                    "before": side(t.before, t.monthly_before, t.task.before),
                    "after": side(t.after, t.monthly_after, t.task.after),
                    "saving_monthly_usd": exact(t.saving),
                }
                for t in self.tasks
            ],
            "total": {
                "before_monthly_usd": exact(self.monthly_before),
                "after_monthly_usd": exact(self.monthly_after),
                "saving_monthly_usd": exact(self.saving),
                "saving_percent": exact(_percent(self.saving, self.monthly_before)),
                "saving_yearly_usd": exact(self.saving * 12),
                "quality_before": exact(self.quality("before")),
                "quality_after": exact(self.quality("after")),
            },
            "article_figures": [
                {
                    "figure": c.figure.figure,
                    "stated": c.figure.text,
                    "quote": c.figure.quote,
                    "ours": exact(c.ours),
                    "difference": exact(c.difference),
                    "ratio": exact(c.ratio) if c.ratio is not None else None,
                    "follows_from_inputs": c.follows,
                    "implied_by_stated_figures": [
                        {"value": exact(i.value), "how": i.how, "consistent": i.consistent}
                        for i in c.implied
                    ],
                }
                for c in self.checks
            ],
        }


def make_plan(workload: Workload, catalog: Catalog) -> Plan:
    """Price every task type before and after, and check the stated figures."""
    tasks = [
        TaskPlan(
            t,
            outcome(t, t.before, catalog),
            outcome(t, t.after, catalog),
            workload.days_per_month,
        )
        for t in workload.tasks
    ]
    plan = Plan(workload, catalog.price_version, tasks)
    plan.checks = [_check(plan, f) for f in workload.figures]
    return plan


def _check(plan: Plan, figure: StatedFigure) -> FigureCheck:
    ours = plan.ours(figure.figure)
    if ours is None:
        known = [f"{t.task.name}.{f}" for t in plan.tasks[:1] for f in _FIELDS]
        raise DefinitionError(
            f"{plan.workload.source}:{figure.line}: article_figures: unknown figure "
            f"{figure.figure!r}",
            hint=f"use TASK.{'|'.join(_FIELDS)} (e.g. {known[0]}) or total.{'|'.join(_TOTALS)}",
        )
    tolerance = _tolerance(figure)
    implied = tuple(
        Implied(value, how, abs(Fraction(figure.stated) - value) <= tolerance)
        for value, how in _implied(plan, figure.figure)
    )
    per_execution = figure.figure.endswith(("before.monthly", "after.monthly"))
    if (
        per_execution
        and not figure.figure.startswith("total.")
        and any(i.consistent for i in implied)
    ):
        implied = tuple(i for i in implied if i.consistent)
    return FigureCheck(figure, ours, abs(Fraction(figure.stated) - ours) <= tolerance, implied)


def _tolerance(figure: StatedFigure) -> Fraction:
    """Half a unit of the last non-zero stated digit; 2% when the figure is approximate."""
    exponent = figure.stated.normalize().as_tuple().exponent
    half = Fraction(Decimal(1).scaleb(int(exponent))) / 2
    return max(half, abs(Fraction(figure.stated)) / 50) if figure.approx else half


def _implied(plan: Plan, key: str) -> list[tuple[Fraction, str]]:
    """What the *stated* figures imply for ``key``: each value with how it was derived."""
    stated: dict[str, list[Fraction]] = {}
    for f in plan.workload.figures:
        stated.setdefault(f.figure, []).append(Fraction(f.stated))
    name, rest = _split(key)
    out: list[tuple[Fraction, str]] = []
    if name != "total":
        task = next(t for t in plan.tasks if t.task.name == name)
        if rest in ("before.monthly", "after.monthly"):
            for per in stated.get(f"{name}.{rest.split('.')[0]}.per_execution", []):
                how = f"{money(per)} x {_num(task.per_month)} executions a month"
                out.append((per * task.per_month, how))
        if rest == "saving.monthly":
            before = _first(stated, f"{name}.before.monthly")
            after = _after(plan, stated, name, via_saving=False)
            if before is not None and after is not None:
                out.append((before - after, f"{money(before)} - {money(after)}"))
        return out
    befores = [_first(stated, f"{t.task.name}.before.monthly") for t in plan.tasks]
    afters = [_after(plan, stated, t.task.name) for t in plan.tasks]
    savings = [_first(stated, f"{t.task.name}.saving.monthly") for t in plan.tasks]
    total_before = _first(stated, "total.before.monthly")
    total_after = _first(stated, "total.after.monthly")
    total_saving = _first(stated, "total.saving.monthly")
    if rest == "before.monthly" and None not in befores:
        out.append((_sum(befores), "the sum of the stated task figures"))
    if rest == "after.monthly" and None not in afters:
        out.append((_sum(afters), "the sum of the stated task figures"))
    if rest == "saving.monthly":
        if total_before is not None and total_after is not None:
            how = f"{money(total_before)} - {money(total_after)}"
            out.append((total_before - total_after, how))
        if any(s is not None for s in savings):
            parts = [s or Fraction(0) for s in savings]
            out.append((_sum(parts), "the sum of the stated task savings"))
    if rest == "saving.percent" and total_saving is not None and total_before:
        how = f"{money(total_saving)} of {money(total_before)}"
        out.append((_percent(total_saving, total_before), how))
    if rest == "saving.yearly" and total_saving is not None:
        out.append((total_saving * 12, f"12 x {money(total_saving)}"))
    return out


def _after(
    plan: Plan, stated: dict[str, list[Fraction]], name: str, *, via_saving: bool = True
) -> Fraction | None:
    """A task's stated monthly cost after: stated, else its stated cost per execution x volume,
    else (``via_saving``) before - saving, else before when the strategy does not change."""
    after = _first(stated, f"{name}.after.monthly")
    if after is not None:
        return after
    task = next(t for t in plan.tasks if t.task.name == name)
    per = _first(stated, f"{name}.after.per_execution")
    if per is not None:
        return per * task.per_month
    before = _first(stated, f"{name}.before.monthly")
    saving = _first(stated, f"{name}.saving.monthly")
    if via_saving and before is not None and saving is not None:
        return before - saving
    return before if task.task.before == task.task.after else None


def _first(stated: dict[str, list[Fraction]], key: str) -> Fraction | None:
    values = stated.get(key)
    return values[0] if values else None


def _sum(values: Sequence[Fraction | None]) -> Fraction:
    return sum((v for v in values if v is not None), Fraction(0))


def _percent(part: Fraction, whole: Fraction) -> Fraction:
    return part * 100 / whole if whole else Fraction(0)


def exact(value: Fraction) -> str:
    """A rational as a decimal string: exact when it terminates, else to 12 places."""
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    quotient = Decimal(value.numerator) / Decimal(value.denominator)
    if den == 1:
        return f"{quotient.normalize():f}"
    return f"{quotient.quantize(Decimal('1e-12')).normalize():f}"


def _split(key: str) -> tuple[str, str]:
    """``test generation.before.monthly`` -> (``test generation``, ``before.monthly``)."""
    name, side, field_name = [*key.rsplit(".", 2), "", ""][:3]
    return name, f"{side}.{field_name}"


def money(value: Fraction) -> str:
    """Dollars for people: cents from $1 up (no ``.00``), up to 6 places below."""
    from gearshift.fmt import usd

    amount = Decimal(exact(value))
    if abs(amount) >= 1:
        text = usd(amount, places=2)
        return text[:-3] if amount == amount.to_integral_value() else text
    text = usd(amount, places=6)
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.rstrip('0').ljust(2, '0')}"


def _num(value: Fraction) -> str:
    return f"{Decimal(exact(value)):,f}"
