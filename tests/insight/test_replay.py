"""Replay on both stores: exact re-pricing, escalations from observed success rates, policies."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

from gearshift.catalog import Tier, Usage, load_catalog
from gearshift.errors import DefinitionError
from gearshift.insight.replay import load_policy, parse_policy, replay
from gearshift.ledger import Ledger

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    with Ledger.open(ledger_url, catalog=load_catalog("article")) as opened:
        for agent, model, n, failures in (("summ", "haiku", 100, 20), ("other", "sonnet", 50, 5)):
            opened.add_many(
                opened.price(
                    agent=agent,
                    model=model,
                    usage=Usage(1000, 500),
                    status="failure" if i < failures else "success",
                    task_type="summaries",
                    ts=T0 + dt.timedelta(minutes=i),
                )
                for i in range(n)
            )
        yield opened


def test_a_tiered_policy_escalates_the_observed_failure_share(ledger: Ledger) -> None:
    policy = parse_policy("rules:\n  - {agent: summ, tiers: [haiku, sonnet]}\n")
    report = replay(ledger, policy)
    summ = next(a for a in report.agents if a.agent == "summ")
    haiku_fail = 1 - Fraction(81, 102)  # Beta(1 + 80, 1 + 20)
    sonnet_fail = 1 - Fraction(46, 52)  # Beta(1 + 45, 1 + 5)
    haiku, sonnet = Fraction("0.0028"), Fraction("0.0105")  # 1000 in / 500 out
    assert summ.replay_cost == 100 * (haiku + haiku_fail * sonnet)
    assert summ.replay_escalations == 100 * haiku_fail
    assert summ.replay_ok == 100 * (1 - haiku_fail * sonnet_fail)
    assert (summ.actual_ok, summ.actual_nanos) == (80, 100 * 2_800_000)
    assert dict(summ.routes) == {"haiku->sonnet": 100} and not summ.assumed
    other = next(a for a in report.agents if a.agent == "other")
    assert dict(other.routes) == {"as it ran": 50}
    assert other.replay_cost == Fraction(other.actual_nanos, 10**9)
    assert report.to_dict()["total"]["tasks"] == 150


def test_a_default_tier_and_assumed_rates(ledger: Ledger) -> None:
    report = replay(ledger, parse_policy("default: opus\n"))
    assert all(dict(a.routes) == {"opus": a.tasks} for a in report.agents)
    summ = next(a for a in report.agents if a.agent == "summ")
    assert summ.assumed == {"summaries on opus"}
    assert summ.replay_ok == 100 * Fraction("0.97")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("rules:\n  - {tier: haiku}\n", "p.yaml:2: rules[0]: a rule needs an 'agent'"),
        ("rules:\n  - {agent: a}\n", "p.yaml:2: rules[0]: give either 'tier' or 'tiers'"),
        ("rules:\n  - {agent: a, tiers: [opus, haiku]}\n", "rules[0].tiers: escalation only"),
        ("rules:\n  - agent: a\n    tier: gpt\n", "p.yaml:3: rules[0].tier: unknown tier"),
        ("rules: {}\n", "p.yaml:1: rules must be a list"),
        ("policy: x\n", "p.yaml:1: policy is not a known key"),
    ],
)
def test_bad_policies_name_the_line_and_key(text: str, needle: str) -> None:
    with pytest.raises(DefinitionError) as info:
        parse_policy(text, "p.yaml")
    assert needle in info.value.message


def test_patterns_and_first_match_wins() -> None:
    policy = parse_policy(
        "rules:\n  - {agent: 'lint-*', tier: haiku}\n  - {task_type: docs, tier: sonnet}\n"
    )
    assert policy.route("lint-web", "docs") == (Tier.HAIKU,)
    assert policy.route("writer", "docs") == (Tier.SONNET,)
    assert policy.route("writer", None) is None


def test_replay_command(
    ledger_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not ledger_url.startswith("/"):
        pytest.skip("the command test runs on the SQLite file store")
    from gearshift.cli import main
    from gearshift.cli.common import state

    with Ledger.open(ledger_url, catalog=load_catalog("article")) as opened:
        opened.record(agent="summ", model="haiku", input_tokens=10, status="failure", ts=T0)
    policy = tmp_path / "policy.yaml"
    policy.write_text("rules:\n  - {agent: summ, tier: sonnet}\n", encoding="utf-8")
    state._catalog = None
    with pytest.raises(SystemExit) as done:
        main.main(["--ledger", ledger_url, "replay", "--policy", str(policy), "--json"])
    assert done.value.code in (0, None)
    data = json.loads(capsys.readouterr().out)
    assert data["agents"][0]["routes"] == {"sonnet": 1}
    assert load_policy(policy).rules[0].agent == "summ"
