"""The proxy's routing policy file: which agents, request kinds and sessions go to which tier.

::

    # proxy-policy.yaml
    agents:                 # the ledger's agent name (type, main, subagent, x-gearshift-agent)
      Explore: haiku        #   -> a tier, a model id, or keep (the model the client asked for)
      code-reviewer: opus
    kinds:                  # x-claude-code-request-class (Claude Code >= 2.1.273 with hint headers)
      auxiliary: haiku
      compaction: keep
    sessions: {}            # a session id -> tier, model or keep (pins one conversation)
    rules: rules.yaml       # task-router rules (a file beside this one, or an inline list)
    complexity: false       # route what nothing above decides by the rubric's estimate
    agent_models: false     # agent definitions that declare a model decide
    budget_aware: true      # step down while a budget covering the request is forecast to breach
    floor: null             # never below this tier

Whatever no entry decides keeps the model the client asked for. Every model and tier is checked
against the catalog when the file is read; errors name the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import msgspec

from gearshift.catalog import Catalog, Tier
from gearshift.errors import DefinitionError, UnknownModel
from gearshift.formats.structs import convert
from gearshift.formats.yamlsrc import load_yaml, where
from gearshift.routing import RuleSet, load_rules
from gearshift.routing.rules import rules_from

__all__ = ["KEEP", "PolicyFile", "RoutePolicy", "load_policy"]

#: A map value meaning "the model the client asked for".
KEEP = "keep"


class PolicyFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A policy file as written."""

    agents: dict[str, str] = {}
    kinds: dict[str, str] = {}
    sessions: dict[str, str] = {}
    rules: str | list[Any] | None = None
    complexity: bool = False
    agent_models: bool = False
    budget_aware: bool = True
    floor: Literal["haiku", "sonnet", "opus"] | None = None


class RoutePolicy(msgspec.Struct, frozen=True, kw_only=True):
    """A checked policy: map values are ``keep`` or canonical model ids."""

    source: str
    agents: dict[str, str]
    kinds: dict[str, str]
    sessions: dict[str, str]
    rules: RuleSet | None
    complexity: bool
    agent_models: bool
    budget_aware: bool
    floor: Tier | None

    def explicit(self, session: str, agent: str, kind: str) -> tuple[str, str] | None:
        """The model the maps name for a request (session first, then agent, then kind) and
        the entry that names it (``agents.Explore``)."""
        tables = (("sessions", session), ("agents", agent), ("kinds", kind))
        for name, key in tables:
            table: dict[str, str] = getattr(self, name)
            if key and key in table:
                return table[key], f"{name}.{key}"
        return None


def load_policy(path: str | Path, catalog: Catalog) -> RoutePolicy:
    """Read and check a policy file; errors name the file and the line."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(f"{source}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DefinitionError(f"{source}: not UTF-8 text", hint="a policy is a YAML file") from None
    data = load_yaml(text, source=source)
    if data is None:
        data = {}
    parsed = convert(data, PolicyFile, source=source, error=DefinitionError)
    rules: RuleSet | None = None
    if isinstance(parsed.rules, str):
        rules = load_rules(Path(path).parent / parsed.rules, catalog)
    elif parsed.rules is not None:
        rules = rules_from(data["rules"], catalog, source=source, prefix="rules")
    return RoutePolicy(
        source=source,
        agents=_models(parsed.agents, data, "agents", source, catalog),
        kinds=_models(parsed.kinds, data, "kinds", source, catalog),
        sessions=_models(parsed.sessions, data, "sessions", source, catalog),
        rules=rules,
        complexity=parsed.complexity,
        agent_models=parsed.agent_models,
        budget_aware=parsed.budget_aware,
        floor=Tier.parse(parsed.floor) if parsed.floor else None,
    )


def _models(
    table: dict[str, str], data: Any, section: str, source: str, catalog: Catalog
) -> dict[str, str]:
    out = {}
    for key, value in table.items():
        if value.strip().lower() == KEEP:
            out[key] = KEEP
            continue
        try:
            out[key] = catalog.resolve(value).id
        except UnknownModel as exc:
            raw = data.get(section) if isinstance(data, dict) else None
            at = where(raw, source, key) if raw is not None else source
            raise DefinitionError(
                f"{at}: {section}.{key}: unknown model {value!r}", hint=exc.hint
            ) from None
    return out
