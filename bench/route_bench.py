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
* *learned zero-shot estimator*: :class:`LearnedEstimator` (the router's default for tasks
  that carry nothing but their text) alone, and in the chain (goal: <= 2 ms per task).

Each row is the best of ``--repeat`` runs (the least disturbed by other processes).
``--accuracy`` also prints the estimator's held-out accuracy and confusion matrix.

``--learned`` adds the learned router (needs scikit-learn and the RouterBench file, ``--data``;
default: ``shared/data/routerbench-outcomes.csv.gz`` beside the repository or its worktree):

* *learn fit, 20,000 outcomes*: ``fit`` with the default options (5-fold cross-validation, Platt
  calibration, final model) on 20,000 outcomes made by resampling RouterBench training prompts
  (6,667 distinct texts, three tiers each) (goal: < 60 s);
* *predict, one at a time* / *in a batch*: P(success) of the 947 test prompts, from a model fitted
  on the training split (goal: <= 2 ms per task, batch amortised);
* *chain + learned policy, one / batch*: a full routing decision through the default chain with
  the learned policy (``Router.route`` per task, and ``Router.route_many``).
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
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gearshift.catalog import load_catalog  # noqa: E402
from gearshift.routing import (  # noqa: E402
    KeywordEstimator,
    Label,
    LearnedEstimator,
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


class Timing(NamedTuple):
    """Seconds per item: wall clock, and this process's CPU time (what the code costs when
    other work shares the cores: waiting for a core is not counted)."""

    wall: float
    cpu: float


def best_of(repeat: int, n: int, run: Callable[[], object]) -> Timing:
    """Seconds per item, best of ``repeat`` runs of ``run`` (which does ``n`` items)."""
    run()  # warm caches
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return Timing(min(walls) / n, min(cpus) / n)


def chain_row(router: Router, tasks: Sequence[Task], depths: Sequence[int], repeat: int) -> Timing:
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
    parser.add_argument("--learned", action="store_true", help="time the learned router too")
    parser.add_argument("--data", type=Path, default=None, help="routerbench-outcomes.csv.gz")
    args = parser.parse_args(argv)

    catalog = load_catalog()
    rng = random.Random(4)
    chain = default_chain(catalog, rules=load_rules(RULES, catalog))
    router = Router(catalog, policies=chain, estimator=KeywordEstimator())
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
    learned = LearnedEstimator()
    start = time.perf_counter()
    learned.predict("load the artefact")
    load_s = time.perf_counter() - start
    per_learned = best_of(args.repeat, len(rows), lambda: [learned.estimate(r.text) for r in rows])
    learned_router = Router(catalog, policies=chain, estimator=learned)
    depths_plain = [rng.choice((5, 50, 150)) for _ in plain]
    per_learned_full = chain_row(learned_router, plain, depths_plain, args.repeat)
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
    print("| path | items | per item | CPU per item | per second | goal |")
    print("|---|---:|---:|---:|---:|---|")
    print(_row("chain (rules + load), scores given", len(scored), per_chain, ">= 100,000/s"))
    print(_row("chain (rules + load), label given", len(labelled_tasks), per_label, ""))
    print(_row("keyword estimator alone", len(rows), per_estimate, "<= 200 µs"))
    print(_row("chain + estimator, text only", len(plain), per_full, ""))
    print(_row("learned zero-shot estimator alone", len(rows), per_learned, "<= 2 ms"))
    print(_row("chain + learned estimator, text only", len(plain), per_learned_full, ""))
    print()
    print(f"estimator, slowest 1% of the labelled tasks (p99 of per-task best): {p99 * 1e6:.1f} µs")
    print(f"learned zero-shot estimator, first use (reads its artefact): {load_s * 1e3:.0f} ms")
    if args.learned:
        _learned_rows(catalog, _data_file(args.data), max(1, args.repeat // 2))
    if args.accuracy:
        _print_accuracy(est)


def _data_file(given: Path | None) -> Path:
    if given is not None:
        return given
    for base in (ROOT.parent, ROOT.parent.parent):
        candidate = base / "shared" / "data" / "routerbench-outcomes.csv.gz"
        if candidate.exists():
            return candidate
    raise SystemExit("routerbench-outcomes.csv.gz not found: pass --data PATH")


def _learned_rows(catalog: Any, data: Path, repeat: int) -> None:
    """Fit time on 20,000 resampled outcomes, and prediction and routing time per task."""
    from gearshift.learn.files import parse_ladder, read_wide
    from gearshift.learn.outcome import Outcome
    from gearshift.learn.train import fit
    from gearshift.routing.features import TaskText
    from gearshift.routing.learned import LearnedPolicy

    ladder = parse_ladder("claude-instant-v1=haiku,claude-v1=sonnet,gpt-4-1106-preview=opus")
    train = read_wide(data, catalog, ladder=ladder, where={"split": "train"})
    test = read_wide(data, catalog, ladder=ladder, where={"split": "test"})
    rng = random.Random(20_000)
    known = train.outcomes()  # three per prompt, in tier order
    outcomes: list[Outcome] = []
    while len(outcomes) < 20_000:
        i = rng.randrange(len(train.texts))
        text = f"{train.texts[i]}\n(variant {len(outcomes) // 3})"
        for o in known[3 * i : 3 * i + 3]:
            outcomes.append(Outcome(text, o.tier, o.score, cost_nanos=o.cost_nanos))
    outcomes = outcomes[:20_000]
    fits, fit_cpu = [], []
    for _ in range(2):
        start, cpu = time.perf_counter(), time.process_time()
        fit(outcomes)
        fits.append(time.perf_counter() - start)
        fit_cpu.append(time.process_time() - cpu)
    model = fit(train.outcomes())
    rows = [TaskText(t) for t in test.texts]
    per_one = best_of(repeat, len(rows), lambda: [model.predict([r]) for r in rows])
    per_batch = best_of(repeat, len(rows), lambda: model.predict(rows))
    policy = LearnedPolicy(model, catalog, explore=0.05, rng=random.Random(1))
    router = Router(catalog, policies=default_chain(catalog, learned=policy))
    tasks = [Task(t) for t in test.texts]
    route_one = best_of(repeat, len(tasks), lambda: [router.route(t) for t in tasks])
    route_batch = best_of(repeat, len(tasks), lambda: router.route_many(tasks))
    print()
    print("| learned router | items | per item | CPU per item | per second | goal |")
    print("|---|---:|---:|---:|---:|---|")
    fit_s = min(fits)
    print(
        f"| learn fit, 20,000 outcomes (best of {len(fits)}: "
        f"{', '.join(f'{f:.1f}' for f in fits)} s) | 20,000 | {fit_s:.1f} s total | "
        f"{min(fit_cpu):.1f} s total | {20_000 / fit_s:,.0f} | < 60 s |"
    )
    print(_row_ms("predict, one task at a time", len(rows), per_one, ""))
    print(_row_ms("predict, one batch", len(rows), per_batch, "<= 2 ms"))
    print(_row_ms("chain + learned policy, one at a time", len(tasks), route_one, ""))
    print(_row_ms("chain + learned policy, route_many", len(tasks), route_batch, ""))


def _row_ms(name: str, n: int, t: Timing, goal: str) -> str:
    return (
        f"| {name} | {n:,} | {t.wall * 1e3:.3f} ms | {t.cpu * 1e3:.3f} ms | "
        f"{1 / t.wall:,.0f} | {goal} |"
    )


def _row(name: str, n: int, t: Timing, goal: str) -> str:
    return (
        f"| {name} | {n:,} | {t.wall * 1e6:.2f} µs | {t.cpu * 1e6:.2f} µs | "
        f"{1 / t.wall:,.0f} | {goal} |"
    )


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
