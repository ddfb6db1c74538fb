"""Model output is written only where the task allows, never into .git or outside, all or
nothing; commands get a minimal environment."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from gearshift.engine.output_files import check_patterns
from gearshift.engine.validator_specs import validator_from_spec
from gearshift.engine.validators import (
    CommandValidator,
    ValidationContext,
    ValidationResult,
    Validator,
)

PY = sys.executable
PASS = [PY, "-c", "pass"]


def check(validator: Validator, output: str, **context: Any) -> ValidationResult:
    return asyncio.run(validator.validate(output, ValidationContext(**context)))


def block(path: str, body: str = "x = 1\n") -> str:
    return f"```python {path}\n{body}```\n"


def project(tmp_path: Path) -> Path:
    (tmp_path / ".git" / "hooks").mkdir(parents=True)
    (tmp_path / "README.md").write_text("mine\n")
    (tmp_path / "src").mkdir()
    return tmp_path


def test_a_workdir_without_outputs_takes_none_of_the_models_files(tmp_path: Path) -> None:
    root = project(tmp_path)
    result = check(CommandValidator(PASS), block("README.md", "pwned\n"), workdir=root)
    assert not result.passed
    assert "README.md" in result.evidence and "none written" in result.evidence
    assert (root / "README.md").read_text() == "mine\n"


def test_declared_outputs_are_written_and_others_refused(tmp_path: Path) -> None:
    root = project(tmp_path)
    validator = CommandValidator([PY, "-c", "import src.app"])
    ok = check(validator, block("src/app.py"), workdir=root, outputs=("src/",))
    assert ok.passed, ok.evidence
    assert (root / "src/app.py").read_text() == "x = 1\n"
    bad = block("src/lib.py") + block("conftest.py", "raise SystemExit\n")
    refused = check(validator, bad, workdir=root, outputs=("src/*.py",))
    assert not refused.passed and "conftest.py" in refused.evidence
    assert not (root / "conftest.py").exists()
    assert not (root / "src/lib.py").exists()  # all or nothing: the allowed one is not written


@pytest.mark.parametrize(
    "path", [".git/hooks/pre-commit", "sub/.git/config", ".GIT/hooks/post-checkout"]
)
def test_never_into_git_even_when_declared(tmp_path: Path, path: str) -> None:
    root = project(tmp_path)
    for outputs in (("**",), ("*",), None):
        result = check(CommandValidator(PASS), block(path), workdir=root, outputs=outputs)
        assert not result.passed and ".git" in result.evidence
    assert list((root / ".git" / "hooks").iterdir()) == []
    scratch = check(CommandValidator(PASS), block(path))
    assert not scratch.passed and ".git" in scratch.evidence


@pytest.mark.parametrize("path", ["../evil.py", "/tmp/evil.py", "src/../../evil.py"])
def test_never_outside(tmp_path: Path, path: str) -> None:
    root = project(tmp_path / "work")
    result = check(CommandValidator(PASS), block(path), workdir=root, outputs=("*",))
    assert not result.passed
    assert not (tmp_path / "evil.py").exists()


def test_links_cannot_lead_outside_or_into_git(tmp_path: Path) -> None:
    root = project(tmp_path / "work")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "src" / "out").symlink_to(outside)
    (root / "src" / "hooks").symlink_to(root / ".git" / "hooks")
    (root / "src" / "readme.md").symlink_to(root / "README.md")
    for path in ("src/out/x.py", "src/hooks/pre-commit", "src/readme.md"):
        result = check(CommandValidator(PASS), block(path), workdir=root, outputs=("src/",))
        assert not result.passed, path
    assert list(outside.iterdir()) == [] and list((root / ".git/hooks").iterdir()) == []
    assert (root / "README.md").read_text() == "mine\n"


def test_the_task_files_still_win_and_are_checked(tmp_path: Path) -> None:
    root = project(tmp_path)
    validator = CommandValidator(PASS, files={"tests/test_a.py": "ok\n"})
    result = check(validator, block("tests/test_a.py", "cheat\n"), workdir=root, outputs=("src/",))
    assert result.passed, result.evidence
    assert (root / "tests/test_a.py").read_text() == "ok\n"
    bad = CommandValidator(PASS, files={".git/hooks/pre-commit": "boom"})
    assert not check(bad, "", workdir=root).passed


def test_unnamed_blocks_are_left_out_when_outputs_are_declared(tmp_path: Path) -> None:
    root = project(tmp_path)
    output = "```bash\nls\n```\n" + block("src/a.py")
    result = check(CommandValidator(PASS), output, workdir=root, outputs=("src/",))
    assert result.passed, result.evidence
    assert sorted(p.name for p in root.iterdir()) == [".git", "README.md", "src"]


def test_output_patterns_are_checked_when_loaded() -> None:
    assert check_patterns(["src/", "tests/*.py"]) == ("src/", "tests/*.py")
    for bad in ("../x", "/etc/passwd", ".git/hooks/x", "a/.git"):
        with pytest.raises(ValueError):
            check_patterns([bad])


ENV_DUMP = [PY, "-c", "import os, sys; sys.stdout.write(repr(sorted(os.environ)))"]


def test_commands_run_without_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-marker")
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin-marker")
    monkeypatch.setenv("GEARSHIFT_LEDGER", "postgresql://u:secret@h/db")
    monkeypatch.setenv("PROJECT_TOKEN", "t")
    for shell in (False, True):
        run: Any = ENV_DUMP if not shell else " ".join(f"'{a}'" for a in ENV_DUMP)
        result = check(CommandValidator(run, shell=shell), "")
        assert result.passed, result.evidence
        assert "ANTHROPIC" not in result.evidence and "GEARSHIFT" not in result.evidence
        assert "PROJECT_TOKEN" not in result.evidence and "'PATH'" in result.evidence


def test_env_names_variables_to_pass_or_sets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECT_TOKEN", "t")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-marker")
    passed = validator_from_spec({"type": "command", "run": ENV_DUMP, "env": ["PROJECT_TOKEN"]})
    evidence = check(passed, "").evidence
    assert "PROJECT_TOKEN" in evidence and "ANTHROPIC" not in evidence
    given = validator_from_spec({"type": "command", "run": ENV_DUMP, "env": {"MODE": "ci"}})
    assert "'MODE'" in check(given, "").evidence
    assert os.environ["PROJECT_TOKEN"] == "t"
