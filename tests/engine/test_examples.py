"""Every shipped pipeline example runs end to end on sim -- through the library and through
`gearshift run` -- and the ledger shows every attempt with its chain; one run goes through the
real Anthropic SDK against the fake server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gearshift.catalog import load_catalog
from gearshift.engine.context import RunContext
from gearshift.engine.pipeline import load_pipeline
from gearshift.engine.run_state import RunStore
from gearshift.engine.runner import RunReport, run_jobs
from gearshift.ledger import Ledger
from gearshift.ledger.record import Execution
from gearshift.providers import RetryingProvider, get_provider
from gearshift.testing.fake_anthropic import FakeAnthropic

EXAMPLES = Path(__file__).parents[2] / "examples"
CAT = load_catalog()
FINAL = {"succeeded", "failed", "skipped"}
PIPELINES = [
    "dispatch",
    "test-pipeline",
    "feature-implementation",
    "batch-optimization",
    "confidence-escalation",
    "pipeline",
]


def cli(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gearshift.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def rows_of(ledger: Ledger, run_id: str) -> list[Execution]:
    return list(ledger.executions(where="run_id = :run", params={"run": run_id}))


def check_ledger(rows: list[Execution], report: Mapping[str, Any]) -> None:
    """Every attempt of the report is one ledger row of the run, in a chain with its attempt
    number; a chain's later attempts say why they escalated; the costs add up."""
    jobs = {job["job"]: job for job in report["jobs"]}
    calls = [r for r in rows if r.tags.get("role") != "judge"]
    assert len(calls) == sum(len(job["attempts"]) for job in jobs.values())
    chains: dict[str, list[Execution]] = defaultdict(list)
    for row in rows:
        assert row.task_key in jobs and row.chain_id and row.strategy
        chains[row.chain_id].append(row)
    for chain in chains.values():
        attempts = sorted({r.attempt for r in chain})
        assert attempts == list(range(1, len(attempts) + 1))
        assert len({r.task_key for r in chain}) == 1
        for row in chain:
            if row.attempt > 1 and row.tags.get("role") in ("generate", "retry", "regenerate"):
                assert row.escalation_reason
    ledger_nanos = sum(r.cost_nanos for r in rows)
    assert ledger_nanos == sum(_nanos(job["cost_usd"]) for job in jobs.values())


def _nanos(usd: str) -> int:
    whole, _, frac = usd.partition(".")
    return int(whole) * 10**9 + int((frac + "0" * 9)[:9])


def run_library(path: Path, ledger: Ledger, seed: int = 0) -> RunReport:
    pipeline = load_pipeline(path, catalog=CAT, sim=True)
    provider = RetryingProvider(get_provider("sim", seed=seed, time_scale=0, catalog=CAT))
    ctx = RunContext(
        provider=provider,
        catalog=CAT,
        router=pipeline.router(CAT),
        ledger=ledger,
        store=RunStore(ledger),
        source="sim",
    )
    return run_jobs(ctx, pipeline.jobs)


@pytest.mark.parametrize("name", PIPELINES)
def test_example_runs_through_the_library(name: str, tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.db", catalog=CAT) as ledger:
        report = run_library(EXAMPLES / f"{name}.yaml", ledger)
        assert {o.status for o in report.outcomes} <= FINAL
        assert report.outcomes[0].attempts, "the first job ran"
        rows = rows_of(ledger, report.run_id)
    assert {r.source for r in rows} == {"sim"}
    check_ledger(rows, report.to_dict())


@pytest.mark.parametrize("name", PIPELINES)
def test_example_runs_through_the_cli(name: str, tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    result = cli("--ledger", str(db), "run", str(EXAMPLES / f"{name}.yaml"), "--provider", "sim",
                 "--time-scale", "0", "--json")  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    statuses = {job["status"] for job in report["jobs"]}
    assert statuses <= FINAL and (result.returncode == 0) == (statuses == {"succeeded"})
    assert "Traceback" not in result.stderr
    totals = report["totals"]
    assert totals["jobs"] == len(
        load_pipeline(EXAMPLES / f"{name}.yaml", catalog=CAT, sim=True).jobs
    )
    assert _nanos(totals["all_opus_usd"]) > _nanos(totals["all_sonnet_usd"]) > 0
    assert report["resume"].endswith(f"--run-id {report['run_id']}")
    with Ledger.open(db, catalog=CAT) as ledger:
        rows = rows_of(ledger, report["run_id"])
    check_ledger(rows, report)


def gearshift(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`gearshift ARGS` in this process (quicker than a subprocess): exit code, stdout, stderr."""
    from gearshift.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def test_the_same_seed_gives_the_same_run(tmp_path: Path) -> None:
    path = EXAMPLES / "feature-implementation.yaml"
    runs = []
    for name in ("a", "b"):
        with Ledger.open(tmp_path / f"{name}.db", catalog=CAT) as ledger:
            report = run_library(path, ledger, seed=3)
        runs.append([(o.tier_path, o.cost_nanos, o.status) for o in report.outcomes])
    assert runs[0] == runs[1]


def test_dry_run_routes_and_prices_without_calling_or_recording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "ledger.db"
    path = EXAMPLES / "feature-implementation.yaml"
    code, out, err = gearshift(capsys, "--ledger", str(db), "run", str(path), "--dry-run", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["dry_run"] is True and not db.exists()
    assert [(j["job"], j["tier"]) for j in report["jobs"]] == [
        ("subtask-1-design", "opus"),
        ("subtask-2-implementation", "sonnet"),
        ("subtask-3-testing", "haiku"),
        ("subtask-4-review", "sonnet"),
    ]
    assert _nanos(report["totals"]["cost_usd"]) < _nanos(report["totals"]["all_opus_usd"])
    code, out, err = gearshift(capsys, "--ledger", str(db), "run", str(path), "--dry-run")
    assert code == 0 and "subtask-1-design" in out
    assert "nothing called, nothing recorded" in out and not db.exists()


def test_human_output_has_the_final_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = gearshift(capsys, "--ledger", str(tmp_path / "l.db"), "run",
                               str(EXAMPLES / "test-pipeline.yaml"), "--provider", "sim",
                               "--time-scale", "0")  # fmt: skip
    assert code == 0, err
    for words in ("test-pipeline · run ", "tier path", "check", "call time", "succeeded",
                  "of all-sonnet", "of all-opus", "run id ", "wall time "):  # fmt: skip
        assert words in out
    assert err.startswith("run ") and "1 job from" in err


def _sonnet_passes(body: Mapping[str, Any]) -> str:
    passed = "sonnet" in str(body.get("model"))
    return f"verdict: {'PASS' if passed else 'FAIL'}\nconfidence: 0.9"


def test_run_against_the_fake_anthropic_server(tmp_path: Path) -> None:
    """`--provider anthropic` through the real SDK: haiku fails the check, sonnet passes."""
    path = tmp_path / "p.yaml"
    path.write_text(
        "defaults: {model: haiku, ladder_top: sonnet, validators: [{regex: 'verdict: PASS'}]}\n"
        "tasks:\n  - {id: one, task: Write the parser}\n"
        "  - {id: two, task: Test the parser, depends_on: one}\n"
    )
    db = tmp_path / "ledger.db"
    with FakeAnthropic(reply=_sonnet_passes) as server:
        env = {"ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "sk-test"}
        result = cli("--ledger", str(db), "run", str(path), "--provider", "anthropic", "--json",
                     env=env)  # fmt: skip
        requests = server.counts["/v1/messages"]
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [j["tier_path"] for j in report["jobs"]] == ["haiku -> sonnet", "haiku -> sonnet"]
    assert requests == 4 and report["totals"]["escalations"] == 2
    with Ledger.open(db, catalog=CAT) as ledger:
        rows = rows_of(ledger, report["run_id"])
    assert {r.source for r in rows} == {"api"} and len(rows) == 4
    check_ledger(rows, report)


@pytest.mark.parametrize(
    ("provider", "env", "code", "words"),
    [
        ("anthropic", {}, 1, "needs an API key in ANTHROPIC_API_KEY"),
        ("claude-code", {"GEARSHIFT_CLAUDE_BIN": "/nonexistent/claude"}, 2, "is not on PATH"),
        ("gpt", {}, 2, "unknown provider 'gpt'"),
    ],
)
def test_provider_errors_are_messages_with_hints(
    provider: str,
    env: dict[str, str],
    code: int,
    words: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    got, _, err = gearshift(capsys, "--ledger", str(tmp_path / "l.db"), "run",
                            str(EXAMPLES / "dispatch.yaml"), "--provider", provider,
                            "--allow-commands")  # fmt: skip
    assert got == code and words in err and "hint: " in err
    assert "Traceback" not in err


def test_a_bad_pipeline_is_a_message_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("tasks:\n  - task: x\n    agent: nobody\n")
    code, _, err = gearshift(capsys, "run", str(path), "--provider", "sim")
    assert code == 2 and f"error: {path}:3: unknown agent 'nobody'" in err
    assert "Traceback" not in err
