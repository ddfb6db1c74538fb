"""`gearshift schema`: every shipped example validates against its format's JSON Schema, and
the schema and the parser agree -- on the examples, and on files changed to be wrong (or right)
in the same way."""

from __future__ import annotations

import copy
import functools
import json
import re
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gearshift.agents import parse_markdown, parse_yaml_specs
from gearshift.catalog import load_catalog
from gearshift.cli import main
from gearshift.cli.schema import FORMATS, schema_for
from gearshift.config import load_config
from gearshift.engine.pipeline import load_pipeline
from gearshift.errors import ConfigError
from gearshift.insight.replay import parse_policy
from gearshift.insight.workload import parse_workload
from gearshift.routing.rules import parse_rules

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
DEMO = ROOT / "src" / "gearshift" / "demo" / "pipeline.yaml"
CAT = load_catalog()

#: every file under examples/ (and the demo's pipeline) and the format it is written in
EXAMPLE_FORMATS = {
    "batch-optimization.yaml": "pipeline",
    "confidence-escalation.yaml": "pipeline",
    "dispatch.yaml": "pipeline",
    "feature-implementation.yaml": "pipeline",
    "pipeline.yaml": "pipeline",
    "test-pipeline.yaml": "pipeline",
    "case-study.yaml": "workload",
    "replay-policy.yaml": "replay-policy",
    "task-router.yaml": "rules",
    "agents/yaml/agents.yaml": "agents",
    **{f"agents/claude-code/{p.name}": "agents" for p in EXAMPLES.glob("agents/claude-code/*")},
}


@functools.cache
def validator(name: str) -> jsonschema.protocols.Validator:
    schema = schema_for(name)
    return jsonschema.validators.validator_for(schema)(schema)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_schema_is_a_valid_json_schema(name: str) -> None:
    schema = schema_for(name)
    jsonschema.validators.validator_for(schema).check_schema(schema)


def frontmatter(text: str) -> Any:
    return yaml.safe_load(text.split("---\n")[1])


def schema_accepts(name: str, data: Any) -> bool:
    return validator(name).is_valid(data)


def parser_accepts(name: str, text: str, folder: Path) -> bool:
    """Whether gearshift reads ``text`` as a file of format ``name`` (written in ``folder``,
    where the example files it names are)."""
    path = folder / "checked.yaml"
    path.write_text(text, encoding="utf-8")
    parse: dict[str, Callable[[], object]] = {
        "pipeline": lambda: load_pipeline(path, catalog=CAT),
        "workload": lambda: parse_workload(text, str(path)),
        "replay-policy": lambda: parse_policy(text, str(path)),
        "rules": lambda: parse_rules(text, CAT, source=str(path)),
        "agents": lambda: parse_yaml_specs(text, source=path),
    }
    try:
        parse[name]()
    except ConfigError:
        return False
    return True


def test_every_example_is_listed() -> None:
    files = {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*") if p.is_file()}
    assert files == set(EXAMPLE_FORMATS)
    assert set(EXAMPLE_FORMATS.values()) | {"config"} == set(FORMATS)


@pytest.mark.parametrize(("name", "fmt"), sorted(EXAMPLE_FORMATS.items()))
def test_every_example_validates_against_its_schema(name: str, fmt: str) -> None:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    data = frontmatter(text) if name.endswith(".md") else yaml.safe_load(text)
    validator(fmt).validate(data)


def test_the_demo_pipeline_validates() -> None:
    validator("pipeline").validate(yaml.safe_load(DEMO.read_text(encoding="utf-8")))


def test_the_readme_config_validates(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", readme, re.S)
    assert block is not None
    path = tmp_path / "config.toml"
    path.write_text(block.group(1), encoding="utf-8")
    assert load_config(path).budgets
    validator("config").validate(tomllib.loads(block.group(1)))
    path.write_text(block.group(1).replace("[true_cost]\n", "[true_cost]\ncolour = 1\n"))
    with pytest.raises(ConfigError, match=r"true_cost\.colour is not a known key"):
        load_config(path)
    assert not schema_accepts("config", tomllib.loads(path.read_text()))


def _set(*path: Any, value: Any) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return change


#: (format, example, change, whether the changed file is still right)
CHANGES = [
    ("pipeline", "pipeline.yaml", _set("colour", value="red"), False),
    ("pipeline", "pipeline.yaml", _set("tasks", 0, "colour", value="red"), False),
    ("pipeline", "pipeline.yaml", _set("tasks", 1, "validators", 0, "retries", value=2), False),
    ("pipeline", "pipeline.yaml", _set("tasks", 1, "validators", 0, "type", value="x"), False),
    ("pipeline", "pipeline.yaml", _set("tasks", 2, "temperature", value=3), False),
    ("pipeline", "pipeline.yaml", _set("tasks", 2, "temperature", value=0.5), True),
    ("pipeline", "pipeline.yaml", _set("defaults", "id", value="x"), False),
    ("pipeline", "pipeline.yaml", _set("agents", 1, "release-writer", "maxTurns", value=3), True),
    ("pipeline", "test-pipeline.yaml", _set("test-pipeline", "stage-2-validate", "x", value=1),
     False),
    ("pipeline", "batch-optimization.yaml", _set("batch-optimization", "files", value=0), False),
    ("pipeline", "batch-optimization.yaml", _set("batch-optimization", "validation", "x",
                                                 value=True), False),
    ("pipeline", "confidence-escalation.yaml", _set("confidence-escalation",
                                                    "stage-2-dynamic-routing", 0, "iff",
                                                    value="x"), False),
    ("pipeline", "dispatch.yaml", _set("dispatch", 0, "cache_system", value="yes"), False),
    ("workload", "case-study.yaml", _set("tasks", 0, "colour", value="red"), False),
    ("workload", "case-study.yaml", _set("tasks", 0, "input_tokens", value=1.5), False),
    ("workload", "case-study.yaml", _set("tasks", 0, "after", "strategy", value="cached"), False),
    ("workload", "case-study.yaml", _set("tasks", 0, "success", "gpt", value=0.5), False),
    ("replay-policy", "replay-policy.yaml", _set("colour", value="red"), False),
    ("replay-policy", "replay-policy.yaml", _set("rules", 0, "colour", value="red"), False),
    ("replay-policy", "replay-policy.yaml", _set("rules", value={}), False),
    ("rules", "task-router.yaml", _set("task-router", "colour", value="red"), False),
    ("rules", "task-router.yaml", _set("task-router", "logic", 0, "then", "modle", value="x"),
     False),
    ("agents", "agents/yaml/agents.yaml", _set("architect", "permissionMode", value="x"), True),
    ("agents", "agents/yaml/agents.yaml", _set("architect", "temperature", value=3), False),
    ("agents", "agents/yaml/agents.yaml", _set("architect", "tools", value=3), False),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "example", "change", "right"), CHANGES)
def test_schema_and_parser_agree_on_changed_examples(
    tmp_path: Path, fmt: str, example: str, change: Callable[[Any], None], right: bool
) -> None:
    folder = tmp_path / "examples"
    shutil.copytree(EXAMPLES, folder)
    data = copy.deepcopy(yaml.safe_load((EXAMPLES / example).read_text(encoding="utf-8")))
    change(data)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    assert schema_accepts(fmt, data) is right
    assert parser_accepts(fmt, text, folder) is right


def test_frontmatter_with_a_bad_value_fails_both() -> None:
    text = (EXAMPLES / "agents/claude-code/architect.md").read_text(encoding="utf-8")
    bad = text.replace("\nmodel:", "\ntemperature: 3\nmodel:", 1)
    assert not schema_accepts("agents", frontmatter(bad))
    with pytest.raises(ConfigError, match=r"temperature must be a number <= 1\.0, not 3"):
        parse_markdown(bad, source="architect.md")


def test_the_command_prints_and_writes_each_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in FORMATS:
        with pytest.raises(SystemExit) as done:
            main.main(["schema", name])
        assert done.value.code in (0, None)
        printed = json.loads(capsys.readouterr().out)
        assert printed == schema_for(name) and printed["$schema"].endswith("2020-12/schema")
    out = tmp_path / "pipeline.schema.json"
    with pytest.raises(SystemExit):
        main.main(["schema", "pipeline", "--out", str(out)])
    assert json.loads(out.read_text(encoding="utf-8")) == schema_for("pipeline")
    assert f"wrote the pipeline schema to {out}" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        main.main(["schema", "nope"])
    assert done.value.code == 2
