"""Names from transcripts and prompts on a terminal: cut when long, escaped when they hold
control or bidirectional characters; ``--json`` keeps them exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gearshift.cli.common import printable
from gearshift.ledger import Ledger

GS = [sys.executable, "-m", "gearshift.cli.main"]
LONG = "a" * 5000
HOSTILE = "evil\u202etxt.exe\x1b[31mred\x07"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([*GS, *args], capture_output=True, text=True, env=env, timeout=120)


def test_printable_escapes_and_cuts() -> None:
    assert printable("reviewer") == "reviewer"
    assert printable(HOSTILE) == "evil\\u202etxt.exe\\x1b[31mred\\x07"
    assert printable(LONG) == "a" * 47 + "…"
    assert printable(LONG, None) == LONG
    assert printable("line\u2028break\u2066") == "line\\u2028break\\u2066"


def test_spend_and_report_tables_stay_readable(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    with Ledger.open(db) as ledger:
        for agent in (LONG, HOSTILE, "plain"):
            ledger.record(agent=agent, model="sonnet", input_tokens=1000, output_tokens=500)
    for command in (["spend", "--by", "agent"], ["report"]):
        out = run("--ledger", str(db), *command)
        assert out.returncode == 0, out.stderr
        text = out.stdout
        assert "\u202e" not in text and "\x1b" not in text and "\x07" not in text
        assert "\\u202e" in text and "a" * 47 + "…" in text
        assert "a" * 60 not in text
        plain = next(line for line in text.splitlines() if line.strip("│ ").startswith("plain"))
        assert "$" in plain  # the numbers of a row are still there beside the long name
    data = json.loads(run("--ledger", str(db), "spend", "--by", "agent", "--json").stdout)
    assert {row["key"] for row in data["rows"]} == {LONG, HOSTILE, "plain"}
