"""The commands around distributed runs: a SQLite ledger is refused with a hint; status, list and
cancel on the PostgreSQL ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gearshift.distributed.graph import submit
from gearshift.distributed.queue import ensure_schema
from gearshift.engine.pipeline import load_pipeline
from gearshift.ledger import Ledger

PIPELINE = """\
tasks:
  - {id: a, task: Write the code}
  - {id: b, task: Review the code, depends_on: a}
"""


def gearshift(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from gearshift.cli.main import main

    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_.value.code or 0), out, err


def detached(
    capsys: pytest.CaptureFixture[str],
    dist_db: str,
    path: Path,
    run: str,
    *extra: str,
    before: tuple[str, ...] = (),
) -> None:
    """``gearshift [BEFORE] run PATH --provider sim --executor postgres --run-id RUN --detach
    [EXTRA]``, which must succeed."""
    code, _, err = gearshift(capsys, "--ledger", dist_db, *before, "run", str(path), "--provider",
                             "sim", "--executor", "postgres", "--run-id", run, "--detach",
                             *extra)  # fmt: skip
    assert code == 0, err


def test_executor_postgres_on_a_sqlite_ledger_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    code, out, err = gearshift(
        capsys, "--ledger", str(tmp_path / "l.db"), "run", str(path), "--provider", "sim",
        "--executor", "postgres",
    )  # fmt: skip
    assert code == 2 and out == ""
    assert "needs a PostgreSQL ledger" in err and "hint:" in err and "--executor local" in err
    assert "Traceback" not in err
    code, _, err = gearshift(capsys, "--ledger", str(tmp_path / "l.db"), "runs", "list")
    assert code == 2 and "needs a PostgreSQL ledger" in err


def test_an_unknown_executor_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    code, _, err = gearshift(capsys, "--ledger", str(tmp_path / "l.db"), "run", str(path),
                             "--provider", "sim", "--executor", "celery")  # fmt: skip
    assert code == 2 and "--executor 'celery' is not known" in err


@pytest.mark.postgres
def test_status_list_and_cancel(
    dist_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    with Ledger.open(dist_db) as ledger:
        ensure_schema(ledger)
        jobs = load_pipeline(path, catalog=ledger.catalog, sim=True).jobs
        assert submit(ledger, "r1", jobs, pipeline_path=str(path), pipeline_text=PIPELINE,
                      options={"provider": "sim"}) == (1, 0)  # fmt: skip
        # submitting again enqueues nothing twice
        assert submit(ledger, "r1", jobs, pipeline_path=str(path), pipeline_text=PIPELINE,
                      options={"provider": "sim"}) == (0, 0)  # fmt: skip
    code, out, _ = gearshift(capsys, "runs", "status", "r1", "--ledger", dist_db)
    assert code == 0 and "2 jobs: 1 queued, 1 waiting" in out
    code, out, _ = gearshift(capsys, "runs", "list", "--ledger", dist_db)
    assert code == 0 and out.startswith("r1  running")
    code, _, err = gearshift(capsys, "runs", "cancel", "r1", "--ledger", dist_db)
    assert code == 0 and "2 job(s) will not run" in err
    code, out, _ = gearshift(capsys, "runs", "status", "r1", "--ledger", dist_db, "--json")
    assert code == 0 and '"cancelled": 2' in out and '"status": "cancelled"' in out
    code, _, err = gearshift(capsys, "runs", "status", "nope", "--ledger", dist_db)
    assert code == 2 and "no distributed run 'nope'" in err


@pytest.mark.postgres
def test_a_run_goes_to_the_queue_it_names(
    dist_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    detached(capsys, dist_db, path, "q1", "--queue", "reviews")
    with Ledger.open(dist_db) as ledger:
        rows = ledger.query("SELECT queue_name, args FROM procrastinate_jobs")
    assert [(q, a["job_id"]) for q, a in rows] == [("reviews", "a")]


@pytest.mark.postgres
def test_the_runs_concurrency_caps_each_workers_calls(
    dist_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gearshift.distributed.runtime import Runtime

    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    for run, extra in (("capped", ("--concurrency", "3")), ("free", ())):
        detached(capsys, dist_db, path, run, *extra)
    ledger = Ledger.open(dist_db)
    try:
        runtime = Runtime(ledger, name="w:1")
        assert runtime._build("capped").ctx.concurrency == 3
        assert runtime._build("free").ctx.concurrency == 1000  # the worker's --concurrency rules
    finally:
        ledger.close()


def test_without_the_distributed_extra_the_commands_say_what_to_install(tmp_path: Path) -> None:
    """procrastinate is an optional extra: `gearshift worker` and `--executor postgres` without
    it are a one-line error naming the extra, before any connection, never a traceback."""
    import subprocess
    import sys

    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("tasks:\n  - {id: a, task: 'Say hi'}\n")
    script = (
        "import sys; sys.modules['procrastinate'] = None\n"
        "from gearshift.cli.main import main\n"
        "main(sys.argv[1:])\n"
    )
    url = "postgresql://nobody@127.0.0.1:9/none"  # never reached
    for args in (["worker"], ["run", str(pipeline), "--executor", "postgres"]):
        done = subprocess.run(
            [sys.executable, "-c", script, "--ledger", url, *args],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert "needs procrastinate" in done.stderr and "gearshift[distributed]" in done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.postgres
def test_workers_price_a_run_with_the_prices_it_was_submitted_with(
    dist_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from decimal import Decimal

    from gearshift.catalog import Usage
    from gearshift.distributed.runtime import Runtime

    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    prices = tmp_path / "negotiated.toml"
    prices.write_text(
        'name = "negotiated"\n[[model]]\nid = "claude-sonnet-4-5-20250929"\n'
        '[[model.price]]\nsince = 2025-01-01\ninput = "2.5"\noutput = "12"\n',
        encoding="utf-8",
    )
    for run, given in (("file", str(prices)), ("profile", "article"), ("none", None)):
        flags = ("--prices", given) if given else ()
        detached(capsys, dist_db, path, run, before=flags)
    prices.unlink()  # the workers' hosts do not have the file: the run carries its text
    ledger = Ledger.open(dist_db)
    try:
        runtime = Runtime(ledger, name="w:1")
        million = Usage(1_000_000, 0)
        own = ledger.catalog.cost("claude-sonnet-4-5", million).exact
        file_run = runtime._build("file").ctx.catalog
        assert file_run.cost("claude-sonnet-4-5", million).exact == Decimal("2.5") != own
        from gearshift.catalog import load_catalog

        article = load_catalog("article")
        assert runtime._build("profile").ctx.catalog is article
        assert runtime._build("none").ctx.catalog is ledger.catalog  # the worker's own
    finally:
        ledger.close()


def test_the_workers_commit_delay_reaches_the_group_commit_of_each_run(
    dist_db: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`gearshift worker --commit-delay S` -> WorkerOptions -> Runtime -> each run's context."""
    from gearshift.distributed import worker
    from gearshift.distributed.runtime import Runtime

    seen: list[Any] = []
    monkeypatch.setattr(worker, "run_worker", lambda _ledger, options, **_: seen.append(options))
    code, _, err = gearshift(capsys, "--ledger", dist_db, "worker", "--commit-delay", "0.05")
    assert code == 0, err
    assert seen[0].commit_delay_s == 0.05
    assert worker.WorkerOptions().commit_delay_s == 0.01  # the default
    code, _, err = gearshift(capsys, "--ledger", dist_db, "worker", "--commit-delay", "5")
    assert code == 2 and "--commit-delay" in err

    path = tmp_path / "p.yaml"
    path.write_text(PIPELINE, encoding="utf-8")
    detached(capsys, dist_db, path, "d")
    ledger = Ledger.open(dist_db)
    try:
        ctx = Runtime(ledger, name="w:1", commit_delay_s=0.05)._build("d").ctx
        assert ctx._group().delay_s == 0.05
    finally:
        ledger.close()
