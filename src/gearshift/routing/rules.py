"""Routing rules files in the article's ``task-router`` shape, and the policy that applies them.

::

    task-router:
      description: Routes tasks to agents with model selection
      logic:
        - if: task.complexity == "low"
          then: {agent: appropriate-agent, model: haiku}
        - if: task.priority == "high" and "security" in task.tags
          then: {model: opus}

Rules are tried in order; the first whose ``if`` holds decides the tier (``then.model``: a tier
or a model id). ``then.agent`` is recorded but does not re-assign the task. Conditions use the
safe expression language of :mod:`gearshift.routing.expr` over these fields:

``task.text``, ``task.agent``, ``task.type``, ``task.tags``, ``task.priority`` (text),
``task.priority_rank`` (0 low .. 3 critical), ``task.complexity`` (low/medium/high),
``task.scores.multi_step`` / ``.judgment`` / ``.stakes`` / ``.total``, ``task.tokens`` (the
token estimate), ``task.session``, ``task.objective``, ``task.model``, ``agent.name``,
``agent.role``, ``agent.description``, ``agent.model`` and ``queue.depth``.

Files may also hold just ``logic:`` or ``rules:`` at the top, or a bare list of rules. The file
is declared by :class:`RulesFile` (msgspec Structs checked by
:func:`gearshift.formats.structs.convert`); conditions are compiled and models resolved after.
Errors name the file and line; a condition's column is given too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from gearshift.catalog import Tier
from gearshift.errors import DefinitionError, UnknownModel
from gearshift.formats.structs import convert
from gearshift.formats.yamlsrc import load_yaml, where
from gearshift.routing.context import RouteContext
from gearshift.routing.expr import ExprError, compile_expr

if TYPE_CHECKING:
    from gearshift.catalog import Catalog

__all__ = [
    "FIELDS",
    "Rule",
    "RuleList",
    "RuleSet",
    "RuleSpec",
    "RulesFile",
    "RulesPolicy",
    "load_rules",
    "parse_rules",
    "rules_from",
    "schema",
]


def _agent_attr(name: str) -> Callable[[RouteContext], Any]:
    def get(ctx: RouteContext) -> Any:
        agent = ctx.agent
        if agent is None:
            return None
        return agent.model_text if name == "model" else getattr(agent, name)

    return get


def _objective(ctx: RouteContext) -> str | None:
    objective = ctx.task.objective
    return objective.value if objective else None


#: The fields a rule condition may read, each a getter over the route context.
FIELDS: Mapping[str, Callable[[RouteContext], Any]] = {
    "task.text": lambda c: c.task.text,
    "task.agent": lambda c: c.task.agent,
    "task.type": lambda c: c.task.type,
    "task.tags": lambda c: c.task.tags,
    "task.priority": lambda c: c.task.priority.value,
    "task.priority_rank": lambda c: c.task.priority.rank,
    "task.complexity": RouteContext.complexity,
    "task.scores.multi_step": lambda c: c.assessment().scores.multi_step,
    "task.scores.judgment": lambda c: c.assessment().scores.judgment,
    "task.scores.stakes": lambda c: c.assessment().scores.stakes,
    "task.scores.total": lambda c: c.assessment().scores.total,
    "task.tokens": lambda c: c.task.tokens,
    "task.token_estimate": lambda c: c.task.tokens,
    "task.session": lambda c: c.task.session,
    "task.objective": _objective,
    "task.model": lambda c: c.task.model,
    "agent.name": _agent_attr("name"),
    "agent.role": _agent_attr("role"),
    "agent.description": _agent_attr("description"),
    "agent.model": _agent_attr("model"),
    "queue.depth": lambda c: c.queue_depth,
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``if``/``then`` rule. ``where`` is ``"path:line"`` of its ``if``."""

    condition: str
    test: Callable[[RouteContext], bool]
    tier: Tier
    model: str
    agent: str | None
    where: str
    index: int


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules of one file, in order."""

    rules: tuple[Rule, ...]
    description: str = ""
    source: str = "<rules>"

    def match(self, ctx: RouteContext) -> Rule | None:
        for rule in self.rules:
            if rule.test(ctx):
                return rule
        return None


@dataclass(slots=True)
class RulesPolicy:
    """Decides the tier by the first matching rule; passes when none matches."""

    rules: RuleSet
    name: str = "rules"

    def apply(self, ctx: RouteContext) -> None:
        if ctx.tier is not None:
            ctx.skip(self.name, f"already decided by {ctx.decided_by}")
            return
        rule = self.rules.match(ctx)
        if rule is None:
            ctx.skip(self.name, f"no rule of {self.rules.source} matched")
            return
        ctx.decide(
            self.name,
            rule.tier,
            f"rule {rule.index} ({rule.where}): {rule.condition}",
            {"rule": rule.index, "where": rule.where, "then_agent": rule.agent},
            model=rule.model,
        )


# -- the file's format ---------------------------------------------------------------------------


class RuleThen(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What a matching rule decides: the tier (``model``: a tier or a model id); ``agent`` is
    recorded with the decision."""

    model: Annotated[str, msgspec.Meta(examples=["haiku", "sonnet", "opus"])]
    agent: str | int | float | None = None


class RuleSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One rule: ``if`` a condition over the task (see ``FIELDS``), ``then`` a model."""

    if_: Annotated[str, msgspec.Meta(min_length=1)] | bool = msgspec.field(name="if")
    then: RuleThen
    description: str | None = None


class RuleList(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Rules under ``logic:`` (the article's name) or ``rules:``, tried in order."""

    description: str | int | float | None = None
    logic: list[RuleSpec] | None = None
    rules: list[RuleSpec] | None = None


class RulesFile(RuleList, kw_only=True):
    """A rules file: the rules at the top, or under the article's ``task-router:`` key."""

    task_router: RuleList | None = msgspec.field(default=None, name="task-router")


def schema() -> Any:
    """The forms a rules file takes, for its JSON Schema (a bare list of rules, or a mapping)."""
    return RulesFile | list[RuleSpec]


# -- reading -------------------------------------------------------------------------------------


def load_rules(path: Path | str, catalog: Catalog) -> RuleSet:
    """Read and compile a rules file; every error names the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DefinitionError(f"{path}: not UTF-8 text", hint="name a YAML or JSONL file") from None
    return parse_rules(text, catalog, source=str(path))


def parse_rules(text: str, catalog: Catalog, *, source: str = "<rules>") -> RuleSet:
    """Compile the rules in ``text`` (YAML) against ``catalog`` (which checks ``then.model``)."""
    data = load_yaml(text, source=source)
    if isinstance(data, Mapping) and "task-router" in data:
        convert(data, RulesFile, source=source, error=DefinitionError)
        return rules_from(data["task-router"], catalog, source=source, prefix="task-router")
    return rules_from(data, catalog, source=source)


def rules_from(data: Any, catalog: Catalog, *, source: str, prefix: str = "") -> RuleSet:
    """Compile parsed rules (a :class:`RuleList` mapping or a list of rules) whose position in
    file ``source`` is ``prefix``."""
    description = ""
    if isinstance(data, Mapping):
        listed = convert(data, RuleList, source=source, prefix=prefix, error=DefinitionError)
        description = str(listed.description or "")
        key = "logic" if listed.logic is not None else "rules" if listed.rules is not None else ""
        if not key:
            raise DefinitionError(
                f"{where(data, source)}: no rules found",
                hint="put the rules in a 'logic:' list under 'task-router:'",
            )
        data, prefix = data[key], f"{prefix}.{key}" if prefix else key
    if not isinstance(data, list):
        raise DefinitionError(f"{source}:1: rules must be a list of 'if'/'then' entries")
    specs = convert(data, list[RuleSpec], source=source, prefix=prefix, error=DefinitionError)
    rules = [
        _rule(spec, item, index, catalog, source)
        for index, (spec, item) in enumerate(zip(specs, data, strict=True), start=1)
    ]
    return RuleSet(tuple(rules), description, source)


def _rule(spec: RuleSpec, item: Any, index: int, catalog: Catalog, source: str) -> Rule:
    at = where(item, source, "if")
    text = str(spec.if_).lower() if isinstance(spec.if_, bool) else spec.if_
    try:
        test = compile_expr(text, FIELDS)
    except ExprError as exc:
        raise DefinitionError(f"{at}: {exc.message}", hint=exc.hint) from None
    try:
        model = catalog.resolve(spec.then.model)
    except UnknownModel as exc:
        raise DefinitionError(
            f"{where(item.get('then'), source, 'model')}: unknown model {spec.then.model!r}",
            hint=exc.hint,
        ) from None
    agent = spec.then.agent
    return Rule(text, test, model.tier, model.id, str(agent) if agent else None, at, index)
