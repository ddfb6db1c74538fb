"""Loading agent definitions: Claude Code .md, the article's YAML specs, --agents JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gearshift.agents import (
    INHERIT,
    AgentDefinition,
    LoadOptions,
    Mode,
    ModePresets,
    Sampling,
    SourceFormat,
    discover,
    load_file,
    parse_agents_json,
    parse_markdown,
    parse_yaml_specs,
)
from gearshift.catalog import Tier, load_catalog
from gearshift.errors import DefinitionError

CODE_EXPLORER = """\
---
name: code-explorer
description: Deeply analyzes existing codebase features by tracing execution paths, \
mapping architecture layers
tools: Glob, Grep, LS, Read, NotebookRead, WebFetch, TodoWrite, WebSearch, KillShell, BashOutput
model: sonnet
color: yellow
---

You are an expert code analyst.

Trace every path.
"""


def test_claude_code_markdown() -> None:
    agent = parse_markdown(CODE_EXPLORER, source="code-explorer.md")
    assert agent.name == "code-explorer"
    assert agent.model is Tier.SONNET and agent.model_declared
    assert agent.model_line == 5 and agent.line == 1
    assert agent.tools == (
        "Glob",
        "Grep",
        "LS",
        "Read",
        "NotebookRead",
        "WebFetch",
        "TodoWrite",
        "WebSearch",
        "KillShell",
        "BashOutput",
    )
    assert agent.color == "yellow"
    assert agent.instructions == "You are an expert code analyst.\n\nTrace every path."
    assert agent.prompt == agent.instructions
    assert agent.format is SourceFormat.CLAUDE_MD


def test_markdown_with_article_role_and_gearshift_options() -> None:
    text = """---
name: test-engineer
model: haiku
role: Test engineering agent
description: Generates and executes unit tests
temperature: 0.1
max_tokens: 2000
mode: tight
escalation: [haiku, sonnet]
validators:
  - command: pytest -q
  - "regex:^ok"
permissionMode: acceptEdits
---
You are a test engineering agent.
"""
    agent = parse_markdown(text, source="t.md")
    assert agent.role == "Test engineering agent"
    assert agent.temperature == 0.1 and agent.max_tokens == 2000
    assert agent.mode is Mode.TIGHT
    assert agent.escalation == (Tier.HAIKU, Tier.SONNET)
    assert agent.validators == ({"command": "pytest -q"}, "regex:^ok")
    assert agent.extra == {"permissionMode": "acceptEdits"}
    assert agent.sampling() == Sampling(temperature=0.1, max_tokens=2000)


def test_mode_presets_are_configurable() -> None:
    agent = AgentDefinition(name="a", mode=Mode.CREATIVE, max_tokens=500)
    assert agent.sampling() == Sampling(temperature=1.0, max_tokens=500)
    presets = ModePresets(creative=Sampling(0.7, 3000))
    assert agent.sampling(presets) == Sampling(0.7, 500)
    assert AgentDefinition(name="b", mode=Mode.TIGHT).sampling() == Sampling(0.2, 1024)
    assert AgentDefinition(name="c").sampling() == Sampling(None, None)


def test_field_spellings_and_tools_with_parentheses() -> None:
    text = """---
name: git-helper
description: Commits
tools: Bash(git add:*, git commit:*), Read
maxTokens: 100
systemPrompt: ignored because the body wins
---
Body prompt.
"""
    agent = parse_markdown(text)
    assert agent.tools == ("Bash(git add:*, git commit:*)", "Read")
    assert agent.max_tokens == 100
    assert agent.instructions == "Body prompt."


def test_missing_model_defaults_to_sonnet_or_the_configured_default() -> None:
    text = "---\nname: helper\ndescription: helps\n---\nHi\n"
    agent = parse_markdown(text)
    assert agent.model is Tier.SONNET and not agent.model_declared and agent.model_line is None
    assert parse_markdown(text, options=LoadOptions(default_model="inherit")).model == INHERIT
    assert parse_markdown(text, options=LoadOptions(default_model="haiku")).model is Tier.HAIKU


def test_inherit_and_full_model_ids() -> None:
    cat = load_catalog()
    inherit = parse_markdown("---\nname: a\nmodel: inherit\n---\n")
    assert inherit.inherits and inherit.tier(cat) is None and inherit.model_id(cat) is None
    full = parse_markdown("---\nname: b\nmodel: claude-sonnet-4-5-20250929\n---\n")
    assert full.model == "claude-sonnet-4-5-20250929"
    assert full.tier(cat) is Tier.SONNET
    assert full.model_id(cat) == "claude-sonnet-4-5-20250929"


def test_article_yaml_specs_many_agents() -> None:
    text = """\
test-engineer:
  model: haiku
  role: Generate and run unit tests for new features
  description: |
    Creates comprehensive test suites.
  instructions: |
    You are a test engineering agent optimized for volume.

architect:
  model: opus
  role: Make architectural decisions
  description: Evaluates design tradeoffs.
"""
    agents = parse_yaml_specs(text, source="agents.yaml")
    assert [a.name for a in agents] == ["test-engineer", "architect"]
    assert [a.model for a in agents] == [Tier.HAIKU, Tier.OPUS]
    assert [a.line for a in agents] == [1, 9]
    assert [a.model_line for a in agents] == [2, 10]
    assert agents[0].instructions == "You are a test engineering agent optimized for volume."
    assert all(a.format is SourceFormat.YAML_SPEC for a in agents)


def test_yaml_single_agent_in_frontmatter_form_and_agents_list() -> None:
    single = parse_yaml_specs("name: solo\nmodel: haiku\nrole: r\n")
    assert [(a.name, a.model) for a in single] == [("solo", Tier.HAIKU)]
    listed = parse_yaml_specs("agents:\n  - name: one\n  - name: two\n    model: opus\n")
    assert [(a.name, a.model) for a in listed] == [("one", Tier.SONNET), ("two", Tier.OPUS)]
    assert listed[1].model_line == 4


def test_agents_json_as_claude_accepts_it() -> None:
    text = json.dumps(
        {
            "reviewer": {
                "description": "Reviews code",
                "prompt": "You are a reviewer.",
                "tools": ["Read", "Grep"],
                "model": "sonnet",
            },
            "linter": {"description": "Lints", "prompt": "Lint."},
        },
        indent=2,
    )
    agents = parse_agents_json(text)
    assert [a.name for a in agents] == ["reviewer", "linter"]
    assert agents[0].tools == ("Read", "Grep") and agents[0].model_line == 9
    assert agents[0].to_agents_json() == {
        "description": "Reviews code",
        "prompt": "You are a reviewer.",
        "tools": ["Read", "Grep"],
        "model": "sonnet",
    }
    assert "model" not in agents[1].to_agents_json()


def test_json_that_yaml_rejects_still_loads() -> None:
    text = '{"a": {"description": "tab\\there", "prompt": "p",\t"model": "haiku"}}'
    assert parse_agents_json(text)[0].model is Tier.HAIKU


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("---\nname: a\ndescription: [unclosed\n---\n", 4, "started at line 3"),
        ("---\ndescription: no name\nmodel: haiku\n---\n", 2, "missing required field 'name'"),
        ("---\nname: a\ndescription: d\nmodel: gpt-4o\n---\n", 4, "unknown model 'gpt-4o'"),
        ("---\nname: a\nmodel: haiku\nmodel: opus\n---\n", 4, "duplicate key 'model'"),
        ("---\nname: a\ntemperature: 3\n---\n", 3, "temperature must be"),
        ("---\nname: a\nescalation: [sonnet, haiku]\n---\n", 3, "escalation must go strictly up"),
        ("---\nname: a\nmode: wild\n---\n", 3, "unknown mode"),
        ("---\nname: has space\n---\n", 2, "invalid agent name"),
        ("---\nname: a\nmax_tokens: -1\n---\n", 3, "max_tokens must be"),
    ],
)
def test_markdown_errors_name_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(DefinitionError) as err:
        parse_markdown(text, source="agents/bad.md")
    assert err.value.message.startswith(f"agents/bad.md:{line}: ")
    assert words in err.value.message


def test_yaml_errors_name_file_and_line() -> None:
    with pytest.raises(DefinitionError, match=r"^a.yaml:3: agent 'x': unknown model 'gpt-5'"):
        parse_yaml_specs("x:\n  role: r\n  model: gpt-5\n", source="a.yaml")
    with pytest.raises(DefinitionError, match=r"^a.yaml:3: .*not an agent definition"):
        parse_yaml_specs("ok:\n  model: haiku\nbroken: just a string\n", source="a.yaml")
    with pytest.raises(DefinitionError, match=r"^a.yaml:2: invalid YAML"):
        parse_yaml_specs("x:\n  model: : :\n  - a\n", source="a.yaml")
    with pytest.raises(DefinitionError, match=r"^a.json:3: invalid JSON"):
        parse_agents_json('{\n "a": {\n  "model": haiku}}', source="a.json")


def test_unknown_model_hint_suggests_close_names() -> None:
    with pytest.raises(DefinitionError) as err:
        parse_markdown("---\nname: a\nmodel: claude-sonet-4-5\n---\n", source="a.md")
    assert err.value.hint and "did you mean" in err.value.hint


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_discover_precedence_shadowing_and_skips(tmp_path: Path) -> None:
    project = tmp_path / "project" / ".claude" / "agents"
    user = tmp_path / "home" / ".claude" / "agents"
    write(project / "reviewer.md", "---\nname: reviewer\nmodel: opus\n---\nproject\n")
    write(project / "README.md", "# notes, not an agent\n")
    write(project / "nested" / "linter.md", "---\nname: linter\nmodel: haiku\n---\n")
    write(user / "reviewer.md", "---\nname: reviewer\nmodel: haiku\n---\nuser\n")
    write(user / "more.yaml", "writer:\n  model: sonnet\n")
    found = discover([project, user, tmp_path / "missing"])
    assert sorted(found) == ["linter", "reviewer", "writer"]
    assert found["reviewer"].model is Tier.OPUS
    assert [a.instructions for a in found.shadowed] == ["user"]
    assert found.skipped == [project / "README.md"]
    assert len(found.all()) == 4


def test_discover_rejects_duplicates_in_one_location(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "---\nname: twin\n---\n")
    write(tmp_path / "b.yaml", "twin:\n  model: haiku\n")
    with pytest.raises(DefinitionError, match="already defined"):
        discover([tmp_path])


def test_discover_defaults_to_claude_code_locations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / ".claude" / "agents" / "p.md", "---\nname: p\n---\n")
    write(Path.home() / ".claude" / "agents" / "u.md", "---\nname: u\n---\n")
    assert sorted(discover()) == ["p", "u"]


def test_load_file_rejects_other_suffixes(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="not an agent definition file"):
        load_file(write(tmp_path / "x.txt", "hi"))


def test_crlf_files_load(tmp_path: Path) -> None:
    path = tmp_path / "crlf.md"
    path.write_bytes(b"---\r\nname: crlf\r\nmodel: opus\r\n---\r\nBody\r\n")
    (agent,) = load_file(path) or []
    assert agent.model is Tier.OPUS and agent.model_line == 3 and agent.instructions == "Body"
