"""Privacy mode (GEARSHIFT_PRIVACY=1) never echoes a task text it does not store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from gearshift.ledger import Ledger

SECRET_TASK = "Migrate the payroll of ACME-PRIVATE-4471"


def test_record_json_in_privacy_mode_prints_no_task_text(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    args = [sys.executable, "-m", "gearshift.cli.main", "--ledger", str(db), "record",
            "--agent", "a", "--model", "haiku", "--input-tokens", "10", "--output-tokens", "5",
            "--task", SECRET_TASK]  # fmt: skip
    env = {**os.environ, "GEARSHIFT_PRIVACY": "1"}
    for extra in (["--json"], []):
        out = subprocess.run([*args, *extra], capture_output=True, text=True, env=env, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "ACME-PRIVATE" not in out.stdout + out.stderr
    shown = json.loads(
        subprocess.run(
            [*args, "--json"], capture_output=True, text=True, env=env, timeout=60
        ).stdout
    )
    assert shown["task"] is None and shown["task_hash"]
    with Ledger.open(db, privacy=False) as ledger:
        stored = list(ledger.executions())
    assert {e.task for e in stored} == {None}
    assert {e.task_hash for e in stored} == {shown["task_hash"]}
