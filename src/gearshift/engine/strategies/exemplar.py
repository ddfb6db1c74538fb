"""Exemplar: a strong tier writes one answer per group of similar items, a cheap tier copies it.

The article's Strategy 4 ("generate exemplars with Sonnet, use them as templates for the rest
with Haiku")::

    Job(strategy="exemplar", options={
        "items": [...],              # as for ``batch``: str or {id, text}
        "exemplar_tier": "sonnet",   # writes one exemplar per group (capped at ladder_top)
        "apply_tier": "haiku",       # applies it to the rest of the group (default haiku)
        "similarity": 0.5,           # token-set Jaccard at which an item joins a group
        "min_group": 2,              # smaller groups get no exemplar: their items run cheap
        "concurrency": 10,
        "retry_tier": None,          # default: one tier above where the item failed
    })

Grouping is cheap and deterministic: an item's *shape* is the set of its lower-cased words with
every number replaced by ``#`` (so "GET /users/12" and "GET /users/907" look alike); items are
taken in order and each joins the first group whose first item's shape has a Jaccard similarity
of at least ``similarity`` with its own, else starts a group. The first item of a group is its
exemplar. No embeddings, no model call -- grouping is free and the same on every run.

Exemplars run first (on ``exemplar_tier``, validated, a failure re-run one tier up), then every
other item runs on ``apply_tier`` with its group's exemplar (item and answer) in the prompt as
the template; a group whose exemplar failed applies none. Members are validated and audited
exactly like ``batch`` (:mod:`gearshift.engine.strategies.batch`: per-item chains, ``item``
tags, corruption checks, per-item resume) and failures re-run one tier up.

The summary reports the groups and the saving against running every item on ``exemplar_tier``
without templates: the same items' plain prompts (estimated at four characters per token) and
their final outputs' tokens, priced on that tier's default model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gearshift.catalog import Tier, Usage
from gearshift.catalog.cost import usd_text
from gearshift.engine.job import Attempt, Job, JobOutcome
from gearshift.engine.strategies.base import Plan
from gearshift.engine.strategies.batch import Item, ItemRun, Items, audit, parse_items, retry_tier
from gearshift.errors import DefinitionError
from gearshift.providers.base import estimate_tokens

if TYPE_CHECKING:
    from gearshift.engine.context import RunContext

__all__ = ["group", "jaccard", "run", "shape"]

_WORD = re.compile(r"[a-z]+|\d+")


def shape(text: str) -> frozenset[str]:
    """The words of ``text``, lower-cased, every number as ``#``."""
    return frozenset("#" if w.isdigit() else w for w in _WORD.findall(text.lower()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def group(items: Sequence[Item], threshold: float) -> list[list[Item]]:
    """Greedy leader clustering by :func:`shape` (see the module docstring); order is kept."""
    groups: list[tuple[frozenset[str], list[Item]]] = []
    for item in items:
        mine = shape(item.text)
        home = next((g for lead, g in groups if jaccard(mine, lead) >= threshold), None)
        if home is None:
            groups.append((mine, [item]))
        else:
            home.append(item)
    return [members for _, members in groups]


def _options(job: Job) -> tuple[Tier, Tier, float, int]:
    o = job.options
    strong = min(Tier.parse(str(o.get("exemplar_tier", "sonnet"))), job.ladder_top)
    cheap = Tier.parse(str(o.get("apply_tier", "haiku")))
    threshold = o.get("similarity", 0.5)
    min_group = o.get("min_group", 2)
    if not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise DefinitionError(f"job {job.id!r}: options.similarity must be in (0, 1]")
    if isinstance(min_group, bool) or not isinstance(min_group, int) or min_group < 2:
        raise DefinitionError(f"job {job.id!r}: options.min_group must be a whole number >= 2")
    return strong, cheap, float(threshold), min_group


def template_prompt(prompt: str, item: Item, exemplar: ItemRun) -> str:
    """The cheap tier's prompt: the task, the exemplar (item and answer), then the item."""
    return (
        f"{prompt}\n\nHere is a finished answer for a similar item. Follow its structure, "
        "format and level of detail exactly, adapting only the content to the new item.\n\n"
        f"--- example item {exemplar.item.id} ---\n{exemplar.item.text}\n"
        f"--- example answer ---\n{exemplar.output or ''}\n\n"
        f"--- item {item.id} ---\n{item.text}"
    )


async def run(ctx: RunContext, job: Job, plan: Plan) -> JobOutcome:
    strong, cheap, threshold, min_group = _options(job)
    items = Items(ctx, job, plan, "exemplar")
    parsed = parse_items(job)
    runs = items.runs(parsed)
    by_id = {r.item.id: r for r in runs}
    groups = group(parsed, threshold)
    leaders = [by_id[g[0].id] for g in groups if len(g) >= min_group]
    todo_leaders = [r for r in leaders if r.resumed is None]
    led = await items.each(todo_leaders, lambda r: items.attempt(r, strong, role="exemplar"))
    redone = await items.retry(todo_leaders, retry_tier(job, strong))
    prompts: dict[str, str | None] = {}
    for members in groups:
        if len(members) < min_group:
            prompts.update((item.id, None) for item in members)
            continue
        lead = by_id[members[0].id]
        for item in members[1:]:
            prompts[item.id] = template_prompt(plan.prompt, item, lead) if lead.ok else None
    todo = [by_id[i] for i in prompts if by_id[i].resumed is None]
    applied = await items.each(
        todo, lambda r: items.attempt(r, cheap, prompts[r.item.id], role="apply")
    )
    found = audit([r.item.id for r in todo_leaders + todo], led + applied)
    redone += await items.retry(todo, retry_tier(job, cheap), found.duplicated)
    summary: dict[str, Any] = {
        "strategy": "exemplar",
        "exemplar_tier": strong.value,
        "apply_tier": cheap.value,
        "groups": [
            {"exemplar": g[0].id if len(g) >= min_group else None, "items": [i.id for i in g]}
            for g in groups
        ],
        "audit": found.to_dict(),
        "retried": redone,
        "saving": _saving(ctx, job, runs, strong),
    }
    return items.outcome(runs, summary)


def _saving(ctx: RunContext, job: Job, runs: Sequence[ItemRun], strong: Tier) -> dict[str, Any]:
    """Actual cost against every (newly run) item once on ``strong`` without a template."""
    model = ctx.catalog.default_for(strong)
    actual = counterfactual = 0
    for run in runs:
        final = _final(run.attempts)
        if final is None:
            continue
        actual += sum(a.cost_nanos for a in run.attempts)
        tokens = estimate_tokens((job.system or "") + run.prompt)
        usage = Usage(tokens, final.usage.output_tokens)
        counterfactual += ctx.catalog.cost(model, usage).nanos
    saved = counterfactual - actual
    return {
        "baseline": f"every item on {strong.value} ({model.id}) without a template",
        "baseline_usd": usd_text(counterfactual),
        "actual_usd": usd_text(actual),
        "saved_usd": usd_text(saved),
        "saved_pct": round(100 * saved / counterfactual, 1) if counterfactual else 0.0,
    }


def _final(attempts: Sequence[Attempt]) -> Attempt | None:
    """The attempt whose output counts: the last with tokens (an error has none)."""
    return next((a for a in reversed(attempts) if a.usage.output_tokens), None)
