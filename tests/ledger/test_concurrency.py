"""Several processes writing at once never lose or duplicate a record."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from gearshift.ledger import Ledger

WRITER = """
import sys
from gearshift.catalog import Usage
from gearshift.ledger import Ledger
url, worker, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Ledger.open(url) as ledger:
    for start in range(0, n, 50):
        batch = [ledger.price(agent="w" + worker, model="haiku", usage=Usage(i, 1),
                              task_key=f"{worker}-{i}") for i in range(start, min(n, start + 50))]
        assert ledger.add_many(batch) == len(batch)
"""


def test_concurrent_writer_processes(ledger_url: str, tmp_path: Path) -> None:
    Ledger.open(ledger_url).close()  # migrate once; the writers race on the data, not the schema
    workers, per = 4, 600
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, ledger_url, str(w), str(per)])
        for w in range(workers)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * workers
    with Ledger.open(ledger_url) as ledger, ledger.read() as conn:
        total, distinct = conn.execute(
            text("SELECT COUNT(*), COUNT(DISTINCT task_key) FROM executions")
        ).one()
    assert total == distinct == workers * per


def test_concurrent_first_open_migrates_once(tmp_path: Path) -> None:
    url = str(tmp_path / "fresh.db")
    script = "import sys; from gearshift.ledger import Ledger; Ledger.open(sys.argv[1]).close()"
    procs = [subprocess.Popen([sys.executable, "-c", script, url]) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 4
    with Ledger.open(url) as ledger:
        assert ledger.count() == 0
