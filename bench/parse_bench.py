"""Transcript parsing speed: ``parse_file`` over a corpus, pure Python vs the C extension.

Run: ``.venv/bin/python bench/parse_bench.py [--corpus DIR] [--repeat R] [--no-pricer]``

The corpus defaults to the 1 GB one ``bench/ingest_vs_ccusage.py`` caches
(``bench/.cache/corpus-1000000000-42``); generate it with that script first, or pass any folder
of ``*.jsonl`` files. Rows (each the best of ``--repeat`` runs, the least disturbed by other
processes; files are in page cache after the warm-up pass):

* *pure serial*: ``parse_file_pure`` (msgspec) for every file, one after the other;
* *native serial*: the C extension path, one after the other;
* *native 2 threads*: the same files, largest first, on a ``ThreadPoolExecutor(2)`` -- the C
  scanner releases the GIL for its byte scanning and JSON validation.

Each parse gets ``pricer=EntryPricer(catalog, "auto")`` as ``ingest claude-code`` passes it,
unless ``--no-pricer``. The native results are checked to equal the pure ones.

``parse_file`` deduplicates within each file; the script then reports the entries kept and
removed, and times what the caller still does: one global ``Deduper`` pass over every file's
compacted entries (next to the same pass over the raw entries, parsed with ``compact=False``,
which it checks gives the same answer).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gearshift.catalog import load_catalog  # noqa: E402
from gearshift.ingest.dedup import Deduper, Slot  # noqa: E402
from gearshift.ingest.parse import FileResult, parse_file_pure  # noqa: E402
from gearshift.ingest.pricing import EntryPricer  # noqa: E402

DEFAULT = ROOT / "bench" / ".cache" / "corpus-1000000000-42"


def _best(run: Callable[[], list[FileResult]], repeat: int) -> tuple[float, list[FileResult]]:
    best, out = float("inf"), []
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-pricer", action="store_true")
    args = ap.parse_args()
    files = sorted(str(p) for p in args.corpus.rglob("*.jsonl"))
    if not files:
        print(f"no *.jsonl under {args.corpus} (run bench/ingest_vs_ccusage.py first)")
        return 1
    by_size = sorted(files, key=lambda p: -os.path.getsize(p))
    size = sum(os.path.getsize(p) for p in files)
    pricer = None if args.no_pricer else EntryPricer(load_catalog(), "auto")
    try:
        from gearshift.ingest.parse_native import parse_file_native
    except ImportError:
        parse_file_native = None  # type: ignore[assignment]

    for path in files:  # warm the page cache
        with open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass

    print(f"corpus: {args.corpus} ({len(files):,} files, {size / 1e6:,.0f} MB)")
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    print(f"pricer: {'none' if pricer is None else 'EntryPricer(catalog, auto)'}")
    rows: list[tuple[str, float]] = []
    pure_s, want = _best(lambda: [parse_file_pure(p, pricer=pricer) for p in files], args.repeat)
    rows.append(("pure serial", pure_s))
    if parse_file_native is None:
        print("the C extension is not built: native rows skipped")
    else:
        native = parse_file_native
        t, got = _best(lambda: [native(p, pricer=pricer) for p in files], args.repeat)
        rows.append(("native serial", t))
        _check(got, want)

        def threaded() -> list[FileResult]:
            with ThreadPoolExecutor(2) as pool:
                return list(pool.map(lambda p: native(p, pricer=pricer), by_size))

        t, got = _best(threaded, args.repeat)
        rows.append(("native 2 threads", t))
        _check(sorted(got, key=lambda r: r.path), want)
    print(f"\n{'path':<18} {'seconds':>8} {'MB/s':>8} {'vs pure':>8}")
    for name, seconds in rows:
        print(f"{name:<18} {seconds:8.3f} {size / 1e6 / seconds:8.0f} {pure_s / seconds:7.2f}x")
    _dedup_report(files, want, pricer, args.repeat)
    return 0


def _dedup_report(
    files: list[str], compacted: list[FileResult], pricer: EntryPricer | None, repeat: int
) -> None:
    raw = [parse_file_pure(p, pricer=pricer, compact=False) for p in files]
    kept = sum(len(r.entries) for r in compacted)
    removed = sum(r.duplicates for r in compacted)
    print(f"\nentries: {kept + removed:,} raw -> {kept:,} after dedup within files")

    def global_pass(results: list[FileResult]) -> Callable[[], list[Slot]]:
        def run() -> list[Slot]:
            dedup = Deduper()
            for index, result in enumerate(results):
                dedup.add(result.entries, index)
            return dedup.kept()

        return run

    for name, results in (("compacted", compacted), ("raw", raw)):
        best, out = float("inf"), []
        for _ in range(repeat):
            out = []
            gc.collect()
            start = time.perf_counter()
            out = global_pass(results)()
            best = min(best, time.perf_counter() - start)
        print(f"global Deduper over the {name} entries: {best:.3f} s, {len(out):,} kept")
    if global_pass(compacted)() != global_pass(raw)():
        raise SystemExit("the global pass over compacted entries differs from the raw one")


def _check(got: list[FileResult], want: list[FileResult]) -> None:
    for a, b in zip(got, want, strict=True):
        if (a.entries, a.duplicates, a.malformed, a.offset, a.fingerprint) != (
            b.entries,
            b.duplicates,
            b.malformed,
            b.offset,
            b.fingerprint,
        ):
            raise SystemExit(f"native result differs from pure for {a.path}")


if __name__ == "__main__":
    raise SystemExit(main())
