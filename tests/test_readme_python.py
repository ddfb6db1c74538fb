"""The README's "Use it from Python" snippets run as written, in order, against a temporary
ledger and the offline simulator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

pytest.importorskip("sklearn")


def python_snippets() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Use it from Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_section_has_the_four_steps() -> None:
    joined = "\n".join(python_snippets())
    for call in ("learned_router(", ".record(", "run_tasks(", "fit_ledger("):
        assert call in joined


def test_readme_python_snippets_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GEARSHIFT_LEDGER", str(tmp_path / "ledger.db"))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme"}
    for snippet in python_snippets():
        exec(compile(snippet, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    decision = namespace["decision"]
    assert decision.decided_by == "learned"  # type: ignore[attr-defined]
    assert set(decision.p_success_dict()) == {"haiku", "sonnet", "opus"}  # type: ignore[attr-defined]
    assert "succeeded" in out
    namespace["ledger"].close()  # type: ignore[attr-defined]
