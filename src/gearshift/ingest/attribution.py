"""Which agent a recorded response belongs to, and what a run learns about agents for later runs.

A subagent's type comes from, in order: its ``agent-<id>.meta.json`` (``agentType``), the line's
``attributionAgent``, the parent's tool result naming it (``toolUseResult.agentType``), or the
parent's ``Agent``/``Task`` call that spawned it (``subagent_type``, found through the sidecar's
``toolUseId``); failing all of them it is ``subagent``.

The parent's lines are in another file, often read by another run: the call is written before
the subagent's lines, its result after them. So the ledger keeps what runs learn --
:class:`KnownAgents`, the ``ingest_agents`` table: each tool call's and tool result's type, and
the agents recorded as ``subagent`` for want of one (``pending``, with the call that spawned
them). A later run reads what concerns its own agents and the pending ones, and when it learns a
pending agent's type it re-attributes that agent's earlier records -- also when the new fact is
a sidecar that appeared after them, in a run with no new lines. An incremental ingest thus gives
every response the agent one full ingest of the same files would. (The ``spawn_depth`` tag of
records written before their sidecar existed stays unset.)
"""

from __future__ import annotations

from gearshift.ledger.columns import tags_json

TYPE_CHECKING = False  # not typing's: this module is on the path of every hook-run ingest
if TYPE_CHECKING:
    from gearshift.ingest.discovery import Discovery
    from gearshift.ingest.state import Plan
    from gearshift.ledger.lite import BulkLedger, Statement

__all__ = ["FALLBACK", "Attributor", "KnownAgents", "pending_agents"]

#: The agent of a subagent response whose type nothing names.
FALLBACK = "subagent"
_SOURCE = "claude-code"


class Attributor:
    """Decides each entry's agent and tags (see the module doc); notes the agents it could only
    call :data:`FALLBACK` in ``unresolved``."""

    def __init__(
        self, found: Discovery, tool_types: dict[str, str], result_types: dict[str, str]
    ) -> None:
        self.found = found
        self.tool_types = tool_types
        self.result_types = result_types
        self.unresolved: set[str] = set()

    def __call__(self, e: object, plan: Plan) -> tuple[str, dict[str, str]]:
        from gearshift.ingest.parse import Entry

        assert isinstance(e, Entry)
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
        meta = self.found.meta(agent_id)
        if meta is not None and meta.spawn_depth is not None:
            tags["spawn_depth"] = str(meta.spawn_depth)
        agent = (
            (meta.agent_type if meta else None)
            or e.attribution_agent
            or self._from_parent(agent_id)
        )
        if agent is None:
            self.unresolved.add(agent_id)
            return FALLBACK, tags
        return agent, tags

    def _from_parent(self, agent_id: str) -> str | None:
        meta = self.found.meta(agent_id)
        return self.result_types.get(agent_id) or (
            self.tool_types.get(meta.tool_use_id) if meta and meta.tool_use_id else None
        )


class KnownAgents:
    """What earlier runs learned (the ``ingest_agents`` table) that this run may need: the types
    asked for by the ``Agent``/``Task`` calls and named by the tool results of this run's agents,
    and every agent recorded as :data:`FALLBACK` (``pending``: agent id -> the id of the call
    that spawned it, or ``''``)."""

    __slots__ = ("pending", "result_types", "tool_types")

    def __init__(
        self,
        tool_types: dict[str, str] | None = None,
        result_types: dict[str, str] | None = None,
        pending: dict[str, str] | None = None,
    ) -> None:
        self.tool_types = {} if tool_types is None else tool_types
        self.result_types = {} if result_types is None else result_types
        self.pending = {} if pending is None else pending

    @classmethod
    def load(
        cls, ledger: BulkLedger, found: Discovery, agent_ids: set[str], tool_ids: set[str]
    ) -> KnownAgents:
        """What is known of ``agent_ids`` (tool results) and ``tool_ids`` (calls), and of the
        pending agents: a run reads only what it can use, however long the ledger's history."""
        known = cls()
        known.pending = pending_agents(ledger)
        pending_calls = set()
        for agent_id, spawned_by in known.pending.items():
            meta = found.meta(agent_id)  # a sidecar may have appeared since
            pending_calls.add((meta.tool_use_id if meta else None) or spawned_by)
        wanted = (
            ("result", agent_ids | set(known.pending), known.result_types),
            ("tool", (tool_ids | pending_calls) - {""}, known.tool_types),
        )
        for kind, refs, into in wanted:
            ordered = sorted(refs)
            for i in range(0, len(ordered), 500):
                part = ordered[i : i + 500]  # ? parameters: SQLite looks up :names one by one
                marks = ", ".join("?" * len(part))
                sql = f"SELECT ref, value FROM ingest_agents WHERE kind = ? AND ref IN ({marks})"
                rows = ledger.query(sql, [kind, *part])
                into.update((str(ref), str(value)) for ref, value in rows)
        return known

    def statements(self, attribute: Attributor, dialect: str) -> tuple[list[Statement], int]:
        """What this run learned, as statements for its write transaction, and how many pending
        agents it resolved: new tool-call and tool-result types, newly unresolved agents, and,
        for each pending agent whose type is now known, its records re-attributed."""
        insert = (
            "INSERT INTO ingest_agents (kind, ref, value) VALUES (:kind, :ref, :value)"
            " ON CONFLICT (kind, ref) DO NOTHING"
        )
        new = [
            {"kind": kind, "ref": ref, "value": agent_type}
            for kind, learned, before in (
                ("tool", attribute.tool_types, self.tool_types),
                ("result", attribute.result_types, self.result_types),
            )
            for ref, agent_type in sorted(learned.items())
            if before.get(ref) != agent_type
        ]
        for agent_id in sorted(attribute.unresolved - set(self.pending)):
            meta = attribute.found.meta(agent_id)
            spawned_by = meta.tool_use_id if meta and meta.tool_use_id else ""
            new.append({"kind": "pending", "ref": agent_id, "value": spawned_by})
        resolved = {}
        for agent_id, spawned_by in sorted(self.pending.items()):
            if agent_id in attribute.unresolved:
                continue
            meta = attribute.found.meta(agent_id)
            call = (meta.tool_use_id if meta else None) or spawned_by
            agent_type = (
                (meta.agent_type if meta else None)
                or attribute.result_types.get(agent_id)
                or (attribute.tool_types.get(call) if call else None)
            )
            if agent_type is not None:
                resolved[agent_id] = agent_type
        out: list[Statement] = [(insert, new)] if new else []
        if resolved:
            out += _reattribute(resolved, dialect)
            done = "DELETE FROM ingest_agents WHERE kind = 'pending' AND ref = :ref"
            out.append((done, [{"ref": agent_id} for agent_id in resolved]))
        return out, len(resolved)


def _reattribute(resolved: dict[str, str], dialect: str) -> list[Statement]:
    """Statements that give the records of each agent in ``resolved`` (agent id -> type) still
    called :data:`FALLBACK` their type: one pass over the table for up to 100 agents. A record
    carries its agent's id in its tags; the id is found exactly (SQLite's LIKE ignores case),
    with each database's substring search."""
    find = "strpos" if dialect == "postgresql" else "instr"
    out: list[Statement] = []
    items = sorted(resolved.items())
    for i in range(0, len(items), 100):
        part = items[i : i + 100]
        params: dict[str, str] = {"source": _SOURCE, "fallback": FALLBACK}
        cases, matches = [], []
        for j, (agent_id, agent_type) in enumerate(part):
            params[f"n{j}"] = tags_json({"agent_id": agent_id})[1:-1]
            params[f"t{j}"] = agent_type
            cases.append(f"WHEN {find}(tags, :n{j}) > 0 THEN :t{j}")
            matches.append(f"{find}(tags, :n{j}) > 0")
        sql = (
            f"UPDATE executions SET agent = CASE {' '.join(cases)} END"
            f" WHERE source = :source AND agent = :fallback AND ({' OR '.join(matches)})"
        )
        out.append((sql, [params]))
    return out


def pending_agents(ledger: BulkLedger) -> dict[str, str]:
    """The agents recorded as :data:`FALLBACK`, each with the id of the call that spawned it
    (``''`` when unknown)."""
    sql = "SELECT ref, value FROM ingest_agents WHERE kind = 'pending'"
    return {str(ref): str(value) for ref, value in ledger.query(sql)}
