"""Ingesting the generated corpus gives exactly the generator's ground truth, by day and by
(session, agent) -- and a second run, or a run over a half-written copy, changes nothing."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from gearshift.ingest.claude_code import ingest_claude_code
from gearshift.ledger import Ledger
from gearshift.samples.claude_logs import generate_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("corpus")
    manifest = generate_corpus(out, size_bytes=6_000_000, seed=11)
    return out, manifest.to_dict()


def _by_day(ledger: Ledger) -> dict[str, dict[str, int]]:
    sql = (
        "SELECT ts_us, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens,"
        " cache_read_tokens, status FROM executions"
    )
    days: dict[str, Counter[str]] = {}
    with ledger.read() as conn:
        for ts_us, i, o, w5, w1, r, status in conn.execute(text(sql)):
            day = dt.datetime.fromtimestamp(ts_us / 1e6, dt.UTC).date().isoformat()
            c = days.setdefault(day, Counter())
            c.update(input=i, output=o, cache_5m=w5, cache_1h=w1, cache_read=r)
            c["calls"] += status == "success"
    return {
        d: {k: c[k] for k in ("input", "output", "cache_5m", "cache_1h", "cache_read", "calls")}
        for d, c in days.items()
        if c["calls"]
    }


def test_ingest_matches_the_manifest(corpus: tuple[Path, dict], tmp_path: Path) -> None:
    root, manifest = corpus
    with Ledger.open(tmp_path / "l.db") as ledger:
        summary = ingest_claude_code(ledger, [root])
        assert _by_day(ledger) == manifest["by_day"]
        assert summary.api_errors == manifest["api_errors"]
        assert summary.usage_lines == manifest["usage_lines"]
        assert summary.duplicates == manifest["duplicate_usage_lines"]
        want: Counter[tuple[str, str]] = Counter()
        for row in manifest["by_agent"]:
            want[(row["session"], row["agent"])] += row["calls"]
        got: Counter[tuple[str, str]] = Counter(
            (e.session, e.agent) for e in ledger.executions() if e.status == "success"
        )
        assert got == want
        again = ingest_claude_code(ledger, [root])
        assert again.new_records == 0 and again.files_unchanged == summary.files


def test_half_written_copy_then_completion(corpus: tuple[Path, dict], tmp_path: Path) -> None:
    """Cut every transcript in the middle of a line, ingest, restore, ingest again: the result is
    exactly the manifest -- nothing lost, nothing counted twice."""
    root, manifest = corpus
    work = tmp_path / "claude"
    shutil.copytree(root, work)
    originals = {}
    for path in sorted(work.rglob("*.jsonl")):
        data = path.read_bytes()
        originals[path] = data
        path.write_bytes(data[: len(data) * 2 // 3])
    with Ledger.open(tmp_path / "l.db") as ledger:
        first = ingest_claude_code(ledger, [work])
        assert first.malformed == 0
        for path, data in originals.items():
            path.write_bytes(data)  # the writer finished (same inode: appended)
        ingest_claude_code(ledger, [work])
        assert _by_day(ledger) == manifest["by_day"]
