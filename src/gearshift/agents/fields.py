"""Build one :class:`AgentDefinition` from the fields of any format, validating each.

The fields are declared by :class:`AgentFields` (a msgspec Struct, checked by
:func:`gearshift.formats.structs.convert`). The three ecosystems spell fields differently
(``max_tokens``, ``maxTokens``, ``max-tokens``; ``prompt``, ``instructions``, ``systemPrompt``),
so names are matched after dropping ``-``/``_`` and case, and the fields are checked under
gearshift's names. Fields gearshift does not read (Claude Code's ``permissionMode``, ``hooks``...)
are kept as they are, never refused. What a type cannot say -- a known model, tiers going up, a
name Claude Code accepts -- is checked after. Every error names the file and the line of the
offending key.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from gearshift.agents.definition import INHERIT, AgentDefinition, Mode, SourceFormat
from gearshift.catalog.tiers import Tier
from gearshift.errors import ConfigError, DefinitionError, UnknownModel
from gearshift.formats.structs import convert
from gearshift.formats.yamlsrc import YamlMap, derive

if TYPE_CHECKING:
    from gearshift.catalog import Catalog

__all__ = ["AgentFields", "LoadOptions", "build_definition"]

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


_Text = str | int | float  # a text that YAML may read as a number
_TIERS = ["haiku", "sonnet", "opus"]


class AgentFields(msgspec.Struct, kw_only=True):
    """An agent definition's fields, under gearshift's names (``prompt`` and ``systemPrompt``
    are read as ``instructions``, ``maxTokens`` as ``max_tokens``, ``ladder`` as ``escalation``).
    Other fields are kept as they are: Claude Code and the Agent SDK define more."""

    name: str | None = None
    description: _Text | None = None
    role: _Text | None = None
    instructions: _Text | None = None
    tools: str | list[str] | None = None
    model: Annotated[str, msgspec.Meta(examples=[*_TIERS, INHERIT])] | None = None
    color: str | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    mode: Annotated[str, msgspec.Meta(examples=["tight", "creative"])] | None = None
    escalation: str | list[str] | None = None
    validators: str | dict[str, Any] | list[str | dict[str, Any]] | None = None


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

    written: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key in data:
        canon = _CANON.get(re.sub(r"[-_]", "", str(key)).lower())
        if canon is None:
            extra[str(key)] = data[key]
        elif canon in written:
            raise DefinitionError(f"{at(key)}: {key!r} repeats field {written[canon]!r}")
        else:
            written[canon] = key
    canonical = derive(data, {canon: data[key] for canon, key in written.items()}, written)
    prefix = str(header[0]) if header is not None else ""
    fields = convert(canonical, AgentFields, source=src, error=DefinitionError, prefix=prefix)

    name = _name(header, fields.name, at(written.get("name")), src)
    line = header[1] if header and header[1] else (data.line if isinstance(data, YamlMap) else None)
    if fmt is SourceFormat.CLAUDE_MD:
        line = 1
    model_key = written.get("model")
    if model_key is not None:
        model = _model(fields.model, at(model_key), name, options)
        model_line = data.line_of(model_key) if isinstance(data, YamlMap) else None
    else:
        model, model_line = options.default_model, None
    instructions = body if body else _text(fields.instructions)
    validators_key = written.get("validators")
    validators_line = None
    if validators_key is not None and isinstance(data, YamlMap):
        validators_line = data.line_of(validators_key)
    return AgentDefinition(
        name=name,
        description=_text(fields.description),
        role=_text(fields.role),
        instructions=instructions,
        tools=_tools(fields.tools),
        model=model,
        model_declared=model_key is not None,
        color=fields.color.strip() if fields.color is not None else None,
        temperature=fields.temperature,
        max_tokens=fields.max_tokens,
        mode=_mode(fields.mode, at(written.get("mode"))),
        escalation=_ladder(fields.escalation, at(written.get("escalation"))),
        validators=_validators(  # as written, so their own lines stay known
            canonical["validators"] if validators_key is not None else None
        ),
        extra=extra,
        source=path,
        line=line,
        model_line=model_line,
        validators_line=validators_line,
        format=fmt,
    )


def _name(header: tuple[Any, int | None] | None, value: str | None, where: str, src: str) -> str:
    name: Any
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


def _model(value: str | None, where: str, agent: str, options: LoadOptions) -> Tier | str:
    if value is None or not value.strip():
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


def _text(value: str | int | float | None) -> str:
    return "" if value is None else str(value).strip()


def _tools(value: str | list[str] | None) -> tuple[str, ...] | None:
    """A comma list (parentheses respected: ``Bash(git add:*, git commit:*)``) or a list."""
    if value is None:
        return None
    if isinstance(value, list):
        return tuple(t.strip() for t in value)
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(value):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return tuple(p.strip() for p in parts if p.strip())


def _mode(value: str | None, where: str) -> Mode | None:
    if value is None:
        return None
    try:
        return Mode.parse(value)
    except ConfigError as exc:
        raise DefinitionError(f"{where}: {exc.message}", hint=exc.hint) from None


def _ladder(value: str | list[str] | None, where: str) -> tuple[Tier, ...]:
    """An escalation ladder: tiers from cheapest to strongest (escalation only goes up)."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    try:
        ladder = tuple(Tier.parse(t) for t in items)
    except ConfigError as exc:
        raise DefinitionError(f"{where}: escalation: {exc.message}", hint=exc.hint) from None
    if any(b <= a for a, b in itertools.pairwise(ladder)):
        raise DefinitionError(
            f"{where}: escalation must go strictly up, not {[t.value for t in ladder]}",
            hint="list tiers from cheapest to strongest, e.g. [haiku, sonnet, opus]",
        )
    return ladder


def _validators(value: str | dict[str, Any] | list[str | dict[str, Any]] | None) -> tuple[Any, ...]:
    """The raw validator specs, each checked by the engine when a task uses the agent."""
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)
