"""Edits of JSON text: only the edited bytes change, new items look like their neighbours, and
an addition followed by its removal gives back the text it started from."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gearshift.jsontext import JsonText

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
ROOTS = st.dictionaries(st.text(max_size=6), VALUES, max_size=5)
STYLES = st.sampled_from([
    {"indent": 2}, {"indent": 4}, {"indent": "\t"}, {"indent": None},
    {"indent": None, "separators": (",", ":")}, {"indent": 2, "ensure_ascii": False},
])  # fmt: skip


def _containers(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path] if isinstance(value, dict | list) else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _containers(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _containers(item, (*path, i))
    return out


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@settings(deadline=None)  # a shared machine can stall any one example
@given(ROOTS, STYLES, VALUES, st.data())
def test_add_then_remove_gives_back_the_bytes(
    root: dict[str, Any], style: dict[str, Any], new: Any, data: st.DataObject
) -> None:
    original = json.dumps(root, **style) + data.draw(st.sampled_from(["", "\n"]))
    path = data.draw(st.sampled_from(_containers(root)))
    container = _at(root, path)
    key = None
    if isinstance(container, dict):
        key = data.draw(st.text(max_size=6).filter(lambda k: k not in container))
    doc = JsonText(original)
    span = doc.find(*path)
    assert span is not None
    doc.add(span, new, key=key)
    expected = json.loads(original)
    inner = _at(expected, path)
    if key is None:
        inner.append(new)
    else:
        inner[key] = new
    assert json.loads(doc.text) == expected
    again = JsonText(doc.text)
    span = again.find(*path)
    assert span is not None
    again.remove(span, len(span.value) - 1)
    assert again.text == original


def test_new_items_look_like_their_neighbours() -> None:
    doc = JsonText('{\n    "a": 1,\n    "b": {"x": [1, 2]}\n}\n')
    doc.add(doc.root(), {"k": [True]}, key="c")
    assert doc.text == (
        '{\n    "a": 1,\n    "b": {"x": [1, 2]},\n    "c": {\n        "k": [\n'
        "            true\n        ]\n    }\n}\n"
    )
    inline = doc.find("b", "x")
    assert inline is not None
    doc.add(inline, {"y": 3})
    assert '"x": [1, 2, {"y": 3}]' in doc.text
    one_line = JsonText('{"a": {}, "b": []}')
    b = one_line.find("b")
    assert b is not None
    one_line.add(b, {"c": 1})
    a = one_line.find("a")
    assert a is not None
    one_line.add(a, [1, 2], key="k")
    assert one_line.text == '{"a": {"k": [1, 2]}, "b": [{"c": 1}]}'
    compact = JsonText('{"a":1,"b":2}')
    compact.add(compact.root(), {"c": [1, 2]}, key="d")
    assert compact.text == '{"a":1,"b":2,"d":{"c":[1,2]}}'


def test_crlf_and_tabs_are_kept() -> None:
    doc = JsonText('{\r\n\t"a": {}\r\n}\r\n')
    a = doc.find("a")
    assert a is not None
    doc.add(a, [1], key="b")
    assert doc.text == '{\r\n\t"a": {\r\n\t\t"b": [\r\n\t\t\t1\r\n\t\t]\r\n\t}\r\n}\r\n'


def test_removing_a_middle_item_takes_its_separator() -> None:
    doc = JsonText('{\n  "a": 1,\n  "b": 2,\n  "c": 3\n}')
    doc.remove(doc.root(), 1)
    assert doc.text == '{\n  "a": 1,\n  "c": 3\n}'
    doc.remove(doc.root(), 0)
    assert doc.text == '{\n  "c": 3\n}'
    doc.remove(doc.root(), 0)
    assert doc.text == "{}"


def test_replace_keeps_the_key_and_everything_around() -> None:
    doc = JsonText('{"a" : "x", "b": [1]}')
    a = doc.find("a")
    assert a is not None
    doc.replace(a, {"new": 1})
    assert doc.text == '{"a" : {"new" : 1}, "b": [1]}'


def test_find_reads_the_last_of_duplicate_keys_and_steps_into_lists() -> None:
    doc = JsonText('{"a": 1, "a": {"b": [10, {"c": 3}]}}')
    assert doc.find("a") is not None and doc.find("a").value == {"b": [10, {"c": 3}]}  # type: ignore[union-attr]
    assert doc.find("a", "b", 1, "c").value == 3  # type: ignore[union-attr]
    assert doc.find("a", "b", 2) is None
    assert doc.find("a", "b", "c") is None
    assert doc.find("z") is None
    assert doc.index_of(doc.root(), "a") == 1
    assert doc.line_of(doc.find("a")) == 1  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "{", '{"a": 1,}', "[1 2]", "{'a': 1}"])
def test_invalid_json_is_refused_with_its_position(bad: str) -> None:
    with pytest.raises(json.JSONDecodeError) as info:
        JsonText(bad)
    assert info.value.lineno >= 1 and info.value.colno >= 1
