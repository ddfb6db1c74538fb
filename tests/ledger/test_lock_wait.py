"""A write to a SQLite ledger locked by another writer says within a second that it is waiting,
waits up to --lock-timeout, then fails with a clear error instead of hanging silently."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gearshift.errors import LedgerError
from gearshift.ledger import Ledger


def locked(db: Path) -> sqlite3.Connection:
    with Ledger.open(db) as ledger:
        ledger.record(agent="a", model="haiku", input_tokens=1, output_tokens=1)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_the_library_tells_and_gives_up(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    holder = locked(db)
    said: list[tuple[float, str]] = []
    started = time.monotonic()

    def on_wait(message: str) -> None:
        said.append((time.monotonic() - started, message))

    ledger = Ledger.open(db, lock_timeout=2, on_lock_wait=on_wait)
    try:
        with pytest.raises(LedgerError, match="still locked by another writer after 2 s"):
            ledger.record(agent="a", model="haiku", input_tokens=1, output_tokens=1)
    finally:
        ledger.close()
        holder.rollback()
        holder.close()
    assert len(said) == 1 and said[0][0] < 1.9
    assert "waiting up to 2 s" in said[0][1] and "does not say which process" in said[0][1]
    assert time.monotonic() - started < 10


def test_record_with_lock_timeout(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    holder = locked(db)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "gearshift.cli.main", "--ledger", str(db), "--lock-timeout",
             "1.5", "record", "--agent", "a", "--model", "haiku", "--input-tokens", "1",
             "--output-tokens", "1"],
            capture_output=True, text=True, env=dict(os.environ), timeout=60,
        )  # fmt: skip
    finally:
        holder.rollback()
        holder.close()
    err = " ".join(out.stderr.split())
    assert out.returncode != 0
    assert "is locked by another writer" in err and "waiting up to 1.5 s" in err
    assert "still locked by another writer after 1.5 s" in err and "--lock-timeout" in err


def test_a_free_ledger_writes_without_a_word(tmp_path: Path) -> None:
    said: list[str] = []
    with Ledger.open(tmp_path / "l.db", lock_timeout=1, on_lock_wait=said.append) as ledger:
        ledger.record(agent="a", model="haiku", input_tokens=1, output_tokens=1)
    assert said == []


@pytest.mark.parametrize("module", ["gearshift", "gearshift.cli.main"])  # direct entry, Typer
def test_a_hook_run_ingest_leaves_a_locked_ledger_to_the_next_run(
    tmp_path: Path, module: str
) -> None:
    from gearshift.samples.claude_logs import generate_corpus

    corpus = tmp_path / "cc"
    generate_corpus(corpus, size_bytes=20_000, seed=3)
    db = tmp_path / "l.db"
    holder = locked(db)
    command = [sys.executable, "-m", module, "--ledger", str(db), "ingest", "claude-code",
               str(corpus), "--hook"]  # fmt: skip
    started = time.monotonic()
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert out.returncode == 0, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "locked by another writer" in lines[0], out.stderr
    assert "left for the next run" in lines[0]
    assert took < 15  # not the 60 s a plain ingest would wait
    with Ledger.open(db) as ledger:
        assert ledger.count() == 1  # only the record made before the lock
    again = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stderr == ""
    with Ledger.open(db) as ledger:
        assert ledger.count() > 1  # the next run did the work
