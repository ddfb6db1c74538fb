"""`--prices` with `spend`: stored costs unless `--reprice` asks for the price file's, clearly
labelled; and a bad price file fails the same way for every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gearshift.catalog import Usage, load_catalog
from gearshift.ledger import Ledger

GS = [sys.executable, "-m", "gearshift.cli.main"]
ENTRY = [sys.executable, "-c", "from gearshift.cli.entry import run; run()"]


def gs(*args: str, entry: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "150"}
    return subprocess.run([*(ENTRY if entry else GS), *args], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "l.db"
    with Ledger.open(path, catalog=load_catalog()) as ledger:
        ledger.record(agent="a", model="claude-haiku-4-5", input_tokens=10**6, output_tokens=10**6)
        ledger.record(agent="b", model="claude-opus-4-1", input_tokens=1000, output_tokens=500)
    return str(path)


@pytest.mark.parametrize("entry", [False, True], ids=["typer", "direct"])
def test_spend_reprice_uses_the_price_file_and_says_so(db: str, entry: bool) -> None:
    stored = json.loads(gs("--ledger", db, "spend", "--by", "agent", "--json", entry=entry).stdout)
    plain = gs("--ledger", db, "--prices", "article", "spend", "--by", "agent", "--json",
               entry=entry)  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout) == stored  # --prices alone leaves the stored costs
    out = gs("--ledger", db, "--prices", "article", "spend", "--by", "agent", "--reprice",
             "--json", entry=entry)  # fmt: skip
    assert out.returncode == 0, out.stderr
    repriced = json.loads(out.stdout)
    article = load_catalog("article")
    assert repriced["repriced_with"] == article.price_version
    rows = {r["key"]: r for r in repriced["rows"]}
    haiku = article.cost("claude-haiku-4-5", Usage(10**6, 10**6)).nanos
    assert rows["a"]["cost_usd"] == f"{haiku // 10**9}.{haiku % 10**9:09d}" == "4.800000000"
    assert repriced["stored_total_usd"] == stored["total"]["cost_usd"]
    table = gs("--ledger", db, "--prices", "article", "spend", "--by", "agent", "--reprice",
               entry=entry)  # fmt: skip
    assert "repriced with prices anthropic+article@" in table.stdout
    assert "not the stored costs" in table.stdout
    note = gs("--ledger", db, "--prices", "article", "spend", "--by", "agent", entry=entry)
    assert "stored costs" in note.stdout + note.stderr and "--reprice" in note.stdout + note.stderr


BAD_FILES = {
    "bad.toml": "this is = = not toml\n",
    "negative.toml": '[[model]]\nid="x"\ntier="haiku"\n[[model.price]]\nsince=2026-01-01\n'
    'input="-1"\noutput="1"\n',
}


@pytest.mark.parametrize("name", [*BAD_FILES, "missing.toml"])
def test_a_bad_price_file_fails_the_same_way_for_every_command(
    tmp_path: Path, db: str, name: str
) -> None:
    prices = tmp_path / name
    if name in BAD_FILES:
        prices.write_text(BAD_FILES[name])
    (tmp_path / "cc" / "projects").mkdir(parents=True)
    (tmp_path / "agents").mkdir()
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("tasks:\n  - {id: a, task: hello}\n")
    commands = [
        ["spend"],
        ["spend", "--by", "agent", "--json"],
        ["report"],
        ["prices"],
        ["record", "-a", "x", "-m", "haiku", "--input-tokens", "1", "--output-tokens", "1"],
        ["ledger", "stats"],
        ["ledger", "export"],
        ["ingest", "claude-code", str(tmp_path / "cc")],
        ["route", "Lint the file"],
        ["budget", "status"],
        ["audit", str(tmp_path / "agents")],
        ["run", str(pipeline), "--dry-run"],
    ]
    seen = set()
    for command in commands:
        for entry in (False, True):
            out = gs("--ledger", db, "--prices", str(prices), *command, entry=entry)
            assert out.returncode == 2, (command, entry, out.stdout, out.stderr)
            assert out.stdout == "", (command, entry)
            seen.add(out.stderr)
    assert len(seen) == 1, seen
    (message,) = seen
    assert message.startswith("error: ") and str(prices.name) in message and "hint: " in message
    # asking for help still works
    assert gs("--prices", str(prices), "spend", "--help").returncode == 0
