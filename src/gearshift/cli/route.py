"""`gearshift route` and `gearshift audit`: which tier a task or an agent belongs on, and why."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gearshift.cli.common import console, dumps, err_console, print_json, printable_text, state

if TYPE_CHECKING:
    from gearshift.agents import AgentSet, FileEdit
    from gearshift.insight.audit import AgentObservation, AuditReport
    from gearshift.insight.recommend import Recommendation
    from gearshift.routing import Policy, RouteDecision, Router, Task
    from gearshift.routing.learned import LearnedPolicy


def register(app: typer.Typer) -> None:
    app.command("route")(route)
    app.command("audit")(audit)


AgentsDirs = Annotated[
    list[Path] | None,
    typer.Option(
        "--agents-dir",
        metavar="DIR",
        help="Directory (or file) of agent definitions; repeatable. "
        "[default: .claude/agents, ~/.claude/agents]",
        show_default=False,
    ),
]


def route(
    text: Annotated[
        str | None, typer.Argument(metavar="TASK", help="The task text.", show_default=False)
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent", metavar="NAME", help="The agent the task is for.", show_default=False
        ),
    ] = None,
    agents_dir: AgentsDirs = None,
    priority: Annotated[
        str, typer.Option("--priority", metavar="P", help="low, normal, high or critical.")
    ] = "normal",
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            metavar="MODEL",
            help="Explicit model override (tier or id).",
            show_default=False,
        ),
    ] = None,
    objective: Annotated[
        str | None,
        typer.Option(
            "--objective",
            metavar="GOAL",
            help="cost, quality or speed (breaks ties).",
            show_default=False,
        ),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules", metavar="FILE", help="A task-router rules file (YAML).", show_default=False
        ),
    ] = None,
    queue_depth: Annotated[
        int | None,
        typer.Option(
            "--queue-depth", min=0, metavar="N", help="Current queue depth, for load-aware routing."
        ),
    ] = None,
    batch: Annotated[
        Path | None,
        typer.Option(
            "--batch",
            metavar="FILE",
            help="Route every task of a JSONL file (or a dispatch: YAML list); '-' reads stdin.",
            show_default=False,
        ),
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show the evidence and every policy step.")
    ] = False,
    failure_cost: Annotated[
        str,
        typer.Option(
            "--failure-cost",
            metavar="USD",
            help="Learned routing: what a failed attempt costs you beyond its tokens (rework).",
        ),
    ] = "0.10",
    explore: Annotated[
        float,
        typer.Option(
            "--explore",
            min=0.0,
            max=1.0,
            metavar="SHARE",
            help="Learned routing: share of tasks considered for one tier down (exploration).",
        ),
    ] = 0.0,
    learned: Annotated[
        bool,
        typer.Option("--learned/--no-learned", help="Use the trained model when there is one."),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Put a task on a model tier and show why: scores, evidence, P(success) per tier when a
    model is trained (`gearshift learn fit`), and the policy chain."""
    from gearshift.errors import ConfigError
    from gearshift.routing import Objective, Priority, Task, load_tasks, parse_tasks_jsonl

    if (text is None) == (batch is None):
        raise ConfigError(
            "give either a task text or --batch FILE",
            hint='gearshift route "Write unit tests for the auth module" --agent test-engineer',
        )
    if batch is not None:
        tasks = (
            parse_tasks_jsonl(sys.stdin.read(), "<stdin>")
            if str(batch) == "-"
            else load_tasks(batch)
        )
    else:
        assert text is not None
        if not text.strip():
            raise ConfigError("the task text is empty", hint="describe the task to route")
        tasks = [
            Task(
                text,
                agent=agent,
                priority=Priority.parse(priority),
                model=model,
                objective=Objective.parse(objective) if objective else None,
            )
        ]
    needs_agents = any(t.agent for t in tasks)
    agents = _agents(agents_dir) if needs_agents else None
    if agents is not None and agent is not None:
        agents.require(agent)
    policy = _learned(failure_cost, explore) if learned else None
    router = _router(agents, rules, policy)
    decisions = router.route_many(tasks, queue_depth=queue_depth)
    if batch is not None:
        _print_batch(tasks, decisions, as_json=as_json, explain=explain)
    elif as_json:
        out = {"text": tasks[0].text, **decisions[0].to_dict()}
        if explain and policy is not None:
            out["evidence"] = _evidence(policy, tasks[0])
        print_json(out)
    else:
        evidence = _evidence(policy, tasks[0]) if explain and policy is not None else []
        _print_decision(decisions[0], explain=explain, evidence=evidence)


def _agents(dirs: list[Path] | None, *, keep_going: bool = False) -> AgentSet:
    from gearshift.agents import LoadOptions, discover
    from gearshift.errors import ConfigError

    for folder in dirs or ():
        if not folder.exists():
            raise ConfigError(
                f"agents folder {folder} does not exist", hint="name a folder of agents"
            )

    return discover(dirs or None, LoadOptions(catalog=state.catalog()), keep_going=keep_going)


def _router(agents: AgentSet | None, rules: Path | None, learned: Policy | None) -> Router:
    from gearshift.routing import Router, default_chain, load_rules

    catalog = state.catalog()
    ruleset = load_rules(rules, catalog) if rules is not None else None
    chain = default_chain(catalog, rules=ruleset, over_budget=_budget_pressure(), learned=learned)
    return Router(catalog, agents=agents, policies=chain)


def _learned(failure_cost: str, explore: float) -> LearnedPolicy | None:
    """The learned policy on the ledger's newest model: ``None`` without a ledger or a model
    (routing a task must not create a ledger), and with a note when scikit-learn is missing."""
    import random
    from decimal import Decimal, InvalidOperation

    from gearshift.errors import ConfigError
    from gearshift.ledger.urls import resolve_location

    try:
        cost = Decimal(failure_cost)
    except InvalidOperation:
        raise ConfigError(f"--failure-cost: {failure_cost!r} is not an amount in USD") from None
    location = resolve_location(state.ledger_url)
    if location.path is not None and not location.path.exists():
        return None
    from gearshift.routing.features import sklearn_available

    if not sklearn_available():
        from gearshift.cli.common import err_console

        err_console().print(
            "note: scikit-learn is not installed, so no trained model is used "
            "(pip install 'gearshift[learn]')",
            markup=False,
        )
        return None
    from gearshift.learn.api import learned_policy

    return learned_policy(
        state.ledger(), state.catalog(), failure_cost_usd=cost, explore=explore, rng=random.Random()
    )


def _evidence(policy: LearnedPolicy, task: Task) -> list[str]:
    """The known outcomes behind a prediction: the task's agent and type groups, and the
    known tasks worded most like it."""
    from gearshift.routing.learned import task_text

    row = task_text(task)
    lines = [g.describe() for g in policy.predictor.evidence(row)]
    near = policy.predictor.neighbours(row)
    if near is not None:
        lines.append(near.describe())
    return lines


def _budget_pressure() -> Callable[[Task], bool] | None:
    """Budget-aware routing from the ledger's budgets, when a ledger exists (routing a task must
    not create one)."""
    from gearshift.budgets.pressure import over_budget_check
    from gearshift.ledger.urls import resolve_location

    location = resolve_location(state.ledger_url)
    if location.path is not None and not location.path.exists():
        return None
    return over_budget_check(state.ledger(), config=state.config())


def _scores_text(decision: RouteDecision) -> str:
    a = decision.assessment
    if a is None:
        return "-"
    s = a.scores
    return f"multi-step {s.multi_step} · judgment {s.judgment} · stakes {s.stakes} = {s.total}"


def _print_decision(
    decision: RouteDecision, *, explain: bool, evidence: list[str] | None = None
) -> None:
    from gearshift.cli.common import plain_table

    con = console()
    a = decision.assessment
    con.print(f"[bold]{decision.tier.value}[/bold]  {decision.model}")
    source = f" ({a.source})" if a else ""
    con.print(f"scores   {_scores_text(decision)}{source}", markup=False)
    p = decision.p_success_dict()
    if p is not None:
        shown = ", ".join(f"{t} {'-' if v is None else f'{v:.0%}'}" for t, v in p.items())
        con.print(f"P(pass)  {shown} (learned)", markup=False)
    for reason in decision.reasons:
        con.print(f"because  {reason}", markup=False)
    if not explain:
        return
    if a is not None:
        con.print("evidence", style="bold")
        for dim, notes in a.evidence.items():
            con.print(f"  {dim}: {'; '.join(notes)}", markup=False)
    if evidence:
        con.print("known outcomes", style="bold")
        for line in evidence:
            con.print(f"  {line}", markup=False)
    table = plain_table(title="policy chain", title_justify="left")
    for col in ("#", "policy", "action", "tier", "reason", "inputs"):
        table.add_column(col, overflow="fold")
    for i, step in enumerate(decision.steps, 1):
        inputs = ", ".join(f"{k}={v}" for k, v in step.inputs.items() if v is not None)
        tier = step.tier.value if step.tier else "-"
        table.add_row(str(i), step.policy, step.action.value, tier, step.reason, inputs)
    con.print(table)


def _print_batch(
    tasks: list[Task], decisions: list[RouteDecision], *, as_json: bool, explain: bool
) -> None:
    if as_json:
        out = sys.stdout
        for task, decision in zip(tasks, decisions, strict=True):
            full = decision.to_dict()
            row: dict[str, Any] = {
                "id": task.id,
                "text": task.text,
                "agent": task.agent,
                "tier": full["tier"],
                "model": full["model"],
                "decided_by": full["decided_by"],
                "scores": full["scores"],
                "p_success": full["p_success"],
                "reasons": full["reasons"],
            }
            if explain:
                row["assessment"] = full["assessment"]
                row["steps"] = full["steps"]
            out.write(dumps(row, indent=None) + "\n")
        return
    from gearshift.cli.common import plain_table

    table = plain_table(title=f"{len(tasks)} tasks routed")
    for col in ("#", "tier", "model", "m/j/s", "decided by", "agent", "task"):
        table.add_column(col, overflow="fold")
    for i, (task, d) in enumerate(zip(tasks, decisions, strict=True), 1):
        s = d.assessment.scores if d.assessment else None
        mjs = f"{s.multi_step}/{s.judgment}/{s.stakes}={s.total}" if s else "-"
        table.add_row(
            str(i), d.tier.value, d.model, mjs, d.decided_by, task.agent or "-", task.text[:60]
        )
    console().print(table)


def audit(
    dirs: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="DIR",
            help="Directories or files of agent definitions. "
            "[default: .claude/agents, ~/.claude/agents]",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str,
        typer.Option(
            "--since",
            help="The ledger evidence to weigh: from this day (YYYY-MM-DD, 7d, today).",
        ),
    ] = "30d",
    apply: Annotated[
        bool, typer.Option("--apply", help="Rewrite the model line of each changed file.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the changes without writing (default).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recommend a tier for every agent definition -- from the ledger's outcome evidence where
    it has enough (as `report` does), from the rubric elsewhere -- with the monthly saving;
    --apply fixes files.

    A file that cannot be read is reported (file:line) and left out; the others are audited,
    and the command then exits with the error's code (2)."""
    from gearshift.agents import apply_edit
    from gearshift.errors import ConfigError
    from gearshift.insight.audit import audit_agents

    if apply and dry_run:
        raise ConfigError("--apply and --dry-run exclude each other")
    agents = _agents(dirs, keep_going=True)
    for error in agents.broken:
        err_console().print(
            f"error: {printable_text(error.message)}", style="red", markup=False, soft_wrap=True
        )
    found = agents.all()
    catalog = state.catalog()
    window = _Window.of(since)
    observed, advice = _ledger_evidence(window)
    report = audit_agents(found, catalog, observed=observed, advice=advice)
    edits = report.edits()
    if apply:
        for edit in edits:
            apply_edit(edit)
    if as_json:
        print_json(
            {
                **report.to_dict(),
                "window": window.to_dict(),
                "diff": "".join(e.diff() for e in edits),
                "applied": apply,
                "files": [str(e.path) for e in edits],
                "errors": [e.message for e in agents.broken],
            }
        )
    elif not found:
        where = ", ".join(str(d) for d in dirs) if dirs else ".claude/agents, ~/.claude/agents"
        console().print(f"no agent definitions found in {where}", markup=False)
    else:
        _print_audit(report, edits, applied=apply)
        console().print(window.text(), markup=False)
    if agents.broken:
        err_console().print(
            f"{len(agents.broken)} agent file(s) could not be read (above); the rest were audited",
            style="red",
            markup=False,
        )
        raise typer.Exit(max(e.exit_code for e in agents.broken))


class _Window:
    """The stretch of the ledger the audit weighs: from ``since`` to now."""

    def __init__(self, option: str, since: dt.datetime) -> None:
        self.option = option
        self.since = since
        # calendar days, today counted: "--since 7d" starts at midnight six days ago, and is 7
        # days at any hour (a rounded duration was 6 just after midnight, 7 later in the day)
        today = dt.datetime.now(since.tzinfo).date()
        self.days = max(1, (today - since.date()).days + 1)

    @classmethod
    def of(cls, option: str) -> _Window:
        from gearshift.cli.spend_run import build_filters
        from gearshift.errors import ConfigError

        filters, _ = build_filters(option, None, None)
        if filters.since is None:
            raise ConfigError("--since: give a day", hint="e.g. --since 30d or 2026-03-01")
        return cls(option, filters.since)

    def text(self) -> str:
        day = self.since.astimezone().date().isoformat()
        if self.option == "30d":
            return f"ledger window: the last 30 days (since {day}; --since to change)"
        return f"ledger window: since {day} ({self.days} days)"

    def to_dict(self) -> dict[str, object]:
        return {"since": self.since.isoformat(), "until": None, "days": self.days}


def _ledger_evidence(
    window: _Window,
) -> tuple[dict[str, AgentObservation], dict[str, Recommendation]]:
    """Per-agent executions and cost over the window (the savings column), and the report's
    tier moves over the same window (the evidence that decides where it is enough).

    An audit must not create a ledger as a side effect: with no ledger file there is nothing
    observed, and the audit still assesses every definition.
    """
    from gearshift.insight.audit import observations_from_stats
    from gearshift.insight.expected_cost import TrueCostRates
    from gearshift.insight.recommend import recommend, tier_moves
    from gearshift.insight.truecost import true_cost
    from gearshift.ledger import Filters, agent_summary
    from gearshift.ledger.urls import resolve_location

    location = resolve_location(state.ledger_url)
    if location.path is not None and not location.path.exists():
        return {}, {}
    ledger = state.ledger()
    filters = Filters(since=window.since)
    stats = agent_summary(ledger, filters)
    rates = TrueCostRates.from_config(state.config().true_cost)
    costs = true_cost(ledger, filters, rates, stats=stats)
    moves = tier_moves(recommend(ledger, filters, report=costs))
    return observations_from_stats(stats, days=window.days), moves


def _money(nanos: int | None) -> str:
    from gearshift.fmt import usd_nanos

    return "-" if nanos is None else usd_nanos(nanos)


def _print_audit(report: AuditReport, edits: list[FileEdit], *, applied: bool) -> None:
    from gearshift.cli.common import plain_table

    con = console()
    table = plain_table(title="agent audit (m/j/s: multi-step/judgment/stakes)")
    for col in ("agent", "model", "m/j/s", "runs", "$/month", "saving", "decided by", "note"):
        table.add_column(col, overflow="fold", no_wrap=col != "note")
    for row in report.rows:
        s = row.assessment.scores
        obs = row.observation
        table.add_row(
            row.agent.name,
            f"{row.agent.model_text} -> {row.recommended}" if row.change else row.agent.model_text,
            f"{s.multi_step}/{s.judgment}/{s.stakes}={s.total}",
            str(obs.executions) if obs else "-",
            _money(row.monthly_cost_nanos),
            _money(row.monthly_saving_nanos),
            row.decided_by,
            row.note,
        )
    con.print(table)
    if not edits:
        con.print("every agent is on its recommended tier; nothing to change", markup=False)
        return
    for edit in edits:
        sys.stdout.write(edit.diff())  # raw: a wrapped diff is not a diff
    if any(r.decided_by == "ledger" and r.change for r in report.rows):
        con.print(
            "savings the ledger decided are true cost (tokens, rework, waiting) of the tasks "
            "moved, as `gearshift report` counts them",
            markup=False,
        )
    total = (
        _money(report.monthly_saving_nanos) if any(r.observation for r in report.changes) else None
    )
    files = f"{len(edits)} file{'s' if len(edits) != 1 else ''}"
    summary = f"{len(report.changes)} agent(s) in {files}" + (
        f", saving {total}/month" if total else ""
    )
    if applied:
        con.print(f"updated {summary}", markup=False)
    else:
        con.print(f"dry run: {summary}; run with --apply to write", markup=False)
