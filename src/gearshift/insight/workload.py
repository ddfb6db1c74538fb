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

Numbers may be written ``0.10`` or ``"10%"``. Every problem is a
:class:`~gearshift.errors.DefinitionError` naming the file, the line and the key -- a workload
is written by hand, and "invalid value" alone sends people hunting.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from gearshift.catalog import Tier
from gearshift.errors import DefinitionError
from gearshift.insight.expected import DEFAULT_SUCCESS, MONTH_DAYS

__all__ = [
    "DEFAULT_LATENCY_S",
    "StatedFigure",
    "Step",
    "Strategy",
    "TaskType",
    "Workload",
    "YamlDoc",
    "load_workload",
    "parse_workload",
]

#: Seconds per call when a workload gives none (the article: 45 s on Opus, 15 s on Haiku).
DEFAULT_LATENCY_S: dict[Tier, Decimal] = {
    Tier.HAIKU: Decimal(15),
    Tier.SONNET: Decimal(30),
    Tier.OPUS: Decimal(45),
}
_STRATEGIES = ("static", "tiered", "hybrid")
_TOP = {"name", "description", "days_per_month", "latency_s", "tasks", "article_figures"}
_TASK = {
    "name",
    "description",
    "executions_per_day",
    "input_tokens",
    "output_tokens",
    "success",
    "latency_s",
    "before",
    "after",
}
_STRATEGY = {"strategy", "tier", "tiers", "escalation_rate", "subtasks"}
_SUBTASK = {"name", "tier", "share", "input_tokens", "output_tokens"}
_FIGURE = {"figure", "stated", "quote", "approx"}

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
    return _Reader(text, source).workload()


class YamlDoc:
    """A YAML document that remembers the line of every key, so that each validation error can
    name the file, the line and the key path (``tasks[2].after.tiers``). Duplicate keys, which
    YAML silently resolves to the last, are errors. Reused by other hand-written files."""

    hint = "see the docstring of gearshift.insight.workload, or examples/case-study.yaml"

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines: dict[Path_, int] = {}
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data: Any = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise DefinitionError(f"{source}{line}: not valid YAML: {problem}") from None
        if node is not None:
            self._walk(node, ())

    def _walk(self, node: yaml.Node, path: Path_) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                name = str(key.value)
                if name in seen:
                    raise self.fail((*path, name), "appears twice", line=key.start_mark.line + 1)
                seen.add(name)
                self.lines[(*path, name)] = key.start_mark.line + 1
                self._walk(value, (*path, name))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))

    def fail(self, path: Path_, problem: str, *, line: int | None = None) -> DefinitionError:
        at = line or self.line(path)
        key = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")
        return DefinitionError(
            f"{self.source}:{at}: {key or 'top level'}: {problem}", hint=self.hint
        )

    def line(self, path: Path_) -> int:
        """The line of ``path``, or of its nearest ancestor the document has."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def table(self, value: Any, path: Path_, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "must be a mapping of key: value")
        for key in value:
            if key not in allowed:
                raise self.fail(
                    (*path, str(key)), f"unknown key (allowed: {', '.join(sorted(allowed))})"
                )
        return value

    def number(
        self,
        value: Any,
        path: Path_,
        *,
        low: int | Fraction | None = None,
        high: int | Fraction | None = None,
    ) -> Fraction:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.fail(path, f"expected a number, got {value!r}")
        try:
            number = Fraction(Decimal(str(value).strip().rstrip("%")))
        except (InvalidOperation, ValueError):
            raise self.fail(path, f"{value!r} is not a number") from None
        if isinstance(value, str) and value.strip().endswith("%"):
            number /= 100
        if (low is not None and number < low) or (high is not None and number > high):
            raise self.fail(path, f"{value} is out of range ({low}..{high})")
        return number

    def count(self, value: Any, path: Path_) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(path, f"expected a whole number of tokens, got {value!r}")
        return value

    def tier(self, value: Any, path: Path_) -> Tier:
        try:
            return Tier(str(value).strip().lower())
        except ValueError:
            raise self.fail(path, f"unknown tier {value!r} (use haiku, sonnet or opus)") from None


class _Reader(YamlDoc):
    def workload(self) -> Workload:
        top = self.table(self.data if self.data is not None else {}, (), _TOP)
        days = self.number(top.get("days_per_month", MONTH_DAYS), ("days_per_month",), low=1)
        latency = self.latencies(top.get("latency_s", {}), ("latency_s",), DEFAULT_LATENCY_S)
        raw_tasks = top.get("tasks")
        if not isinstance(raw_tasks, list) or not raw_tasks:
            raise self.fail(("tasks",), "needs a list of task types")
        tasks = tuple(self.task(t, ("tasks", i), latency) for i, t in enumerate(raw_tasks))
        names = [t.name for t in tasks]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise self.fail(("tasks", i, "name"), f"task name {name!r} is used twice")
        raw_figures = top.get("article_figures", [])
        if not isinstance(raw_figures, list):
            raise self.fail(("article_figures",), "must be a list")
        figures = tuple(self.figure(f, ("article_figures", i)) for i, f in enumerate(raw_figures))
        return Workload(str(top.get("name", self.source)), self.source, days, tasks, figures)

    def latencies(
        self, value: Any, path: Path_, base: dict[Tier, Decimal] | dict[Tier, Fraction]
    ) -> dict[Tier, Fraction]:
        table = self.table(value, path, {t.value for t in Tier})
        out = {t: Fraction(v) for t, v in base.items()}
        for key, raw in table.items():
            out[self.tier(key, (*path, key))] = self.number(raw, (*path, key), low=Fraction(0))
        return out

    def task(self, value: Any, path: Path_, latency: dict[Tier, Fraction]) -> TaskType:
        raw = self.table(value, path, _TASK)
        for key in ("name", "executions_per_day", "input_tokens", "output_tokens", "before"):
            if key not in raw:
                raise self.fail(path, f"missing {key!r}")
        success = {t: Fraction(v) for t, v in DEFAULT_SUCCESS.items()}
        for key, rate in self.table(raw.get("success", {}), (*path, "success"), _TIERS).items():
            where = (*path, "success", key)
            success[self.tier(key, where)] = self.number(rate, where, low=Fraction(0), high=1)
        name = str(raw["name"])
        tokens = (
            self.count(raw["input_tokens"], (*path, "input_tokens")),
            self.count(raw["output_tokens"], (*path, "output_tokens")),
        )
        before = self.strategy(raw["before"], (*path, "before"), tokens, success)
        after = self.strategy(raw.get("after", raw["before"]), (*path, "after"), tokens, success)
        return TaskType(
            name,
            self.number(raw["executions_per_day"], (*path, "executions_per_day"), low=Fraction(0)),
            *tokens,
            success,
            self.latencies(raw.get("latency_s", {}), (*path, "latency_s"), latency),
            before,
            after,
        )

    def strategy(
        self, value: Any, path: Path_, tokens: tuple[int, int], success: dict[Tier, Fraction]
    ) -> Strategy:
        raw = self.table(value, path, _STRATEGY)
        kind = str(raw.get("strategy", "static"))
        if kind not in _STRATEGIES:
            raise self.fail((*path, "strategy"), f"{kind!r} is not one of {', '.join(_STRATEGIES)}")
        if kind == "static":
            if "tier" not in raw:
                raise self.fail(path, "a static strategy needs a 'tier'")
            tier = self.tier(raw["tier"], (*path, "tier"))
            return Strategy(kind, (Step("", tier, Fraction(1), *tokens),))
        if kind == "tiered":
            return self.tiered(raw, path, tokens, success)
        subtasks = raw.get("subtasks")
        if not isinstance(subtasks, list) or not subtasks:
            raise self.fail(path, "a hybrid strategy needs a list of 'subtasks'")
        return Strategy(
            kind,
            tuple(self.subtask(s, (*path, "subtasks", i), tokens) for i, s in enumerate(subtasks)),
        )

    def tiered(
        self,
        raw: dict[str, Any],
        path: Path_,
        tokens: tuple[int, int],
        success: dict[Tier, Fraction],
    ) -> Strategy:
        tiers_raw = raw.get("tiers")
        if not isinstance(tiers_raw, list) or len(tiers_raw) < 2:
            raise self.fail((*path, "tiers"), "a tiered strategy needs at least two tiers")
        tiers = [self.tier(t, (*path, "tiers", i)) for i, t in enumerate(tiers_raw)]
        if any(b <= a for a, b in itertools.pairwise(tiers)):
            raise self.fail((*path, "tiers"), "escalation only goes up: list tiers cheapest first")
        rates_raw = raw.get("escalation_rate")
        if rates_raw is None:
            rates = [1 - success[t] for t in tiers[:-1]]
        else:
            listed = rates_raw if isinstance(rates_raw, list) else [rates_raw]
            if len(listed) != len(tiers) - 1:
                raise self.fail((*path, "escalation_rate"), "give one rate per escalation")
            where = (*path, "escalation_rate")
            rates = [self.number(r, where, low=Fraction(0), high=1) for r in listed]
        steps, share = [Step("", tiers[0], Fraction(1), *tokens)], Fraction(1)
        for tier, rate in zip(tiers[1:], rates, strict=True):
            share *= rate
            steps.append(Step("", tier, share, *tokens))
        return Strategy("tiered", tuple(steps))

    def subtask(self, value: Any, path: Path_, tokens: tuple[int, int]) -> Step:
        raw = self.table(value, path, _SUBTASK)
        if "tier" not in raw:
            raise self.fail(path, "every subtask needs a 'tier'")
        return Step(
            str(raw.get("name", "")),
            self.tier(raw["tier"], (*path, "tier")),
            self.number(raw.get("share", 1), (*path, "share"), low=Fraction(0), high=1),
            self.count(raw.get("input_tokens", tokens[0]), (*path, "input_tokens")),
            self.count(raw.get("output_tokens", tokens[1]), (*path, "output_tokens")),
        )

    def figure(self, value: Any, path: Path_) -> StatedFigure:
        raw = self.table(value, path, _FIGURE)
        for key in ("figure", "stated"):
            if key not in raw:
                raise self.fail(path, f"missing {key!r}")
        text = str(raw["stated"]).strip()
        approx = text.startswith("~") or bool(raw.get("approx", False))
        body = text.lstrip("~").strip()
        unit = "%" if body.endswith("%") else "$"
        digits = body.rstrip("%").lstrip("$").replace(",", "")
        try:
            stated = Decimal(digits)
        except InvalidOperation:
            raise self.fail((*path, "stated"), f"cannot read {text!r} as $ or %") from None
        quote = raw.get("quote")
        return StatedFigure(
            str(raw["figure"]),
            stated,
            unit,
            text,
            approx,
            str(quote) if quote is not None else None,
            self.line(path),
        )


_TIERS = {t.value for t in Tier}


def _pct(share: Fraction) -> str:
    value = Decimal(share.numerator) * 100 / Decimal(share.denominator)
    return f"{value.normalize():f}%"
