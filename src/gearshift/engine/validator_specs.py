"""Validators from YAML-shaped specs (``{type: command, run: "pytest -q", timeout: 60}``).

A spec is one of the Structs below, chosen by its ``type`` (a tagged union, so the JSON Schema
tells editors which keys each type takes); aliases such as ``jsonschema`` or ``llm_judge`` are
renamed first. :class:`WrittenValidator` is a spec as a file may write it, shorthands included
(``{command: pytest -q}``, ``{regex: PATTERN}``, ``{judge: opus}``): the first check of a
pipeline file and the completion an editor offers. What a type cannot say -- patterns that must
compile, at least one of ``must_match`` / ``must_not_match`` -- is checked when the validator is
built. Every problem raises DefinitionError naming the offending key, and its file and line
when the spec came from a file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

from gearshift.engine.validators import (
    AllValidator,
    CallableValidator,
    CommandValidator,
    ConfidenceValidator,
    JsonSchemaValidator,
    JudgeValidator,
    RegexValidator,
    Validator,
)
from gearshift.errors import ConfigError, DefinitionError
from gearshift.formats.structs import convert, key_path, locate
from gearshift.formats.yamlsrc import derive

__all__ = ["ValidatorSpec", "WrittenValidator", "build", "validator_from_spec"]

_ALIASES = {"jsonschema": "json_schema", "json-schema": "json_schema", "schema": "json_schema",
            "python": "callable", "llm_judge": "judge", "llm-judge": "judge"}  # fmt: skip

_Patterns = str | list[str]
_Seconds = Annotated[float, msgspec.Meta(gt=0)]


class CommandSpec(msgspec.Struct, tag_field="type", tag="command", forbid_unknown_fields=True,
                  kw_only=True):  # fmt: skip
    """Run a command where the output's files (and ``files``) were written; exit 0 passes."""

    run: str | Annotated[list[str], msgspec.Meta(min_length=1)]
    timeout: _Seconds = 60.0
    files: dict[str, str] = {}
    from_output: bool = True
    default_file: str | None = None
    shell: bool = False
    env: dict[str, str] | list[str] | None = None


class JsonSchemaSpec(msgspec.Struct, tag_field="type", tag="json_schema",
                     forbid_unknown_fields=True, kw_only=True):  # fmt: skip
    """The output (or its first JSON block) validates against ``schema``."""

    schema: dict[str, Any]


class RegexSpec(msgspec.Struct, tag_field="type", tag="regex", forbid_unknown_fields=True,
                kw_only=True):  # fmt: skip
    """Patterns the output must match and must not match."""

    must_match: _Patterns = []
    must_not_match: _Patterns = []
    flags: str = ""


class CallableSpec(msgspec.Struct, tag_field="type", tag="callable", forbid_unknown_fields=True,
                   kw_only=True):  # fmt: skip
    """A Python function ``module:function`` decides."""

    function: str


class ConfidenceSpec(msgspec.Struct, tag_field="type", tag="confidence",
                     forbid_unknown_fields=True, kw_only=True):  # fmt: skip
    """The confidence the model states is at least ``min``."""

    min: float = 0.9


class JudgeSpec(msgspec.Struct, tag_field="type", tag="judge", forbid_unknown_fields=True,
                kw_only=True):  # fmt: skip
    """A reviewer model on ``model`` (a tier or model id) judges the output by ``criteria``."""

    model: str = "opus"
    criteria: str = ""
    min_score: float | None = None
    max_tokens: int = 1024


class AllSpec(msgspec.Struct, tag_field="type", tag="all", forbid_unknown_fields=True,
              kw_only=True):  # fmt: skip
    """Every validator in ``of`` passes (checked in order, stopping at the first failure)."""

    of: Annotated[list[ValidatorSpec], msgspec.Meta(min_length=1)]


ValidatorSpec = (
    CommandSpec | JsonSchemaSpec | RegexSpec | CallableSpec | ConfidenceSpec | JudgeSpec | AllSpec
)

_Kind = Literal[
    "command", "json_schema", "regex", "callable", "confidence", "judge", "all",
    "jsonschema", "json-schema", "schema", "python", "llm_judge", "llm-judge",
]  # fmt: skip


class WrittenValidator(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A validator as a file writes it: ``{type: ..., ...}`` with the keys of its type, or a
    shorthand whose one key names the type and holds its main value (``command: pytest -q``,
    ``regex: PATTERN``, ``json_schema: {...}``, ``callable: mod:fn``, ``confidence: 0.8``,
    ``judge: opus``). A bare string is a command."""

    type: _Kind | None = None
    command: str | list[str] | dict[str, Any] | None = None
    regex: _Patterns | dict[str, Any] | None = None
    json_schema: dict[str, Any] | None = None
    callable: str | dict[str, Any] | None = None
    python: str | dict[str, Any] | None = None
    confidence: float | dict[str, Any] | None = None
    judge: str | dict[str, Any] | None = None
    run: str | list[str] | None = None
    timeout: _Seconds | None = None
    files: dict[str, str] | None = None
    from_output: bool | None = None
    default_file: str | None = None
    shell: bool | None = None
    env: dict[str, str] | list[str] | None = None
    schema: dict[str, Any] | None = None
    must_match: _Patterns | None = None
    must_not_match: _Patterns | None = None
    flags: str | None = None
    function: str | None = None
    min: float | None = None
    model: str | None = None
    criteria: str | None = None
    min_score: float | None = None
    max_tokens: int | None = None
    of: list[WrittenValidator] | None = None


#: What a task's or an agent's ``validators:`` may hold.
Validators = str | WrittenValidator | list[str | WrittenValidator]


def build(spec: Any, *, source: str = "", prefix: str = "validator") -> Validator:
    """A validator from a YAML-shaped spec such as ``{type: command, run: "pytest -q"}``.

    Raises DefinitionError whose message names the offending key under ``prefix`` (e.g.
    ``tasks[2].validators[0].run``), preceded by ``source`` and the line when the spec came from
    a file (a YamlMap knows its lines; for a plain mapping, ``source`` may carry one).
    """
    typed = convert(
        _canonical(spec), ValidatorSpec, source=source, prefix=prefix, error=DefinitionError
    )
    return _make(typed, _Site(source, spec, prefix))


def validator_from_spec(spec: Any, *, where: str = "validator") -> Validator:
    """Build a validator from a YAML-shaped spec; problems raise DefinitionError naming
    ``where`` and the key."""
    return build(spec, prefix=where)


def _canonical(spec: Any) -> Any:
    """``spec`` with an alias ``type`` renamed (in ``of`` too), positions kept."""
    if not isinstance(spec, Mapping):
        return spec
    items = dict(spec)
    kind = items.get("type")
    if isinstance(kind, str) and kind in _ALIASES:
        items["type"] = _ALIASES[kind]
    if isinstance(items.get("of"), list):
        items["of"] = [_canonical(item) for item in items["of"]]
    return derive(spec, items)


@dataclass(frozen=True, slots=True)
class _Site:
    """Where a spec sits, for the errors a type cannot catch."""

    source: str
    data: Any
    prefix: str
    parts: tuple[str | int, ...] = ()

    def inner(self, *parts: str | int) -> _Site:
        return _Site(self.source, self.data, self.prefix, (*self.parts, *parts))

    def fail(self, problem: str, key: str | None = None, hint: str | None = None) -> Exception:
        parts = (*self.parts, key) if key else self.parts
        where = locate(self.source, self.data, parts)
        text = f"{key_path(self.prefix, parts)}: {problem}"
        return DefinitionError(f"{where}: {text}" if where else text, hint=hint)


def _make(spec: ValidatorSpec, site: _Site) -> Validator:
    try:
        return _made(spec, site)
    except DefinitionError:
        raise
    except ConfigError as err:
        raise site.fail(err.message, hint=err.hint) from None


def _made(spec: ValidatorSpec, site: _Site) -> Validator:
    match spec:
        case CommandSpec():
            return CommandValidator(spec.run, timeout=spec.timeout, files=spec.files,
                                    from_output=spec.from_output, default_file=spec.default_file,
                                    shell=spec.shell, env=spec.env)  # fmt: skip
        case RegexSpec():
            return _regex(spec, site)
        case JsonSchemaSpec():
            return JsonSchemaValidator(spec.schema)
        case CallableSpec():
            return CallableValidator(spec.function)
        case ConfidenceSpec():
            return ConfidenceValidator(spec.min)
        case JudgeSpec():
            return JudgeValidator(spec.model, criteria=spec.criteria, min_score=spec.min_score,
                                  max_tokens=spec.max_tokens)  # fmt: skip
        case AllSpec():
            return AllValidator([_make(v, site.inner("of", i)) for i, v in enumerate(spec.of)])


def _regex(spec: RegexSpec, site: _Site) -> Validator:
    must, must_not = _listed(spec.must_match), _listed(spec.must_not_match)
    if not must and not must_not:
        raise site.fail("give must_match and/or must_not_match", "must_match")
    for key, patterns in (("must_match", must), ("must_not_match", must_not)):
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as err:
                raise site.fail(f"bad pattern {pattern!r}: {err}", key) from None
    return RegexValidator(must, must_not, flags=spec.flags)


def _listed(patterns: _Patterns) -> list[str]:
    return [patterns] if isinstance(patterns, str) else patterns
