"""What `gearshift run` shows: the live progress line, the final table and the dry run's table.

Kept apart from :mod:`gearshift.cli.run` (options, provider, context, resume) so that each reads
on its own. Tables size their columns to the terminal: money, time and status never shrink; job
ids, tier paths and check evidence give way, and agent / strategy columns appear only when there
is room.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from gearshift.cli.common import console

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

    from gearshift.engine.context import RunContext
    from gearshift.engine.job import JobOutcome
    from gearshift.engine.pipeline import JobEstimate, Pipeline
    from gearshift.engine.runner import RunReport

__all__ = ["check_text", "fitted_table", "plural", "print_estimates", "print_report", "progress"]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


@contextlib.contextmanager
def progress(ctx: RunContext, total: int, before: int, *, enabled: bool) -> Iterator[None]:
    """A live line -- jobs done, calls, escalations, cost so far -- while the run lasts."""
    if not enabled:
        yield
        return
    from rich.live import Live
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    from gearshift.fmt import usd_nanos

    started = time.monotonic()

    def render() -> RenderableType:
        s = ctx.stats
        done = min(total, before + s.jobs_done)
        grid = Table.grid(padding=(0, 1))
        grid.add_row(
            ProgressBar(total=max(total, 1), completed=done, width=30),
            f"{done}/{total} jobs · {s.calls} calls · {s.escalations} escalations · "
            f"{usd_nanos(s.cost_nanos)} · {time.monotonic() - started:.1f}s",
        )
        return grid

    with Live(get_renderable=render, console=console(), refresh_per_second=8, transient=True):
        yield


def check_text(job_outcome: JobOutcome) -> str:
    """The validator outcome in a few words: per item for batch jobs, else the last check."""
    if job_outcome.resumed:
        return "passed earlier"
    checked = [a for a in job_outcome.attempts if a.role != "judge" and a.validation is not None]
    items = {a.tags.get("item") for a in checked} - {None}
    if items:
        last = {a.tags.get("item"): a for a in checked}
        passed = sum(1 for a in last.values() if a.validation and a.validation.passed)
        return f"{passed}/{len(last)} items pass"
    if not checked:
        return "-" if not job_outcome.attempts else "not checked"
    final = checked[-1].validation
    assert final is not None
    if final.passed:
        return "pass" if final.score is None else f"pass ({final.score:.2f})"
    first = final.evidence.strip().splitlines()[0] if final.evidence.strip() else ""
    return f"fail: {first[:40]}" if first else "fail"


_STATUS_STYLE = {"succeeded": "green", "failed": "red", "error": "red", "blocked": "red"}


_Column = tuple[str, int | None, str]

#: column -> (justify, max width, overflow). Columns without a max width (money, time, status)
#: never shrink; ids, tier paths and evidence give way on a narrow screen.
_COLUMNS: dict[str, _Column] = {
    "job": ("left", 28, "ellipsis"),
    "agent": ("left", 18, "ellipsis"),
    "strategy": ("left", 10, "ellipsis"),
    "tier path": ("left", 24, "fold"),
    "check": ("left", 22, "ellipsis"),
    "cost": ("right", None, "ellipsis"),
    "call time": ("right", None, "ellipsis"),
    "status": ("left", None, "ellipsis"),
}


def fitted_table(
    title: str,
    columns: dict[str, _Column],
    rows: list[list[str]],
    footer: list[str] | None = None,
    *,
    width: int = 80,
) -> Table:
    """A table that fits ``width``: fixed columns (no max width) as wide as their widest cell,
    the others sharing what is left, each capped at its max width (cells may hold markup)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    everything = [*rows, *([footer] if footer else [])]
    widest = [
        max([len(name), *(Text.from_markup(row[i]).cell_len for row in everything)])
        for i, name in enumerate(columns)
    ]
    specs = list(columns.values())
    fixed = sum(w for w, (_, cap, _) in zip(widest, specs, strict=True) if cap is None)
    wanted = [min(w, cap) for w, (_, cap, _) in zip(widest, specs, strict=True) if cap is not None]
    shares = iter(_share(wanted, max(width - fixed - 3 * len(columns), 6 * len(wanted))))
    for i, (name, (justify, cap, overflow)) in enumerate(columns.items()):
        table.add_column(
            name,
            justify=justify,  # type: ignore[arg-type]
            width=widest[i] if cap is None else next(shares),
            overflow=overflow,  # type: ignore[arg-type]
            no_wrap=overflow == "ellipsis",
        )
    for row in rows:
        table.add_row(*row)
    if footer:
        table.add_section()
        table.add_row(*footer)
    return table


def _share(wanted: list[int], room: int) -> list[int]:
    """Widths for ``wanted`` within ``room``: narrow columns get all they want, and the wide
    ones split what is left equally (max-min fairness), none below 6."""
    given = [0] * len(wanted)
    left, todo = room, sorted(range(len(wanted)), key=wanted.__getitem__)
    while todo:
        fair = left // len(todo)
        i = todo.pop(0)
        given[i] = max(6, min(wanted[i], fair))
        left -= given[i]
    return given


def print_report(report: RunReport, pipeline: Pipeline) -> None:
    """The final table: per job its tier path, check, cost, summed call time and status; then
    totals against the all-sonnet and all-opus counterfactual, wall time beside the calls'
    summed time, retries, what budgets refused and why, and the run id."""
    from rich.markup import escape

    from gearshift.fmt import pct, usd_nanos

    by_id = {job.id: job for job in pipeline.jobs}
    con = console()
    wide = con.width >= 120
    columns = {k: v for k, v in _COLUMNS.items() if wide or k not in ("agent", "strategy")}
    rows = []
    for o in report.outcomes:
        job = by_id[o.job_id]
        style = _STATUS_STYLE.get(o.status, "yellow")
        status = f"[{style}]{o.status}[/{style}]" + (" (earlier)" if o.resumed else "")
        call_time = f"{o.latency_ms / 1000:.1f}s" if o.attempts else "-"
        who = [job.agent, job.strategy] if wide else []
        cells = [
            o.job_id,
            *who,
            o.tier_path or "-",
            check_text(o),
            usd_nanos(o.cost_nanos),
            call_time,
        ]
        rows.append([*map(escape, cells), status])
    sonnet = report.counterfactual_nanos.get("sonnet", 0)
    opus = report.counterfactual_nanos.get("opus", 0)
    cost = report.cost_nanos
    s = report.stats
    ok = f"{report.count('succeeded')}/{len(report.outcomes)} ok"
    summed = f"{s.call_ms / 1000:.1f}s"
    footer = ["total", *([""] * (len(columns) - 4)), usd_nanos(cost), summed, ok]
    title = f"{pipeline.name} · run {report.run_id}"
    con.print(fitted_table(title, columns, rows, footer, width=con.width))
    lines = [
        f"cost {usd_nanos(cost)}: {pct(cost, sonnet)} of all-sonnet ({usd_nanos(sonnet)}), "
        f"{pct(cost, opus)} of all-opus ({usd_nanos(opus)}) for the same tokens",
        f"wall time {report.seconds:.1f}s · summed call time {summed} "
        f"({plural(s.calls, 'call')}, retries and judges included)",
        f"{plural(s.calls, 'call')} · {plural(s.escalations, 'escalation')} · "
        f"{plural(s.cache_hits, 'cache hit')} · run id {report.run_id}",
    ]
    if s.retries:
        lines.insert(2, f"{plural(s.retries, 'HTTP attempt')} retried (429, 529, timeouts, "
                     f"dropped responses): {usd_nanos(s.retry_cost_nanos)}")  # fmt: skip
    con.print("\n".join(lines), markup=False)
    _print_budget_refusals(report)
    for o in report.outcomes:
        if o.status not in ("succeeded", "blocked"):
            con.print(f"{o.job_id}: {o.status}: {o.reason}", markup=False, style="yellow")


def _print_budget_refusals(report: RunReport) -> None:
    """What budgets refused and why (each reason once), and how long calls waited for holds."""
    s = report.stats
    blocked = report.blocked
    con = console()
    if s.budget_waits or s.budget_wait_s:
        con.print(
            f"budgets: calls waited {s.budget_wait_s:.1f}s in all for holds in flight to settle "
            f"({plural(s.budget_waits, 'call')} admitted after waiting)",
            markup=False,
        )
    if not blocked:
        return
    reasons: dict[str, list[str]] = {}
    for job_id, why in blocked:
        reasons.setdefault(why, []).append(job_id)
    con.print(f"budgets refused {plural(len(blocked), 'job')}:", markup=False, style="yellow")
    for why, jobs in reasons.items():
        shown = ", ".join(jobs[:8]) + (" ..." if len(jobs) > 8 else "")
        con.print(f"  {shown}: {why}", markup=False, style="yellow", soft_wrap=True)


def print_estimates(
    pipeline: Pipeline, estimates: list[JobEstimate], totals: dict[str, int]
) -> None:
    """The dry run's table: where each job routes and what its first attempts should cost."""
    from rich.markup import escape

    from gearshift.fmt import tokens, usd_nanos

    by_id = {job.id: job for job in pipeline.jobs}
    con = console()
    wide = con.width >= 130
    text: _Column = ("left", 20, "ellipsis")
    number: _Column = ("right", None, "ellipsis")
    names = ["job", "agent", "strategy", "tier", "model", "decided by", "calls"]
    names += ["est. in", "est. out", "est. cost"]
    if not wide:
        names = [n for n in names if n not in ("agent", "strategy", "model", "calls")]
    columns = {n: number if n == "calls" or n.startswith("est.") else text for n in names}
    columns["job"] = _COLUMNS["job"]
    rows = []
    for r in estimates:
        job = by_id[r.job_id]
        cells = {"job": r.job_id, "agent": job.agent, "strategy": job.strategy, "tier": r.tier,
                 "model": r.model, "decided by": r.decided_by, "calls": str(r.calls),
                 "est. in": tokens(r.input_tokens), "est. out": tokens(r.output_tokens),
                 "est. cost": usd_nanos(r.cost_nanos)}  # fmt: skip
        rows.append([escape(cells[n]) for n in names])
    title = f"{pipeline.name} · dry run: nothing called, nothing recorded"
    con.print(fitted_table(title, columns, rows, width=con.width))
    con.print(
        f"estimated {usd_nanos(totals['cost'])} · all-sonnet {usd_nanos(totals['all_sonnet'])} · "
        f"all-opus {usd_nanos(totals['all_opus'])}\n"
        "first attempts only (escalations and judge calls come on failures); output tokens are "
        "max_tokens where set, else the tier's typical",
        markup=False,
    )
