"""The `gearshift` entry point: `ingest claude-code` runs directly (no Typer, no SQLAlchemy on an
existing SQLite ledger) with the same results and errors as through the Typer app."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gearshift.cli.entry import Direct, parse_direct

REFERENCE = Path(__file__).parents[1] / "data" / "claude_code" / "reference"


ING = ("ingest", "claude-code")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["ingest", "claude-code"], Direct(ING)),
        (
            ["--ledger", "x.db", "--debug", "ingest", "claude-code", "a", "--json", "b"],
            Direct(ING, "x.db", debug=True, options={"as_json": True},
                   paths=("a", "b")),
        ),
        (
            ["--prices=article", "ingest", "claude-code", "--mode=calculate", "--workers", "3"],
            Direct(ING, prices="article", options={"mode": "calculate", "workers": 3}),
        ),
        (
            ["ingest", "claude-code", "--strict", "--mode", "display", "--workers=1", "p"],
            Direct(ING, options={"strict": True, "mode": "display", "workers": 1},
                   paths=("p",)),
        ),
        (["ingest", "claude-code", "--hook"], Direct(ING, options={"hook": True})),
        (["spend"], Direct(("spend",))),
        (
            ["--ledger=l", "spend", "--by", "agent", "-p", "web", "--since", "-7d", "--json",
             "--tag=k=v", "-a", "Explore", "-m", "claude-x", "--tier", "opus", "--tz", "UTC",
             "--until", "today", "--source", "proxy"],
            Direct(("spend",), "l", options={
                "by": "agent", "project": "web", "since": "-7d", "as_json": True, "tag": "k=v",
                "agent": "Explore", "model": "claude-x", "tier": "opus", "tz": "UTC",
                "until": "today", "source": "proxy"}),
        ),
    ],
)  # fmt: skip
def test_plain_arguments_run_directly(args: list[str], expected: Direct) -> None:
    assert parse_direct(args) == expected


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["report"],
        ["ingest"],
        ["ingest", "claude-code", "--help"],
        ["ingest", "claude-code", "-h"],
        ["--help", "ingest", "claude-code"],
        ["--version"],
        ["ingest", "claude-code", "--workers", "0"],
        ["ingest", "claude-code", "--workers", "two"],
        ["ingest", "claude-code", "--workers", "٣"],  # a digit, but not an ASCII one
        ["ingest", "claude-code", "--workers"],
        ["ingest", "claude-code", "--mode"],
        ["ingest", "claude-code", "--jsn"],
        ["ingest", "claude-code", "--json=yes"],
        ["ingest", "claude-code", "--", "path"],
        ["ingest", "claude-code", "-"],
        ["--ledger"],
        ["--unknown", "ingest", "claude-code"],
        ["spend", "extra"],
        ["spend", "-pweb"],
        ["spend", "-p=web"],
        ["spend", "--by"],
        ["spend", "--strict"],
        ["spend", "--help"],
    ],
)
def test_anything_else_goes_to_the_typer_app(args: list[str]) -> None:
    assert parse_direct(args) is None


def _gearshift(*args: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TZ": "UTC"}
    cmd = [sys.executable, "-c", script, *args] if script else [sys.executable, "-m", "gearshift"]
    if not script:
        cmd += list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def test_direct_and_typer_paths_agree(tmp_path: Path) -> None:
    """The same corpus ingested and reported in two ledgers, once through the entry point
    (direct) and once through the Typer app's own main: the same summaries and spend."""
    typer_script = "import sys; from gearshift.cli.main import main; main(sys.argv[1:])"
    outputs = []
    for name, script in (("direct", None), ("typer", typer_script)):
        ledger = str(tmp_path / f"{name}.db")
        first = _gearshift("--ledger", ledger, "ingest", "claude-code", str(REFERENCE), "--json",
                           script=script)  # fmt: skip
        assert first.returncode == 0, first.stderr
        again = _gearshift("--ledger", ledger, "ingest", "claude-code", str(REFERENCE), "--json",
                           script=script)  # fmt: skip
        assert again.returncode == 0, again.stderr
        spend = _gearshift("--ledger", ledger, "spend", "--by", "agent", "--json", script=script)
        assert spend.returncode == 0, spend.stderr
        summaries = [json.loads(first.stdout), json.loads(again.stdout)]
        for s in summaries:
            s.pop("seconds")
        outputs.append((summaries, json.loads(spend.stdout)["rows"]))
    assert outputs[0] == outputs[1]
    (first_summary, again_summary), rows = outputs[0]
    assert first_summary["new_records"] > 0 and again_summary["new_records"] == 0
    assert {r["key"] for r in rows} == {"main", "Explore"}


def test_a_hook_run_imports_no_cli_framework_nor_sqlalchemy(tmp_path: Path) -> None:
    """What a re-run from a Claude Code hook imports, with nothing new and with new lines: no
    Typer, Click, Rich or SQLAlchemy (each costs such a run more than its work); nor does
    `spend` on an existing ledger load Typer, Click or SQLAlchemy."""
    import shutil

    tree = tmp_path / "claude"
    shutil.copytree(REFERENCE, tree)
    ledger = str(tmp_path / "l.db")
    assert _gearshift("--ledger", ledger, "ingest", "claude-code", str(tree)).returncode == 0
    script = (
        "import sys\n"
        "from gearshift.cli.entry import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "finally:\n"
        "    heavy = ('typer', 'click', 'rich', 'sqlalchemy')\n"
        "    print('HEAVY', sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    rerun = ("--ledger", ledger, "ingest", "claude-code", str(tree), "--json")
    done = _gearshift(*rerun, script=script)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stderr
    assert json.loads(done.stdout)["files_unchanged"] == 3
    transcript = max(tree.rglob("*.jsonl"), key=lambda p: p.stat().st_size)
    line = next(ln for ln in transcript.read_text().splitlines() if '"usage"' in ln)
    record = json.loads(line)
    record["message"]["id"] = "msg_01appendedAPPENDEDappend"
    record["requestId"] = "req_011CappendedAPPENDEDapp"
    with transcript.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    done = _gearshift(*rerun, script=script)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stderr
    summary = json.loads(done.stdout)
    assert (summary["new_records"], summary["files_parsed"]) == (1, 1)
    done = _gearshift("--ledger", ledger, "spend", "--by", "agent", script=script)
    assert done.returncode == 0, done.stderr
    assert "HEAVY ['rich']" in done.stderr and "Explore" in done.stdout  # rich draws the table


def test_output_is_flushed_exit_handlers_run_and_the_ledger_is_closed(tmp_path: Path) -> None:
    ledger = tmp_path / "l.db"
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('EXIT HANDLER RAN', file=sys.stderr))\n"
        "from gearshift.cli.entry import run\n"
        "run()\n"
    )
    for args in (
        ("--ledger", str(ledger), "ingest", "claude-code", str(REFERENCE), "--json"),
        ("--ledger", str(ledger), "spend", "--by", "agent", "--json"),
    ):
        done = _gearshift(*args, script=script)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)  # all of it, flushed
        assert "EXIT HANDLER RAN" in done.stderr
    assert not Path(f"{ledger}-wal").exists()
    with sqlite3.connect(ledger) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT COUNT(*) FROM executions").fetchone()[0] > 0
    failed = _gearshift("--ledger", str(ledger), "ingest", "claude-code", str(tmp_path / "no"),
                        script=script)  # fmt: skip
    assert failed.returncode == 1 and "EXIT HANDLER RAN" in failed.stderr


def test_direct_errors_look_like_every_other_error(tmp_path: Path) -> None:
    done = _gearshift("--ledger", str(tmp_path / "l.db"), "ingest", "claude-code",
                      str(tmp_path / "missing"))  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "hint: " in done.stderr
    assert "Traceback" not in done.stderr
    bad = _gearshift("ingest", "claude-code", str(REFERENCE), "--mode", "bogus")
    assert bad.returncode == 2 and "auto, calculate or display" in bad.stderr
    usage = _gearshift("ingest", "claude-code", "--workers", "0")
    assert usage.returncode == 2 and "--workers" in usage.stderr
    missing = _gearshift("--ledger", str(tmp_path / "none.db"), "spend")
    assert missing.returncode != 0 and "no ledger at" in missing.stderr
    assert not (tmp_path / "none.db").exists()
    by = _gearshift("--ledger", str(tmp_path / "l.db"), "spend", "--by", "colour")
    assert by.returncode == 2 and "cannot group by" in by.stderr


def test_a_first_ingest_that_fails_leaves_no_ledger_and_one_that_races_lands_in_the_winner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new ledger is staged while the first ingest fills it: a failing run leaves nothing, and
    when another process creates the ledger meanwhile the run is done again into that one."""
    from gearshift.cli import ingest_run
    from gearshift.cli.common import state
    from gearshift.ingest.claude_code import ingest_claude_code
    from gearshift.ingest.discover import discover
    from gearshift.ledger import Ledger

    path = tmp_path / "l.db"
    monkeypatch.setattr(state, "ledger_url", str(path))
    found = discover([REFERENCE])

    def fails(ledger: object) -> object:
        ingest_claude_code(ledger, discovery=found)  # type: ignore[arg-type]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_run._run_on_ledger(fails)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []

    ledgers: list[object] = []

    def races(ledger: object) -> object:
        ledgers.append(ledger)
        if len(ledgers) == 1:  # another process creates the ledger while this one is staged
            with Ledger.open(path) as other:
                assert other.count() == 0
        return ingest_claude_code(ledger, discovery=found)  # type: ignore[arg-type]

    summary = ingest_run._run_on_ledger(races)  # type: ignore[arg-type]
    assert len(ledgers) == 2 and summary.new_records > 0
    with Ledger.open(path) as ledger:
        assert ledger.count() == summary.new_records
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staged files


def test_version_is_printed_as_the_typer_app_prints_it() -> None:
    typer_script = "import sys; from gearshift.cli.main import main; main(sys.argv[1:])"
    direct = _gearshift("--version")
    typer = _gearshift("--version", script=typer_script)
    assert direct.returncode == typer.returncode == 0, (direct.stderr, typer.stderr)
    assert direct.stdout == typer.stdout
    assert direct.stdout.startswith("gearshift ")


def test_a_linked_transcript_outside_the_tree_is_skipped_on_both_paths(tmp_path: Path) -> None:
    """``ingest`` on a tree holding a link to a transcript elsewhere records nothing of it and
    says so; ``--follow-links`` reads it. The direct and Typer paths behave alike."""
    import shutil

    tree = tmp_path / "claude" / "projects" / "-w-p"
    tree.mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    shutil.copytree(REFERENCE, outside)
    linked = next(outside.rglob("*.jsonl"))
    (tree / "linked.jsonl").symlink_to(linked)
    typer_script = "import sys; from gearshift.cli.main import main; main(sys.argv[1:])"
    for name, script in (("direct", None), ("typer", typer_script)):
        ledger = str(tmp_path / f"{name}.db")
        run = _gearshift("--ledger", ledger, "ingest", "claude-code", str(tmp_path / "claude"),
                         "--json", script=script)  # fmt: skip
        assert run.returncode == 0, run.stderr
        summary = json.loads(run.stdout)
        assert summary["new_records"] == 0 and summary["files"] == 0
        assert summary["skipped_links"] == [str(tree / "linked.jsonl")]
        text = _gearshift("--ledger", ledger, "ingest", "claude-code", str(tmp_path / "claude"),
                          script=script)  # fmt: skip
        assert "--follow-links" in text.stdout + text.stderr
        followed = _gearshift("--ledger", ledger, "ingest", "claude-code",
                              str(tmp_path / "claude"), "--follow-links", "--json",
                              script=script)  # fmt: skip
        assert followed.returncode == 0, followed.stderr
        assert json.loads(followed.stdout)["new_records"] > 0
