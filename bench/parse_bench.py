"""The parse stage and what follows it, in-process: parsing a corpus serially and on every core,
the global deduplication, and pricing what is kept.

Run: ``.venv/bin/python bench/parse_bench.py [--corpus DIR] [--repeat R]``

The corpus defaults to the 1 GB one ``bench/ingest_vs_ccusage.py`` caches
(``bench/.cache/corpus-1000000000-42``); generate it with that script first, or pass any folder
of ``*.jsonl`` files. Each row is the median of ``--repeat`` runs, the files in page cache
after a warm-up pass.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gearshift.catalog import load_catalog
from gearshift.ingest.copies import Deduper
from gearshift.ingest.discover import discover
from gearshift.ingest.parse import FileResult, parse_files
from gearshift.ingest.plan import plan_files
from gearshift.ingest.price import EntryPricer

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "bench" / ".cache" / "corpus-1000000000-42"


def _median(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    found = discover([args.corpus])
    if not found.files:
        print(f"no *.jsonl under {args.corpus} (run bench/ingest_vs_ccusage.py first)")
        return 1
    plans, _ = plan_files(found.files, {})
    for f in found.files:  # warm the page cache
        with open(f.path, "rb") as fh:
            while fh.read(1 << 24):
                pass
    size = found.total_bytes
    cores = os.cpu_count() or 1
    print(f"corpus: {args.corpus} ({len(found.files):,} files, {size / 1e6:,.0f} MB)")
    print(f"python {platform.python_version()}, {cores} CPUs, {platform.machine()}")

    def parse(workers: int) -> list[FileResult]:
        return [result for _, result in parse_files(plans, workers)]

    rows = []
    serial, results = _median(lambda: parse(1), args.repeat)
    rows.append(("parse, one process", serial))
    if cores > 1:
        rows.append((f"parse, {cores} processes", _median(lambda: parse(cores), args.repeat)[0]))

    def dedup() -> Deduper:
        deduper = Deduper()
        for index, result in enumerate(results):
            deduper.add(result.entries, index)
        return deduper

    seconds, deduper = _median(dedup, args.repeat)
    rows.append(("global dedup", seconds))
    kept = deduper.kept()
    catalog = load_catalog()

    def price() -> None:
        pricer = EntryPricer(catalog, "auto")
        for e, _ in kept:
            pricer.price(e.model, e.ts_us, e.tokens, e.fast, e.cost_usd, e.api_error)

    rows.append(("pricing what is kept", _median(price, args.repeat)[0]))
    print(f"\n{'stage':26} {'seconds':>8} {'MB/s':>8}")
    for name, seconds in rows:
        print(f"{name:26} {seconds:8.3f} {size / 1e6 / seconds:8.0f}")
    raw = sum(len(r.entries) + r.duplicates for r in results)
    within = sum(len(r.entries) for r in results)
    print(f"\nentries: {raw:,} usage lines -> {within:,} after dedup within files -> {len(kept):,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
