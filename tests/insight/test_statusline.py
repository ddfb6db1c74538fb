"""The status line's parts: Claude Code's payload as several versions send it, the fields, the
default line, templates, money and the escaping of names."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gearshift.budgets.glance import BudgetGlance
from gearshift.insight.statusline import (
    FIELDS,
    Figures,
    default_line,
    line_fields,
    printable,
    read_payload,
    render,
    usd,
)

PAYLOADS = Path(__file__).parents[1] / "data" / "claude_code" / "statusline"
SESSION = "7d3f1c2a-5b8e-4f0a-9c61-2e4d8a9b0c13"
USD = 10**9


@pytest.mark.parametrize(
    ("name", "model", "cc_cost", "context", "project", "version"),
    [
        ("v1.0.80.json", "Opus", 0.01234, None, "acme-api", "1.0.80"),
        ("v2.0.50.json", "Sonnet 4.5", 1.8734, None, "acme-api", "2.0.50"),
        ("v2.1.251.json", "Opus 4.6 (1M context)", 4.2071, 26.0, "acme-api", "2.1.251"),
    ],
)
def test_payloads_of_several_versions_are_read(
    name: str,
    model: str,
    cc_cost: float,
    context: float | None,
    project: str,
    version: str,
) -> None:
    p = read_payload((PAYLOADS / name).read_bytes())
    assert p.session_id == SESSION
    assert (p.model, p.cc_cost, p.context_percent) == (model, cc_cost, context)
    assert (p.project, p.version) == (project, version)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   \n",
        (PAYLOADS / "garbage.txt").read_bytes(),
        b"[1, 2, 3]",
        b'"a string"',
        b"null",
        b"\xff\xfe\x00",
        b"[" * 100_000,
    ],
)
def test_anything_else_is_an_empty_payload(data: bytes) -> None:
    p = read_payload(data)
    assert (p.session_id, p.model, p.cc_cost, p.context_percent) == ("", "", None, None)


def test_fields_of_the_wrong_type_are_left_out() -> None:
    p = read_payload((PAYLOADS / "wrong_types.json").read_bytes())
    assert (p.session_id, p.model, p.cc_cost, p.context_percent, p.version) == (
        "",
        "",
        None,
        None,
        "",
    )
    assert read_payload(b'{"cost": {"total_cost_usd": true}}').cc_cost is None
    assert read_payload(b'{"cost": {"total_cost_usd": NaN}}').cc_cost is None
    assert read_payload(b'{"cost": {"total_cost_usd": 1e999}}').cc_cost is None


@settings(deadline=None)  # a shared machine can stall any one example
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["session_id", "model", "cost", "id", "display_name",
                                       "total_cost_usd", "context_window", "used_percentage",
                                       "workspace", "project_dir", "cwd", "version", "x"]),
                      children, max_size=5),
    max_leaves=20,
))  # fmt: skip
def test_no_payload_makes_it_fail(doc: object) -> None:
    import json

    payload = read_payload(json.dumps(doc))
    fields = line_fields(payload, Figures([("main", 1, 1)], 2, "haiku"), None)
    assert all(isinstance(v, str) and "\n" not in v for v in fields.values())


FIGURES = Figures(
    [("main", 41 * USD // 10, 30), ("Explore", 2 * USD, 9), ("Plan", 1_234_500_000, 3)],
    12 * USD + 340_000_000,
    "sonnet",
)
BUDGET = BudgetGlance("team", 62, 91, "ok", 2**62)


def test_the_default_line() -> None:
    payload = read_payload((PAYLOADS / "v2.1.251.json").read_bytes())
    fields = line_fields(payload, FIGURES, BUDGET)
    assert default_line(fields) == (
        "$7.33 session (Explore $2.00) · $12.34 today · team 62%→91% · sonnet via proxy"
    )
    assert fields["subagents_cost"] == "$3.23"
    assert fields["cc_cost"] == "$4.21"
    assert fields["context"] == "26%"
    assert (fields["limit_5h"], fields["limit_7d"]) == ("24%", "41%")
    assert fields["session_id"] == "7d3f1c2a"
    assert set(fields) == set(FIELDS)


def test_the_default_line_leaves_out_what_is_unknown() -> None:
    empty = read_payload(b"")
    assert default_line(line_fields(empty, Figures(None, 5 * USD, None), None)) == "$5.00 today"
    only_main = Figures([("main", USD, 2)], USD, None)
    assert default_line(line_fields(empty, only_main, None)) == "$1.00 session · $1.00 today"
    assert default_line(line_fields(empty, Figures([], 0, None), None)) == (
        "$0.00 session · $0.00 today"
    )
    assert default_line(line_fields(empty, None, None)) == ""


def test_templates_name_their_fields() -> None:
    payload = read_payload((PAYLOADS / "v2.0.50.json").read_bytes())
    fields = line_fields(payload, FIGURES, BUDGET)
    line = render(
        "[{model}] {session_cost} ({top_agent_name}: {top_agent_cost}) {budget_used}", fields
    )
    assert line == "[Sonnet 4.5] $7.33 (Explore: $2.00) 62%"
    assert render("{today:>8}|{{literal}}", fields) == "  $12.34|{literal}"
    assert render("a\nb", fields) == "a b"  # one line, whatever the template says
    with pytest.raises(ValueError, match=r"no field \{sesion_cost\}"):
        render("{sesion_cost}", fields)
    for bad in ("{", "}", "{0}", "{today!z}", "{today:%}"):
        with pytest.raises(ValueError):
            render(bad, fields)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Explore", "Explore"),
        ("evil\x1b[2J\x1b]0;pwned\x07", "evil\\x1b[2J\\x1b]0;pwned\\x07"),
        ("abc\u202edcba", "abc\\u202edcba"),  # right-to-left override
        ("x\u2066y\u2069", "x\\u2066y\\u2069"),  # isolates
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("line\nbreak\u2028", "line\\x0abreak\\u2028"),
        ("über-агент", "über-агент"),
        ("a" * 40, "a" * 31 + "…"),
    ],
)
def test_names_are_escaped_and_cut(name: str, shown: str) -> None:
    assert printable(name) == shown


def test_a_hostile_agent_name_cannot_reach_the_terminal() -> None:
    hostile = Figures([("main", USD, 1), ("\x1b]52;c;cm0gLXJmIH4=\x07\u202e", 2 * USD, 1)], 0, None)
    line = default_line(line_fields(read_payload(b""), hostile, None))
    assert line.isprintable()
    assert "\\x1b]52;c;cm0gLXJmIH4=\\x07\\u202e $2.00" in line


@given(st.text())
def test_printable_output_is_printable(text: str) -> None:
    assert printable(text, limit=10_000).isprintable()


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_usd_rounds_cents_half_up(nanos: int) -> None:
    amount = abs(Decimal(nanos) / 10**9)
    text = usd(nanos)
    sign = "-" if nanos < 0 else ""
    if 0 < abs(nanos) < 5_000_000:
        assert text == f"{sign}<$0.01"
    elif amount.quantize(Decimal("0.01"), ROUND_HALF_UP) >= 1000:
        assert text == f"{sign}${amount.quantize(Decimal(1), ROUND_HALF_UP):,}"
    else:
        assert text == f"{sign}${amount.quantize(Decimal('0.01'), ROUND_HALF_UP):,}"
