"""A sample organisation for trying ``gearshift reconcile`` without an Anthropic account.

``python -m gearshift.testing.sample_org --ledger sample.db`` starts the fake Anthropic server on
127.0.0.1 with an organisation whose Admin API reports cover the last 14 UTC days, writes a
ledger that records most -- not all -- of what the organisation did, and prints the commands to
run against both. What the ledger misses, on purpose, is what ``reconcile`` should find:

* one day of the backend's Sonnet calls was never recorded (``missing-from-ledger``);
* the bill charges Opus 4.6 output at $27.50/MTok where the catalog says $25 (a constant ratio:
  the price finding names the catalog entry);
* a model the catalog does not know (``claude-nova-1``) is on the bill only;
* a Priority Tier call (not in the cost report), web search and code execution charges;
* Claude Code via an API key by three users: alice's machine runs the ingest hook, bob's stopped
  three days ago, carol's never did; dave uses Claude Code on a subscription, which is in the
  ledger and the analytics but not on the API bill.

The generator is deterministic for a given ``seed`` and end day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from gearshift.catalog import PriceSet, load_catalog
from gearshift.testing._fake_admin import Call, ClaudeCodeUse, CodeExecution, Organisation
from gearshift.testing.fake_anthropic import FakeAnthropic

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger

__all__ = ["SAMPLE_ADMIN_KEY", "Recorded", "Sample", "main", "sample", "write_ledger"]

SAMPLE_ADMIN_KEY = "sk-ant-admin01-sample-organisation-not-a-real-key"
DATA_WORKSPACE = "wrkspc_01SampleDataTeam"
BACKEND_KEY, BATCH_KEY, CODE_KEY = "apikey_01Backend", "apikey_01Batch", "apikey_01ClaudeCode"


@dataclass(frozen=True, slots=True)
class Recorded:
    """A call the sample ledger holds, with the record's source, project and session."""

    call: Call
    source: str = "api"
    project: str = "backend"
    session: str = ""
    agent: str = "backend"


@dataclass(slots=True)
class Sample:
    """The organisation (what Anthropic reports) and what the ledger recorded of it."""

    org: Organisation
    recorded: list[Recorded] = field(default_factory=list)
    since: dt.date = dt.date(2026, 1, 1)
    until: dt.date = dt.date(2026, 1, 1)  # exclusive


def sample(end: dt.date | None = None, days: int = 14, seed: int = 7) -> Sample:
    """The sample organisation of the UTC days ``[end - days, end)`` (``end``: today, UTC)."""
    until = end or dt.datetime.now(dt.UTC).date()
    since = until - dt.timedelta(days=days)
    rng = random.Random(seed)
    catalog = load_catalog()
    opus = catalog.resolve("claude-opus-4-6").periods[-1].base
    org = Organisation(
        catalog=catalog,
        claude_code=[],
        bill_prices={
            "claude-opus-4-6": PriceSet(
                opus.input,
                Decimal("27.50"),
                opus.cache_write_5m,
                opus.cache_write_1h,
                opus.cache_read,
            ),
            "claude-nova-1": PriceSet(
                Decimal("1"), Decimal("5"), Decimal("1.25"), Decimal("2"), Decimal("0.1")
            ),
        },
    )
    out = Sample(org, since=since, until=until)
    for i in range(days):
        day = since + dt.timedelta(days=i)
        _api_day(out, rng, day, skip_sonnet=i == days // 3)
        if i == days // 2:
            call = _call(rng, day, "claude-sonnet-4-5", BACKEND_KEY, None, service_tier="priority")
            org.calls.append(call)
            out.recorded.append(Recorded(call))
        if i >= days - 2:
            org.calls.append(_call(rng, day, "claude-nova-1", BACKEND_KEY, None))
        if i % 3 == 0:
            cents = Decimal(rng.randrange(500, 3000)) / 100
            org.code_execution.append(CodeExecution(day, cents, DATA_WORKSPACE))
        _claude_code_day(out, rng, day, recorded_bob=i < days - 3, carol=i % 2 == 0)
    return out


def _call(
    rng: random.Random,
    day: dt.date,
    model: str,
    key: str,
    workspace: str | None,
    *,
    service_tier: str = "standard",
    web_search: int = 0,
) -> Call:
    at = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(
        seconds=rng.randrange(86_400)
    )
    return Call(
        ts=at,
        model=model,
        input_tokens=rng.randrange(500, 8_000),
        output_tokens=rng.randrange(200, 4_000),
        cache_write_5m_tokens=rng.choice((0, 0, rng.randrange(1_000, 6_000))),
        cache_read_tokens=rng.choice((0, rng.randrange(5_000, 60_000))),
        web_search_requests=web_search,
        workspace_id=workspace,
        api_key_id=key,
        service_tier=service_tier,
    )


def _api_day(sample: Sample, rng: random.Random, day: dt.date, *, skip_sonnet: bool) -> None:
    """The backend's, the data team's and the batch job's calls of one day."""
    calls = [_call(rng, day, "claude-sonnet-4-5", BACKEND_KEY, None) for _ in range(6)]
    lost = set(calls) if skip_sonnet else set()
    calls += [
        _call(rng, day, "claude-haiku-4-5", BACKEND_KEY, None, web_search=rng.randrange(3))
        for _ in range(4)
    ]
    calls += [_call(rng, day, "claude-opus-4-6", BACKEND_KEY, DATA_WORKSPACE) for _ in range(2)]
    calls += [
        _call(rng, day, "claude-sonnet-4-6", BATCH_KEY, DATA_WORKSPACE, service_tier="batch")
        for _ in range(3)
    ]
    sample.org.calls.extend(calls)
    sample.recorded.extend(Recorded(c) for c in calls if c not in lost)


_USERS = (
    ("alice@example.com", "/home/alice/src/shop"),
    ("bob@example.com", "/Users/bob/work/payments"),
    ("carol@example.com", "/home/carol/code/infra"),
)
_SUBSCRIBER = ("dave@example.com", "/home/dave/notes")


def _claude_code_day(
    sample: Sample, rng: random.Random, day: dt.date, *, recorded_bob: bool, carol: bool
) -> None:
    """Claude Code by API key (on the bill) and one subscriber (not on it)."""
    org = sample.org
    assert org.claude_code is not None
    for user, project in (*_USERS, _SUBSCRIBER):
        if user.startswith("carol") and not carol:
            continue
        calls = [_call(rng, day, "claude-sonnet-4-5", CODE_KEY, None) for _ in range(3)]
        subscriber = user == _SUBSCRIBER[0]
        if not subscriber:
            org.calls.extend(calls)
        org.claude_code.append(
            ClaudeCodeUse(
                day=day,
                actor=user,
                model="claude-sonnet-4-5",
                input_tokens=sum(c.input_tokens for c in calls),
                output_tokens=sum(c.output_tokens for c in calls),
                cache_read_tokens=sum(c.cache_read_tokens for c in calls),
                cache_creation_tokens=sum(c.cache_write_5m_tokens for c in calls),
                sessions=1,
                customer_type="subscription" if subscriber else "api",
            )
        )
        ingests = user.startswith(("alice", "dave")) or (user.startswith("bob") and recorded_bob)
        if ingests:
            session = f"{user.split('@')[0]}-{day.isoformat()}"
            sample.recorded.extend(
                Recorded(c, "claude-code", project, session, "main") for c in calls
            )


def write_ledger(ledger: Ledger, sample: Sample) -> int:
    """Record what the sample's ledger holds into ``ledger``; return the number of records
    written. API calls carry the ``api_key_id`` and ``workspace_id`` tags (``default`` for the
    default workspace), which ``reconcile --by api-key|workspace`` groups the ledger by."""
    executions = []
    for r in sample.recorded:
        c = r.call
        tags = {}
        if r.source == "api":
            tags = {"api_key_id": c.api_key_id, "workspace_id": c.workspace_id or "default"}
        executions.append(
            ledger.price(
                agent=r.agent,
                model=c.model,
                usage=c.usage(),
                ts=c.ts,
                source=r.source,
                project=r.project,
                session=r.session,
                tags=tags,
            )
        )
    return ledger.add_many(executions)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the sample organisation until interrupted (or for ``--seconds``)."""
    parser = argparse.ArgumentParser(
        prog="python -m gearshift.testing.sample_org",
        description="A fake Anthropic Admin API with a sample organisation, on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=8765, help="port [default: 8765; 0: any]")
    parser.add_argument("--days", type=int, default=14, help="UTC days before today [14]")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ledger", help="also write the sample ledger here (a new file)")
    parser.add_argument("--seconds", type=float, help="stop after this long")
    args = parser.parse_args(argv)
    data = sample(days=args.days, seed=args.seed)
    if args.ledger:
        from gearshift.ledger.store import Ledger  # SQLAlchemy only when a ledger is asked for

        with Ledger.open(args.ledger) as ledger:
            written = write_ledger(ledger, data)
        print(f"wrote {written} records to {args.ledger}", file=sys.stderr)
    server = FakeAnthropic(organisation=data.org, admin_key=SAMPLE_ADMIN_KEY)
    server.start(args.port)
    last = data.until - dt.timedelta(days=1)
    ledger_opt = f"--ledger {args.ledger} " if args.ledger else ""
    print(
        f"fake Admin API on {server.base_url}: a sample organisation, UTC days "
        f"{data.since}..{last}\n\n"
        f"  export ANTHROPIC_BASE_URL={server.base_url}\n"
        f"  export ANTHROPIC_ADMIN_KEY={SAMPLE_ADMIN_KEY}\n"
        f"  gearshift {ledger_opt}reconcile anthropic --since {data.since} --until {last}\n"
        f"  gearshift {ledger_opt}reconcile claude-code --since {data.since} --until {last}\n"
        f"  gearshift {ledger_opt}report --since {data.since} --until {last} --tz UTC\n\n"
        "Ctrl-C stops it.",
        flush=True,
    )
    try:
        if args.seconds is not None:
            time.sleep(args.seconds)
        else:
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
