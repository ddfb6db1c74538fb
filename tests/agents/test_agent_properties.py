"""Property tests: parsers fail only with DefinitionError; model rewrites touch nothing else."""

from __future__ import annotations

import contextlib
import string
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from gearshift.agents import (
    load_file,
    parse_agents_json,
    parse_markdown,
    parse_yaml_specs,
    plan_edits,
)
from gearshift.catalog import Tier
from gearshift.errors import DefinitionError

words = st.text(string.ascii_lowercase + " ", max_size=20).map(lambda s: "w" + s.rstrip())
keys = st.sampled_from(["description", "color", "role", "notes", "owner", "tools"])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parsers_raise_only_definition_errors(text: str) -> None:
    for parse, prefix in (
        (parse_markdown, "---\n"),
        (parse_yaml_specs, ""),
        (parse_agents_json, ""),
    ):
        with contextlib.suppress(DefinitionError):
            parse(prefix + text)


@settings(max_examples=150, deadline=None)
@given(
    others=st.lists(st.tuples(keys, words), max_size=4, unique_by=lambda kv: kv[0]),
    position=st.integers(min_value=0, max_value=4),
    old=st.sampled_from(["haiku", "sonnet", "opus", "claude-opus-4-1-20250805", "inherit"]),
    new=st.sampled_from([t.value for t in Tier]),
    quote=st.sampled_from(["", '"', "'"]),
    comment=st.sampled_from(["", "  # chosen by hand", " #x"]),
    newline=st.sampled_from(["\n", "\r\n"]),
    body=st.text(string.printable, max_size=80),
    declared=st.booleans(),
)
def test_rewrite_changes_only_the_model_value(
    others: list[tuple[str, str]],
    position: int,
    old: str,
    new: str,
    quote: str,
    comment: str,
    newline: str,
    body: str,
    declared: bool,
) -> None:
    lines = [f"{k}: {v}" for k, v in others]
    model_line = f"model: {quote}{old}{quote}{comment}"
    if declared:
        lines.insert(min(position, len(lines)), model_line)
    lines.insert(0, "name: prop-agent")
    text = newline.join(["---", *lines, "---", body])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prop.md"
        path.write_bytes(text.encode())
        (agent,) = load_file(path) or []
        (edit,) = plan_edits([(agent, new)])
    if declared:
        expected = text.replace(model_line, f"model: {quote}{new}{quote}{comment}", 1)
    else:
        closing = newline + "---" + newline
        at = text.index(closing) + len(newline)
        expected = text[:at] + f"model: {new}{newline}" + text[at:]
    assert edit.text == expected
    assert parse_markdown(edit.text).model_text == new
