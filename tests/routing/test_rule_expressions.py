"""The safe expression language of routing rules: what it accepts, what it refuses."""

from __future__ import annotations

import builtins
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gearshift.errors import ConfigError
from gearshift.routing import ExprError, compile_expr
from gearshift.routing.expr import tokenize

Ctx = dict[str, Any]
FIELDS = {
    "task.complexity": lambda c: c["complexity"],
    "task.priority": lambda c: c["priority"],
    "task.tags": lambda c: c["tags"],
    "task.tokens": lambda c: c["tokens"],
    "task.text": lambda c: c["text"],
    "task.session": lambda c: c["session"],
}
CTX: Ctx = {
    "complexity": "low",
    "priority": "high",
    "tags": ("security", "api"),
    "tokens": 1200,
    "text": "Review the auth flow",
    "session": None,
}


def ev(text: str, ctx: Ctx = CTX) -> bool:
    return compile_expr(text, FIELDS)(ctx)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('task.complexity == "low"', True),
        ("task.complexity == 'medium'", False),
        ('task.complexity != "low"', False),
        ("task.tokens > 1000", True),
        ("task.tokens >= 1200 and task.tokens <= 1200", True),
        ("task.tokens < 1000.5", False),
        ('"security" in task.tags', True),
        ('"billing" not in task.tags', True),
        ('"auth" in task.text', True),
        ('task.priority in ["high", "critical"]', True),
        ('task.priority in ["low"] or task.complexity == "low"', True),
        ('not task.complexity == "low"', False),
        ('not (task.complexity == "low" and task.tokens > 5000)', True),
        ('task.complexity == "low" or task.tokens > 5000 and false', True),
        ('(task.complexity == "low" or task.tokens > 5000) and false', False),
        ("task.session == null", True),
        ("task.session", False),
        ("task.tags", True),
        ("true", True),
        ("not not true", True),
        ('"a\\"b" == "a\\"b"', True),
        ("task.tokens > -1", True),
    ],
)
def test_evaluates(text: str, expected: bool) -> None:
    assert ev(text) is expected


def test_type_mismatches_are_false_not_errors() -> None:
    assert ev('task.tokens > "100"') is False
    assert ev("task.session < 3") is False
    assert ev('task.tokens in "1200"') is False
    assert ev("3 in task.tokens") is False


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("__import__('os').system('true')", 11, "cannot be called"),
        ("task.text.upper()", 16, "'task.text.upper' cannot be called"),
        ("task.text.upper", 1, "unknown field 'task.text.upper'"),
        ("task.__class__", 1, "unknown field"),
        ("task.tags[0]", 10, "cannot be called or indexed"),
        ("task.tokens + 1 > 2", 13, "unexpected '+'"),
        ("lambda: 1", 7, "unexpected ':'"),
        ('task.complexity = "low"', 17, "unexpected '='"),
        ('task.complexity == "low', 20, "unexpected"),
        ("task.tokens > 1; import os", 16, "unexpected ';'"),
        ("`ls`", 1, "unexpected '`'"),
        ("(task.tokens > 1", 17, "expected ')'"),
        ("task.tokens >", 14, "expected a value"),
        ("task.tokens 5", 13, "unexpected 5"),
        ("", 1, "expected a value"),
        ('"\\x41" == "A"', 1, "unknown escape"),
        ("task.tokens && true", 13, "unexpected '&'"),
    ],
)
def test_rejects_with_column(text: str, column: int, words: str) -> None:
    with pytest.raises(ExprError) as err:
        compile_expr(text, FIELDS)
    assert err.value.column == column, err.value.message
    assert words in err.value.message


def test_error_hints() -> None:
    with pytest.raises(ExprError) as err:
        compile_expr("task.complexity = 'low'", FIELDS)
    assert err.value.hint == "use == to compare"
    with pytest.raises(ExprError) as err:
        compile_expr("task.nope == 1", FIELDS)
    assert err.value.hint and "task.complexity" in err.value.hint


def test_nesting_and_length_limits() -> None:
    with pytest.raises(ExprError, match="nested too deeply"):
        compile_expr("(" * 200 + "true" + ")" * 200, FIELDS)
    with pytest.raises(ExprError, match="longer than"):
        compile_expr("true or " * 1000 + "true", FIELDS)


def test_never_uses_eval_exec_or_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*_a: object, **_k: object) -> None:
        raise AssertionError("the expression language must not eval")

    for name in ("eval", "exec", "compile", "__import__"):
        monkeypatch.setattr(builtins, name, forbidden)
    assert compile_expr('task.complexity == "low" and task.tokens > 3', FIELDS)(CTX) is True


def test_constant_folding_keeps_semantics() -> None:
    assert compile_expr("1 < 2 and 'a' in ['a', 'b']", {})(None) is True
    assert compile_expr("[1, task.tokens] == [1, 1200]", FIELDS)(CTX) is True


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_input_compiles_or_raises_expr_error(text: str) -> None:
    try:
        predicate = compile_expr(text, FIELDS)
    except ExprError:
        return
    assert predicate(CTX) in (True, False)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "task.tokens",
                "(",
                ")",
                "and",
                "or",
                "not",
                "==",
                "<",
                "1",
                "'x'",
                "in",
                "[",
                "]",
                ",",
            ]
        ),
        max_size=12,
    )
)
def test_token_soup_never_escapes_the_error_tree(parts: list[str]) -> None:
    try:
        result = compile_expr(" ".join(parts), FIELDS)(CTX)
    except ConfigError:
        return
    assert isinstance(result, bool)


def test_tokenizer_kinds() -> None:
    kinds = [t.kind for t in tokenize('task.x >= 2.5 and "s" in [1]')]
    assert kinds == [
        "name", "punct", "name", "op", "number", "keyword", "string", "keyword",
        "punct", "number", "punct", "end",
    ]  # fmt: skip
