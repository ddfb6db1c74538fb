"""Build one :class:`AgentDefinition` from the fields of any format, validating each.

The three ecosystems spell fields differently (``max_tokens``, ``maxTokens``, ``max-tokens``;
``prompt``, ``instructions``, ``systemPrompt``), so names are matched after dropping ``-``/``_``
and case. Every error names the file and the line of the offending key.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gearshift.agents.definition import INHERIT, AgentDefinition, Mode, SourceFormat
from gearshift.catalog.tiers import Tier
from gearshift.errors import ConfigError, DefinitionError, UnknownModel
from gearshift.formats.yamlsrc import YamlMap

if TYPE_CHECKING:
    from gearshift.catalog import Catalog

__all__ = ["LoadOptions", "build_definition"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_CANON = {
    "name": "name",
    "description": "description",
    "role": "role",
    "instructions": "instructions",
    "prompt": "instructions",
    "systemprompt": "instructions",
    "tools": "tools",
    "model": "model",
    "color": "color",
    "temperature": "temperature",
    "maxtokens": "max_tokens",
    "mode": "mode",
    "escalation": "escalation",
    "ladder": "escalation",
    "escalationladder": "escalation",
    "validators": "validators",
    "validator": "validators",
}


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How to read definitions: the model a file without ``model:`` gets, and the catalog
    used to check full model ids (the bundled one when ``None``)."""

    default_model: Tier | str = Tier.SONNET
    catalog: Catalog | None = None

    def __post_init__(self) -> None:
        model = self.default_model
        if isinstance(model, str) and model.strip().lower() in {t.value for t in Tier}:
            object.__setattr__(self, "default_model", Tier(model.strip().lower()))
        elif isinstance(model, str) and model.strip().lower() == INHERIT:
            object.__setattr__(self, "default_model", INHERIT)

    def resolve_catalog(self) -> Catalog:
        if self.catalog is not None:
            return self.catalog
        from gearshift.catalog import load_catalog

        catalog = load_catalog()
        object.__setattr__(self, "catalog", catalog)
        return catalog


def build_definition(
    data: Mapping[Any, Any],
    header: tuple[Any, int | None] | None,
    path: Path,
    fmt: SourceFormat,
    options: LoadOptions,
    *,
    body: str | None = None,
) -> AgentDefinition:
    """One definition from its fields; ``header`` is ``(name, line)`` when the name is a key."""
    src = str(path)

    def at(key: Any = None) -> str:
        if isinstance(data, YamlMap):
            return data.at(key) if key is not None and key in data else data.at()
        return src

    fields: dict[str, tuple[Any, Any]] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        canon = _CANON.get(re.sub(r"[-_]", "", str(key)).lower())
        if canon is None:
            extra[str(key)] = value
        elif canon in fields:
            raise DefinitionError(f"{at(key)}: {key!r} repeats field {fields[canon][0]!r}")
        else:
            fields[canon] = (key, value)

    def get(name: str) -> Any:
        return fields[name][1] if name in fields else None

    def key_of(name: str) -> Any:
        return fields[name][0] if name in fields else None

    name = _name(header, get("name"), at(key_of("name")) if "name" in fields else at(), src)
    line = header[1] if header and header[1] else (data.line if isinstance(data, YamlMap) else None)
    if fmt is SourceFormat.CLAUDE_MD:
        line = 1
    model_key = key_of("model")
    if model_key is not None:
        model = _model(get("model"), at(model_key), name, options)
        model_line = data.line_of(model_key) if isinstance(data, YamlMap) else None
    else:
        model, model_line = options.default_model, None
    instructions = body if body is not None and body else _text(get("instructions"), at, fields)
    return AgentDefinition(
        name=name,
        description=_text(get("description"), at, fields, "description"),
        role=_text(get("role"), at, fields, "role"),
        instructions=instructions,
        tools=_tools(get("tools"), at(key_of("tools"))),
        model=model,
        model_declared=model_key is not None,
        color=_opt_str(get("color"), at(key_of("color")), "color"),
        temperature=_temperature(get("temperature"), at(key_of("temperature"))),
        max_tokens=_max_tokens(get("max_tokens"), at(key_of("max_tokens"))),
        mode=_mode(get("mode"), at(key_of("mode"))),
        escalation=_ladder(get("escalation"), at(key_of("escalation"))),
        validators=_validators(get("validators"), at(key_of("validators"))),
        extra=extra,
        source=path,
        line=line,
        model_line=model_line,
        format=fmt,
    )


def _name(header: tuple[Any, int | None] | None, value: Any, where: str, src: str) -> str:
    if header is not None:
        name = header[0]
        if value is not None and value != name:
            raise DefinitionError(f"{where}: name {value!r} differs from its key {name!r}")
        where = f"{src}:{header[1]}" if header[1] else src
    elif value is None:
        raise DefinitionError(
            f"{where}: missing required field 'name'",
            hint="add 'name: my-agent'; Claude Code identifies agents by name, not file name",
        )
    else:
        name = value
    if not isinstance(name, str) or not _NAME.match(name):
        raise DefinitionError(
            f"{where}: invalid agent name {name!r}",
            hint="use a lowercase-hyphen identifier such as 'code-reviewer'",
        )
    return name


def _model(value: Any, where: str, agent: str, options: LoadOptions) -> Tier | str:
    if not isinstance(value, str) or not value.strip():
        raise DefinitionError(
            f"{where}: agent {agent!r}: model must be haiku, sonnet, opus, inherit or a model id"
        )
    text = value.strip()
    lowered = text.lower()
    if lowered == INHERIT:
        return INHERIT
    if lowered in {t.value for t in Tier}:
        return Tier(lowered)
    try:
        options.resolve_catalog().resolve(text)
    except UnknownModel as exc:
        raise DefinitionError(
            f"{where}: agent {agent!r}: unknown model {text!r}", hint=exc.hint
        ) from None
    return text


def _text(value: Any, at: Any, fields: Mapping[str, Any], name: str = "instructions") -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int | float):
        raise DefinitionError(f"{at(fields[name][0])}: {name} must be text")
    return str(value).strip()


def _opt_str(value: Any, where: str, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DefinitionError(f"{where}: {name} must be text")
    return value.strip()


def _tools(value: Any, where: str) -> tuple[str, ...] | None:
    """A comma list (parentheses respected: ``Bash(git add:*, git commit:*)``) or a list."""
    if value is None:
        return None
    if isinstance(value, str):
        parts, depth, start = [], 0, 0
        for i, ch in enumerate(value):
            depth += (ch == "(") - (ch == ")")
            if ch == "," and depth == 0:
                parts.append(value[start:i])
                start = i + 1
        parts.append(value[start:])
        return tuple(p.strip() for p in parts if p.strip())
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return tuple(t.strip() for t in value)
    raise DefinitionError(f"{where}: tools must be a comma-separated string or a list of names")


def _temperature(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise DefinitionError(f"{where}: temperature must be a number from 0 to 1, not {value!r}")
    return float(value)


def _max_tokens(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DefinitionError(f"{where}: max_tokens must be a positive integer, not {value!r}")
    return value


def _mode(value: Any, where: str) -> Mode | None:
    if value is None:
        return None
    try:
        return Mode.parse(str(value))
    except ConfigError as exc:
        raise DefinitionError(f"{where}: {exc.message}", hint=exc.hint) from None


def _ladder(value: Any, where: str) -> tuple[Tier, ...]:
    """An escalation ladder: tiers from cheapest to strongest (escalation only goes up)."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise DefinitionError(f"{where}: escalation must be a list of tiers, e.g. [haiku, sonnet]")
    try:
        ladder = tuple(Tier.parse(str(t)) for t in items)
    except ConfigError as exc:
        raise DefinitionError(f"{where}: escalation: {exc.message}", hint=exc.hint) from None
    if any(b <= a for a, b in itertools.pairwise(ladder)):
        raise DefinitionError(
            f"{where}: escalation must go strictly up, not {[t.value for t in ladder]}",
            hint="list tiers from cheapest to strongest, e.g. [haiku, sonnet, opus]",
        )
    return ladder


def _validators(value: Any, where: str) -> tuple[Any, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, str | Mapping):
            raise DefinitionError(f"{where}: each validator must be a string or a mapping")
    return tuple(dict(v) if isinstance(v, Mapping) else v for v in items)
