"""How each field of a pipeline task is read: one entry -> one :class:`~gearshift.engine.job.Job`.

Every value resolves in the same order -- the task's own field, then its agent's definition,
then the file's ``defaults:``. The kinds of the values were checked against
:mod:`gearshift.engine.pipeline_format` when the file was read; what is checked here is what a
type cannot say (an agent or a model that must exist, a priority or a mode in any case, a
duration), each bad value raising a :class:`~gearshift.errors.DefinitionError` at the
``file:line`` of the key that holds it. The shapes of :mod:`gearshift.engine.pipeline_shapes`
all end here, so a field means the same thing in every shape.

Validator specs accept the shorthands agent files use (``"pytest -q"``, ``{command: pytest
-q}``, ``{regex: PATTERN}``, ``{judge: opus}``) besides ``{type: ..., ...}``
(:func:`gearshift.engine.validator_specs.build`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Catalog, Tier
from gearshift.engine.command_trust import CommandTrust
from gearshift.engine.job import Job
from gearshift.engine.pipeline_shapes import NOTE_KEYS, Entry, task_text
from gearshift.engine.validator_specs import build as build_validator
from gearshift.errors import ConfigError, DefinitionError
from gearshift.formats.yamlsrc import YamlMap, derive

if TYPE_CHECKING:
    from gearshift.agents import AgentDefinition, AgentSet, Sampling
    from gearshift.engine.validators import Validator
    from gearshift.routing.task import Task

__all__ = [
    "JobBuilder",
    "JobInfo",
    "defaults_of",
    "known_tier",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class JobInfo:
    """Where a job came from: its line and shape, notes (the article's cost estimates) and
    whether ``max_tokens`` was set explicitly (dry runs then estimate output with it)."""

    line: int
    shape: str
    notes: Mapping[str, str] = field(default_factory=dict)
    max_tokens_given: bool = False


def defaults_of(data: YamlMap) -> Entry:
    """The file's ``defaults:`` as an entry (empty when absent)."""
    value = data.get("defaults")
    if value is None:
        return Entry(data.source, 1, shape="defaults")
    return Entry.of(value, data.source, "defaults")


class JobBuilder:
    """Turns entries into jobs: the task's field, then its agent's definition, then defaults.

    ``trust`` says which agent files may bring validators that run code (by default, only
    definitions built in code; see :mod:`gearshift.engine.command_trust`)."""

    def __init__(
        self,
        catalog: Catalog,
        agents: AgentSet,
        defaults: Entry,
        base: Path,
        trust: CommandTrust | None = None,
    ) -> None:
        self.catalog = catalog
        self.agents = agents
        self.defaults = defaults
        self.base = base
        self.trust = trust if trust is not None else CommandTrust()
        self.info: dict[str, JobInfo] = {}

    def pick(self, entry: Entry, key: str) -> tuple[Any, str] | None:
        """``key``'s value and ``file:line``: the entry's own, else the default's."""
        for layer in (entry, self.defaults):
            if layer.fields.get(key) is not None:
                return layer.fields[key], layer.at(key)
        return None

    def get(self, entry: Entry, key: str, parse: Callable[[Any], Any], default: Any = None) -> Any:
        """``parse(value)`` of :meth:`pick`; a ConfigError becomes a DefinitionError at its line."""
        picked = self.pick(entry, key)
        if picked is None:
            return default
        value, where = picked
        try:
            return parse(value)
        except ConfigError as exc:
            raise DefinitionError(f"{where}: {key}: {exc.message}", hint=exc.hint) from None

    def build(self, entry: Entry) -> Job:
        agent = self.agent(entry)
        sampling, given = self.sampling(entry, agent)
        job = Job(
            id=entry.fields["id"],
            task=self.task(entry, agent),
            system=self.system(entry, agent),
            strategy=self.get(entry, "strategy", str, "tiered"),
            validators=self.validators(entry, agent),
            ladder_top=self.ladder_top(entry, agent),
            max_tokens=sampling.max_tokens or 4096,
            temperature=sampling.temperature,
            depends_on=self.depends_on(entry),
            options=self.options(entry),
            files=self.get(entry, "files", dict, {}),
            workdir=self.get(entry, "workdir", lambda v: self.base / str(v)),
            outputs=self.get(entry, "outputs", _outputs),
            cache_ttl_s=self.get(entry, "cache_ttl", parse_duration, 0),
            cache_system=self.get(entry, "cache_system", bool, False),
        )
        notes = {
            **entry.notes,
            **{k: str(entry.fields[k]) for k in NOTE_KEYS & entry.fields.keys()},
        }
        if task_text(entry)[1] != "description" and "description" in entry.fields:
            notes["description"] = str(entry.fields["description"])
        self.info[job.id] = JobInfo(entry.line, entry.shape, notes, given)
        return job

    def agent(self, entry: Entry) -> AgentDefinition | None:
        picked = self.pick(entry, "agent")
        if picked is None:
            return None
        name, where = picked
        agent = self.agents.get(str(name))
        if agent is None:
            known = ", ".join(sorted(self.agents)) or "none loaded"
            raise DefinitionError(
                f"{where}: unknown agent {name!r}",
                hint=f"known agents: {known}; define it under agents: in the pipeline "
                "(a directory, a file or inline) or pass --agents-dir",
            )
        return agent

    def task(self, entry: Entry, agent: AgentDefinition | None) -> Task:
        from gearshift.routing.rubric import Label, Scores
        from gearshift.routing.task import Objective, Priority, Task

        model = None
        if entry.fields.get("model") is not None or agent is None or not agent.model_declared:
            model = self.get(entry, "model", self.model)
        tokens = "tokens" if "tokens" in entry.fields else "token_estimate"
        return Task(
            text=task_text(entry)[0],
            agent=agent.name if agent is not None else None,
            priority=self.get(entry, "priority", Priority.parse, Priority.NORMAL),
            model=model,
            scores=self.get(entry, "scores", Scores.parse),
            complexity=self.get(entry, "complexity", Label.parse),
            type=self.get(entry, "type", str),
            tags=self.get(entry, "tags", _tags, ()),
            token_estimate=self.get(entry, tokens, int),
            session=self.get(entry, "session", str),
            objective=self.get(entry, "objective", Objective.parse),
            id=entry.fields["id"],
        )

    def model(self, value: Any) -> str:
        name = str(value)
        if known_tier(name) is None and self.catalog.find(name) is None:
            raise ConfigError(
                f"unknown model {name!r}", hint="use haiku, sonnet, opus or a catalog model id"
            )
        return name

    def tier(self, value: Any) -> Tier:
        tier = known_tier(value)
        if tier is not None:
            return tier
        return self.catalog.resolve(self.model(value)).tier

    def sampling(self, entry: Entry, agent: AgentDefinition | None) -> tuple[Sampling, bool]:
        """Per attribute, the first of: the task's, its agent's, the defaults' (explicit values
        before a ``mode`` preset within each); and whether ``max_tokens`` was written out
        rather than implied by a mode (a dry run then estimates the output with it)."""
        from gearshift.agents import Sampling

        layers = [self.layer(entry)]
        if agent is not None:
            layers.append((agent.sampling(), agent.max_tokens is not None))
        layers.append(self.layer(self.defaults))
        temperature = next((s.temperature for s, _ in layers if s.temperature is not None), None)
        found = next(((s.max_tokens, given) for s, given in layers if s.max_tokens), None)
        max_tokens, given = found if found is not None else (None, False)
        return Sampling(temperature, max_tokens), given

    def layer(self, layer: Entry) -> tuple[Sampling, bool]:
        """One layer's sampling, and whether its ``max_tokens`` is explicit."""
        from gearshift.agents import DEFAULT_PRESETS, Mode, Sampling

        def read(key: str, parse: Callable[[Any], Any]) -> Any:
            if layer.fields.get(key) is None:
                return None
            try:
                return parse(layer.fields[key])
            except ConfigError as exc:
                raise DefinitionError(f"{layer.at(key)}: {key}: {exc.message}") from None

        mode = read("mode", Mode.parse)
        preset = DEFAULT_PRESETS.for_mode(mode) if mode is not None else Sampling()
        temperature = read("temperature", float)
        max_tokens = read("max_tokens", int)
        sampling = Sampling(
            temperature if temperature is not None else preset.temperature,
            max_tokens if max_tokens is not None else preset.max_tokens,
        )
        return sampling, max_tokens is not None

    def system(self, entry: Entry, agent: AgentDefinition | None) -> str | None:
        if entry.fields.get("system") is not None:
            return str(entry.fields["system"])
        if agent is not None and agent.instructions:
            return agent.instructions
        return self.get(self.defaults, "system", str)  # type: ignore[no-any-return]

    def ladder_top(self, entry: Entry, agent: AgentDefinition | None) -> Tier:
        if entry.fields.get("ladder_top") is None and agent is not None and agent.escalation:
            return agent.escalation[-1]
        return self.get(entry, "ladder_top", self.tier, Tier.OPUS)  # type: ignore[no-any-return]

    def depends_on(self, entry: Entry) -> tuple[str, ...]:
        value = entry.fields.get("depends_on")
        items = [] if value is None else value if isinstance(value, list) else [value]
        return tuple(str(v) for v in items)

    def options(self, entry: Entry) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for layer in (self.defaults, entry):
            merged.update(dict(layer.fields.get("options") or {}))
        if entry.fields.get("items") is not None:
            merged["items"] = entry.fields["items"]
        strategy = self.get(entry, "strategy", str, "tiered")
        if strategy in ("batch", "exemplar") and not isinstance(merged.get("items"), list):
            raise DefinitionError(
                f"{entry.at('strategy')}: the {strategy} strategy needs a list of items",
                hint="give items: [...] (texts or {id, text} mappings)",
            )
        for key in ("accept", "review"):
            value = merged.get(key)
            if value is not None and not (_is_number(value) and 0 <= value <= 1):
                raise DefinitionError(f"{entry.at('options')}: options.{key} must be 0..1")
        return merged

    def validators(self, entry: Entry, agent: AgentDefinition | None) -> tuple[Validator, ...]:
        """The task's own validators (with its agent's, for the test-pipeline shape), else its
        agent's, else the defaults'. ``validators: []`` opts out of the agent's. An agent's
        validators that run code must come from a file :attr:`trust` trusts."""
        own = entry.fields.get("validators")
        inherited: list[tuple[Any, str, AgentDefinition | None]] = []
        if agent is not None:
            where = agent.where()
            if agent.source is not None and agent.validators_line is not None:
                where = f"{agent.source}:{agent.validators_line}"
            inherited = [(s, where, agent) for s in agent.validators]
        specs: list[tuple[Any, str, AgentDefinition | None]]
        if own is None:
            specs = inherited
            if not specs and self.defaults.fields.get("validators") is not None:
                found = self.defaults.fields["validators"]
                where = self.defaults.at("validators")
                specs = [(s, where, None) for s in (found if isinstance(found, list) else [found])]
        else:
            items = own if isinstance(own, list) else [own]
            mine: list[tuple[Any, str, AgentDefinition | None]]
            mine = [(s, entry.at("validators"), None) for s in items]
            specs = [*inherited, *mine] if entry.keep_agent_validators else mine
        label = f"{entry.fields['id']}.validators"
        return tuple(self.validator(s, w, f"{label}[{i}]", a) for i, (s, w, a) in enumerate(specs))

    def validator(
        self, spec: Any, where: str, label: str, agent: AgentDefinition | None = None
    ) -> Validator:
        """Build one spec; its errors name the line of the key in the spec when it came from
        the file, else ``where`` (the ``validators`` key, or the agent's definition). A spec
        from ``agent``'s file that runs code is refused unless :attr:`trust` trusts the file."""
        from gearshift.engine.validators import JudgeValidator

        expanded = _spec(spec)
        source = expanded.source if isinstance(expanded, YamlMap) else where
        made = build_validator(expanded, source=source, prefix=label)
        if agent is not None:
            at = spec.at() if isinstance(spec, YamlMap) else where
            self.trust.check(made, agent.source, at, label)
        if isinstance(made, JudgeValidator):
            try:
                self.model(made.model)
            except ConfigError as exc:
                raise DefinitionError(f"{where}: {label}: {exc.message}", hint=exc.hint) from None
        return made


#: shorthand validator keys -> (type, the key their value fills)
_SHORT = {"command": ("command", "run"), "regex": ("regex", "must_match"),
          "json_schema": ("json_schema", "schema"), "callable": ("callable", "function"),
          "python": ("callable", "function"), "confidence": ("confidence", "min"),
          "judge": ("judge", "model")}  # fmt: skip
_IMPLIED = {"run": "command", "must_match": "regex", "must_not_match": "regex",
            "schema": "json_schema", "function": "callable", "criteria": "judge"}  # fmt: skip


def _spec(spec: Any) -> Any:
    """A validator spec with the shorthands expanded: ``"pytest -q"`` and ``{command: ...}``
    (as Claude Code agent files write them), ``{regex: PATTERN}``, ``{judge: opus}``, ...;
    a spec without ``type`` whose keys imply one (``run``, ``must_match``...) gets it."""
    if isinstance(spec, str):
        return {"type": "command", "run": spec}
    if not isinstance(spec, Mapping) or "type" in spec:
        return spec
    short = [k for k in spec if k in _SHORT]
    if len(short) == 1:
        kind, main = _SHORT[short[0]]
        value, rest = spec[short[0]], {k: v for k, v in spec.items() if k != short[0]}
        if isinstance(value, Mapping):
            return derive(spec, {"type": kind, **value, **rest})
        items = {"type": kind, **({} if value is None else {main: value}), **rest}
        return derive(spec, items, {main: short[0]})
    implied = {_IMPLIED[k] for k in spec if k in _IMPLIED}
    return derive(spec, {"type": implied.pop(), **spec}) if len(implied) == 1 else spec


def _tags(value: str | list[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    return tuple(value)


def _outputs(value: str | list[str]) -> tuple[str, ...]:
    from gearshift.engine.output_files import check_patterns

    try:
        return check_patterns([value] if isinstance(value, str) else value)
    except ValueError as exc:
        raise ConfigError(str(exc), hint="paths relative to workdir:, outside .git") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_duration(value: Any) -> int:
    """Seconds from ``3600``, ``"90s"``, ``"10m"``, ``"1h"`` or ``"1d"``; ConfigError if not."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(f"expected seconds or a duration such as 10m or 1h, not {value!r}")
    return int(match.group(1)) * _SECONDS[match.group(2)]


def known_tier(value: Any) -> Tier | None:
    """``value`` as a tier name, or ``None`` when it is not one."""
    if isinstance(value, str) and value.strip().lower() in {t.value for t in Tier}:
        return Tier(value.strip().lower())
    return None
