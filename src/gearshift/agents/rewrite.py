"""Change the ``model`` of agent definitions in place, touching nothing else in the file.

Agent files are hand-written and live in version control: a rewrite that re-serialises the
YAML would reorder keys, drop comments and change quoting, and nobody would accept the diff.
So an edit replaces exactly the characters of the ``model`` value (located by
:mod:`gearshift.formats.yamlsrc`), keeping its quoting style; when the key is absent it inserts
one line (``model: X``) at the end of a Markdown frontmatter, or before the first key of a YAML
agent mapping, or right after the ``{`` of a JSON object or YAML flow mapping. Line endings
(LF or CRLF) follow the file. Every edited text is parsed again and must yield the same agents
with only the model changed, and a file that changed on disk since it was read is not written.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gearshift.agents.definition import AgentDefinition, SourceFormat
from gearshift.agents.loaders import (
    LoadOptions,
    find_frontmatter,
    parse_agents_json,
    parse_markdown,
    parse_yaml_specs,
)
from gearshift.errors import DefinitionError
from gearshift.formats.yamlsrc import YamlMap, load_yaml

__all__ = ["FileEdit", "apply_edit", "plan_edits"]


@dataclass(slots=True)
class FileEdit:
    """The new text of one file and the model changes it carries: ``(agent, old, new, line)``
    where ``old`` is ``None`` when a ``model`` line is added."""

    path: Path
    original: str
    text: str
    changes: list[tuple[str, str | None, str, int]] = field(default_factory=list)

    def diff(self) -> str:
        """A unified diff of the edit (``--- path`` / ``+++ path``)."""
        return "".join(
            difflib.unified_diff(
                self.original.splitlines(keepends=True),
                self.text.splitlines(keepends=True),
                fromfile=f"{self.path}",
                tofile=f"{self.path}",
            )
        )


def plan_edits(
    changes: Iterable[tuple[AgentDefinition, str]], options: LoadOptions | None = None
) -> list[FileEdit]:
    """One :class:`FileEdit` per file for ``(agent, new_model)`` pairs, in file order.

    Raises :class:`DefinitionError` when an agent was not read from a file or its file no
    longer contains it.
    """
    options = options or LoadOptions()
    by_file: dict[Path, list[tuple[AgentDefinition, str]]] = {}
    for agent, model in changes:
        if agent.source is None or agent.format is SourceFormat.PYTHON:
            raise DefinitionError(f"{agent.where()}: not read from a file; nothing to rewrite")
        by_file.setdefault(agent.source, []).append((agent, model))
    edits = []
    for path, items in by_file.items():
        original = _read(path)
        text = original
        edit = FileEdit(path, original, original)
        # Edit from the end of the file backwards so earlier offsets stay valid.
        located = sorted(
            ((_locate(text, path, agent), agent, model) for agent, model in items),
            key=lambda entry: entry[0][0],
            reverse=True,
        )
        for (start, end, replacement, old, line), agent, model in located:
            text = text[:start] + replacement(model, _newline(original)) + text[end:]
            edit.changes.append((agent.name, old, model, line))
        edit.changes.reverse()
        edit.text = text
        _verify(edit, items, options)
        edits.append(edit)
    return edits


def apply_edit(edit: FileEdit) -> None:
    """Write ``edit`` atomically, refusing if the file changed since it was planned."""
    if _read(edit.path) != edit.original:
        raise DefinitionError(
            f"{edit.path}: changed on disk since the audit read it; nothing written",
            hint="run the audit again",
        )
    mode = edit.path.stat().st_mode
    fd, tmp = tempfile.mkstemp(dir=edit.path.parent, prefix=f".{edit.path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(edit.text.encode("utf-8"))
        os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, edit.path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise DefinitionError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _newline(text: str) -> str:
    """The line ending of the file's first line (its frontmatter's), whatever the body uses."""
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


class _Replacement:
    """Builds the replacement text for a new model value in a given syntax."""

    def __init__(self, template: str, quote: str | None) -> None:
        self.template = template
        self.quote = quote

    def __call__(self, model: str, newline: str) -> str:
        value = f"{self.quote}{model}{self.quote}" if self.quote else model
        return self.template.format(value=value, nl=newline)


def _locate(
    text: str, path: Path, agent: AgentDefinition
) -> tuple[int, int, _Replacement, str | None, int]:
    """``(start, end, replacement, old value, line)`` of the model edit for ``agent``."""
    if agent.format is SourceFormat.CLAUDE_MD:
        start, end, _ = find_frontmatter(text, path)
        data = load_yaml(text[start:end], source=str(path), line_offset=1, index_offset=start)
        mapping = data if isinstance(data, YamlMap) else None
        if mapping is None or (key := _model_key(mapping)) is None:
            line = text.count("\n", 0, end) + 1
            return end, end, _Replacement("model: {value}{nl}", None), None, line
        return _replace_value(text, mapping, key)
    mapping = _agent_mapping(load_yaml(text, source=str(path)), agent, path)
    key = _model_key(mapping)
    if key is not None:
        return _replace_value(text, mapping, key)
    json_like = agent.format is SourceFormat.AGENTS_JSON
    if mapping.flow or json_like:
        at = mapping.start + 1
        spaced = text[at : at + 1].isspace()
        sep = ("," if spaced else ", ") if mapping else " "
        template = '"model": {value}' if json_like else "model: {value}"
        quote = '"' if json_like else None
        return at, at, _Replacement(" " + template + sep, quote), None, mapping.line
    # Insert before the first key, on its own line at the same indentation (this also works
    # for a mapping that starts after a list dash: "- name: x").
    template = "model: {value}{nl}" + " " * mapping.column
    return mapping.start, mapping.start, _Replacement(template, None), None, mapping.line


def _replace_value(
    text: str, mapping: YamlMap, key: Any
) -> tuple[int, int, _Replacement, str | None, int]:
    info = mapping.keys_at[key]
    if info.value_style in {"|", ">"}:
        raise DefinitionError(f"{mapping.at(key)}: a block scalar model value cannot be rewritten")
    old = text[info.value_start : info.value_end]
    quote = info.value_style if info.value_style in {'"', "'"} else None
    return info.value_start, info.value_end, _Replacement("{value}", quote), old, info.line


def _model_key(mapping: Mapping[Any, Any]) -> Any:
    for key in mapping:
        if str(key).lower() == "model":
            return key
    return None


def _agent_mapping(data: Any, agent: AgentDefinition, path: Path) -> YamlMap:
    if isinstance(data, YamlMap) and isinstance(data.get("name"), str):
        candidates: Any = [data]
    else:
        if isinstance(data, YamlMap) and "agents" in data:
            data = data["agents"]
        if isinstance(data, YamlMap):
            found = data.get(agent.name)
            candidates = [found] if isinstance(found, YamlMap) else []
        else:
            candidates = data if isinstance(data, list) else []
    for item in candidates:
        if isinstance(item, YamlMap) and item.get("name", agent.name) == agent.name:
            return item
    raise DefinitionError(f"{path}: agent {agent.name!r} is no longer in the file")


def _verify(edit: FileEdit, items: list[tuple[AgentDefinition, str]], options: LoadOptions) -> None:
    """The edited text must parse to the same agents, with only the models changed."""
    before = _parse(edit.original, edit.path, items[0][0].format, options)
    after = _parse(edit.text, edit.path, items[0][0].format, options)
    wanted = {agent.name: model for agent, model in items}
    ignored = {"model", "model_declared", "model_line", "line"}
    if [a.name for a in before] != [a.name for a in after]:
        raise DefinitionError(f"{edit.path}: rewriting the model would change the agents")
    for old, new in zip(before, after, strict=True):
        expected_model = wanted.get(old.name, old.model_text)
        if new.model_text != expected_model:
            raise DefinitionError(f"{edit.path}: rewrite of {old.name} did not take effect")
        old_rest = {k: v for k, v in old.to_dict().items() if k not in ignored}
        new_rest = {k: v for k, v in new.to_dict().items() if k not in ignored}
        if old_rest != new_rest:
            raise DefinitionError(f"{edit.path}: rewriting {old.name}'s model would change more")


def _parse(text: str, path: Path, fmt: SourceFormat, options: LoadOptions) -> list[AgentDefinition]:
    if fmt is SourceFormat.CLAUDE_MD:
        return [parse_markdown(text, source=path, options=options)]
    if fmt is SourceFormat.YAML_SPEC:
        return parse_yaml_specs(text, source=path, options=options)
    return parse_agents_json(text, source=path, options=options)
