"""Attribute stage: each kept response -> its agent (``main`` or a subagent's type) and tags.

A subagent's type comes from, in order: its ``agent-<id>.meta.json`` sidecar (``agentType``),
the line's ``attributionAgent``, the parent's tool result naming it (``toolUseResult.agentType``),
or the parent's ``Agent``/``Task`` call that spawned it (``subagent_type``, found through the
sidecar's ``toolUseId`` or the tool result); failing all of them it is ``subagent``.

The parent's lines are in another file, often read by another run: the call is written before
the subagent's lines, its result after them. So the ledger keeps what runs learn (the
``ingest_agents`` table, through :mod:`gearshift.ledger.ingest_queries`): each tool call's and
tool result's type, and the agents recorded as ``subagent`` for want of one (``pending``, with
the call that spawned them). A later run reads what concerns its own agents and the pending
ones, and when it learns a pending agent's type it re-attributes that agent's earlier records --
also when the new fact is a sidecar that appeared after them, in a run with no new lines. An
incremental ingest thus gives every response the agent one full ingest of the same files would.
(The ``spawn_depth`` tag of records written before their sidecar existed stays unset.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from gearshift.ingest import SOURCE
from gearshift.ingest.plan import Plan
from gearshift.ledger.bulk import Reader, Statement
from gearshift.ledger.ingest_queries import agent_fact_statements, agent_facts, pending_agents

if TYPE_CHECKING:
    from gearshift.ingest.parse import FileResult
    from gearshift.ingest.usage_line import Entry

__all__ = [
    "FALLBACK",
    "AgentMeta",
    "Attributor",
    "KnownAgents",
    "ParentFacts",
    "attributor",
    "read_sidecars",
    "resolve_pending",
]

#: The agent of a subagent response whose type nothing names.
FALLBACK = "subagent"


class AgentMeta(NamedTuple):
    """What a subagent's ``agent-<id>.meta.json`` says about it."""

    agent_type: str | None
    spawn_depth: int | None
    tool_use_id: str | None


def read_sidecars(
    sidecars: Mapping[str, str], agent_ids: Iterable[str]
) -> dict[str, AgentMeta | None]:
    """The sidecar of each of ``agent_ids`` (``None``: it has none, or one that is not a JSON
    object); ``sidecars`` maps agent ids to sidecar paths."""
    return {agent_id: _read_meta(sidecars.get(agent_id)) for agent_id in agent_ids}


def _read_meta(path: str | None) -> AgentMeta | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read())
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None

    def text(key: str) -> str | None:
        value = data.get(key)
        return value if isinstance(value, str) else None

    depth = data.get("spawnDepth")
    return AgentMeta(
        text("agentType"), depth if isinstance(depth, int) else None, text("toolUseId")
    )


class ParentFacts:
    """What the parsed files say about agents together, fed one file at a time as files finish:
    the ``Agent``/``Task`` calls' types (by tool-use id), the types tool results name (by agent
    id), the results that name only the call (``pending_tools``), and every agent id seen."""

    def __init__(self) -> None:
        self.tool_types: dict[str, str] = {}
        self.result_types: dict[str, str] = {}
        self.pending_tools: dict[str, str] = {}
        #: result types taken from a call, not named by a result (a named one outranks them)
        self.derived: set[str] = set()
        self.agent_ids: set[str] = set()

    def add(self, result: FileResult) -> None:
        self.agent_ids.update(e.agent_id for e in result.entries if e.agent_id)
        self.tool_types.update(result.tool_types)
        self.result_types.update(result.result_types)
        self.derived.difference_update(result.result_types)
        for agent_id, tool_use_id in result.result_tools.items():
            kind = result.tool_types.get(tool_use_id) or self.tool_types.get(tool_use_id)
            if kind is None:
                self.pending_tools[agent_id] = tool_use_id
            elif agent_id not in self.result_types:
                self.result_types[agent_id] = kind
                self.derived.add(agent_id)


class KnownAgents(NamedTuple):
    """What earlier runs learned that this run may need: the types of the ``Agent``/``Task``
    calls and tool results that concern this run's agents, and every agent recorded as
    :data:`FALLBACK` (``pending``: agent id -> the id of the call that spawned it, or ``''``)."""

    tool_types: Mapping[str, str] = MappingProxyType({})
    result_types: Mapping[str, str] = MappingProxyType({})
    pending: Mapping[str, str] = MappingProxyType({})

    @classmethod
    def load(
        cls,
        ledger: Reader,
        metas: Mapping[str, AgentMeta | None],
        pending: Mapping[str, str],
        agent_ids: set[str],
        tool_ids: set[str],
    ) -> KnownAgents:
        """What is known of ``agent_ids`` (tool results) and ``tool_ids`` (calls), and of the
        ``pending`` agents: a run reads only what it can use, however long the ledger's
        history. ``metas``: the sidecars of those agents (one may have appeared since)."""
        pending_calls = set()
        for agent_id, spawned_by in pending.items():
            meta = metas.get(agent_id)
            pending_calls.add((meta.tool_use_id if meta else None) or spawned_by)
        return cls(
            tool_types=agent_facts(ledger, "tool", tool_ids | pending_calls),
            result_types=agent_facts(ledger, "result", agent_ids | set(pending)),
            pending=pending,
        )

    def statements(self, attribute: Attributor, dialect: str) -> tuple[list[Statement], int]:
        """What this run learned, as statements for its write transaction, and how many pending
        agents it resolved: new tool-call and tool-result types, newly unresolved agents, and,
        for each pending agent whose type is now known, its records re-attributed."""
        learned = [
            (kind, ref, agent_type)
            for kind, found, before in (
                ("tool", attribute.tool_types, self.tool_types),
                ("result", attribute.result_types, self.result_types),
            )
            for ref, agent_type in sorted(found.items())
            if before.get(ref) != agent_type
        ]
        for agent_id in sorted(attribute.unresolved - set(self.pending)):
            meta = attribute.metas.get(agent_id)
            learned.append(("pending", agent_id, (meta.tool_use_id if meta else None) or ""))
        resolved = {}
        for agent_id, spawned_by in sorted(self.pending.items()):
            if agent_id in attribute.unresolved:
                continue
            meta = attribute.metas.get(agent_id)
            call = (meta.tool_use_id if meta else None) or spawned_by
            agent_type = (
                (meta.agent_type if meta else None)
                or attribute.result_types.get(agent_id)
                or (attribute.tool_types.get(call) if call else None)
            )
            if agent_type is not None:
                resolved[agent_id] = agent_type
        statements = agent_fact_statements(
            learned, resolved, source=SOURCE, fallback=FALLBACK, dialect=dialect
        )
        return statements, len(resolved)


class Attributor:
    """Decides each entry's agent and tags (see the module doc); notes in ``unresolved`` the
    agents it could only call :data:`FALLBACK`."""

    def __init__(
        self,
        metas: Mapping[str, AgentMeta | None],
        tool_types: dict[str, str],
        result_types: dict[str, str],
    ) -> None:
        self.metas = metas
        self.tool_types = tool_types
        self.result_types = result_types
        self.unresolved: set[str] = set()

    def __call__(self, e: Entry, plan: Plan) -> tuple[str, dict[str, str]]:
        tags: dict[str, str] = {}
        if e.git_branch:
            tags["branch"] = e.git_branch
        if e.entrypoint:
            tags["entrypoint"] = e.entrypoint
        agent_id = e.agent_id or plan.file.agent_id
        if not e.sidechain and not agent_id:
            return "main", tags
        if plan.file.workflow:
            tags["workflow"] = plan.file.workflow
        if not agent_id:
            return e.attribution_agent or FALLBACK, tags
        tags["agent_id"] = agent_id
        meta = self.metas.get(agent_id)
        if meta is not None and meta.spawn_depth is not None:
            tags["spawn_depth"] = str(meta.spawn_depth)
        agent = (
            (meta.agent_type if meta else None)
            or e.attribution_agent
            or self._from_parent(agent_id, meta)
        )
        if agent is None:
            self.unresolved.add(agent_id)
            return FALLBACK, tags
        return agent, tags

    def _from_parent(self, agent_id: str, meta: AgentMeta | None) -> str | None:
        return self.result_types.get(agent_id) or (
            self.tool_types.get(meta.tool_use_id) if meta and meta.tool_use_id else None
        )


def attributor(
    facts: ParentFacts, plans: Sequence[Plan], sidecars: Mapping[str, str], ledger: Reader
) -> tuple[Attributor, KnownAgents]:
    """The attributor for this run's parsed files (once every file is in), with what earlier
    runs learned about their agents (this run's own findings take precedence)."""
    agent_ids = facts.agent_ids | {p.file.agent_id for p in plans if p.file.agent_id}
    pending = pending_agents(ledger)
    metas = read_sidecars(sidecars, agent_ids | set(pending))
    tool_ids = set(facts.pending_tools.values())  # results naming a call, not a type
    tool_ids.update(m.tool_use_id for a in agent_ids if (m := metas[a]) and m.tool_use_id)
    known = KnownAgents.load(ledger, metas, pending, agent_ids, tool_ids)
    for tool_use_id, kind in known.tool_types.items():
        facts.tool_types.setdefault(tool_use_id, kind)
    for agent_id, kind in known.result_types.items():
        # a type a result named outranks one taken from a call, as in one full run
        if agent_id not in facts.result_types or agent_id in facts.derived:
            facts.result_types[agent_id] = kind
    for agent_id, tool_use_id in facts.pending_tools.items():
        if agent_id not in facts.result_types and tool_use_id in facts.tool_types:
            facts.result_types[agent_id] = facts.tool_types[tool_use_id]
    return Attributor(metas, facts.tool_types, facts.result_types), known


def resolve_pending(
    sidecars: Mapping[str, str], ledger: Reader, dialect: str
) -> tuple[list[Statement], int]:
    """For a run with no new lines: the statements re-attributing the agents recorded as
    :data:`FALLBACK` whose sidecar has appeared since (the only new fact such a run can hold),
    and how many."""
    pending = pending_agents(ledger)
    if not any(agent_id in sidecars for agent_id in pending):
        return [], 0
    metas = read_sidecars(sidecars, pending)
    known = KnownAgents.load(ledger, metas, pending, set(), set())
    attribute = Attributor(metas, dict(known.tool_types), dict(known.result_types))
    return known.statements(attribute, dialect)
