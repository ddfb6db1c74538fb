"""gearshift._json: the same text and values as the json module, without importing it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gearshift import _json

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
_keys = st.text() | st.integers(-1000, 1000) | st.floats() | st.booleans() | st.none()
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=5).map(tuple)
        | st.dictionaries(_keys, inner, max_size=5)
    ),
    max_leaves=25,
)
_OPTIONS: list[dict[str, Any]] = [
    {},
    {"indent": 2, "ensure_ascii": False},  # the --json reports
    {"separators": (",", ":"), "ensure_ascii": False, "sort_keys": True},  # tags
    {"indent": 1, "ensure_ascii": True},
    {"indent": 0},
    {"indent": "\t", "sort_keys": True},
    {"sort_keys": True},
]


@settings(max_examples=300)
@given(_values, st.sampled_from(_OPTIONS))
def test_dumps_writes_what_json_writes(value: Any, options: dict[str, Any]) -> None:
    try:
        want = json.dumps(value, **options)
    except TypeError as exc:  # sort_keys over keys of mixed types
        with pytest.raises(TypeError):
            _json.dumps(value, **options)
        assert exc
        return
    assert _json.dumps(value, **options) == want


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=300)
@given(_values, st.sampled_from(_OPTIONS), st.sampled_from(["", " ", "\n\t ", "\r\n"]))
def test_loads_reads_what_json_reads(value: Any, options: dict[str, Any], pad: str) -> None:
    try:
        text = pad + json.dumps(value, **options) + pad
    except TypeError:
        return
    assert _same(_json.loads(text), json.loads(text))
    assert _same(_json.loads(text.encode()), json.loads(text.encode()))


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "{",
        '{"a": 1} x',
        '{"a": 1}{}',
        "[1, 2,]",
        '"\x01"',
        "\ufeff{}",
        "nul",
        '{"a" 1}',
        b"\xff\xfe{\x00}\x00",  # UTF-16: json decodes it
        b"\xef\xbb\xbf[1]",  # UTF-8 with a BOM: json decodes it too
        b'"\xed\xa0\x80"',  # a lone surrogate: json passes it through
        b"\x80",
    ],
)
def test_loads_gives_jsons_result_or_jsons_error(text: str | bytes) -> None:
    try:
        want = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        with pytest.raises(type(exc)) as got:
            _json.loads(text)
        assert str(got.value) == str(exc)
    else:
        assert _json.loads(text) == want


def test_object_hook_and_default() -> None:
    def revive(obj: dict[str, Any]) -> Any:
        return Decimal(obj["$d"]) if obj.keys() == {"$d"} else obj

    text = '{"price": {"$d": "1.25"}, "n": [{"$d": "2"}]}'
    assert _json.loads(text, object_hook=revive) == json.loads(text, object_hook=revive)

    def encode(obj: Any) -> Any:
        if isinstance(obj, Decimal):
            return format(obj, "f")
        if isinstance(obj, set):
            return sorted(obj)
        raise TypeError(f"cannot encode {type(obj).__name__} as JSON")

    value = {"cost": Decimal("0.10"), "tags": {"b", "a"}, "nested": [Decimal("1E+2")]}
    for indent in (None, 2):
        got = _json.dumps(value, default=encode, indent=indent)
        assert got == json.dumps(value, default=encode, indent=indent)


def test_errors_are_jsons() -> None:
    for bad in ({"x": object()}, {(1, 2): 3}):
        with pytest.raises(TypeError) as want:
            json.dumps(bad)
        with pytest.raises(TypeError) as got:
            _json.dumps(bad)
        assert str(got.value) == str(want.value)
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        _json.dumps(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        json.dumps(object(), default=lambda o: o)
    with pytest.raises(ValueError, match="Circular reference detected"):
        _json.dumps(object(), default=lambda o: o)


def test_importing_it_loads_neither_json_nor_re() -> None:
    code = (
        "import sys, gearshift._json as j; j.dumps({'a': [1, 2.5, None]}, indent=2);"
        " j.loads('{\"a\": [1, true]}'); print(sorted({'json', 're'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_only_text_and_bytes_are_read() -> None:
    for data in (memoryview(b"1"), [49], (c for c in b"1"), 1):
        with pytest.raises(TypeError):
            json.loads(data)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            _json.loads(data)  # type: ignore[arg-type]
    assert _json.loads(bytearray(b"[1]")) == json.loads(bytearray(b"[1]")) == [1]


@pytest.mark.parametrize("depth", [100, 600])
def test_nesting_as_deep_as_json_takes(depth: int) -> None:
    value: Any = 0
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    for options in ({}, {"indent": 2}):
        assert _json.dumps(value, **options) == json.dumps(value, **options)  # type: ignore[arg-type]
