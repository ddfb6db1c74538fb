"""A small, safe expression language for routing rules — parsed by hand, never ``eval``-ed.

Rules files are configuration that people copy from the internet, so a condition must not be
able to run code. The language has only what a routing condition needs::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := operand (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") operand)?
    operand := STRING | NUMBER | "true" | "false" | "null" | FIELD | list | "(" expr ")"
    list    := "[" (operand ("," operand)*)? "]"
    FIELD   := NAME ("." NAME)*      -- only names from the caller's field table

There are no calls, no subscripts, no attribute access beyond the declared field names and no
arithmetic, so an expression can only read declared fields and compare them. Comparisons never
raise at run time: ordering values of different types (or ``null``) is simply false, so a task
missing a field cannot crash routing. ``in`` tests membership in a list or a substring in a text.

:func:`compile_expr` turns the text into a chain of Python closures once; evaluating one is a
few function calls, which keeps rule matching on the per-task hot path cheap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gearshift.errors import ConfigError

__all__ = ["ExprError", "compile_expr", "tokenize"]

C = TypeVar("C")
Getter = Callable[[C], Any]

_MAX_LENGTH = 4000
_MAX_DEPTH = 64
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null", "none"}
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[().,\[\]])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


class ExprError(ConfigError):
    """An expression that does not parse; ``column`` is 1-based."""

    def __init__(self, message: str, column: int, *, hint: str | None = None) -> None:
        super().__init__(f"column {column}: {message}", hint=hint)
        self.column = column
        self.reason = message


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number, string, name, keyword, op, punct, end
    value: Any
    column: int


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; anything outside the language is an :class:`ExprError`."""
    if len(text) > _MAX_LENGTH:
        raise ExprError(f"expression longer than {_MAX_LENGTH} characters", 1)
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _bad_char(text, pos)
        kind = match.lastgroup or ""
        raw = match.group()
        column = pos + 1
        pos = match.end()
        if kind == "ws":
            continue
        if kind == "number":
            tokens.append(Token("number", float(raw) if "." in raw else int(raw), column))
        elif kind == "string":
            tokens.append(Token("string", _unescape(raw[1:-1], column), column))
        elif kind == "name" and raw.lower() in _KEYWORDS:
            tokens.append(Token("keyword", raw.lower(), column))
        else:
            tokens.append(Token(kind, raw, column))
    tokens.append(Token("end", None, len(text) + 1))
    return tokens


def _bad_char(text: str, pos: int) -> ExprError:
    ch = text[pos]
    hints = {
        "=": "use == to compare",
        "&": "use 'and'",
        "|": "use 'or'",
        "!": "use 'not' or !=",
        '"': "close the string with a matching quote",
        "'": "close the string with a matching quote",
    }
    return ExprError(
        f"unexpected {ch!r}",
        pos + 1,
        hint=hints.get(ch, "only fields, literals, comparisons, and/or/not/in and () are allowed"),
    )


def _unescape(body: str, column: int) -> str:
    out: list[str] = []
    chars = iter(body)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            if nxt not in _ESCAPES:
                raise ExprError(f"unknown escape \\{nxt}", column)
            out.append(_ESCAPES[nxt])
        else:
            out.append(ch)
    return "".join(out)


def compile_expr(text: str, fields: Mapping[str, Getter[C]]) -> Callable[[C], bool]:
    """Compile ``text`` into a predicate over a context ``C``.

    ``fields`` maps each allowed dotted name (``task.complexity``) to a getter taking the
    context. Unknown names, syntax errors and anything call- or subscript-like raise
    :class:`ExprError` with the column.
    """
    parser = _Parser(tokenize(text), fields)
    node = parser.parse()
    if node.const:
        value = bool(node.fn(None))  # type: ignore[arg-type]
        return lambda _ctx: value
    fn = node.fn
    return lambda ctx: bool(fn(ctx))


@dataclass(frozen=True, slots=True)
class _Node(Generic[C]):
    fn: Callable[[C], Any]
    const: bool = False


class _Parser(Generic[C]):
    def __init__(self, tokens: list[Token], fields: Mapping[str, Getter[C]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.fields = fields
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def is_kw(self, word: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.value == word

    def expect(self, kind: str, value: str) -> None:
        if self.tok.kind != kind or self.tok.value != value:
            raise ExprError(f"expected {value!r}, found {_describe(self.tok)}", self.tok.column)
        self.pos += 1

    def parse(self) -> _Node[C]:
        node = self.parse_or()
        if self.tok.kind != "end":
            raise ExprError(f"unexpected {_describe(self.tok)}", self.tok.column)
        return node

    def nest(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise ExprError("expression nested too deeply", self.tok.column)

    def parse_or(self) -> _Node[C]:
        parts = [self.parse_and()]
        while self.is_kw("or"):
            self.pos += 1
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else _fold(parts, any_of=True)

    def parse_and(self) -> _Node[C]:
        parts = [self.parse_not()]
        while self.is_kw("and"):
            self.pos += 1
            parts.append(self.parse_not())
        return parts[0] if len(parts) == 1 else _fold(parts, any_of=False)

    def parse_not(self) -> _Node[C]:
        if self.is_kw("not"):
            self.pos += 1
            self.nest()
            inner = self.parse_not()
            self.depth -= 1
            fn = inner.fn
            return _Node(lambda c: not fn(c), inner.const)
        return self.parse_compare()

    def parse_compare(self) -> _Node[C]:
        left = self.parse_operand()
        tok = self.tok
        if tok.kind == "op":
            self.pos += 1
            return _compare(str(tok.value), left, self.parse_operand())
        if self.is_kw("in"):
            self.pos += 1
            return _membership(left, self.parse_operand(), negate=False)
        if self.is_kw("not") and self.tokens[self.pos + 1].value == "in":
            self.pos += 2
            return _membership(left, self.parse_operand(), negate=True)
        return left

    def parse_operand(self) -> _Node[C]:
        tok = self.take()
        if tok.kind in {"number", "string"}:
            return _const(tok.value)
        if tok.kind == "keyword" and tok.value in {"true", "false", "null", "none"}:
            return _const({"true": True, "false": False}.get(tok.value))
        if tok.kind == "name":
            return self.parse_field(tok)
        if tok.kind == "punct" and tok.value == "(":
            self.nest()
            node = self.parse_or()
            self.depth -= 1
            self.expect("punct", ")")
            return node
        if tok.kind == "punct" and tok.value == "[":
            return self.parse_list()
        raise ExprError(f"expected a value, found {_describe(tok)}", tok.column)

    def parse_field(self, first: Token) -> _Node[C]:
        parts = [str(first.value)]
        while self.tok.kind == "punct" and self.tok.value == ".":
            self.pos += 1
            name = self.take()
            if name.kind not in {"name", "keyword"}:
                raise ExprError(
                    f"expected a field name after '.', found {_describe(name)}", name.column
                )
            parts.append(str(name.value))
        path = ".".join(parts)
        if self.tok.kind == "punct" and self.tok.value in {"(", "["}:
            raise ExprError(
                f"'{path}' cannot be called or indexed", self.tok.column, hint="compare fields"
            )
        getter = self.fields.get(path)
        if getter is None:
            raise ExprError(
                f"unknown field {path!r}",
                first.column,
                hint=f"known fields: {', '.join(sorted(self.fields))}",
            )
        return _Node(getter)

    def parse_list(self) -> _Node[C]:
        items: list[_Node[C]] = []
        if not (self.tok.kind == "punct" and self.tok.value == "]"):
            items.append(self.parse_operand())
            while self.tok.kind == "punct" and self.tok.value == ",":
                self.pos += 1
                items.append(self.parse_operand())
        self.expect("punct", "]")
        if all(i.const for i in items):
            return _const(tuple(i.fn(None) for i in items))  # type: ignore[arg-type]
        fns = [i.fn for i in items]
        return _Node(lambda c: tuple(f(c) for f in fns))


def _describe(tok: Token) -> str:
    return "end of expression" if tok.kind == "end" else repr(tok.value)


def _const(value: Any) -> _Node[Any]:
    return _Node(lambda _c: value, const=True)


def _fold(parts: Sequence[_Node[C]], *, any_of: bool) -> _Node[C]:
    fns = tuple(p.fn for p in parts)
    if any_of:
        return _Node(lambda c: any(f(c) for f in fns), all(p.const for p in parts))
    return _Node(lambda c: all(f(c) for f in fns), all(p.const for p in parts))


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ordered(a: Any, b: Any) -> bool:
    return (_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str))


_ORDER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: _ordered(a, b) and a < b,
    "<=": lambda a, b: _ordered(a, b) and a <= b,
    ">": lambda a, b: _ordered(a, b) and a > b,
    ">=": lambda a, b: _ordered(a, b) and a >= b,
}


def _compare(op: str, left: _Node[C], right: _Node[C]) -> _Node[C]:
    lf, rf = left.fn, right.fn
    const = left.const and right.const
    if op in {"==", "!="}:
        want = op == "=="
        if right.const:
            value = rf(None)  # type: ignore[arg-type]
            return _Node(lambda c: (lf(c) == value) is want, const)
        return _Node(lambda c: (lf(c) == rf(c)) is want, const)
    test = _ORDER_OPS[op]
    if right.const:
        value = rf(None)  # type: ignore[arg-type]
        return _Node(lambda c: test(lf(c), value), const)
    return _Node(lambda c: test(lf(c), rf(c)), const)


def _contains(item: Any, container: Any) -> bool:
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, tuple | list | frozenset | set):
        return item in container
    return False


def _membership(left: _Node[C], right: _Node[C], *, negate: bool) -> _Node[C]:
    lf, rf = left.fn, right.fn
    const = left.const and right.const
    if negate:
        return _Node(lambda c: not _contains(lf(c), rf(c)), const)
    return _Node(lambda c: _contains(lf(c), rf(c)), const)
