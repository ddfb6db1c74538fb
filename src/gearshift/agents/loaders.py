"""Read agent definitions from every format in use, with errors that name file and line.

Formats:

* **Claude Code subagent files** (``.claude/agents/*.md``, ``~/.claude/agents/*.md``): YAML
  frontmatter (``name``, ``description``, ``tools``, ``model``, ``color``, and the article's
  ``role``), the Markdown body being the system prompt.
* **The article's YAML specs** (``.yaml``/``.yml``): ``name: {model, role, description,
  instructions}`` mappings, one or many per file, optionally under an ``agents:`` key; or a
  single agent in frontmatter form (a top-level ``name:``).
* **Claude Agent SDK / ``claude --agents`` JSON** (``.json`` or a JSON string): ``{"name":
  {"description", "prompt", "tools", "model"}}``.

Field names are matched loosely (see :mod:`gearshift.agents.fields`); fields gearshift does
not interpret are kept in ``extra``. A missing ``model`` becomes
:attr:`LoadOptions.default_model`: sonnet, the article's and older Claude Code's default; set
it to ``inherit`` to follow current Claude Code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from gearshift.agents.definition import AgentDefinition, SourceFormat
from gearshift.agents.fields import AgentFields, LoadOptions, build_definition
from gearshift.errors import ConfigError, DefinitionError
from gearshift.formats.yamlsrc import YamlMap, load_yaml

__all__ = [
    "AgentSet",
    "LoadOptions",
    "default_agent_dirs",
    "discover",
    "find_frontmatter",
    "load_file",
    "parse_agents_json",
    "parse_markdown",
    "parse_yaml_specs",
    "schema",
]

_FRONTMATTER_OPEN = re.compile(r"\A(?:\ufeff)?---[ \t]*\r?\n")
_FRONTMATTER_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.MULTILINE)
_SUFFIXES = {".md": "md", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}


@dataclass(slots=True)
class AgentSet(Mapping[str, AgentDefinition]):
    """Definitions by name, first location winning (project over user, as Claude Code does).

    ``shadowed`` keeps the definitions hidden by an earlier one of the same name; ``skipped``
    lists files that are not agent definitions (``.md`` files without frontmatter); ``broken``
    holds the error of each file that could not be read, when :func:`discover` was asked to
    keep going.
    """

    agents: dict[str, AgentDefinition] = field(default_factory=dict)
    shadowed: list[AgentDefinition] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    broken: list[ConfigError] = field(default_factory=list)

    def __getitem__(self, name: str) -> AgentDefinition:
        return self.agents[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.agents)

    def __len__(self) -> int:
        return len(self.agents)

    def all(self) -> list[AgentDefinition]:
        """Every definition found, shadowed ones included (what audit looks at)."""
        return [*self.agents.values(), *self.shadowed]

    def require(self, name: str) -> AgentDefinition:
        """The agent called ``name``, or a ConfigError listing the known ones."""
        agent = self.agents.get(name)
        if agent is None:
            known = ", ".join(sorted(self.agents)) or "none found"
            raise ConfigError(
                f"unknown agent {name!r}",
                hint=f"known agents: {known}; add a directory with --agents-dir",
            )
        return agent


class NamedAgent(AgentFields, kw_only=True):
    """One agent whose fields hold its name: Claude Code frontmatter, or a YAML file of one."""

    name: str


class AgentsFile(msgspec.Struct, kw_only=True):
    """Agents under an ``agents:`` key: a mapping of name -> fields, or a list of agents."""

    agents: dict[str, AgentFields] | list[NamedAgent]


def schema() -> tuple[Any, ...]:
    """The forms an agents file takes, for its JSON Schema: name -> fields (the article's YAML
    specs, ``--agents`` JSON), an ``agents:`` key, or one agent (Claude Code frontmatter)."""
    return (dict[str, AgentFields], AgentsFile, NamedAgent)


def default_agent_dirs(cwd: Path | None = None, home: Path | None = None) -> list[Path]:
    """Claude Code's locations in precedence order: project ``.claude/agents``, then user's."""
    cwd = cwd or Path.cwd()
    home = home or Path.home()
    return [cwd / ".claude" / "agents", home / ".claude" / "agents"]


def discover(
    paths: Iterable[Path | str] | None = None,
    options: LoadOptions | None = None,
    *,
    keep_going: bool = False,
) -> AgentSet:
    """Load every definition under ``paths`` (files or directories, searched recursively).

    With ``paths=None`` the Claude Code locations are searched; missing directories are
    skipped. Two definitions with one name in the same location are an error; across
    locations the first wins and the other is kept in :attr:`AgentSet.shadowed`. A file that
    cannot be read raises its error (naming file and line), or with ``keep_going`` is left out
    and its error kept in :attr:`AgentSet.broken`, so one bad file does not hide the others.
    """
    options = options or LoadOptions()
    result = AgentSet()
    roots = [Path(p) for p in paths] if paths is not None else default_agent_dirs()
    for root in roots:
        seen_here: dict[str, AgentDefinition] = {}
        for file in _files_under(root):
            try:
                defs = load_file(file, options)
            except ConfigError as error:
                if not keep_going:
                    raise
                result.broken.append(error)
                continue
            if defs is None:
                result.skipped.append(file)
                continue
            for agent in defs:
                _add(result, seen_here, agent)
    return result


def _files_under(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        return []
    found = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES]
    return sorted(found)


def _add(result: AgentSet, seen_here: dict[str, AgentDefinition], agent: AgentDefinition) -> None:
    twin = seen_here.get(agent.name)
    if twin is not None:
        raise DefinitionError(
            f"{agent.where()}: agent name {agent.name!r} is already defined at {twin.where()}",
            hint="agent names must be unique; Claude Code identifies agents by name, not file",
        )
    seen_here[agent.name] = agent
    if agent.name in result.agents:
        result.shadowed.append(agent)
    else:
        result.agents[agent.name] = agent


def load_file(path: Path | str, options: LoadOptions | None = None) -> list[AgentDefinition] | None:
    """Definitions in one file, chosen by suffix; ``None`` for a ``.md`` without frontmatter."""
    path = Path(path)
    options = options or LoadOptions()
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DefinitionError(
            f"{path}: not an agent definition file", hint="use .md, .yaml, .yml or .json"
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise DefinitionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DefinitionError(f"{path}: not UTF-8 text ({exc.reason})") from None
    if kind == "md":
        if not _FRONTMATTER_OPEN.match(text):
            return None
        return [parse_markdown(text, source=path, options=options)]
    if kind == "yaml":
        return parse_yaml_specs(text, source=path, options=options)
    return parse_agents_json(text, source=path, options=options)


def find_frontmatter(text: str, source: Path | str = "<markdown>") -> tuple[int, int, int]:
    """``(start, end, body)`` offsets of the YAML between the ``---`` lines of ``text``: the
    YAML is ``text[start:end]``, the closing line starts at ``end`` and the body at ``body``."""
    opened = _FRONTMATTER_OPEN.match(text)
    if opened is None:
        raise DefinitionError(
            f"{source}:1: no YAML frontmatter", hint="start the file with a line '---'"
        )
    closed = _FRONTMATTER_CLOSE.search(text, opened.end())
    if closed is None:
        raise DefinitionError(
            f"{source}:1: frontmatter is not closed", hint="end it with a line '---'"
        )
    return opened.end(), closed.start(), closed.end()


def parse_markdown(
    text: str, *, source: Path | str = "<markdown>", options: LoadOptions | None = None
) -> AgentDefinition:
    """A Claude Code subagent file: YAML frontmatter between ``---`` lines, body = prompt."""
    options = options or LoadOptions()
    start, end, body_at = find_frontmatter(text, source)
    data = load_yaml(text[start:end], source=str(source), line_offset=1, index_offset=start)
    if data is None:
        data = YamlMap.empty(str(source))
    if not isinstance(data, YamlMap):
        raise DefinitionError(f"{source}:2: frontmatter must be a mapping of fields")
    body = text[body_at:].strip()
    return build_definition(data, None, Path(source), SourceFormat.CLAUDE_MD, options, body=body)


def parse_yaml_specs(
    text: str, *, source: Path | str = "<yaml>", options: LoadOptions | None = None
) -> list[AgentDefinition]:
    """The article's YAML agent specs: ``name: {model, role, ...}`` (one or many), an
    ``agents:`` mapping or list, or one agent in frontmatter form (top-level ``name:``)."""
    options = options or LoadOptions()
    data = load_yaml(text, source=str(source))
    path = Path(source)
    if not isinstance(data, YamlMap) or not data:
        raise DefinitionError(
            f"{source}:1: expected agent definitions (a mapping of name -> fields)",
            hint="e.g. 'test-engineer: {model: haiku, role: ..., description: ...}'",
        )
    if isinstance(data.get("name"), str):
        return [build_definition(data, None, path, SourceFormat.YAML_SPEC, options)]
    if "agents" in data:
        data = data["agents"]
    return _build_many(data, path, SourceFormat.YAML_SPEC, options)


def parse_agents_json(
    text: str, *, source: Path | str = "<--agents>", options: LoadOptions | None = None
) -> list[AgentDefinition]:
    """``claude --agents`` / Agent SDK JSON: ``{"name": {"description", "prompt", ...}}``.

    The JSON is read with the line-aware YAML reader (JSON is YAML's flow syntax), so errors
    and ``model`` lines are located; JSON that YAML 1.1 rejects falls back to :mod:`json`.
    """
    options = options or LoadOptions()
    try:
        plain = json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        raise DefinitionError(f"{source}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    try:
        data: Any = load_yaml(text, source=str(source))
    except DefinitionError:
        data = plain
    if isinstance(data, Mapping) and "agents" in data and len(data) == 1:
        data = data["agents"]
    return _build_many(data, Path(source), SourceFormat.AGENTS_JSON, options)


def _build_many(
    data: Any, path: Path, fmt: SourceFormat, options: LoadOptions
) -> list[AgentDefinition]:
    where = data.at() if isinstance(data, YamlMap) else str(path)
    if isinstance(data, list):
        out = []
        for item in data:
            if not isinstance(item, Mapping):
                raise DefinitionError(f"{where}: each agent in the list must be a mapping")
            out.append(build_definition(item, None, path, fmt, options))
        return out
    if not isinstance(data, Mapping):
        raise DefinitionError(f"{where}: expected a mapping of agent name -> fields")
    out = []
    for name, fields in data.items():
        if not isinstance(fields, Mapping):
            at = data.at(name) if isinstance(data, YamlMap) else str(path)
            raise DefinitionError(
                f"{at}: {name!r} is not an agent definition (expected a mapping of fields)",
                hint="indent the agent's fields (model, role, description, instructions) under it",
            )
        name_line = data.line_of(name) if isinstance(data, YamlMap) else None
        out.append(build_definition(fields, (name, name_line), path, fmt, options))
    return out
