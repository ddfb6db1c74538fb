"""Batch: one task over many items on a cheap tier, checked as a whole, failures re-run one up.

The article's Strategy 3 ("lint and format 500 files with Haiku, re-run failures with Sonnet")::

    Job(strategy="batch", options={
        "items": ["src/a.py", {"id": "b", "text": "src/b.py"}],  # str -> id "1", "2", ...
        "concurrency": 10,          # items in flight at once (default 10)
        "retry_tier": "sonnet",     # default: one tier above the routed tier
        "use_batch_api": False,     # True: first pass through the Message Batches API
    })

* Each item's prompt is the job's prompt plus the item. The first pass runs every item on the
  routed tier, at most ``concurrency`` at a time, with the job's validators.
* The pass is then audited: every item came back exactly once (none missing, none duplicated,
  nothing unexpected) and none is corrupted -- an empty output or one cut off at ``max_tokens``
  fails before any validator runs. Items that failed, errored, were corrupted or went missing
  are re-run on the retry tier (attempt 2, recorded as an escalation with the evidence).
* Ledger: **each item is its own chain** (its own chain id; attempt 1 cheap, attempt 2 retry),
  tagged ``item=<id>``, with the job's id as task key and the item's prompt as the task text --
  so escalation, double-pay and cache analyses see items, not one giant task.
* Resume: each succeeded item is saved under the run id (``<job id>#<item id>``); re-running the
  run re-uses those outputs and calls the model only for the rest.
* ``use_batch_api`` with a provider that has Message Batches (``anthropic``) submits the first
  pass as one batch, polls (``batch_poll_s``, default 30; ``batch_timeout_s``, default none) and
  records each result priced at batch rates (``Usage.batch``: half price) through
  :meth:`RunContext.accept`. Retries go through normal calls. Without batch support, or with
  budgets enforced (a batch cannot reserve per call), the first pass runs live and the summary
  says why. If polling or collecting fails after the batch was created, the job ends in error
  naming the batch, *without* a live re-run: the batch may still finish and be billed.

The outcome's output is a JSON summary (counts, audit, per-item status/tier path/output); its
attempts are every item's attempts, first pass then retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Tier
from gearshift.engine.job import Attempt, Job, JobOutcome, JobStatus
from gearshift.engine.strategies.base import Plan, retry_prompt
from gearshift.errors import DefinitionError, ProviderError
from gearshift.ledger.record import new_id

if TYPE_CHECKING:
    from gearshift.engine.context import Marker, RunContext
    from gearshift.engine.run_state import FinishedJob
    from gearshift.providers.base import ModelResult

__all__ = ["Audit", "Item", "ItemRun", "Items", "audit", "parse_items", "retry_tier", "run"]


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    text: str


@dataclass(slots=True)
class ItemRun:
    """One item's chain: the per-item job view, its prompt, attempts and any earlier result."""

    item: Item
    job: Job
    prompt: str
    chain_id: str = field(default_factory=new_id)
    attempts: list[Attempt] = field(default_factory=list)
    resumed: FinishedJob | None = None

    @property
    def ok(self) -> bool:
        return self.resumed is not None or bool(
            self.attempts and self.attempts[-1].status == "success"
        )

    @property
    def output(self) -> str | None:
        if self.resumed is not None:
            return self.resumed.output
        return self.attempts[-1].text if self.attempts else None

    def tier_path(self) -> str:
        if self.resumed is not None:
            return self.resumed.tier_path
        return " -> ".join(dict.fromkeys(a.tier.value for a in self.attempts))


@dataclass(slots=True)
class Audit:
    """What a pass's results say about the pass: ids by problem."""

    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    corrupted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "missing": self.missing,
            "duplicated": self.duplicated,
            "unexpected": self.unexpected,
            "corrupted": self.corrupted,
            "failed": self.failed,
        }


def audit(expected: Sequence[str], returned: Sequence[tuple[str, Attempt]]) -> Audit:
    """Check a pass: each expected id exactly once, nothing else, no corrupted output."""
    counts = Counter(item_id for item_id, _ in returned)
    wanted = set(expected)
    found = Audit(
        missing=[i for i in expected if counts[i] == 0],
        duplicated=sorted(i for i, n in counts.items() if n > 1 and i in wanted),
        unexpected=sorted(i for i in counts if i not in wanted),
    )
    for item_id, attempt in returned:
        if item_id not in wanted or attempt.status == "success":
            continue
        evidence = attempt.evidence
        bucket = found.corrupted if evidence.startswith("corrupted:") else found.failed
        if item_id not in bucket:
            bucket.append(item_id)
    return found


def parse_items(job: Job) -> list[Item]:
    """``options["items"]`` as Items; DefinitionError names the offending entry."""
    raw = job.options.get("items")
    where = f"job {job.id!r}: options.items"
    if not isinstance(raw, (list, tuple)) or not raw:
        raise DefinitionError(f"{where}: give a non-empty list of items")
    items: list[Item] = []
    for n, entry in enumerate(raw, 1):
        if isinstance(entry, str):
            items.append(Item(str(n), entry))
        elif isinstance(entry, dict) and isinstance(entry.get("text"), str):
            items.append(Item(str(entry.get("id", n)), entry["text"]))
        else:
            raise DefinitionError(f"{where}[{n - 1}]: a string or {{id, text}}, not {entry!r}")
    repeated = [i for i, c in Counter(item.id for item in items).items() if c > 1]
    if repeated:
        raise DefinitionError(f"{where}: item id {repeated[0]!r} is used twice")
    return items


def retry_tier(job: Job, first: Tier, option: str = "retry_tier") -> Tier | None:
    """Where failures re-run: ``options[option]`` or one tier up; never below ``first``, never
    above ``ladder_top`` (``None``: no retry)."""
    wanted = job.options.get(option)
    tier = Tier.parse(str(wanted)) if wanted else first.up()
    if tier is None or tier > job.ladder_top:
        return None
    return max(tier, first)


def _int_option(job: Job, name: str, default: int) -> int:
    value = job.options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DefinitionError(f"job {job.id!r}: options.{name} must be a whole number >= 1")
    return value


class Items:
    """The item machinery shared by ``batch`` and ``exemplar``: bounded concurrency, per-item
    chains and tags, retries one tier up, per-item resume."""

    def __init__(self, ctx: RunContext, job: Job, plan: Plan, strategy: str) -> None:
        self.ctx, self.job, self.plan, self.strategy = ctx, job, plan, strategy
        self.limit = asyncio.Semaphore(_int_option(job, "concurrency", 10))
        self.log: list[Attempt] = []  # every attempt, pass by pass, in item order

    def runs(self, items: Sequence[Item]) -> list[ItemRun]:
        """One chain per item, with the outputs of an earlier run of this run id re-used."""
        done = self.ctx.store.finished(self.ctx.run_id) if self.ctx.store is not None else {}
        runs = []
        for item in items:
            section = f"\n\n--- item {item.id} ---\n{item.text}"
            task = replace(self.job.task, text=self.job.task.text + section)
            run = ItemRun(item, replace(self.job, task=task), self.plan.prompt + section)
            earlier = done.get(self.key(item))
            if earlier is not None and earlier.status == "succeeded":
                run.resumed = earlier
            runs.append(run)
        return runs

    def key(self, item: Item) -> str:
        return f"{self.job.id}#{item.id}"[:200]

    async def attempt(
        self,
        run: ItemRun,
        tier: Tier,
        prompt: str | None = None,
        *,
        reason: str | None = None,
        role: str = "generate",
    ) -> Attempt:
        """One attempt of ``run`` on ``tier`` (``prompt`` defaults to the item's), recorded."""
        async with self.limit:
            attempt = await self.ctx.call(
                run.job,
                tier,
                prompt if prompt is not None else run.prompt,
                number=len(run.attempts) + 1,
                chain_id=run.chain_id,
                strategy=self.strategy,
                role=role,
                escalation_reason=reason,
                complexity=self.plan.complexity,
                require_complete=True,
                tags={"item": run.item.id},
                mark=self.marker(run),
            )
        run.attempts.append(attempt)
        return attempt

    async def each(
        self, runs: Sequence[ItemRun], step: Callable[[ItemRun], Awaitable[Attempt]]
    ) -> list[tuple[str, Attempt]]:
        """``step`` for every run concurrently; the (item id, attempt) pairs in item order."""
        attempts = await asyncio.gather(*(step(run) for run in runs))
        self.log += attempts
        return [(run.item.id, a) for run, a in zip(runs, attempts, strict=True)]

    async def retry(
        self, runs: Sequence[ItemRun], tier: Tier | None, suspect: Sequence[str] = ()
    ) -> list[str]:
        """Re-run on ``tier``, with its failure's evidence, every run that has not succeeded
        (and those in ``suspect``); return their ids."""
        failed = [run for run in runs if not run.ok or run.item.id in suspect]
        if tier is None or not failed:
            return []

        async def again(run: ItemRun) -> Attempt:
            last = run.attempts[-1] if run.attempts else None
            self.ctx.stats.escalations += 1
            prompt = retry_prompt(run.prompt, last) if last is not None else run.prompt
            return await self.attempt(run, tier, prompt, reason=_why(last))

        await self.each(failed, again)
        return [run.item.id for run in failed]

    def marker(self, run: ItemRun) -> Marker:
        """The state an item's attempt commits with its row: the item finished, when it passed
        (a re-run of the run id then skips it)."""

        def finished(attempt: Attempt | None) -> FinishedJob | None:
            if attempt is None or attempt.status != "success" or self.ctx.store is None:
                return None
            from gearshift.engine.run_state import FinishedJob

            attempts = [*run.attempts, attempt]
            cost = sum(a.cost_nanos for a in attempts)
            path = " -> ".join(dict.fromkeys(a.tier.value for a in attempts))
            return FinishedJob(self.key(run.item), "succeeded", attempt.text, cost, path)

        return finished

    def outcome(self, runs: Sequence[ItemRun], summary: dict[str, Any]) -> JobOutcome:
        """The job's outcome: every attempt, pass by pass; the JSON summary as its output."""
        bad = [run.item.id for run in runs if not run.ok]
        summary.update(
            items=len(runs),
            succeeded=len(runs) - len(bad),
            failed=len(bad),
            resumed=sum(1 for run in runs if run.resumed is not None),
            results=[_result(run) for run in runs],
        )
        status: JobStatus = "succeeded" if not bad else "failed"
        reason = f"all {len(runs)} items passed"
        if bad:
            shown = ", ".join(bad[:10]) + (" ..." if len(bad) > 10 else "")
            reason = f"{len(bad)} of {len(runs)} items failed: {shown}"
        return JobOutcome(
            self.job.id,
            status,
            list(self.log),
            output=json.dumps(summary, ensure_ascii=False),
            reason=reason,
            route=self.plan.decision,
            chain_id=self.plan.chain_id,
        )


def _why(last: Attempt | None) -> str:
    """The escalation reason of a re-run: what went wrong, where, and the first line of why."""
    if last is None:
        return "no result came back from the first pass"
    if last.status == "success":
        return f"duplicated results on {last.tier}"
    kind = "error" if last.status == "error" else "validation failed"
    evidence = last.evidence.strip()
    if evidence.startswith("corrupted: "):
        kind, evidence = "corrupted output", evidence.removeprefix("corrupted: ")
    line = evidence.splitlines()[0][:200] if evidence else ""
    return f"{kind} on {last.tier}: {line}".rstrip(": ")


def _result(run: ItemRun) -> dict[str, Any]:
    last = run.attempts[-1] if run.attempts else None
    return {
        "id": run.item.id,
        "status": "succeeded" if run.ok else ("error" if last and last.error else "failed"),
        "tier_path": run.tier_path(),
        "attempts": len(run.attempts),
        "chain_id": run.chain_id,
        "resumed": run.resumed is not None,
        "output": run.output,
    }


async def run(ctx: RunContext, job: Job, plan: Plan) -> JobOutcome:
    items = Items(ctx, job, plan, "batch")
    runs = items.runs(parse_items(job))
    todo = [r for r in runs if r.resumed is None]
    first, retry = plan.tier, retry_tier(job, plan.tier)
    summary: dict[str, Any] = {
        "strategy": "batch",
        "first_tier": first.value,
        "retry_tier": retry.value if retry else None,
        "mode": "live",
    }
    returned: list[tuple[str, Attempt]] | None = None
    if job.options.get("use_batch_api") and todo:
        done = {custom_id_of(r.item.id) for r in runs if r.resumed is not None}
        returned = await _through_batches(items, todo, first, summary, done)
    if returned is None:
        returned = await items.each(todo, lambda r: items.attempt(r, first))
    found = audit([r.item.id for r in todo], returned)
    summary["audit"] = found.to_dict()
    if summary.get("stranded"):
        retry = None
    # two answers for one item: neither is trusted, so the item is re-run too
    summary["retried"] = await items.retry(todo, retry, found.duplicated)
    outcome = items.outcome(runs, summary)
    if summary.get("stranded"):
        outcome.status, outcome.reason = "error", str(summary["stranded"])
    return outcome


def custom_id_of(item_id: str) -> str:
    """An item's ``custom_id`` in a Message Batch: from its id, not its position, so a batch
    collected again after a crash (the items done since no longer in the list) still maps
    each result to its item; the API allows 1-64 of ``[A-Za-z0-9_-]``, hence a digest."""
    return "i-" + hashlib.sha256(item_id.encode("utf-8")).hexdigest()[:32]


async def _through_batches(
    items: Items,
    todo: Sequence[ItemRun],
    tier: Tier,
    summary: dict[str, Any],
    done: Collection[str] = (),
) -> list[tuple[str, Attempt]] | None:
    """The first pass as one Message Batch, or ``None`` (with the reason in ``summary``) when
    it must run live. Results for items ``done`` already (``custom_id``s) are passed over."""
    ctx = items.ctx
    provider: Any = ctx.provider
    while not hasattr(provider, "submit_batch") and hasattr(provider, "inner"):
        provider = provider.inner  # through the retry loop and any limit around it
    if not hasattr(provider, "submit_batch"):
        summary["note"] = f"provider {ctx.provider.name} has no Message Batches API; ran live"
        return None
    if ctx.guard is not None:
        summary["note"] = "budgets are enforced and a batch cannot reserve per call; ran live"
        return None
    by_custom = {custom_id_of(run.item.id): run for run in todo}
    requests = [
        (
            custom_id,
            ctx.request_for(
                run.job,
                tier,
                run.prompt,
                number=1,
                chain_id=run.chain_id,
                complexity=items.plan.complexity,
            ),
        )
        for custom_id, run in by_custom.items()
    ]
    try:
        batch_id = await provider.submit_batch(requests)
    except ProviderError as exc:
        summary["note"] = f"the batch could not be created ({exc}); ran live"
        return None
    ctx.stats.calls += len(requests)
    summary.update(mode="message-batches", batch_id=batch_id)
    poll = float(items.job.options.get("batch_poll_s", 30.0))
    timeout = items.job.options.get("batch_timeout_s")
    try:
        await provider.poll_batch(
            batch_id, interval=poll, timeout=float(timeout) if timeout is not None else None
        )
        outcomes = await provider.collect_batch(batch_id)
    except ProviderError as exc:
        summary["stranded"] = f"batch {batch_id} was created but not collected: {exc}"
        outcomes = {}
    unexpected = [c for c in outcomes if c not in by_custom and c not in done]
    returned = [(f"custom_id {c}", Attempt(1, tier, "", status="error")) for c in unexpected]
    models = {custom_id: request.model for custom_id, request in requests}
    customs = {run.item.id: custom_id for custom_id, run in by_custom.items()}

    async def settle(custom_id: str) -> Attempt:
        run, result = by_custom[custom_id], outcomes[custom_id]
        attempt = Attempt(1, tier, models[custom_id], tags={"item": run.item.id})
        got: ModelResult | ProviderError = (
            result.result or result.error or ProviderError(f"batch item {result.status}")
        )
        async with items.limit:
            await ctx.accept(
                run.job,
                attempt,
                got,
                chain_id=run.chain_id,
                strategy="batch",
                require_complete=True,
                mark=items.marker(run),
            )
        run.attempts.append(attempt)
        return attempt

    known = [by_custom[c] for c in by_custom if c in outcomes]
    return returned + await items.each(known, lambda r: settle(customs[r.item.id]))
