"""Audit: recommended tiers, monthly savings, and in-place rewrites of the model line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from gearshift.agents import AgentDefinition, apply_edit, discover, load_file, plan_edits
from gearshift.catalog import Tier, Usage, load_catalog
from gearshift.errors import DefinitionError
from gearshift.insight.audit import (
    AgentObservation,
    audit_agents,
    monthly_nanos,
    observations_from_stats,
)

CAT = load_catalog()
EXAMPLES = Path(__file__).parents[2] / "examples" / "agents"

LINTER_ON_OPUS = """\
---
name: style-enforcer
description: Checks code against the style guide and flags unused imports and formatting issues.
tools: Read, Grep, Glob
model: opus   # set during the pilot, never revisited
color: cyan
---
You are a linting agent. Flag violations with line numbers.
"""


def test_article_agents_are_on_their_article_tiers() -> None:
    for folder in ("claude-code", "yaml"):
        agents = discover([EXAMPLES / folder])
        report = audit_agents(agents.all(), CAT)
        assert not report.changes, [r.note for r in report.rows]
        tiers = {r.agent.name: r.recommended for r in report.rows}
        assert tiers == {
            "test-engineer": Tier.HAIKU,
            "style-enforcer": Tier.HAIKU,
            "boilerplate-generator": Tier.HAIKU,
            "code-reviewer": Tier.SONNET,
            "bug-analyzer": Tier.SONNET,
            "code-generator": Tier.SONNET,
            "architect": Tier.OPUS,
        }


def test_monthly_saving_scales_and_reprices_exactly() -> None:
    from gearshift.agents import parse_markdown

    agent = parse_markdown(LINTER_ON_OPUS, source="style-enforcer.md")
    opus = CAT.resolve("claude-opus-4-1-20250805")
    obs = AgentObservation(executions=750, cost_nanos=12_000_000_000, days=15, models=(opus.id,))
    (row,) = audit_agents([agent], CAT, observed={"style-enforcer": obs}).rows
    assert row.change and row.current_tier is Tier.OPUS and row.recommended is Tier.HAIKU
    assert row.monthly_cost_nanos == 24_000_000_000
    haiku = CAT.default_for(Tier.HAIKU)
    ratio = haiku.period_at(None).base.output / opus.period_at(None).base.output
    assert Decimal(row.monthly_recommended_nanos or 0) == (Decimal(24_000_000_000) * ratio)
    assert (row.monthly_saving_nanos or 0) > 0
    data = row.to_dict()
    assert data["monthly_cost_usd"] == Decimal("24")
    assert data["executions"] == 750 and data["recommended_tier"] == "haiku"


def test_reprice_with_usage_is_the_catalog_cost() -> None:
    agent = AgentDefinition(
        name="summarizer", role="Summarize short documents", model=Tier.SONNET, model_declared=True
    )
    usage = Usage(input_tokens=3_000_000, output_tokens=1_000_000)
    cost = CAT.cost("sonnet", usage).nanos
    obs = AgentObservation(10, cost, 30, ("claude-sonnet-5-5",), usage)
    (row,) = audit_agents([agent], CAT, observed={"summarizer": obs}).rows
    assert row.recommended is Tier.HAIKU
    assert row.monthly_recommended_nanos == CAT.cost("haiku", usage).nanos
    assert row.monthly_saving_nanos == cost - CAT.cost("haiku", usage).nanos


def test_monthly_nanos_is_exact() -> None:
    assert monthly_nanos(10, 3) == 100
    assert monthly_nanos(1, Decimal("7"), 30) == 4  # 4.2857 -> 4
    assert monthly_nanos(7, 2) == 105


@dataclass
class Stat:
    agent: str
    model: str
    executions: int
    cost_nanos: int
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0
    first_us: int = 0
    last_us: int = 0


def test_observations_from_ledger_style_stats() -> None:
    day = 86_400_000_000
    stats = [
        Stat("a", "claude-opus-4-1-20250805", 5, 500, 10, 20, 1, 2, 0, 2 * day),
        Stat("a", "claude-sonnet-4-5-20250929", 9, 900, 1, 2, 0, 0, day, 10 * day),
        Stat("b", "claude-haiku-5-5", 1, 1, 0, 0, 0, 0, 0, 0),
    ]
    obs = observations_from_stats(stats)
    assert obs["a"].executions == 14 and obs["a"].cost_nanos == 1400
    assert obs["a"].models == ("claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805")
    assert obs["a"].days == 10
    assert obs["a"].usage == Usage(11, 22, 1, 0, 2)
    assert obs["b"].days == 1
    assert observations_from_stats(stats, days=30)["b"].days == 30


def test_inherit_agents_are_assessed_but_never_changed() -> None:
    agent = AgentDefinition(name="x", role="Lint the code", model="inherit", model_declared=True)
    (row,) = audit_agents([agent], CAT).rows
    assert not row.change and row.recommended is Tier.HAIKU and "inherits" in row.note


def write_bytes(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


def only_line_changed(before: bytes, after: bytes, old: bytes, new: bytes) -> None:
    assert before.count(old) == 1
    assert after == before.replace(old, new)


def test_apply_rewrites_only_the_model_value(tmp_path: Path) -> None:
    agents_dir = tmp_path / ".claude" / "agents"
    linter = write_bytes(agents_dir / "style-enforcer.md", LINTER_ON_OPUS)
    crlf = write_bytes(
        agents_dir / "formatter.md",
        '\ufeff---\r\nname: formatter\r\ndescription: "Reformat files with black; sort imports"\r\n'
        'model: "sonnet"\r\ncolor: blue\r\n---\r\nYou format code.\r\nNothing else.  \r\n',
    )
    missing = write_bytes(
        agents_dir / "boilerplate.md",
        "---\nname: boilerplate\ndescription: >\n  Scaffold new packages and generate CRUD\n"
        "  boilerplate.\ntools:\n  - Write\n  - Read\n---\n\nGenerate boilerplate. Ünïcödé ✓\n",
    )
    keep = write_bytes(
        agents_dir / "architect.md",
        "---\nname: architect\ndescription: Make architectural decisions and design complex "
        "systems; evaluate trade-offs\nmodel: opus\n---\nThink.\n",
    )
    originals = {p: p.read_bytes() for p in (linter, crlf, missing, keep)}
    report = audit_agents(discover([agents_dir]).all(), CAT)
    assert sorted(r.agent.name for r in report.changes) == [
        "boilerplate",
        "formatter",
        "style-enforcer",
    ]
    edits = report.edits()
    assert {e.path for e in edits} == {linter, crlf, missing}
    diff = "".join(e.diff() for e in edits)
    assert "-model: opus   # set during the pilot" in diff
    assert "+model: haiku   # set during the pilot" in diff
    for edit in edits:
        apply_edit(edit)
    only_line_changed(originals[linter], linter.read_bytes(), b"model: opus ", b"model: haiku ")
    only_line_changed(originals[crlf], crlf.read_bytes(), b'model: "sonnet"', b'model: "haiku"')
    assert missing.read_bytes() == originals[missing].replace(
        b"  - Read\n---\n", b"  - Read\nmodel: haiku\n---\n"
    )
    assert keep.read_bytes() == originals[keep]
    again = audit_agents(discover([agents_dir]).all(), CAT)
    assert not again.changes
    assert load_file(missing)[0].model_line == 9  # type: ignore[index]


def test_apply_on_yaml_specs_keeps_comments_and_other_agents(tmp_path: Path) -> None:
    path = write_bytes(
        tmp_path / "agents.yaml",
        "# team agents\n"
        "style-enforcer:\n"
        "  model: 'opus'  # too much\n"
        "  role: Enforce code style and detect basic quality issues\n"
        "architect:\n"
        "  model: opus\n"
        "  role: Make architectural decisions and design complex systems\n"
        "summarizer:\n"
        "  role: Summarize short documents in bullet points\n"
        "  description: Condenses meeting notes.\n",
    )
    before = path.read_bytes()
    report = audit_agents(load_file(path) or [], CAT)
    (edit,) = report.edits()
    assert [c[:3] for c in edit.changes] == [
        ("style-enforcer", "'opus'", "haiku"),
        ("summarizer", None, "haiku"),
    ]
    apply_edit(edit)
    assert path.read_bytes() == before.replace(b"'opus'  #", b"'haiku'  #").replace(
        b"summarizer:\n  role", b"summarizer:\n  model: haiku\n  role"
    )


def test_apply_on_agents_json_and_list_form(tmp_path: Path) -> None:
    data = {"lint": {"description": "Lint the code with ruff", "prompt": "Lint."}}
    path = write_bytes(tmp_path / "agents.json", json.dumps(data, indent=2) + "\n")
    (edit,) = audit_agents(load_file(path) or [], CAT).edits()
    apply_edit(edit)
    assert json.loads(path.read_text())["lint"]["model"] == "haiku"
    assert path.read_text().startswith('{\n  "lint": { "model": "haiku",\n    "description"')
    listed = write_bytes(
        tmp_path / "list.yaml", "agents:\n  - name: fmt\n    role: Format files with black\n"
    )
    (edit,) = audit_agents(load_file(listed) or [], CAT).edits()
    apply_edit(edit)
    assert listed.read_text() == (
        "agents:\n  - model: haiku\n    name: fmt\n    role: Format files with black\n"
    )


def test_apply_refuses_a_file_changed_since_the_audit(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "a.md", LINTER_ON_OPUS)
    (edit,) = audit_agents(load_file(path) or [], CAT).edits()
    path.write_text(LINTER_ON_OPUS + "\nedited meanwhile\n")
    with pytest.raises(DefinitionError, match="changed on disk"):
        apply_edit(edit)


def test_plan_edits_needs_a_file() -> None:
    with pytest.raises(DefinitionError, match="not read from a file"):
        plan_edits([(AgentDefinition(name="x"), "haiku")])


def test_byte_order_marks_survive_rewrites(tmp_path: Path) -> None:
    yaml_file = write_bytes(
        tmp_path / "a.yaml", "\ufeff# c\nlint:\n  model: opus\n  role: Lint code\n"
    )
    json_file = write_bytes(tmp_path / "b.json", '\ufeff{"fmt": {"role": "Format files"}}')
    for path in (yaml_file, json_file):
        (edit,) = audit_agents(load_file(path) or [], CAT).edits()
        apply_edit(edit)
    assert (
        yaml_file.read_bytes() == "\ufeff# c\nlint:\n  model: haiku\n  role: Lint code\n".encode()
    )
    assert json_file.read_text(encoding="utf-8") == (
        '\ufeff{"fmt": { "model": "haiku", "role": "Format files"}}'
    )
