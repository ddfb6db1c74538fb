"""Advice a user can act on: no tier advice for Claude Code's built-in subagents, the main
thread's says how, and no Message Batches for work that runs in an interactive session."""

from __future__ import annotations

import datetime as dt

from gearshift.catalog import Usage, load_catalog
from gearshift.insight.recommend import recommend
from gearshift.ledger import Filters, Ledger

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
WINDOW = Filters(since=T0, until=T0 + dt.timedelta(days=30))


def fill(ledger: Ledger, agent: str, model: str, n: int, source: str, task_type: str) -> None:
    ledger.add_many(
        ledger.price(
            agent=agent,
            model=model,
            usage=Usage(2000, 800),
            task_type=task_type,
            source=source,
            latency_ms=5000,
            ts=T0 + dt.timedelta(days=i % 28, minutes=i),
        )
        for i in range(n)
    )


def test_builtins_get_no_tier_advice_and_main_says_how() -> None:
    with Ledger.open("sqlite://", catalog=load_catalog()) as ledger:
        fill(ledger, "designer", "sonnet", 200, "api", "design")
        for agent in ("Explore", "Plan", "general-purpose", "main"):
            fill(ledger, agent, "opus", 80, "claude-code", "design")
        recs = recommend(ledger, WINDOW)
    moved = {r.agent: r for r in recs if r.kind in ("move-down", "move-up", "tiered")}
    assert not {"Explore", "Plan", "general-purpose"} & set(moved)
    main = moved["main"]
    assert main.how is not None and "/model" in main.how and "settings.json" in main.how
    assert "/model" in main.message


def test_no_batch_api_for_interactive_claude_code_work() -> None:
    with Ledger.open("sqlite://", catalog=load_catalog()) as ledger:
        fill(ledger, "bulk-api", "haiku", 900, "api", "linting")
        fill(ledger, "bulk-subagent", "haiku", 900, "claude-code", "linting")
        recs = recommend(ledger, WINDOW)
    assert {r.agent for r in recs if r.kind == "batch"} == {"bulk-api"}
