"""Routing speed: decisions per second on the hot path, and the estimator's cost per task.

Run: ``.venv/bin/python bench/route_bench.py [--tasks N] [--repeat R] [--accuracy]``

Rows:

* *chain, scores given*: the default chain with the article's ``task-router`` rules and a
  load policy (queue depth varies per task), for tasks that carry their rubric scores — the
  path a dispatcher with pre-scored tasks takes (goal: >= 100,000 decisions/s).
* *chain, label given*: the same with a low/medium/high label instead of scores.
* *estimator*: :class:`KeywordEstimator` alone on the 207 hand-written labelled tasks, with
  their agents' roles (goal: <= 200 µs per task).
* *chain + estimator*: a full decision for a task that carries nothing but its text.

Each row is the best of ``--repeat`` runs (the least disturbed by other processes).
``--accuracy`` also prints the estimator's held-out accuracy and confusion matrix.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gearshift.catalog import load_catalog  # noqa: E402
from gearshift.routing import (  # noqa: E402
    KeywordEstimator,
    Label,
    Priority,
    Router,
    Scores,
    Task,
    default_chain,
    evaluate,
    load_labelled,
    load_rules,
    split,
)

LABELLED = ROOT / "tests" / "data" / "labelled_tasks.jsonl"
RULES = ROOT / "examples" / "task-router.yaml"


def best_of(repeat: int, n: int, run: Callable[[], None]) -> float:
    """Seconds per item, best of ``repeat`` runs of ``run`` (which does ``n`` items)."""
    run()  # warm caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times) / n


def chain_row(router: Router, tasks: Sequence[Task], depths: Sequence[int], repeat: int) -> float:
    route = router.route
    pairs = list(zip(tasks, depths, strict=True))

    def run() -> None:
        for task, depth in pairs:
            route(task, queue_depth=depth)

    return best_of(repeat, len(pairs), run)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--accuracy", action="store_true")
    args = parser.parse_args(argv)

    catalog = load_catalog()
    rng = random.Random(4)
    router = Router(catalog, policies=default_chain(catalog, rules=load_rules(RULES, catalog)))
    priorities = list(Priority)
    depths = [rng.choice((5, 50, 150)) for _ in range(args.tasks)]
    scored = [
        Task(
            f"task {i}",
            scores=Scores(rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 3)),
            priority=rng.choice(priorities),
        )
        for i in range(args.tasks)
    ]
    labelled_tasks = [
        Task(f"task {i}", complexity=rng.choice(list(Label)), priority=rng.choice(priorities))
        for i in range(args.tasks)
    ]
    rows = load_labelled(LABELLED)
    est = KeywordEstimator()

    def estimate_all() -> None:
        for row in rows:
            est.estimate(row.text, role=row.role)

    per_chain = chain_row(router, scored, depths, args.repeat)
    per_label = chain_row(router, labelled_tasks, depths, args.repeat)
    per_estimate = best_of(args.repeat, len(rows), estimate_all)
    plain = [Task(row.text, priority=rng.choice(priorities)) for row in rows]
    per_full = chain_row(router, plain, [rng.choice((5, 50, 150)) for _ in plain], args.repeat)
    samples = []
    for row in rows:  # each task's best of five: the spread across tasks, not scheduler noise
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            est.estimate(row.text, role=row.role)
            best = min(best, time.perf_counter() - start)
        samples.append(best)
    p99 = statistics.quantiles(samples, n=100)[98]

    cpu = _cpu_model()
    print(f"# routing benchmark — {dt.date.today().isoformat()}")
    print(f"machine: {cpu}, {os.cpu_count()} CPUs; Python {platform.python_version()}")
    print()
    print("| path | items | per item | per second | goal |")
    print("|---|---:|---:|---:|---|")
    print(_row("chain (rules + load), scores given", len(scored), per_chain, ">= 100,000/s"))
    print(_row("chain (rules + load), label given", len(labelled_tasks), per_label, ""))
    print(_row("keyword estimator alone", len(rows), per_estimate, "<= 200 µs"))
    print(_row("chain + estimator, text only", len(plain), per_full, ""))
    print()
    print(f"estimator, slowest 1% of the labelled tasks (p99 of per-task best): {p99 * 1e6:.1f} µs")
    if args.accuracy:
        _print_accuracy(est)


def _row(name: str, n: int, seconds: float, goal: str) -> str:
    return f"| {name} | {n:,} | {seconds * 1e6:.2f} µs | {1 / seconds:,.0f} | {goal} |"


def _print_accuracy(est: KeywordEstimator) -> None:
    calibration, held_out = split(load_labelled(LABELLED))
    for name, part in (("calibration", calibration), ("held-out", held_out)):
        result = evaluate(part, lambda r: est.estimate(r.text, role=r.role).scores)
        print()
        print(
            f"{name}: {result.correct}/{result.total} = {result.accuracy:.1%} exact tier; "
            f"opus->haiku {result.opus_to_haiku}; MAE "
            + ", ".join(f"{d} {result.mae(d):.2f}" for d in result.abs_error)
        )
        print()
        print(result.matrix_markdown())
        for row, scores, predicted in result.misses:
            print(
                f"- `{row.id}` {row.text!r}: human {row.scores.as_tuple()} {row.tier}, "
                f"estimated {scores.as_tuple()} {predicted}"
            )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
