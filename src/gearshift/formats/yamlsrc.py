"""YAML that remembers where each key is: line numbers for errors, spans for in-place edits.

Agent, rules and dispatch files are written by hand, so every error must name the file and the
line. PyYAML knows the position of every node while composing but forgets it once the node is
built into plain Python data. This module keeps it: every mapping is built as a :class:`YamlMap`
(a ``dict``) that also records, for each key, the line and column of the key and the character
span of its value. The span lets :mod:`gearshift.insight.audit` rewrite one ``model:`` value in a
file while leaving every other byte alone.

Duplicate keys are an error (YAML silently keeps the last one, which hides typos such as two
``model:`` lines). Only the safe loader is used: no Python object tags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from gearshift.errors import DefinitionError

__all__ = ["KeyInfo", "YamlMap", "derive", "load_yaml", "where"]

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Where one key and its value sit in the source text (lines are 1-based, offsets absolute)."""

    line: int
    column: int
    value_line: int
    value_start: int
    value_end: int
    value_style: str | None


class YamlMap(dict[Any, Any]):
    """A mapping from a YAML file, with the position of itself and of each of its keys."""

    source: str
    line: int
    column: int
    start: int
    flow: bool
    keys_at: dict[Any, KeyInfo]

    def __init__(self) -> None:
        super().__init__()
        self.source = "<yaml>"
        self.line = 1
        self.column = 0
        self.start = 0
        self.flow = False
        self.keys_at = {}

    @classmethod
    def empty(cls, source: str, line: int = 1) -> YamlMap:
        """An empty mapping at ``source:line`` (an empty document, or frontmatter)."""
        made = cls()
        made.source, made.line = source, line
        return made

    def line_of(self, key: Any) -> int:
        """The line of ``key``, or of the mapping itself when the key is absent."""
        info = self.keys_at.get(key)
        return info.line if info is not None else self.line

    def at(self, key: Any = None) -> str:
        """``"path:line"`` of ``key`` (or of the mapping), the prefix of every error message."""
        return f"{self.source}:{self.line_of(key) if key is not None else self.line}"


@dataclass(slots=True)
class _Offsets:
    source: str
    line: int = 0
    index: int = 0


class _Loader(_BaseLoader):
    offsets: _Offsets


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> YamlMap:
    off = loader.offsets
    loader.flatten_mapping(node)
    result = YamlMap()
    result.source = off.source
    result.line = node.start_mark.line + 1 + off.line
    result.column = node.start_mark.column
    result.start = node.start_mark.index + off.index
    result.flow = bool(node.flow_style)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1 + off.line
        try:
            duplicate = key in result
        except TypeError:
            raise DefinitionError(
                f"{off.source}:{line}: a mapping key must be a plain value, not {key!r}"
            ) from None
        if duplicate:
            raise DefinitionError(
                f"{off.source}:{line}: duplicate key {key!r} (first at line "
                f"{result.keys_at[key].line})",
                hint="YAML would silently keep only the last one; remove one of them",
            )
        result[key] = loader.construct_object(value_node, deep=True)
        style = getattr(value_node, "style", None)
        result.keys_at[key] = KeyInfo(
            line=line,
            column=key_node.start_mark.column,
            value_line=value_node.start_mark.line + 1 + off.line,
            value_start=value_node.start_mark.index + off.index,
            value_end=value_node.end_mark.index + off.index,
            value_style=style if style in {'"', "'", "|", ">"} else None,
        )
    return result


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def load_yaml(text: str, *, source: str, line_offset: int = 0, index_offset: int = 0) -> Any:
    """Parse one YAML document; mappings come back as :class:`YamlMap`.

    ``line_offset`` and ``index_offset`` shift the recorded positions, for YAML embedded in a
    larger file (Markdown frontmatter). Bad YAML raises :class:`DefinitionError` naming
    ``source`` and the line.
    """
    if text.startswith("\ufeff"):  # the reader drops a BOM; keep offsets on the original text
        text = text[1:]
        index_offset += 1
    loader = _Loader(text)
    loader.offsets = _Offsets(source, line_offset, index_offset)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + 1 + line_offset) if mark is not None else line_offset + 1
        problem = exc.problem or exc.context or "invalid YAML"
        ctx = exc.context_mark
        if exc.context and ctx is not None and mark is not None and ctx.line != mark.line:
            problem += f" ({exc.context} started at line {ctx.line + 1 + line_offset})"
        raise DefinitionError(
            f"{source}:{line}: invalid YAML: {problem}",
            hint="check indentation and quote values that contain ': ' or start with a symbol",
        ) from None
    except yaml.YAMLError as exc:
        raise DefinitionError(f"{source}:{line_offset + 1}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def derive(data: Any, items: Mapping[Any, Any], origin: Mapping[Any, Any] | None = None) -> Any:
    """``items`` placed where mapping ``data`` is, for data rewritten before it is checked
    (shorthands expanded, spellings of one field merged), so that errors still point at what was
    written. When ``data`` is a :class:`YamlMap` the result is one at its position, each key
    keeping the position of the key of ``data`` it came from (``origin[new] = old``, else the
    same key; a key from nowhere takes the mapping's line); otherwise a plain dict."""
    if not isinstance(data, YamlMap):
        return dict(items)
    made = YamlMap.empty(data.source, data.line)
    made.column, made.start, made.flow = data.column, data.start, data.flow
    for key, value in items.items():
        made[key] = value
        old = (origin or {}).get(key, key)
        if old in data.keys_at:
            made.keys_at[key] = data.keys_at[old]
    return made


def where(data: Any, source: str, key: Any = None) -> str:
    """``"path:line"`` for ``key`` of ``data`` when ``data`` knows its position, else ``path``."""
    if isinstance(data, YamlMap):
        return data.at(key)
    return source
