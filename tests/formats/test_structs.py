"""Declared file formats: convert's errors name the file, the line and the key (also where
msgspec does not say which mapping key failed), hints list what is allowed, and the JSON Schema
of a format with several forms."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import jsonschema
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gearshift.errors import ConfigError, DefinitionError
from gearshift.formats.structs import convert, json_schema, key_path, line_at, locate
from gearshift.formats.yamlsrc import YamlMap, derive, load_yaml


class Command(msgspec.Struct, tag_field="type", tag="command", forbid_unknown_fields=True):
    run: str


class Regex(msgspec.Struct, tag_field="type", tag="regex", forbid_unknown_fields=True):
    must_match: str | list[str] = []
    of: list[Command | Regex] = []


class Stage(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    task: str | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None


class File(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    mode: Literal["tight", "creative"] | None = None
    stages: dict[str, Stage | str] = {}
    checks: list[Command | Regex] = []
    count: int | None = None
    if_: str | None = msgspec.field(default=None, name="if")


def error_for(text: str, type_: Any = File, **options: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        convert(load_yaml(text, source="f.yaml"), type_, source="f.yaml", **options)
    return caught.value


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        ("name: x\ncolour: red\n", "f.yaml:2: colour is not a known key",
         "use: name, mode, stages, checks, count, if"),
        ("mode: loose\n", "f.yaml:1: mode cannot be 'loose'", "use one of: tight, creative"),
        ("name: ''\n", "f.yaml:1: name must be a non-empty string, not ''", None),
        ("count: 1.5\n", "f.yaml:1: count must be a whole number, not 1.5", None),
        ("count: yes\n", "f.yaml:1: count must be a whole number, not true", None),
        ("if: [a]\n", "f.yaml:1: if must be a string, not a list", None),
        ("stages:\n  a: {task: x}\n  b:\n    task: y\n    temperature: 3\n",
         "f.yaml:5: stages.b.temperature must be a number <= 1.0, not 3", None),
        ("stages:\n  a: ok\n  b:\n    task: y\n    colour: 3\n",
         "f.yaml:5: stages.b.colour is not a known key", "use: task, temperature"),
        ("stages:\n  a: [1]\n", "f.yaml:2: stages.a must be a string or a mapping, not a list",
         None),
        ("stages: {1: {task: x}}\n", "f.yaml:1: stages has a key 1 that is not a string", None),
        ("checks:\n  - {run: x}\n", "f.yaml:2: checks[0].type is missing",
         "use one of: command, regex"),
        ("checks:\n  - type: regex\n    of:\n      - {type: nope}\n",
         "f.yaml:4: checks[0].of[0].type cannot be 'nope'", "use one of: command, regex"),
        ("checks:\n  - type: regex\n    run: x\n", "f.yaml:3: checks[0].run is not a known key",
         "use: type, must_match, of"),
        ("- 1\n", "f.yaml: the top level must be a mapping, not a list", None),
    ],
)  # fmt: skip
def test_errors_name_the_file_the_line_and_the_key(
    text: str, message: str, hint: str | None
) -> None:
    error = error_for(text)
    assert (error.message, error.hint) == (message, hint)


def test_options_error_class_prefix_and_table_word() -> None:
    error = error_for("task: 3\n", Stage, error=DefinitionError, prefix="stages.a")
    assert isinstance(error, DefinitionError)
    assert error.message == "f.yaml:1: stages.a.task must be a string, not 3"
    table = error_for("stages: 3\n", mapping="a table of keys")
    assert table.message == "f.yaml:1: stages must be a table of keys, not 3"


def test_strict_is_the_default_and_lax_reads_numbers_from_strings() -> None:
    assert "must be a whole number, not '3'" in error_for("count: '3'\n").message
    assert convert({"count": "3"}, File, source="f", strict=False).count == 3


def test_without_lines_or_source() -> None:
    with pytest.raises(ConfigError) as caught:
        convert({"count": "x"}, File, source="tasks.jsonl:4")
    assert caught.value.message == "tasks.jsonl:4: count must be a whole number, not 'x'"
    with pytest.raises(ConfigError) as caught:
        convert({"count": "x"}, File, source="", prefix="spec")
    assert caught.value.message == "spec.count must be a whole number, not 'x'"


def test_key_path_and_locate() -> None:
    assert key_path("", ["tasks", 2, "validators", 0]) == "tasks[2].validators[0]"
    assert key_path("test-pipeline", ["gen", "model"]) == "test-pipeline.gen.model"
    data = load_yaml("tasks:\n  - id: a\n    task: x\n  - {id: b}\nname: n\n", source="p.yaml")
    assert line_at(data, ["tasks", 0, "task"]) == 3
    assert line_at(data, ["tasks", 1]) == 4
    assert line_at(data, ["tasks", 1, "absent"]) == 4
    assert locate("p.yaml", data, ["name"]) == "p.yaml:5"
    assert locate("p.yaml", {"name": "n"}, ["name"]) == "p.yaml"
    assert line_at({"a": 1}, ["a"]) is None


def test_derive_keeps_the_positions_of_what_was_written() -> None:
    spec = load_yaml("x: 1\nvalidators:\n  - command: ruff\n    timeout: 3\n", source="p.yaml")
    written = spec["validators"][0]
    expanded = derive(written, {"type": "command", "run": "ruff", "timeout": 3}, {"run": "command"})
    assert isinstance(expanded, YamlMap) and expanded.source == "p.yaml"
    assert [expanded.line_of(k) for k in ("type", "run", "timeout")] == [3, 3, 4]
    assert derive({"a": 1}, {"b": 2}) == {"b": 2}


def test_json_schema_of_one_form_and_of_several() -> None:
    one = json_schema(File)
    assert one["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(one["$defs"]) == {"File", "Stage", "Command", "Regex"}
    several = json_schema((dict[str, Stage], File))
    check = jsonschema.Draft202012Validator(several)
    assert check.is_valid({"a": {"task": "x"}}) and check.is_valid({"name": "n"})
    assert not check.is_valid({"a": {"task": 3}})
    props = one["$defs"]["File"]["properties"]
    assert "if" in props and props["mode"]["anyOf"][0] == {"enum": ["creative", "tight"]}


KEYS = ["name", "mode", "stages", "checks", "count", "if", "a", "type", "run", "of", "task"]
yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from([*KEYS, "temperature", 1]), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(yaml_values)
def test_any_data_converts_or_fails_with_a_located_config_error(data: Any) -> None:
    try:
        convert(data, File, source="f.yaml", error=DefinitionError)
    except DefinitionError as exc:
        assert exc.message.startswith("f.yaml: ")
        assert " - at `" not in exc.message and "`$" not in exc.message
