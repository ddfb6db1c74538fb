"""Commands that only read never create, migrate or otherwise change a database: another
program's SQLite file is an error naming it, and stays byte for byte as it was."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gearshift.errors import LedgerError
from gearshift.ledger import Ledger

GS = [sys.executable, "-m", "gearshift.cli.main"]
READERS = [["spend"], ["spend", "--json"], ["report"], ["audit", "."], ["budget", "list"],
           ["budget", "status"], ["statusline"], ["ledger", "stats"]]  # fmt: skip


def foreign_db(tmp_path: Path) -> Path:
    path = tmp_path / "other-app.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.close()
    return path


def test_open_without_create_refuses_a_foreign_file_and_leaves_it(tmp_path: Path) -> None:
    path = foreign_db(tmp_path)
    before = path.read_bytes()
    with pytest.raises(LedgerError, match="is not a gearshift ledger"):
        Ledger.open(path, create=False)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    with pytest.raises(LedgerError, match="no ledger at"):
        Ledger.open(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_open_without_create_reads_a_current_ledger(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    with Ledger.open(db) as ledger:
        ledger.record(agent="a", model="haiku", input_tokens=1, output_tokens=1)
    with Ledger.open(db, create=False) as ledger:
        assert len(list(ledger.executions())) == 1


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_read_commands_name_the_file_and_change_nothing(tmp_path: Path, command: list[str]) -> None:
    path = foreign_db(tmp_path)
    before = path.read_bytes()
    out = subprocess.run([*GS, "--ledger", str(path), *command], capture_output=True, text=True,
                         env=dict(os.environ), timeout=120, cwd=tmp_path)  # fmt: skip
    assert path.read_bytes() == before, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    if command[0] == "statusline":  # a status line never fails; it says what is wrong
        assert "other-app.sqlite" in out.stdout + out.stderr
    elif command[0] != "audit":  # audit reads the ledger only for its savings column
        assert out.returncode != 0
        assert f"{path} is not a gearshift ledger" in " ".join(out.stderr.split())
