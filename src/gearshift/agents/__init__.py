"""Agent definitions: read them from every format in use, and fix their models.

* :class:`AgentDefinition` — one agent (name, description, role, prompt, tools, model, sampling
  mode, escalation ladder, validator specs), whatever file it came from;
* loaders — Claude Code ``.md`` subagent files, the article's YAML specs and ``claude --agents``
  / Agent SDK JSON (:func:`discover`, :func:`load_file`, :func:`parse_markdown`, ...), with
  errors that name the file and line;
* :class:`FileEdit` / :func:`apply_edit` — rewrite only the ``model`` value of a file (the audit
  that decides which, :mod:`gearshift.insight.audit`, sits above routing, which it uses).
"""

from gearshift.agents.definition import (
    DEFAULT_PRESETS,
    INHERIT,
    AgentDefinition,
    Mode,
    ModePresets,
    Sampling,
    SourceFormat,
)
from gearshift.agents.loaders import (
    AgentSet,
    LoadOptions,
    default_agent_dirs,
    discover,
    find_frontmatter,
    load_file,
    parse_agents_json,
    parse_markdown,
    parse_yaml_specs,
)
from gearshift.agents.rewrite import FileEdit, apply_edit, plan_edits

__all__ = [
    "DEFAULT_PRESETS",
    "INHERIT",
    "AgentDefinition",
    "AgentSet",
    "FileEdit",
    "LoadOptions",
    "Mode",
    "ModePresets",
    "Sampling",
    "SourceFormat",
    "apply_edit",
    "default_agent_dirs",
    "discover",
    "find_frontmatter",
    "load_file",
    "parse_agents_json",
    "parse_markdown",
    "parse_yaml_specs",
    "plan_edits",
]
