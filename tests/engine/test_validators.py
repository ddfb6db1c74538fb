"""Validators: command, JSON Schema, regex, callable, confidence, LLM judge, and YAML specs."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift.catalog import Usage
from gearshift.engine.validator_specs import validator_from_spec
from gearshift.engine.validators import (
    AllValidator,
    CallableValidator,
    CommandValidator,
    ConfidenceValidator,
    JsonSchemaValidator,
    JudgeValidator,
    RegexValidator,
    ValidationContext,
    ValidationResult,
    Validator,
    extract_files,
    parse_confidence,
)
from gearshift.errors import ConfigError, DefinitionError
from gearshift.providers import ModelRequest, ModelResult
from gearshift.providers.sim import SimProvider

PY = sys.executable


def check(validator: Validator, output: str, **context: Any) -> ValidationResult:
    return asyncio.run(validator.validate(output, ValidationContext(**context)))


SOLUTION = """Here is the fix.

```python src/calc.py
def add(a, b):
    return a + b
```

```python
# file: tests/test_calc.py
from src.calc import add

def test_add():
    assert add(2, 3) == 5
```
"""


HONEST_TEST = "from src.calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"


# -- files from fenced blocks --------------------------------------------------------------------
def test_extract_files_from_info_strings_and_comments() -> None:
    files = extract_files(SOLUTION)
    assert files == {
        "src/calc.py": "def add(a, b):\n    return a + b\n",
        "tests/test_calc.py": HONEST_TEST,
    }


def test_extract_files_other_spellings() -> None:
    out = '```js:web/app.js\nx()\n```\n```toml title="pyproject.toml"\n[a]\n```\n```\nplain\n```\n'
    assert extract_files(out) == {
        "web/app.js": "x()\n",
        "pyproject.toml": "[a]\n",
        "output_1.txt": "plain\n",
    }
    assert extract_files("```python\nx = 1\n```", default_name="solution.py") == {
        "solution.py": "x = 1\n"
    }


# -- command -------------------------------------------------------------------------------------
def test_command_passes_on_exit_zero() -> None:
    validator = CommandValidator([PY, "-c", "from src.calc import add; assert add(2, 3) == 5"])
    result = check(validator, SOLUTION)
    assert result.passed, result.evidence
    assert "(exit 0)" in result.evidence


def test_command_fails_with_the_tail_as_evidence() -> None:
    broken = SOLUTION.replace("a + b", "a - b")
    validator = CommandValidator([PY, "-c", "from src.calc import add; assert add(2, 3) == 5"])
    result = check(validator, broken)
    assert not result.passed
    assert "AssertionError" in result.evidence
    assert "(exit 1)" in result.evidence


def test_command_runs_pytest_in_a_string_command() -> None:
    command = f"{PY} -m pytest -q -p no:cacheprovider -p no:hypothesispytest"
    result = check(CommandValidator(command, timeout=60), SOLUTION)
    assert result.passed, result.evidence
    assert "1 passed" in result.evidence


def test_task_files_win_over_the_models_files(tmp_path: Path) -> None:
    cheating = SOLUTION.replace("assert add(2, 3) == 5", "assert True").replace("a + b", "0")
    run_test = "from tests.test_calc import test_add; test_add()"
    validator = CommandValidator([PY, "-c", run_test])
    files = {"tests/test_calc.py": HONEST_TEST}
    outputs = ("src/", "tests/")
    result = check(validator, cheating, files=files, workdir=tmp_path, outputs=outputs)
    assert not result.passed
    assert (tmp_path / "tests/test_calc.py").read_text() == HONEST_TEST


def test_command_timeout() -> None:
    validator = CommandValidator([PY, "-c", "import time; time.sleep(30)"], timeout=0.3)
    result = check(validator, "")
    assert not result.passed
    assert "timed out after 0.3s" in result.evidence


def test_command_not_found_and_escaping_paths() -> None:
    assert not check(CommandValidator("no-such-binary-xyz"), "").passed
    escaping = "```python ../evil.py\nx = 1\n```"
    result = check(CommandValidator([PY, "-c", "pass"]), escaping)
    assert not result.passed
    assert "outside the working directory" in result.evidence


def test_command_shell_mode() -> None:
    validator = CommandValidator(
        "test -f solution.py && echo ok", shell=True, default_file="solution.py"
    )
    result = check(validator, "```python\nx = 1\n```")
    assert result.passed and "ok" in result.evidence


# -- JSON Schema, regex, callable ----------------------------------------------------------------
SCHEMA = {
    "type": "object",
    "required": ["name", "tier"],
    "properties": {"name": {"type": "string"}, "tier": {"enum": ["haiku", "sonnet", "opus"]}},
}


@pytest.mark.parametrize(
    "output",
    [
        '{"name": "a", "tier": "haiku"}',
        'Sure:\n```json\n{"name": "a", "tier": "opus"}\n```\nDone.',
        'The answer is {"name": "a", "tier": "sonnet"} as requested.',
    ],
)
def test_json_schema_passes(output: str) -> None:
    assert check(JsonSchemaValidator(SCHEMA), output).passed


def test_json_schema_failures_name_the_path() -> None:
    result = check(JsonSchemaValidator(SCHEMA), '{"name": 3, "tier": "gpt"}')
    assert not result.passed
    assert "at $.name: 3 is not of type 'string'" in result.evidence
    assert "at $.tier" in result.evidence
    assert "no JSON" in check(JsonSchemaValidator(SCHEMA), "nothing here").evidence


def test_json_schema_rejects_a_bad_schema() -> None:
    with pytest.raises(ConfigError):
        JsonSchemaValidator({"type": "nonsense"})


def test_regex() -> None:
    validator = RegexValidator([r"^def \w+", "return"], ["TODO", r"print\("], flags="m")
    assert check(validator, "x = 1\ndef f():\n    return 1\n").passed
    result = check(validator, "def f():\n    print(1)  # TODO\n")
    assert not result.passed
    assert "missing: /return/" in result.evidence
    assert "forbidden: /TODO/" in result.evidence
    with pytest.raises(ConfigError):
        RegexValidator(["x"], flags="q")


def always_long(output: str, context: ValidationContext) -> tuple[bool, str]:
    return len(output) > 5, f"{len(output)} characters"


async def async_check(output: str, context: ValidationContext) -> ValidationResult:
    return ValidationResult("ok" in output, 0.5, "async")


def asserting(output: str, context: ValidationContext) -> bool:
    assert output.startswith("{"), "not JSON-looking"
    return True


def test_callable_validator_forms() -> None:
    here = __name__
    assert check(CallableValidator(f"{here}:always_long"), "long enough").passed
    assert check(CallableValidator(f"{here}:always_long"), "no").evidence == "2 characters"
    assert check(CallableValidator(async_check), "ok").score == 0.5
    failed = check(CallableValidator(asserting), "x")
    assert not failed.passed and "not JSON-looking" in failed.evidence
    with pytest.raises(ConfigError):
        CallableValidator("no_module_here:fn")
    with pytest.raises(ConfigError):
        CallableValidator("just-a-name")


# -- confidence ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("confidence: 0.82", 0.82),
        ("Confidence: 82%", 0.82),
        ("**Confidence:** 0.9", 0.9),
        ("Confidence score = 8/10", 0.8),
        ("my confidence is 75", 0.75),
        ("confidence: 0.3 ... final answer. Confidence: 0.95", 0.95),
        ("no score here", None),
        ("confidence: 250", None),
    ],
)
def test_parse_confidence(text: str, value: float | None) -> None:
    assert parse_confidence(text) == (pytest.approx(value) if value is not None else None)


@given(st.text())
def test_parse_confidence_is_total_and_bounded(text: str) -> None:
    value = parse_confidence(text)
    assert value is None or 0.0 <= value <= 1.0


def test_confidence_validator() -> None:
    assert check(ConfidenceValidator(), "answer\nconfidence: 0.93").passed
    low = check(ConfidenceValidator(min=0.9), "answer\nconfidence: 0.70")
    assert not low.passed and low.score == pytest.approx(0.7)
    assert check(ConfidenceValidator(min=0.6), "confidence: 70%").passed
    assert check(ConfidenceValidator(), "no statement").score is None
    with pytest.raises(ConfigError):
        ConfidenceValidator(min=2)


# -- LLM judge -----------------------------------------------------------------------------------
class ScriptedJudge:
    name = "scripted"

    def __init__(self, text: str) -> None:
        self.text = text
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest) -> ModelResult:
        self.requests.append(request)
        return ModelResult(self.text, Usage(100, 20), "claude-opus-5-5", 5, provider=self.name)

    async def count_tokens(self, request: ModelRequest) -> int:
        return 0

    async def close(self) -> None:
        return None


def test_judge_pass_and_fail() -> None:
    judge = ScriptedJudge("verdict: PASS\nscore: 0.9\nLooks right.")
    result = check(
        JudgeValidator("opus", criteria="correctness", provider=judge),
        "out",
        task="Add two numbers",
    )
    assert result.passed and result.score == 0.9
    assert len(result.calls) == 1 and result.calls[0].usage.input_tokens == 100
    sent = judge.requests[0]
    assert sent.model == "opus" and "Add two numbers" in sent.prompt and "out" in sent.prompt
    assert "correctness" in (sent.system or "")
    failing = ScriptedJudge("Verdict: **FAIL**\nscore: 0.2\nThe sum is wrong.")
    result = check(JudgeValidator(provider=failing), "out")
    assert not result.passed and "sum is wrong" in result.evidence


def test_judge_min_score_and_missing_verdict() -> None:
    lukewarm = ScriptedJudge("verdict: pass\nscore: 0.6")
    assert not check(JudgeValidator(provider=lukewarm, min_score=0.8), "out").passed
    mute = ScriptedJudge("I am not sure.")
    result = check(JudgeValidator(provider=mute), "out")
    assert not result.passed and "no verdict" in result.evidence


def test_judge_uses_the_context_provider_and_runs_on_sim() -> None:
    sim = SimProvider(seed=1, time_scale=0)
    result = check(
        JudgeValidator("sonnet"), "some output", provider=sim, metadata={"complexity": 3}
    )
    assert result.calls[0].provider == "sim"
    assert result.passed == ("verdict: PASS" in result.calls[0].text)
    with pytest.raises(ConfigError):
        check(JudgeValidator(), "out")


def test_all_validator_stops_at_first_failure() -> None:
    judge = ScriptedJudge("verdict: PASS")
    validator = AllValidator([RegexValidator(["def "]), JudgeValidator(provider=judge)])
    assert not check(validator, "no code").passed
    assert judge.requests == []  # the expensive check never ran
    ok = check(validator, "def f(): pass\nconfidence: 0.8")
    assert ok.passed and len(ok.calls) == 1


# -- specs ---------------------------------------------------------------------------------------
def test_specs_build_each_type() -> None:
    specs = [
        ({"type": "command", "run": "pytest -q", "timeout": 30}, CommandValidator),
        ({"type": "json_schema", "schema": SCHEMA}, JsonSchemaValidator),
        ({"type": "jsonschema", "schema": SCHEMA}, JsonSchemaValidator),
        ({"type": "regex", "must_match": "x", "must_not_match": ["y"]}, RegexValidator),
        ({"type": "callable", "function": f"{__name__}:always_long"}, CallableValidator),
        ({"type": "confidence", "min": 0.6}, ConfidenceValidator),
        ({"type": "judge", "model": "sonnet", "criteria": "tests pass"}, JudgeValidator),
        (
            {"type": "all", "of": [{"type": "confidence"}, {"type": "regex", "must_match": "a"}]},
            AllValidator,
        ),
    ]
    for spec, cls in specs:
        assert type(validator_from_spec(spec)) is cls
    command = validator_from_spec({"type": "command", "run": "ruff check", "timeout": 5})
    assert isinstance(command, CommandValidator) and command.timeout == 5.0


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"run": "x"}, "tasks[0].validator.type"),
        ({"type": "magic"}, "tasks[0].validator.type"),
        ({"type": "command"}, "tasks[0].validator.run"),
        ({"type": "command", "run": "x", "timeout": "soon"}, "tasks[0].validator.timeout"),
        ({"type": "command", "run": "x", "timeout": -1}, "tasks[0].validator.timeout"),
        ({"type": "command", "run": "x", "retries": 2}, "tasks[0].validator.retries"),
        ({"type": "command", "run": "x", "shell": "yes"}, "tasks[0].validator.shell"),
        ({"type": "regex", "must_match": "("}, "tasks[0].validator.must_match"),
        ({"type": "regex"}, "tasks[0].validator.must_match"),
        ({"type": "json_schema", "schema": {"type": 5}}, "tasks[0].validator"),
        ({"type": "callable", "function": "nope.nope:f"}, "tasks[0].validator"),
        ({"type": "confidence", "min": True}, "tasks[0].validator.min"),
        (
            {"type": "all", "of": [{"type": "regex", "must_match": 1}]},
            "tasks[0].validator.of[0].must_match",
        ),
        ("pytest -q", "tasks[0].validator"),
    ],
)
def test_bad_specs_name_the_key(spec: Any, where: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        validator_from_spec(spec, where="tasks[0].validator")
    assert re.match(re.escape(where) + "[: ]", caught.value.message), caught.value.message
