"""Pipeline files: a YAML file of agent tasks -> ``list[Job]`` for the engine.

A pipeline file holds one or more task lists, in the native form or in the article's shapes
(translated into native entries by :mod:`gearshift.engine.pipeline_shapes`; each entry becomes a
job in :mod:`gearshift.engine.pipeline_fields`), plus what they share::

    agents: agents/claude-code      # a dir, a file, a list of them, or inline definitions
    rules: task-router.yaml         # a task-router rules file (or an inline task-router: key)
    defaults: {strategy: tiered, mode: tight}
    tasks:
      - id: lint
        task: Lint src/ with ruff
        agent: style-enforcer
        validators: [{type: command, run: ruff check .}]
      - {id: review, task: Review the lint fixes, depends_on: lint, model: sonnet}
    dispatch: [...]                 # and test-pipeline:, feature-implementation:,
                                    # batch-optimization:, confidence-escalation:

The file is declared by :class:`~gearshift.engine.pipeline_format.PipelineFile` (msgspec
Structs) and checked against it first. Every error is a
:class:`~gearshift.errors.DefinitionError` that starts with ``file:line`` of the offending key,
because pipeline files are written by hand. ``docs/pipelines.md`` documents every key. Values
resolve in this order: the task's own field, then its agent's definition (model, system prompt,
temperature / ``max_tokens`` / ``mode``, escalation ladder, validators), then
``defaults:``, then the built-in default (strategy ``tiered``, ladder top opus).

Job ids are the ``id`` given, else a slug of the task text (the article's shapes use their stage
names); they must be stable, because resuming a run skips the ids that already succeeded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Catalog, load_catalog
from gearshift.engine.command_trust import CommandTrust
from gearshift.engine.job import Job
from gearshift.engine.pipeline_fields import JobBuilder, JobInfo, defaults_of
from gearshift.engine.pipeline_format import PipelineFile
from gearshift.engine.pipeline_shapes import SHAPES, Entry, duplicate_then_hint, entries_of
from gearshift.errors import DefinitionError
from gearshift.formats.structs import convert
from gearshift.formats.yamlsrc import YamlMap, load_yaml

if TYPE_CHECKING:
    from gearshift.agents import AgentDefinition, AgentSet
    from gearshift.routing.policies import Policy
    from gearshift.routing.router import Router
    from gearshift.routing.rules import RuleSet
    from gearshift.routing.task import Task

__all__ = [
    "JobEstimate",
    "JobInfo",
    "Pipeline",
    "estimate",
    "for_sim",
    "load_jobs",
    "load_pipeline",
    "schema",
]


@dataclass(slots=True)
class Pipeline:
    """A loaded pipeline file: its jobs (in file order) and what routing them needs."""

    path: Path
    jobs: list[Job]
    agents: AgentSet
    rules: RuleSet | None = None
    info: dict[str, JobInfo] = field(default_factory=dict)
    name: str = ""

    def router(
        self,
        catalog: Catalog,
        *,
        over_budget: Callable[[Task], bool] | None = None,
        learned: Policy | None = None,
    ) -> Router:
        """The router for these jobs: the default chain, with the file's rules when it has any,
        budget-aware routing when ``over_budget`` says which tasks are under pressure, and the
        ``learned`` policy (a trained model's) when given."""
        from gearshift.routing.router import Router, default_chain

        policies = default_chain(
            catalog, rules=self.rules, over_budget=over_budget, learned=learned
        )
        return Router(catalog, agents=self.agents, policies=policies)


def load_jobs(path: Path | str, **options: Any) -> list[Job]:
    """The jobs of the pipeline file at ``path`` (see :func:`load_pipeline` for options)."""
    return load_pipeline(path, **options).jobs


def load_pipeline(
    path: Path | str,
    *,
    catalog: Catalog | None = None,
    agent_dirs: Iterable[Path | str] = (),
    sim: bool = False,
    allow_commands: bool = False,
) -> Pipeline:
    """Read, check and build the pipeline at ``path``.

    ``agent_dirs`` add agent definitions to the file's own ``agents:``; with neither, Claude
    Code's locations (``.claude/agents``, ``~/.claude/agents``) are searched. ``sim=True``
    applies :func:`for_sim`, so escalation means something on the simulator.

    Validators that run code (``command``, ``callable``) are taken from the file itself, its
    inline agents and ``agent_dirs`` (which the user named); from an agent file found by
    search or included by ``agents:`` they raise DefinitionError naming the file and line,
    unless ``allow_commands`` or ``sim`` (whose jobs run no command; see
    :mod:`gearshift.engine.command_trust`).
    """
    path = Path(path)
    catalog = catalog or load_catalog()
    text = _read(path)
    try:
        data = load_yaml(text, source=str(path))
    except DefinitionError as exc:
        raise DefinitionError(exc.message, hint=duplicate_then_hint(exc) or exc.hint) from None
    if not isinstance(data, YamlMap):
        raise DefinitionError(f"{path}:1: a pipeline file must be a mapping", hint=_SHAPES_HINT)
    convert(data, PipelineFile, source=str(path), error=DefinitionError)
    if not any(key in SHAPES for key in data):
        raise DefinitionError(f"{path}:1: no tasks in this pipeline", hint=_SHAPES_HINT)
    named = [Path(p) for p in agent_dirs]
    agents = _agents(data, path, catalog, named)
    trust = CommandTrust.of(allow_commands or sim, [path, *named])  # for_sim runs no command
    builder = JobBuilder(catalog, agents, defaults_of(data), path.parent, trust)
    entries = entries_of(data)
    jobs = [builder.build(entry) for entry in entries]
    _check_graph(jobs, entries)
    if sim:
        jobs = for_sim(jobs)
    name = data.get("name")
    return Pipeline(path, jobs, agents, _rules(data, path, catalog), builder.info,
                    str(name) if name else path.stem)  # fmt: skip


def schema() -> type[PipelineFile]:
    """The Struct whose JSON Schema describes a pipeline file."""
    return PipelineFile


_SHAPES_HINT = (
    "a pipeline holds tasks:, dispatch:, test-pipeline:, feature-implementation:, "
    "batch-optimization: or confidence-escalation:, plus agents:, defaults:, rules:"
)


def for_sim(jobs: Sequence[Job]) -> list[Job]:
    """``jobs`` as run on the simulator, whose answers are text about nothing.

    Validators that inspect content (command, json_schema, regex, callable, all) cannot judge a
    simulated answer, so they are replaced by the simulator's own verdict
    (:data:`~gearshift.providers.sim.PASS_PATTERN`, drawn from the tier's quality curve at the
    task's complexity); judge and confidence validators, which the simulator answers in kind,
    are kept. Jobs without validators get the verdict check too, so tiered and confidence
    escalation happen as they would against a real check.
    """
    from gearshift.engine.validators import ConfidenceValidator, JudgeValidator, RegexValidator
    from gearshift.providers.sim import PASS_PATTERN

    verdict = RegexValidator([PASS_PATTERN])
    out = []
    for job in jobs:
        kept = [v for v in job.validators if isinstance(v, JudgeValidator | ConfidenceValidator)]
        out.append(replace(job, validators=(verdict, *kept)))
    return out


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise DefinitionError(
            f"{path}: cannot read: {exc.strerror or exc}", hint="check the pipeline file's path"
        ) from None
    except UnicodeDecodeError as exc:
        raise DefinitionError(f"{path}: not UTF-8 text ({exc.reason})") from None


def _agents(data: YamlMap, path: Path, catalog: Catalog, extra: list[Path]) -> AgentSet:
    """The file's ``agents:`` -- paths relative to it and inline definitions, in any mix --
    then the ``extra`` directories; an inline definition wins over a file's of the same name."""
    from gearshift.agents import AgentSet, LoadOptions, SourceFormat, default_agent_dirs, discover
    from gearshift.agents.fields import build_definition

    options = LoadOptions(catalog=catalog)
    value = data.get("agents")
    inline: list[AgentDefinition] = []
    roots: list[Path] = []
    for item in [] if value is None else value if isinstance(value, list) else [value]:
        if isinstance(item, YamlMap):
            for name, fields in item.items():
                header = (name, item.line_of(name))
                inline.append(
                    build_definition(fields, header, path, SourceFormat.YAML_SPEC, options)
                )
        else:
            root = path.parent / Path(item).expanduser()
            if not root.exists():
                raise DefinitionError(f"{data.at('agents')}: agent path {item!r} does not exist")
            roots.append(root)
    roots += extra
    if value is None and not extra:
        roots = default_agent_dirs()
    found = discover(roots, options) if roots else AgentSet()
    merged = AgentSet(skipped=found.skipped)
    for agent in [*inline, *found.agents.values()]:
        if agent.name in merged.agents:
            merged.shadowed.append(agent)
        else:
            merged.agents[agent.name] = agent
    return merged


def _rules(data: YamlMap, path: Path, catalog: Catalog) -> RuleSet | None:
    from gearshift.routing.rules import load_rules, rules_from

    if "task-router" in data:
        return rules_from(data["task-router"], catalog, source=str(path), prefix="task-router")
    value = data.get("rules")
    return None if value is None else load_rules(path.parent / value, catalog)


def _check_graph(jobs: Sequence[Job], entries: Sequence[Entry]) -> None:
    """Known dependencies and no cycles, each error at the line of a ``depends_on``."""
    where = {job.id: entry for job, entry in zip(jobs, entries, strict=True)}
    for job in jobs:
        for dep in job.depends_on:
            if dep not in where:
                raise DefinitionError(
                    f"{where[job.id].at('depends_on')}: {job.id!r} depends on unknown job {dep!r}",
                    hint=f"job ids: {', '.join(where)}",
                )
    deps = {job.id: job.depends_on for job in jobs}
    state: dict[str, int] = {}

    def visit(node: str, trail: tuple[str, ...]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = (*trail[trail.index(node) :], node)
            raise DefinitionError(
                f"{where[node].at('depends_on')}: depends_on makes a cycle: {' -> '.join(cycle)}",
                hint="a pipeline is a DAG: remove one of these dependencies",
            )
        state[node] = 1
        for dep in deps[node]:
            visit(dep, (*trail, node))
        state[node] = 2

    for job in jobs:
        visit(job.id, ())


@dataclass(frozen=True, slots=True)
class JobEstimate:
    """A dry run's guess at one job: where it routes and what its first attempts cost."""

    job_id: str
    tier: str
    model: str
    decided_by: str
    reason: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost_nanos: int
    all_sonnet_nanos: int
    all_opus_nanos: int

    def to_dict(self) -> dict[str, Any]:
        from gearshift.catalog.cost import usd_text

        return {
            "job": self.job_id,
            "tier": self.tier,
            "model": self.model,
            "decided_by": self.decided_by,
            "reason": self.reason,
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": usd_text(self.cost_nanos),
            "all_sonnet_usd": usd_text(self.all_sonnet_nanos),
            "all_opus_usd": usd_text(self.all_opus_nanos),
        }


def estimate(pipeline: Pipeline, catalog: Catalog) -> list[JobEstimate]:
    """Route every job and price its first attempt(s), calling no provider.

    Input tokens are estimated from the system prompt, the task text and the estimated outputs
    of the jobs it depends on (which are appended to its prompt); output tokens are the job's
    explicit ``max_tokens``, else the tier's typical output (the simulator's calibrated
    mid-range) capped by the job's ``max_tokens``. A batch job makes one call per item.
    Escalations and judge calls are not included: they happen only when a check fails, which a
    dry run cannot know.
    """
    from gearshift.catalog import Tier, Usage
    from gearshift.providers.base import estimate_tokens
    from gearshift.providers.sim import load_profile

    typical = {
        t: (p.output_tokens[0] + p.output_tokens[1]) // 2 for t, p in load_profile().tiers.items()
    }
    router = pipeline.router(catalog)
    outputs: dict[str, int] = {}
    rows: list[JobEstimate] = []
    for job in pipeline.jobs:
        decision = router.route(job.task)
        info = pipeline.info.get(job.id)
        given = info is not None and info.max_tokens_given
        out = job.max_tokens if given else min(job.max_tokens, typical[decision.tier])
        base = estimate_tokens(job.system or "") + estimate_tokens(job.task.text)
        base += sum(outputs.get(dep, 0) for dep in job.depends_on)
        items = job.options.get("items") if job.strategy in ("batch", "exemplar") else None
        texts = [_item_text(i) for i in items] if isinstance(items, list) else [""]
        tokens_in = sum(base + estimate_tokens(t) for t in texts)
        usage = Usage(tokens_in, out * len(texts))
        outputs[job.id] = out
        prices = [
            catalog.cost(catalog.resolve(decision.model), usage).nanos,
            catalog.cost(catalog.default_for(Tier.SONNET), usage).nanos,
            catalog.cost(catalog.default_for(Tier.OPUS), usage).nanos,
        ]
        reason = "; ".join(decision.reasons)
        rows.append(JobEstimate(job.id, decision.tier.value, decision.model, decision.decided_by,
                                reason, len(texts), usage.input_tokens, usage.output_tokens,
                                *prices))  # fmt: skip
    return rows


def _item_text(item: Any) -> str:
    return str(item.get("text", "")) if isinstance(item, Mapping) else str(item)
