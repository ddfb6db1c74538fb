"""JSON in and out through the standard library's C accelerator, without importing :mod:`json`.

Importing :mod:`json` costs a hook-run ingest ~2 ms -- it compiles six regular expressions at
import -- and loading :mod:`re` for them ~2 ms more, a twentieth of an incremental run. What
that run reads and writes as JSON (the bundled prices, subagent sidecars, tags, the ``--json``
summary) goes through here instead: the scanner and string encoders :mod:`json` itself uses
(its accelerator module ``_json``), arranged as :func:`json.loads` and :func:`json.dumps`
arrange them, so the results are the same (tests compare them on generated documents).

:mod:`json` still does what this does not: it reports every error (so the messages are its
own), decodes bytes that are not plain UTF-8, and does all the work on a Python without
``_json``.
"""

from __future__ import annotations

from math import isnan

try:
    import _json
except ImportError:  # pragma: no cover - CPython always has it
    _json = None  # type: ignore[assignment]

TYPE_CHECKING = False  # not typing's: this module is on the path of every hook-run ingest
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["dumps", "loads"]

_SPACE = " \t\n\r"  # JSON's whitespace
_INF = float("inf")
_CONSTANTS = {"-Infinity": -_INF, "Infinity": _INF, "NaN": float("nan")}


class _Decoder:
    """What ``_json.make_scanner`` reads off a decoder (as :class:`json.JSONDecoder` has it)."""

    __slots__ = ("object_hook",)
    strict = True
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__

    def __init__(self, object_hook: Callable[[dict[str, Any]], Any] | None) -> None:
        self.object_hook = object_hook


def loads(
    data: str | bytes | bytearray, *, object_hook: Callable[[dict[str, Any]], Any] | None = None
) -> Any:
    """:func:`json.loads`: the same value, or the same error."""
    if _json is not None:
        text: str | None = None
        if isinstance(data, str):
            text = data
        elif isinstance(data, bytes | bytearray):
            try:  # noqa: SIM105 - contextlib is not loaded on this path
                text = data.decode("utf-8")  # anything else (a BOM, UTF-16) fails below
            except UnicodeDecodeError:
                pass
        if text is not None:
            scan = _json.make_scanner(_Decoder(object_hook))  # type: ignore[arg-type]
            begin = len(text) - len(text.lstrip(_SPACE))
            try:
                value, end = scan(text, begin)
            except (StopIteration, ValueError):
                pass  # json says what is wrong
            else:
                if end == len(text) or not text[end:].strip(_SPACE):
                    return value
    import json

    return json.loads(data, object_hook=object_hook)


def dumps(
    value: Any,
    *,
    indent: int | str | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
    ensure_ascii: bool = True,
    default: Callable[[Any], Any] | None = None,
) -> str:
    """:func:`json.dumps` with these options (and its others at their defaults): the same text,
    or the same error."""
    if _json is None:  # pragma: no cover - CPython always has it
        import json  # type: ignore[unreachable]

        return json.dumps(
            value,
            indent=indent,
            separators=separators,
            sort_keys=sort_keys,
            ensure_ascii=ensure_ascii,
            default=default,
        )
    if separators is None:
        separators = (", ", ": ") if indent is None else (",", ": ")
    encoder = _Encoder(
        _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring,
        indent,
        separators,
        sort_keys,
        default,
    )
    chunks: list[str] = []
    encoder.encode(value, 0, chunks)
    return "".join(chunks)


class _Encoder:
    """The encoding of :func:`json.dumps` (``json.encoder._make_iterencode``), writing into a
    list of chunks (one call per level of nesting, as there)."""

    __slots__ = (
        "default",
        "indent",
        "item_separator",
        "key_separator",
        "markers",
        "sort_keys",
        "string",
    )

    def __init__(
        self,
        string: Callable[[str], str],
        indent: int | str | None,
        separators: tuple[str, str],
        sort_keys: bool,
        default: Callable[[Any], Any] | None,
    ) -> None:
        self.string = string
        self.indent = indent if indent is None or isinstance(indent, str) else " " * indent
        self.item_separator, self.key_separator = separators
        self.sort_keys = sort_keys
        self.default = default
        self.markers: set[int] = set()

    def encode(self, value: Any, level: int, out: list[str]) -> None:
        if isinstance(value, str):
            out.append(self.string(value))
        elif value is None:
            out.append("null")
        elif value is True:
            out.append("true")
        elif value is False:
            out.append("false")
        elif isinstance(value, int):
            out.append(int.__repr__(value))
        elif isinstance(value, float):
            out.append(_float(value))
        elif isinstance(value, list | tuple | dict):
            if not value:
                out.append("{}" if isinstance(value, dict) else "[]")
                return
            if id(value) in self.markers:
                raise ValueError("Circular reference detected")
            self.markers.add(id(value))
            if self.indent is None:
                between, closing = self.item_separator, ""
            else:
                inner = "\n" + self.indent * (level + 1)
                between, closing = self.item_separator + inner, "\n" + self.indent * level
            opening = between[len(self.item_separator) :]
            if isinstance(value, dict):
                out.append("{" + opening)
                items = sorted(value.items()) if self.sort_keys else value.items()
                for i, (key, item) in enumerate(items):
                    if i:
                        out.append(between)
                    out.append(self.string(_key(key)) + self.key_separator)
                    self.encode(item, level + 1, out)
                out.append(closing + "}")
            else:
                out.append("[" + opening)
                for i, item in enumerate(value):
                    if i:
                        out.append(between)
                    self.encode(item, level + 1, out)
                out.append(closing + "]")
            self.markers.discard(id(value))
        else:
            if self.default is None:
                raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
            if id(value) in self.markers:
                raise ValueError("Circular reference detected")
            self.markers.add(id(value))
            self.encode(self.default(value), level, out)
            self.markers.discard(id(value))


def _float(value: float) -> str:
    if isnan(value):
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, float):  # before int: json tests float first here too
        return _float(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
