"""Hand-written files checked against declarative formats (msgspec Structs).

Every file a user writes -- pipelines, agent definitions, rules, workloads, replay policies, the
config file -- is described by a :class:`msgspec.Struct` with ``forbid_unknown_fields=True``;
:func:`convert` checks parsed data against it and turns msgspec's error into one a person can act
on: the file, the line when the data came from YAML (:class:`~gearshift.formats.yamlsrc.YamlMap`
remembers it), the key path and the problem::

    pipeline.yaml:12: tasks[2].validate.kind is not a known key (use: type, command, ...)

The same Structs give the JSON Schema that ``gearshift schema`` prints for editors.
"""

from __future__ import annotations

import re
import typing
from typing import Any, TypeVar

import msgspec

from gearshift.errors import ConfigError
from gearshift.formats.yamlsrc import YamlMap

__all__ = ["convert", "json_schema", "key_path"]

T = TypeVar("T")

_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>.+)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>.+)`$")
_EXPECTED = re.compile(r"^Expected `(?P<want>[^`]+)`(?:, got `(?P<got>[^`]+)`)?(?P<rest>.*)$")
_ENUM = re.compile(r"^Invalid enum value (?P<value>.+)$")
_PART = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")

_NAMES = {
    "object": "a table of keys",
    "array": "a list",
    "str": "a string",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "null": "empty",
    "date": "a date (YYYY-MM-DD)",
    "datetime": "a date and time",
    "decimal": "a decimal number",
}


def convert(
    data: Any,
    type_: type[T],
    *,
    source: str,
    error: type[ConfigError] = ConfigError,
    prefix: str = "",
) -> T:
    """``data`` (parsed TOML, YAML or JSON) as ``type_``, or ``error`` naming ``source``, the
    line when known, and the key path (``prefix`` is prepended: the path of ``data`` itself in
    a larger file)."""
    try:
        return msgspec.convert(data, type_, strict=False)
    except msgspec.ValidationError as exc:
        raise _translate(str(exc), data, type_, source, error, prefix) from None


def key_path(prefix: str, parts: list[str | int]) -> str:
    """``tasks[2].validate`` from a prefix and path parts."""
    out = prefix
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else part
    return out


def json_schema(type_: Any) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a file format, for editors."""
    schema: dict[str, Any] = msgspec.json.schema(type_)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def _translate(
    text: str, data: Any, type_: Any, source: str, error: type[ConfigError], prefix: str
) -> ConfigError:
    match = _AT.match(text)
    message = match["message"] if match else text
    parts = _parts(match["path"] if match and match["path"] else "")
    hint: str | None = None
    if unknown := _UNKNOWN.match(message):
        parts.append(unknown["field"])
        problem = "is not a known key"
        names = _field_names(type_, parts[:-1])
        if names:
            hint = f"use: {', '.join(names)}"
    elif missing := _MISSING.match(message):
        parts.append(missing["field"])
        problem = "is missing"
    elif enum := _ENUM.match(message):
        problem = f"cannot be {enum['value']}"
        choices = _choices(type_, parts)
        if choices:
            hint = f"use one of: {', '.join(choices)}"
    elif expected := _EXPECTED.match(message):
        problem = f"must be {_describe(expected['want'])}{expected['rest']}"
        if expected["got"]:
            problem += f", not {_describe(expected['got'])}"
    else:
        problem = message
    where = _where(source, data, parts)
    key = key_path(prefix, parts)
    return error(f"{where}: {key} {problem}" if key else f"{where}: {problem}", hint=hint)


def _parts(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for name, index in _PART.findall(path):
        if name:
            parts.append(name)
        elif index != "...":
            parts.append(int(index))
    return parts


def _describe(spec: str) -> str:
    return " or ".join(_NAMES.get(p.strip(), p.strip()) for p in spec.split("|"))


def _where(source: str, data: Any, parts: list[str | int]) -> str:
    """``source:line`` of the deepest mapping on ``parts`` that knows its line."""
    line: int | None = None
    node = data
    for part in parts:
        if isinstance(node, YamlMap):
            line = node.line_of(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    if line is None and isinstance(data, YamlMap):
        line = data.line
    return f"{source}:{line}" if line is not None else source


def _field_names(type_: Any, parts: list[str | int]) -> list[str]:
    """The keys a Struct at ``parts`` under ``type_`` accepts (empty when it cannot tell)."""
    current = _struct_of(_type_at(type_, parts))
    if current is None:
        return []
    return [f.encode_name for f in msgspec.structs.fields(current)]


def _choices(type_: Any, parts: list[str | int]) -> list[str]:
    """The values a ``Literal`` at ``parts`` allows (empty when it cannot tell)."""
    found: list[str] = []
    stack = [_type_at(type_, parts)]
    while stack:
        tp = stack.pop()
        if typing.get_origin(tp) is typing.Literal:
            found += [str(v) for v in typing.get_args(tp)]
        else:
            stack += typing.get_args(tp)
    return found


def _type_at(type_: Any, parts: list[str | int]) -> Any:
    """The annotated type at ``parts`` under ``type_`` (``None`` when it cannot tell)."""
    current: Any = type_
    for part in parts:
        if isinstance(part, int):
            continue
        struct = _struct_of(current)
        if struct is None:
            return None
        hints = typing.get_type_hints(struct, include_extras=False)
        names = {f.encode_name: f.name for f in msgspec.structs.fields(struct)}
        current = hints.get(names.get(part, part))
    return current


def _struct_of(tp: Any) -> Any:
    """The Struct inside ``tp`` (itself, or the item type of a list, tuple, dict or union)."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    for arg in typing.get_args(tp):
        found = _struct_of(arg)
        if found is not None:
            return found
    return None
