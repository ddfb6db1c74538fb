"""What a generated corpus is expected to ingest into: :class:`CorpusManifest`.

The manifest is computed while the corpus is written (see :mod:`gearshift.samples.truth`
for the exact dedup rules) and saved as ``manifest.json`` next to ``projects/``. Ingest tests and
the ccusage parity benchmark compare against it, so every number in it is exact: token counts are
integers, and the only money (the legacy ``costUSD`` that old lines carry) is a ``Decimal``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gearshift.samples.truth import DedupResult, GroupKey, TokenTotals, group_calls

__all__ = ["CorpusManifest", "SessionInfo"]

SCHEMA = 1


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One session as a correct ingest attributes it."""

    session: str
    project: str
    cwd: str
    version: str
    entrypoint: str | None
    git_branch: str | None
    path: str

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(slots=True)
class CorpusManifest:
    """Files written and the deduplicated billable usage they hold.

    ``groups`` is the finest view: token totals per (UTC day, project key, session, agent, model),
    where agent is ``main`` for the main thread and the subagent's type otherwise. ``by_day``,
    ``by_agent`` (per session and agent), ``by_model`` and ``totals`` are sums of it. ``calls``
    in each total is the number of unique billable API calls. ``divergent_by_day`` holds the part
    of those totals that ccusage 20.0.24 is known to miscount (only non-empty when the corpus was
    generated with ``ccusage_divergent=True``). ``quirks`` counts each oddity written.
    """

    seed: int
    size_target: int
    start: dt.date
    days: int
    ccusage_divergent: bool
    files: dict[str, int]
    bytes: int
    lines: int
    torn_lines: int
    usage_lines: int
    api_calls: int
    api_errors: int
    groups: dict[GroupKey, TokenTotals]
    api_errors_by_day: dict[str, int]
    cost_usd_reported_by_day: dict[str, Decimal]
    divergent_by_day: dict[str, TokenTotals]
    sessions: list[SessionInfo]
    projects: dict[str, str]
    quirks: dict[str, int]
    totals: TokenTotals = field(default_factory=TokenTotals)
    by_day: dict[str, TokenTotals] = field(default_factory=dict)
    by_agent: dict[tuple[str, str], TokenTotals] = field(default_factory=dict)
    by_model: dict[str, TokenTotals] = field(default_factory=dict)

    def __post_init__(self) -> None:
        days: dict[str, TokenTotals] = defaultdict(TokenTotals)
        agents: dict[tuple[str, str], TokenTotals] = defaultdict(TokenTotals)
        models: dict[str, TokenTotals] = defaultdict(TokenTotals)
        totals = TokenTotals()
        for (day, _project, session, agent, model), t in self.groups.items():
            days[day].merge(t)
            agents[(session, agent)].merge(t)
            models[model].merge(t)
            totals.merge(t)
        self.totals = totals
        self.by_day = dict(sorted(days.items()))
        self.by_agent = dict(sorted(agents.items()))
        self.by_model = dict(sorted(models.items()))

    @property
    def duplicate_usage_lines(self) -> int:
        """Usage lines that a correct dedup drops (copies beyond the first of each call)."""
        return self.usage_lines - self.api_calls - self.api_errors

    @classmethod
    def build(cls, result: DedupResult, **fields: Any) -> CorpusManifest:
        errors: dict[str, int] = defaultdict(int)
        for e in result.errors:
            errors[e.day] += 1
        divergent: dict[str, TokenTotals] = defaultdict(TokenTotals)
        micros: dict[str, int] = defaultdict(int)
        for c in result.calls:
            if c.divergent:
                divergent[c.day].add(c)
            if c.cost_usd_micros is not None:
                micros[c.day] += c.cost_usd_micros
        return cls(
            usage_lines=result.copies,
            api_calls=len(result.calls),
            api_errors=len(result.errors),
            groups=group_calls(result.calls),
            api_errors_by_day=dict(sorted(errors.items())),
            cost_usd_reported_by_day={d: Decimal(m).scaleb(-6) for d, m in sorted(micros.items())},
            divergent_by_day=dict(sorted(divergent.items())),
            **fields,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only; money as decimal strings, so nothing is rounded on the way."""
        return {
            "schema": SCHEMA,
            "seed": self.seed,
            "size_target": self.size_target,
            "start": self.start.isoformat(),
            "days": self.days,
            "ccusage_divergent": self.ccusage_divergent,
            "files": dict(self.files),
            "bytes": self.bytes,
            "lines": self.lines,
            "torn_lines": self.torn_lines,
            "usage_lines": self.usage_lines,
            "duplicate_usage_lines": self.duplicate_usage_lines,
            "api_calls": self.api_calls,
            "api_errors": self.api_errors,
            "totals": self.totals.to_dict(),
            "by_day": {d: t.to_dict() for d, t in self.by_day.items()},
            "api_errors_by_day": dict(self.api_errors_by_day),
            "cost_usd_reported_by_day": {
                d: str(v) for d, v in self.cost_usd_reported_by_day.items()
            },
            "divergent_by_day": {d: t.to_dict() for d, t in self.divergent_by_day.items()},
            "by_model": {m: t.to_dict() for m, t in self.by_model.items()},
            "by_agent": [
                {"session": s, "agent": a, **t.to_dict()} for (s, a), t in self.by_agent.items()
            ],
            "groups": [
                {"day": k[0], "project": k[1], "session": k[2], "agent": k[3], "model": k[4]}
                | t.to_dict()
                for k, t in self.groups.items()
            ],
            "sessions": [s.to_dict() for s in self.sessions],
            "projects": dict(self.projects),
            "quirks": dict(self.quirks),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CorpusManifest:
        """Read back what :meth:`to_dict` wrote (e.g. a ``manifest.json``)."""
        if data.get("schema") != SCHEMA:
            raise ValueError(f"unsupported corpus manifest schema {data.get('schema')!r}")
        groups = {
            (g["day"], g["project"], g["session"], g["agent"], g["model"]): TokenTotals.from_dict(g)
            for g in data["groups"]
        }
        return cls(
            seed=data["seed"],
            size_target=data["size_target"],
            start=dt.date.fromisoformat(data["start"]),
            days=data["days"],
            ccusage_divergent=data["ccusage_divergent"],
            files=dict(data["files"]),
            bytes=data["bytes"],
            lines=data["lines"],
            torn_lines=data["torn_lines"],
            usage_lines=data["usage_lines"],
            api_calls=data["api_calls"],
            api_errors=data["api_errors"],
            groups=groups,
            api_errors_by_day=dict(data["api_errors_by_day"]),
            cost_usd_reported_by_day={
                d: Decimal(v) for d, v in data["cost_usd_reported_by_day"].items()
            },
            divergent_by_day={
                d: TokenTotals.from_dict(t) for d, t in data["divergent_by_day"].items()
            },
            sessions=[SessionInfo(**s) for s in data["sessions"]],
            projects=dict(data["projects"]),
            quirks=dict(data["quirks"]),
        )
