"""Hand-written files checked against declarative formats (msgspec Structs).

Every file a user writes -- pipelines, agent definitions, rules, workloads, replay policies, the
config file -- is described by :class:`msgspec.Struct` types with ``forbid_unknown_fields=True``;
:func:`convert` checks parsed data against them and turns msgspec's error into one a person can
act on: the file, the line when the data came from YAML (:class:`~gearshift.formats.yamlsrc.YamlMap`
remembers it), the key path and the problem::

    pipeline.yaml:12: tasks[2].validators[0].kind is not a known key (hint: use: type, run, ...)

msgspec says ``[...]`` where the failing value sits under a mapping key it does not name; the key
is found again here by checking the mapping's values one by one, so the message names it and its
line. What a type cannot say (one field or another, a value that depends on another, a name that
must exist elsewhere) stays in small checks after the conversion; :func:`locate` gives them the
same ``file:line``.

The same Structs give the JSON Schema that ``gearshift schema`` prints for editors.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, overload

import msgspec

from gearshift.errors import ConfigError
from gearshift.formats.yamlsrc import YamlMap

__all__ = ["convert", "json_schema", "key_path", "line_at", "locate"]

T = TypeVar("T")
Part = str | int

_AT = re.compile(r"^(?P<message>.*?)(?: - at (?:`(?P<key>key)` in )?`\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>.+)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>.+)`$")
_EXPECTED = re.compile(r"^Expected `(?P<want>[^`]+)`(?:, got `(?P<got>[^`]+)`)?(?P<rest>.*)$")
_ENUM = re.compile(r"^Invalid (?:enum )?value (?P<value>.+)$")
_TOKEN = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_ANY_KEY = "..."

_NAMES = {
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


@overload
def convert(
    data: Any,
    type_: type[T],
    *,
    source: str,
    error: type[ConfigError] = ...,
    prefix: str = ...,
    strict: bool = ...,
    mapping: str = ...,
) -> T: ...


@overload
def convert(
    data: Any,
    type_: Any,
    *,
    source: str,
    error: type[ConfigError] = ...,
    prefix: str = ...,
    strict: bool = ...,
    mapping: str = ...,
) -> Any: ...


def convert(
    data: Any,
    type_: Any,
    *,
    source: str,
    error: type[ConfigError] = ConfigError,
    prefix: str = "",
    strict: bool = True,
    mapping: str = "a mapping",
) -> Any:
    """``data`` (parsed TOML, YAML or JSON) as ``type_``, or ``error`` naming ``source``, the
    line when known, and the key path (``prefix`` is prepended: the path of ``data`` itself in
    a larger file; an empty ``source`` leaves the location out).

    ``strict=False`` lets msgspec read numbers and booleans from strings; hand-written YAML is
    read strictly, so ``max_tokens: "100"`` is refused as it always was. ``mapping`` names a
    table of keys in messages ("a mapping" for YAML, "a table of keys" for TOML).
    """
    try:
        return msgspec.convert(data, type_, strict=strict)
    except msgspec.ValidationError as exc:
        failure = _Failure.of(str(exc), data, type_, strict)
        raise failure.error(data, source, error, prefix, mapping) from None


def key_path(prefix: str, parts: Sequence[Part]) -> str:
    """``tasks[2].validate`` from a prefix and path parts (ints are list positions)."""
    out = prefix
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def locate(source: str, data: Any, parts: Sequence[Any]) -> str:
    """``source:line`` of the value at ``parts`` under ``data`` (see :func:`line_at`); ``source``
    alone when no line is known."""
    line = line_at(data, parts)
    return f"{source}:{line}" if line is not None and source else source


def line_at(data: Any, parts: Sequence[Any]) -> int | None:
    """The line of the value at ``parts`` under ``data``: that of the deepest key (or list item)
    on the way that knows its line (``None`` when the data did not come from YAML)."""
    line = data.line if isinstance(data, YamlMap) else None
    node = data
    for part in parts:
        if isinstance(node, YamlMap):
            line = node.line_of(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, YamlMap) and isinstance(part, int):
            line = node.line
    return line


def json_schema(type_: Any) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a file format, for editors. A tuple of types is a file that
    may take any of these forms."""
    schema: dict[str, Any]
    if isinstance(type_, tuple):
        forms, defs = msgspec.json.schema_components(type_, ref_template="#/$defs/{name}")
        schema = {"anyOf": list(forms), "$defs": defs}
    else:
        schema = msgspec.json.schema(type_)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# -- msgspec's error, located ---------------------------------------------------------------------


class _Failure(msgspec.Struct):
    """Where a conversion failed and msgspec's words for why: the path under the data, the value
    there and the type it was read as (and the type of its container, for a tagged union's
    tag), and whether a mapping key rather than a value was refused."""

    parts: list[Part]
    message: str
    bad_key: bool
    node: Any
    type_: Any
    parent: Any

    @classmethod
    def of(cls, text: str, data: Any, type_: Any, strict: bool) -> _Failure:
        match = _AT.match(text)
        message = match["message"] if match else text
        parts: list[Part] = []
        node, current, parent = data, type_, None
        for token in _tokens(match["path"] if match and match["path"] else ""):
            if token == _ANY_KEY:
                inner = _failing_value(node, current, strict)
                if inner is None:
                    break
                key, value, value_type, inner_text = inner
                deeper = cls.of(inner_text, value, value_type, strict)
                deeper.parts[:0] = [*parts, key]
                return deeper
            parts.append(token)
            parent, current, node = current, _step(current, node, token), _child(node, token)
        return cls(parts, message, bool(match and match["key"]), node, current, parent)

    def error(
        self, data: Any, source: str, error: type[ConfigError], prefix: str, mapping: str
    ) -> ConfigError:
        hint: str | None = None
        parts = list(self.parts)
        if self.bad_key:
            wanted = _EXPECTED.match(self.message)
            what = _describe(wanted["want"], mapping) if wanted else "valid"
            problem = f"has a key {_bad_key(self.node, self.type_)!r} that is not {what}"
        elif unknown := _UNKNOWN.match(self.message):
            names = _field_names(self.type_, self.node)
            parts.append(unknown["field"])
            problem = "is not a known key"
            hint = f"use: {', '.join(names)}" if names else None
        elif missing := _MISSING.match(self.message):
            parts.append(missing["field"])
            problem = "is missing"
            choices = _tags(self.type_, missing["field"])
            hint = f"use one of: {', '.join(choices)}" if choices else None
        elif enum := _ENUM.match(self.message):
            problem = f"cannot be {enum['value']}"
            choices = _tags(self.parent, str(parts[-1])) if parts else []
            choices = choices or _literals(self.type_)
            hint = f"use one of: {', '.join(choices)}" if choices else None
        elif expected := _EXPECTED.match(self.message):
            problem = f"must be {_describe(expected['want'], mapping, expected['rest'])}"
            got = _shown(self.node) if expected["got"] or expected["rest"] else None
            if got is None and expected["got"]:
                got = _describe(expected["got"], mapping)
            problem += f", not {got}" if got else ""
        else:
            problem = self.message
        where = locate(source, data, parts)
        text = f"{key_path(prefix, parts) or 'the top level'} {problem}"
        return error(f"{where}: {text}" if where else text, hint=hint)


def _tokens(path: str) -> list[Part]:
    tokens: list[Part] = []
    for name, index in _TOKEN.findall(path):
        if name:
            tokens.append(name)
        else:
            tokens.append(_ANY_KEY if index == _ANY_KEY else int(index))
    return tokens


def _describe(spec: str, mapping: str, rest: str = "") -> str:
    """msgspec's ``str | int | null`` as words: "a string or a whole number"."""
    names = [p.strip() for p in spec.split("|")]
    if len(names) > 1:
        names = [n for n in names if n != "null"]
    if "int" in names and "float" in names:
        names.remove("int")
    if rest.strip() == "of length >= 1" and names in (["str"], ["array"]):
        return "a non-empty " + ("string" if names == ["str"] else "list")
    words = list(dict.fromkeys(mapping if n == "object" else _NAMES.get(n, n) for n in names))
    listed = ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]
    return listed + rest


def _shown(value: Any) -> str | None:
    """A short scalar as the file wrote it (``1.5``, ``'soon'``, ``true``); ``None`` for
    anything else, which is then named by its kind."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float) and len(repr(value)) <= 40:
        return repr(value)
    return None


def _child(node: Any, part: Part) -> Any:
    try:
        return node[part]
    except (KeyError, IndexError, TypeError):
        return None


def _alternatives(tp: Any) -> list[Any]:
    """The types a value of ``tp`` may have: unions and ``Optional`` opened, ``Annotated``
    unwrapped."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _alternatives(typing.get_args(tp)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [alt for arg in typing.get_args(tp) for alt in _alternatives(arg)]
    return [tp]


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _struct(tp: Any, node: Any) -> Any:
    """The Struct ``node`` is read as under ``tp``: a tagged union's member named by the
    node's tag, else the first Struct alternative (``None`` when there is none)."""
    structs = [alt for alt in _alternatives(tp) if _is_struct(alt)]
    for struct in structs:
        config = struct.__struct_config__
        tagged = config.tag_field and isinstance(node, Mapping)
        if tagged and node.get(config.tag_field) == config.tag:
            return struct
    return structs[0] if structs else None


def _step(tp: Any, node: Any, part: Part) -> Any:
    """The type of ``node[part]`` when ``node`` is read as ``tp`` (``None`` when unknown)."""
    struct = _struct(tp, node)
    if struct is not None and isinstance(part, str):
        for field in msgspec.structs.fields(struct):
            if field.encode_name == part:
                return field.type
    listed = isinstance(node, list | tuple) if node is not None else isinstance(part, int)
    for alt in _alternatives(tp):
        origin, args = typing.get_origin(alt), typing.get_args(alt)
        if origin in (list, tuple, set, frozenset) and listed and args:
            return args[0]
        if origin is dict and not listed and args:
            return args[1]
    return None


def _failing_value(node: Any, tp: Any, strict: bool) -> tuple[Any, Any, Any, str] | None:
    """The first value of mapping ``node`` that its dict type in ``tp`` refuses: its key, the
    value, the value type and msgspec's message."""
    if not isinstance(node, Mapping):
        return None
    for alt in _alternatives(tp):
        args = typing.get_args(alt)
        if typing.get_origin(alt) is not dict or not args:
            continue
        for key, value in node.items():
            try:
                msgspec.convert(value, args[1], strict=strict)
            except msgspec.ValidationError as exc:
                return key, value, args[1], str(exc)
    return None


def _bad_key(node: Any, tp: Any) -> Any:
    """The first key of mapping ``node`` that is not a string (a Struct's keys) or not of the
    key type of its dict type."""
    if not isinstance(node, Mapping):
        return None
    key_type: Any = str
    for alt in _alternatives(tp):
        if typing.get_origin(alt) is dict and typing.get_args(alt):
            key_type = typing.get_args(alt)[0]
    for key in node:
        try:
            msgspec.convert(key, key_type, strict=True)
        except msgspec.ValidationError:
            return key
    return None


def _field_names(tp: Any, node: Any) -> list[str]:
    """The keys the Struct ``node`` is read as accepts (empty when it cannot tell)."""
    struct = _struct(tp, node)
    if struct is None:
        return []
    tag = struct.__struct_config__.tag_field
    return [*([tag] if tag else []), *(f.encode_name for f in msgspec.structs.fields(struct))]


def _tags(tp: Any, field: str) -> list[str]:
    """The tags of a tagged union whose tag field is ``field``."""
    return [
        str(alt.__struct_config__.tag)
        for alt in _alternatives(tp)
        if _is_struct(alt) and alt.__struct_config__.tag_field == field
    ]


def _literals(tp: Any) -> list[str]:
    """The values a ``Literal`` in ``tp`` allows."""
    return [
        str(value)
        for alt in _alternatives(tp)
        if typing.get_origin(alt) is typing.Literal
        for value in typing.get_args(alt)
    ]
