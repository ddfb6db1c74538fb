"""Claude Code analytics beside transcript ingestion: who used Claude Code on a day the ledger
never heard about.

The Admin API's Claude Code report (``/v1/organizations/usage_report/claude_code``) counts, per
UTC day and actor (a user's email, or an API key's name), sessions and tokens by model. The
ledger's ``claude-code`` records come from ``gearshift ingest claude-code`` on each machine;
each carries its session and project -- the working folder, which is under the user's home
(``/home/alice/...``, ``/Users/alice/...``, or Claude Code's folder key ``-home-alice-...``).

Records are matched to actors by ``[reconcile.users]`` in the config file (actor -> folders),
else by the home folder's name against the email's local part (``alice@example.com`` owns
``/home/alice/...``) or an API key's name. :func:`compare_claude_code` then gives, per day and
actor, both sides and a status: ``missing`` (the API saw use, the ledger nothing: that machine
never ran the ingest hook, or writes to another ledger), ``partial``, ``extra``, ``ok``, or
``ledger-only``; records matched to no actor are ``unattributed``, per day.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gearshift.catalog.cost import usd_text
from gearshift.fmt import tokens

if TYPE_CHECKING:
    from gearshift.ledger.queries import SessionDay
    from gearshift.providers.admin import AdminClient
    from gearshift.providers.admin_types import ClaudeCodeRecord

__all__ = [
    "UNATTRIBUTED",
    "CodeReconciliation",
    "Counts",
    "UserDay",
    "compare_claude_code",
    "fetch_claude_code",
    "owner",
]

UNATTRIBUTED = "(unattributed)"
FAILING = ("missing", "partial")
_HOME = re.compile(r"(?:^|[/\\])(?:home|Users)[/\\]([^/\\]+)")
_KEY_HOME = re.compile(r"^-(?:home|Users)-([^-]+)")


@dataclass(slots=True)
class Counts:
    """Claude Code's token kinds: uncached input, output, cache reads, cache writes."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_creation: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_creation

    def add(self, input: int, output: int, cache_read: int, cache_creation: int) -> None:
        self.input += input
        self.output += output
        self.cache_read += cache_read
        self.cache_creation += cache_creation

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input,
            "output_tokens": self.output,
            "cache_read_tokens": self.cache_read,
            "cache_creation_tokens": self.cache_creation,
        }


@dataclass(slots=True)
class UserDay:
    """One actor on one UTC day: what the analytics report and the ledger each saw."""

    day: dt.date
    user: str
    customer_type: str | None = None
    api_sessions: int = 0
    api: Counts = field(default_factory=Counts)
    api_cents: Decimal = Decimal(0)
    ledger_sessions: int = 0
    ledger: Counts = field(default_factory=Counts)
    ledger_nanos: int = 0
    projects: set[str] = field(default_factory=set)
    status: str = "ok"
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "user": self.user,
            "customer_type": self.customer_type,
            "status": self.status,
            "message": self.message,
            "api": {
                "sessions": self.api_sessions,
                **self.api.to_dict(),
                "estimated_cost_usd": format((self.api_cents / 100).normalize(), "f"),
            },
            "ledger": {
                "sessions": self.ledger_sessions,
                **self.ledger.to_dict(),
                "cost_usd": usd_text(self.ledger_nanos),
                "projects": sorted(self.projects),
            },
        }


@dataclass(slots=True)
class CodeReconciliation:
    """Every (day, actor) of the UTC days ``[since, until)``."""

    since: dt.date
    until: dt.date
    tolerance_pct: Decimal
    rows: list[UserDay]

    @property
    def failing(self) -> list[UserDay]:
        return [r for r in self.rows if r.status in FAILING]

    @property
    def within(self) -> bool:
        return not self.failing

    def never_ingested(self) -> list[str]:
        """Actors with use on some day and no ledger record on any."""
        seen: dict[str, bool] = {}
        for r in self.rows:
            if r.user != UNATTRIBUTED and r.api.total:
                seen[r.user] = seen.get(r.user, False) or bool(r.ledger.total)
        return sorted(user for user, found in seen.items() if not found)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": "anthropic",
            "report": "claude-code",
            "period": {
                "since": self.since.isoformat(),
                "until": (self.until - dt.timedelta(days=1)).isoformat(),
                "time_zone": "UTC",
            },
            "tolerance": {"pct": format(self.tolerance_pct, "f")},
            "within_tolerance": self.within,
            "never_ingested": self.never_ingested(),
            "rows": [r.to_dict() for r in self.rows],
        }


async def fetch_claude_code(
    client: AdminClient, since: dt.date, until: dt.date
) -> dict[dt.date, list[ClaudeCodeRecord]]:
    """The analytics records of each UTC day in ``[since, until)`` (one request chain a day:
    the endpoint answers one day at a time)."""
    out = {}
    day = since
    while day < until:
        out[day] = await client.claude_code_report(day)
        day += dt.timedelta(days=1)
    return out


def _local(user: str) -> str:
    return user.split("@", 1)[0].split("+", 1)[0].lower()


def _as_key(folder: str) -> str:
    """A folder as Claude Code names its project folder (``/home/a/x`` -> ``-home-a-x``)."""
    return re.sub(r"[/\\.:]", "-", folder)


def owner(project: str, users: Iterable[str], mapping: Mapping[str, tuple[str, ...]]) -> str | None:
    """The actor a project folder belongs to (see the module doc), or ``None``."""
    for user, folders in mapping.items():
        if any(project.startswith((f, _as_key(f))) for f in folders):
            return user
    found = _HOME.search(project) or _KEY_HOME.match(project)
    if found is None:
        return None
    name = found.group(1).lower()
    for user in users:
        if _local(user) == name:
            return user
    return None


def compare_claude_code(
    records: Mapping[dt.date, list[ClaudeCodeRecord]],
    sessions: list[SessionDay],
    *,
    mapping: Mapping[str, tuple[str, ...]] | None = None,
    tolerance_pct: Decimal = Decimal("1"),
    since: dt.date,
    until: dt.date,
) -> CodeReconciliation:
    """Both sides per (UTC day, actor); see the module doc for the statuses."""
    mapping = dict(mapping or {})
    rows: dict[tuple[dt.date, str], UserDay] = {}
    for day, day_records in records.items():
        for rec in day_records:
            r = rows.setdefault((day, rec.actor.name), UserDay(day, rec.actor.name))
            r.customer_type = rec.customer_type
            r.api_sessions += rec.core_metrics.num_sessions
            for use in rec.model_breakdown:
                t = use.tokens
                r.api.add(t.input, t.output, t.cache_read, t.cache_creation)
                if use.estimated_cost is not None:
                    r.api_cents += use.estimated_cost.cents
    users = sorted({user for _, user in rows} | set(mapping))
    owners: dict[str, str | None] = {}
    for s in sessions:
        if s.project not in owners:
            owners[s.project] = owner(s.project, users, mapping)
        user = owners[s.project] or UNATTRIBUTED
        r = rows.setdefault((s.day, user), UserDay(s.day, user))
        r.ledger_sessions += 1
        r.ledger.add(s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cache_creation_tokens)
        r.ledger_nanos += s.cost_nanos
        r.projects.add(s.project)
    for r in rows.values():
        r.status, r.message = _status(r, tolerance_pct)
    ordered = [rows[k] for k in sorted(rows, key=lambda k: (k[0], k[1] == UNATTRIBUTED, k[1]))]
    return CodeReconciliation(since, until, tolerance_pct, ordered)


def _status(r: UserDay, pct: Decimal) -> tuple[str, str]:
    api, ledger = r.api.total, r.ledger.total
    when = r.day.isoformat()
    if r.user == UNATTRIBUTED:
        return "unattributed", (
            f"{tokens(ledger)} ledger tokens on {when} from {', '.join(sorted(r.projects))} "
            "belong to no known user: map their folders in [reconcile.users]"
        )
    if not api:
        if not ledger:
            return "ok", ""
        return "ledger-only", (
            f"the ledger has {tokens(ledger)} tokens of {r.user} on {when} that the analytics "
            "report does not (another organisation, or a key the report does not cover)"
        )
    if not ledger:
        return "missing", (
            f"{r.user} used Claude Code on {when} ({tokens(api)} tokens, "
            f"{r.api_sessions} session{'' if r.api_sessions == 1 else 's'}) and the ledger has "
            "nothing from their projects: their machine never ran the ingest hook, or writes to "
            "another ledger"
        )
    share = Decimal(ledger) * 100 / Decimal(api)
    if share < 100 - pct:
        return "partial", (
            f"the ledger holds {share:.1f}% of {r.user}'s tokens on {when}: sessions not ingested "
            "(a machine without the hook, or an ingest that has not run since)"
        )
    if share > 100 + pct:
        return "extra", (
            f"the ledger holds {share:.1f}% of {r.user}'s tokens on {when}: folders of someone "
            "else matched to them (check [reconcile.users]) or records ingested twice"
        )
    return "ok", ""
