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

Files may also hold just ``logic:`` or ``rules:`` at the top, or a bare list of rules. Errors
name the file and line; a condition's column is given too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Tier
from gearshift.errors import DefinitionError, UnknownModel
from gearshift.routing.context import RouteContext
from gearshift.routing.expr import ExprError, compile_expr

if TYPE_CHECKING:
    from gearshift.catalog import Catalog

__all__ = ["FIELDS", "Rule", "RuleSet", "RulesPolicy", "load_rules", "parse_rules"]


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
    from gearshift.formats.yamlsrc import YamlMap, load_yaml

    data = load_yaml(text, source=source)
    description = ""
    if isinstance(data, Mapping) and "task-router" in data:
        data = data["task-router"]
    if isinstance(data, Mapping):
        description = str(data.get("description") or "")
        for key in ("logic", "rules"):
            if key in data:
                data = data[key]
                break
        else:
            raise DefinitionError(
                f"{_at(data, source)}: no rules found",
                hint="put the rules in a 'logic:' list under 'task-router:'",
            )
    if not isinstance(data, list):
        raise DefinitionError(f"{source}:1: rules must be a list of 'if'/'then' entries")
    rules = []
    for index, item in enumerate(data, start=1):
        if not isinstance(item, YamlMap):
            raise DefinitionError(f"{source}: rule {index} must be a mapping with 'if' and 'then'")
        rules.append(_rule(item, index, catalog, source))
    return RuleSet(tuple(rules), description, source)


def _at(data: Any, source: str, key: Any = None) -> str:
    from gearshift.formats.yamlsrc import where

    return where(data, source, key)


def _rule(item: Any, index: int, catalog: Catalog, source: str) -> Rule:
    unknown = set(item) - {"if", "then", "description"}
    if unknown:
        key = sorted(map(str, unknown))[0]
        raise DefinitionError(
            f"{_at(item, source, key)}: unknown rule key {key!r}", hint="a rule has 'if' and 'then'"
        )
    condition = item.get("if")
    if not isinstance(condition, str | bool) or condition == "":
        raise DefinitionError(f"{_at(item, source, 'if')}: rule {index} needs an 'if' condition")
    then = item.get("then")
    if not isinstance(then, Mapping) or not isinstance(then.get("model"), str):
        raise DefinitionError(
            f"{_at(item, source, 'then')}: rule {index} needs 'then:' with a 'model'",
            hint="e.g. then: {model: haiku}",
        )
    where = _at(item, source, "if")
    text = str(condition).lower() if isinstance(condition, bool) else condition
    try:
        test = compile_expr(text, FIELDS)
    except ExprError as exc:
        raise DefinitionError(f"{where}: {exc.message}", hint=exc.hint) from None
    try:
        model = catalog.resolve(then["model"])
    except UnknownModel as exc:
        raise DefinitionError(
            f"{_at(then, source, 'model')}: unknown model {then['model']!r}", hint=exc.hint
        ) from None
    agent = then.get("agent")
    return Rule(text, test, model.tier, model.id, str(agent) if agent else None, where, index)
