"""Train the learned zero-shot estimator and write its artefact (gearshift/routing/data).

    .venv/bin/python scripts/train_zero_shot.py               # retrain, write the artefact
    .venv/bin/python scripts/train_zero_shot.py --check       # fail if the bundled one differs
    .venv/bin/python scripts/train_zero_shot.py --cross-writer   # options check on writers A/B
    .venv/bin/python scripts/train_zero_shot.py --held-out    # report on writer C (see below)

Training reads tests/data/labelled_tasks.jsonl and the tuning part (writers A and B) of
tests/data/routing/independent_tasks.jsonl; writer C is never read for training. ``--held-out``
scores the bundled artefact and the keyword estimator on writer C: it is for reporting
(docs/routing.md says how many times it was looked at), never for choosing options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gearshift.catalog.tiers import Tier  # noqa: E402
from gearshift.routing.estimator import KeywordEstimator  # noqa: E402
from gearshift.routing.rubric import Rubric  # noqa: E402
from gearshift.routing.zeroshot import ARTEFACT, LearnedEstimator  # noqa: E402
from gearshift.routing.zeroshot_fit import (  # noqa: E402
    cross_writer,
    dump,
    fit,
    load_independent,
    training_rows,
)

LABELLED = ROOT / "tests" / "data" / "labelled_tasks.jsonl"
INDEPENDENT = ROOT / "tests" / "data" / "routing" / "independent_tasks.jsonl"
OUT = ROOT / "src" / "gearshift" / "routing" / "data" / ARTEFACT
ORDER = Tier.ordered()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the bundled artefact")
    parser.add_argument("--cross-writer", action="store_true", help="train without A, then B")
    parser.add_argument("--held-out", action="store_true", help="report on writer C")
    args = parser.parse_args()
    if args.held_out:
        return _held_out()
    rows = training_rows(LABELLED, INDEPENDENT)
    if args.cross_writer:
        result = cross_writer(rows)
        print(f"cross-writer: {result['accuracy']:.1%} {result['per_writer']}")
        print(f"haiku<->opus: {result['haiku_opus']}; confusion {result['confusion']}")
        return 0
    blob = dump(fit(rows))
    if args.check:
        same = OUT.exists() and OUT.read_bytes() == blob
        print("bundled artefact is up to date" if same else f"{OUT} differs from a retrain")
        return 0 if same else 1
    OUT.write_bytes(blob)
    print(f"wrote {OUT} ({len(blob):,} bytes, {len(rows)} rows)")
    return 0


def _held_out() -> int:
    rows = load_independent(INDEPENDENT, split="held-out")
    rubric = Rubric()
    keyword = KeywordEstimator()
    learned = LearnedEstimator()
    for name, tier_of in (
        ("keyword", lambda text: rubric.tier_for(keyword.estimate(text))),
        ("learned", lambda text: learned.predict(text).tier),
    ):
        confusion = {h: dict.fromkeys(ORDER, 0) for h in ORDER}
        for row in rows:
            confusion[row.tier][tier_of(row.text)] += 1
        right = sum(confusion[t][t] for t in ORDER)
        print(f"\n{name}: {right}/{len(rows)} = {right / len(rows):.1%} exact tier")
        print("| human \\ predicted | " + " | ".join(t.value for t in ORDER) + " |")
        print("|---|" + "---:|" * len(ORDER))
        for h in ORDER:
            print(f"| **{h.value}** | " + " | ".join(str(confusion[h][p]) for p in ORDER) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
