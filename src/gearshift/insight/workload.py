"""Workload files: the task types a plan is made of, read and validated with line numbers.

A workload file (YAML) lists task types, each with its volume, its tokens, the success rate of
each tier on it, the strategy it runs on now (``before``) and the one proposed (``after``)::

    days_per_month: 30
    latency_s: {haiku: 15, sonnet: 30, opus: 45}     # optional; per task type too
    tasks:
      - name: test generation
        executions_per_day: 100
        input_tokens: 800
        output_tokens: 3000
        success: {haiku: 0.90, sonnet: 0.95}        # missing tiers take the defaults
        before: {strategy: static, tier: sonnet}
        after: {strategy: tiered, tiers: [haiku, sonnet], escalation_rate: 0.10}
    article_figures:                                 # optional: figures someone else stated
      - {figure: test generation.after.monthly, stated: "$120", quote: "Monthly: $120"}

Strategies (what they cost and how well they do is :mod:`gearshift.insight.plan`'s business):

* ``static`` -- one ``tier``;
* ``tiered`` -- ``tiers`` cheapest first; each escalation runs for a share ``escalation_rate``
  of the previous step's runs (default: that tier's failure rate);
* ``hybrid`` -- ``subtasks``, each on its ``tier`` with its own tokens (default: the task's) and
  the ``share`` of executions that run it (default 1).

Numbers may be written ``0.10`` or ``"10%"``. The file is declared by :class:`WorkloadFile`
(msgspec Structs checked by :func:`gearshift.formats.structs.convert`); what a type cannot say
(a tier in any case, a percentage in range, tiers going up) is checked after. Every problem is a
:class:`~gearshift.errors.DefinitionError` naming the file, the line and the key -- a workload
is written by hand, and "invalid value" alone sends people hunting.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from gearshift.catalog import Tier
from gearshift.errors import DefinitionError
from gearshift.formats.structs import convert, key_path, line_at, locate
from gearshift.formats.yamlsrc import YamlMap, load_yaml
from gearshift.insight.expected_cost import DEFAULT_SUCCESS, MONTH_DAYS

__all__ = [
    "DEFAULT_LATENCY_S",
    "Definition",
    "StatedFigure",
    "Step",
    "Strategy",
    "TaskType",
    "Workload",
    "WorkloadFile",
    "load_workload",
    "parse_workload",
]

#: Seconds per call when a workload gives none (the article: 45 s on Opus, 15 s on Haiku).
DEFAULT_LATENCY_S: dict[Tier, Decimal] = {
    Tier.HAIKU: Decimal(15),
    Tier.SONNET: Decimal(30),
    Tier.OPUS: Decimal(45),
}

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Step:
    """One call pattern: ``share`` of executions call ``tier`` with these tokens."""

    name: str
    tier: Tier
    share: Fraction
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class Strategy:
    kind: str
    steps: tuple[Step, ...]

    def describe(self) -> str:
        first = self.steps[0]
        if self.kind == "static":
            return first.tier.value
        if self.kind == "tiered":
            chain = "->".join(s.tier.value for s in self.steps)
            return f"tiered {chain} ({_pct(self.steps[1].share)} escalate)"
        parts = [
            f"{s.name or s.tier.value} on {s.tier}"
            + ("" if s.share == 1 else f" ({_pct(s.share)})")
            for s in self.steps
        ]
        return "hybrid: " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class TaskType:
    name: str
    per_day: Fraction
    input_tokens: int
    output_tokens: int
    success: dict[Tier, Fraction]
    latency_s: dict[Tier, Fraction]
    before: Strategy
    after: Strategy


@dataclass(frozen=True, slots=True)
class StatedFigure:
    """A figure someone stated: ``$`` money or ``%``, approximate when written ``~``."""

    figure: str
    stated: Decimal
    unit: str
    text: str
    approx: bool = False
    quote: str | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    source: str
    days_per_month: Fraction
    tasks: tuple[TaskType, ...]
    figures: tuple[StatedFigure, ...] = field(default=())


# -- the file's format ----------------------------------------------------------------------------

_Number = int | float | str  # 0.10, or "10%"
_Text = str | int | float  # a name YAML may read as a number
_Tokens = Annotated[int, msgspec.Meta(ge=0)]
_Tier = Annotated[str, msgspec.Meta(examples=["haiku", "sonnet", "opus"])]


class TierNumbers(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A number per tier (a success rate, a latency in seconds); a missing tier keeps its
    default."""

    haiku: _Number | None = None
    sonnet: _Number | None = None
    opus: _Number | None = None


class SubtaskSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A hybrid strategy's subtask: ``share`` of executions (default 1) run it on ``tier``."""

    tier: _Tier
    name: _Text | None = None
    share: _Number | None = None
    input_tokens: _Tokens | None = None
    output_tokens: _Tokens | None = None


class StrategySpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How a task type runs: ``static`` on a ``tier``, ``tiered`` over ``tiers`` (cheapest first,
    each escalation for ``escalation_rate`` of the previous step), or ``hybrid`` ``subtasks``."""

    strategy: Literal["static", "tiered", "hybrid"] = "static"
    tier: _Tier | None = None
    tiers: list[_Tier] | None = None
    escalation_rate: _Number | list[_Number] | None = None
    subtasks: list[SubtaskSpec] | None = None


class TaskTypeSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One task type: its volume, tokens, success per tier, and strategy before and after."""

    name: _Text
    executions_per_day: _Number
    input_tokens: _Tokens
    output_tokens: _Tokens
    before: StrategySpec
    after: StrategySpec | None = None
    description: _Text | None = None
    success: TierNumbers | None = None
    latency_s: TierNumbers | None = None


class FigureSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A figure someone stated (``$1,200``, ``~57%``), to set beside the computed one."""

    figure: _Text
    stated: _Text
    quote: _Text | None = None
    approx: bool = False


class WorkloadFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A workload: the task types a plan is made of."""

    tasks: Annotated[list[TaskTypeSpec], msgspec.Meta(min_length=1)]
    name: _Text | None = None
    description: _Text | None = None
    days_per_month: _Number = MONTH_DAYS
    latency_s: TierNumbers | None = None
    article_figures: list[FigureSpec] = []


def schema() -> type[WorkloadFile]:
    """The Struct whose JSON Schema describes a workload file."""
    return WorkloadFile


# -- reading a workload file ---------------------------------------------------------------------


def read_definition(path: str | os.PathLike[str], kind: str) -> str:
    """The text of a definition file (a workload, a policy); errors say which and why."""
    file = Path(path)
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DefinitionError(f"{kind} file {file} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"cannot read {kind} file {file}: {exc}") from None


def load_workload(path: str | os.PathLike[str]) -> Workload:
    """Read and validate a workload file."""
    return parse_workload(read_definition(path, "workload"), str(path))


def parse_workload(text: str, source: str = "<workload>") -> Workload:
    """Validate a workload document; errors name ``source``, the line and the key."""
    doc = Definition.parse(text, source, _HINT)
    return _Reader(doc, doc.check(WorkloadFile)).workload()


_HINT = "see the docstring of gearshift.insight.workload, or examples/case-study.yaml"


@dataclass(frozen=True, slots=True)
class Definition:
    """A hand-written YAML definition (a workload, a replay policy) being read: the data with
    the line of every key, so that the checks a type cannot make name the file, the line and
    the key path (``tasks[2].after.tiers``) as the Struct check does."""

    source: str
    data: Any
    hint: str

    @classmethod
    def parse(cls, text: str, source: str, hint: str) -> Definition:
        """Parse ``text`` (an empty document is an empty mapping)."""
        data = load_yaml(text, source=source)
        return cls(source, YamlMap.empty(source) if data is None else data, hint)

    def check(self, type_: type[Any]) -> Any:
        """The data as ``type_``, or the error naming the line and key."""
        return convert(self.data, type_, source=self.source, error=DefinitionError)

    def fail(self, path: Sequence[str | int], problem: str) -> DefinitionError:
        key = key_path("", path) or "top level"
        return DefinitionError(
            f"{locate(self.source, self.data, path)}: {key}: {problem}", hint=self.hint
        )

    def number(
        self,
        value: int | float | str,
        path: Path_,
        *,
        low: int | Fraction | None = None,
        high: int | Fraction | None = None,
    ) -> Fraction:
        """``0.1`` or ``"10%"`` as an exact fraction within ``low..high``."""
        try:
            number = Fraction(Decimal(str(value).strip().rstrip("%")))
        except (InvalidOperation, ValueError):
            raise self.fail(path, f"{value!r} is not a number") from None
        if isinstance(value, str) and value.strip().endswith("%"):
            number /= 100
        if (low is not None and number < low) or (high is not None and number > high):
            raise self.fail(path, f"{value} is out of range ({low}..{high})")
        return number

    def tier(self, value: str, path: Path_) -> Tier:
        try:
            return Tier(value.strip().lower())
        except ValueError:
            raise self.fail(path, f"unknown tier {value!r} (use haiku, sonnet or opus)") from None


@dataclass(frozen=True, slots=True)
class _Reader:
    doc: Definition
    spec: WorkloadFile

    def workload(self) -> Workload:
        doc, spec = self.doc, self.spec
        days = doc.number(spec.days_per_month, ("days_per_month",), low=1)
        latency = self.latencies(spec.latency_s, ("latency_s",), DEFAULT_LATENCY_S)
        tasks = tuple(self.task(t, ("tasks", i), latency) for i, t in enumerate(spec.tasks))
        names = [t.name for t in tasks]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise doc.fail(("tasks", i, "name"), f"task name {name!r} is used twice")
        figures = tuple(
            self.figure(f, ("article_figures", i)) for i, f in enumerate(spec.article_figures)
        )
        name = str(spec.name) if spec.name is not None else doc.source
        return Workload(name, doc.source, days, tasks, figures)

    def per_tier(
        self, given: TierNumbers | None, path: Path_, **bounds: Any
    ) -> dict[Tier, Fraction]:
        out: dict[Tier, Fraction] = {}
        for tier in Tier:
            value = getattr(given, tier.value) if given is not None else None
            if value is not None:
                out[tier] = self.doc.number(value, (*path, tier.value), **bounds)
        return out

    def latencies(
        self,
        given: TierNumbers | None,
        path: Path_,
        base: dict[Tier, Decimal] | dict[Tier, Fraction],
    ) -> dict[Tier, Fraction]:
        out = {t: Fraction(v) for t, v in base.items()}
        return out | self.per_tier(given, path, low=Fraction(0))

    def task(self, spec: TaskTypeSpec, path: Path_, latency: dict[Tier, Fraction]) -> TaskType:
        success = {t: Fraction(v) for t, v in DEFAULT_SUCCESS.items()}
        success |= self.per_tier(spec.success, (*path, "success"), low=Fraction(0), high=1)
        tokens = (spec.input_tokens, spec.output_tokens)
        before = self.strategy(spec.before, (*path, "before"), tokens, success)
        after = self.strategy(spec.after or spec.before, (*path, "after"), tokens, success)
        per_day = self.doc.number(
            spec.executions_per_day, (*path, "executions_per_day"), low=Fraction(0)
        )
        return TaskType(
            str(spec.name),
            per_day,
            *tokens,
            success,
            self.latencies(spec.latency_s, (*path, "latency_s"), latency),
            before,
            after,
        )

    def strategy(
        self,
        spec: StrategySpec,
        path: Path_,
        tokens: tuple[int, int],
        success: dict[Tier, Fraction],
    ) -> Strategy:
        if spec.strategy == "static":
            if spec.tier is None:
                raise self.doc.fail(path, "a static strategy needs a 'tier'")
            tier = self.doc.tier(spec.tier, (*path, "tier"))
            return Strategy("static", (Step("", tier, Fraction(1), *tokens),))
        if spec.strategy == "tiered":
            return self.tiered(spec, path, tokens, success)
        if not spec.subtasks:
            raise self.doc.fail(path, "a hybrid strategy needs a list of 'subtasks'")
        subtasks = spec.subtasks
        return Strategy(
            "hybrid",
            tuple(self.subtask(s, (*path, "subtasks", i), tokens) for i, s in enumerate(subtasks)),
        )

    def tiered(
        self,
        spec: StrategySpec,
        path: Path_,
        tokens: tuple[int, int],
        success: dict[Tier, Fraction],
    ) -> Strategy:
        if spec.tiers is None or len(spec.tiers) < 2:
            raise self.doc.fail((*path, "tiers"), "a tiered strategy needs at least two tiers")
        tiers = [self.doc.tier(t, (*path, "tiers", i)) for i, t in enumerate(spec.tiers)]
        if any(b <= a for a, b in itertools.pairwise(tiers)):
            raise self.doc.fail(
                (*path, "tiers"), "escalation only goes up: list tiers cheapest first"
            )
        if spec.escalation_rate is None:
            rates = [1 - success[t] for t in tiers[:-1]]
        else:
            given = spec.escalation_rate
            listed = given if isinstance(given, list) else [given]
            where = (*path, "escalation_rate")
            if len(listed) != len(tiers) - 1:
                raise self.doc.fail(where, "give one rate per escalation")
            rates = [self.doc.number(r, where, low=Fraction(0), high=1) for r in listed]
        steps, share = [Step("", tiers[0], Fraction(1), *tokens)], Fraction(1)
        for tier, rate in zip(tiers[1:], rates, strict=True):
            share *= rate
            steps.append(Step("", tier, share, *tokens))
        return Strategy("tiered", tuple(steps))

    def subtask(self, spec: SubtaskSpec, path: Path_, tokens: tuple[int, int]) -> Step:
        share = 1 if spec.share is None else spec.share
        return Step(
            str(spec.name) if spec.name is not None else "",
            self.doc.tier(spec.tier, (*path, "tier")),
            self.doc.number(share, (*path, "share"), low=Fraction(0), high=1),
            tokens[0] if spec.input_tokens is None else spec.input_tokens,
            tokens[1] if spec.output_tokens is None else spec.output_tokens,
        )

    def figure(self, spec: FigureSpec, path: Path_) -> StatedFigure:
        text = str(spec.stated).strip()
        approx = text.startswith("~") or spec.approx
        body = text.lstrip("~").strip()
        unit = "%" if body.endswith("%") else "$"
        digits = body.rstrip("%").lstrip("$").replace(",", "")
        try:
            stated = Decimal(digits)
        except InvalidOperation:
            raise self.doc.fail((*path, "stated"), f"cannot read {text!r} as $ or %") from None
        quote = str(spec.quote) if spec.quote is not None else None
        line = line_at(self.doc.data, path) or 0
        return StatedFigure(str(spec.figure), stated, unit, text, approx, quote, line)


def _pct(share: Fraction) -> str:
    value = Decimal(share.numerator) * 100 / Decimal(share.denominator)
    return f"{value.normalize():f}%"
