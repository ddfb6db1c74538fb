"""The ground truth of a synthetic corpus: every usage copy written, deduplicated into API calls.

The generator hands every *complete* line that carries ``message.usage`` (an assistant line, or
the nested record of a ``type:"progress"`` line) to :class:`Truth` as a :class:`UsageCopy`. A
torn last line is never handed over: a reader must not count a half-written line, so the expected
totals exclude it (its call still counts if another complete copy of it exists).

Dedup rules (the ones ingestion must implement):

1. Copies with the same ``(message.id, requestId)`` are one API call; a copy without a
   ``requestId`` is keyed by ``message.id`` alone.
2. Copies with the same ``message.id`` but different ``requestId`` are also one call when any of
   them is a sidechain copy: that is the ``/btw`` replay of a parent message.
3. Of one call's copies, the non-sidechain copy is kept, else the one with the most tokens
   (input + output + cache writes + cache reads); so a streaming snapshot with a smaller
   ``output_tokens`` is superseded. The generator never makes rules 3's two criteria disagree,
   and every copy it keeps for a call carries the same day, session, agent and model, so the
   result does not depend on file order.
4. A ``<synthetic>`` call (an API error) costs nothing; it is counted in ``api_errors``.

Cache writes without a ``cache_creation`` object count as 5-minute writes, as ccusage does.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DedupResult", "GroupKey", "TokenTotals", "Truth", "UsageCopy", "group_calls"]

#: (UTC day, project key, session id, agent type or "main", model)
GroupKey = tuple[str, str, str, str, str]


@dataclass(frozen=True, slots=True)
class UsageCopy:
    """One line's view of one API call, with the attribution a correct ingest would give it."""

    message_id: str
    request_id: str | None
    sidechain: bool
    input: int
    output: int
    cache_5m: int
    cache_1h: int
    cache_read: int
    day: str
    project: str
    session: str
    agent: str
    model: str
    cost_usd_micros: int | None = None
    divergent: bool = False

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_5m + self.cache_1h + self.cache_read

    @property
    def synthetic(self) -> bool:
        return self.model == "<synthetic>"


@dataclass(slots=True)
class TokenTotals:
    """Token counts of a set of deduplicated API calls. ``calls`` counts the calls."""

    input: int = 0
    output: int = 0
    cache_5m: int = 0
    cache_1h: int = 0
    cache_read: int = 0
    calls: int = 0

    def add(self, c: UsageCopy) -> None:
        self.input += c.input
        self.output += c.output
        self.cache_5m += c.cache_5m
        self.cache_1h += c.cache_1h
        self.cache_read += c.cache_read
        self.calls += 1

    def merge(self, other: TokenTotals) -> None:
        self.input += other.input
        self.output += other.output
        self.cache_5m += other.cache_5m
        self.cache_1h += other.cache_1h
        self.cache_read += other.cache_read
        self.calls += other.calls

    @property
    def cache_write(self) -> int:
        return self.cache_5m + self.cache_1h

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_write + self.cache_read

    def to_dict(self) -> dict[str, int]:
        return {
            "input": self.input,
            "output": self.output,
            "cache_5m": self.cache_5m,
            "cache_1h": self.cache_1h,
            "cache_read": self.cache_read,
            "calls": self.calls,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenTotals:
        return cls(**{k: int(data[k]) for k in cls.__dataclass_fields__})


@dataclass(slots=True)
class DedupResult:
    """What :meth:`Truth.resolve` returns: the kept copy of each call, and the API errors."""

    calls: list[UsageCopy] = field(default_factory=list)
    errors: list[UsageCopy] = field(default_factory=list)
    copies: int = 0


class Truth:
    """Collects usage copies as they are written and resolves them into calls at the end."""

    __slots__ = ("_by_message", "copies")

    def __init__(self) -> None:
        self._by_message: dict[str, list[UsageCopy]] = defaultdict(list)
        self.copies = 0

    def add(self, copy: UsageCopy) -> None:
        self._by_message[copy.message_id].append(copy)
        self.copies += 1

    def resolve(self) -> DedupResult:
        out = DedupResult(copies=self.copies)
        for copies in self._by_message.values():
            for group in _calls_of(copies):
                kept = max(group, key=lambda c: (not c.sidechain, c.total))
                (out.errors if kept.synthetic else out.calls).append(kept)
        return out


def _calls_of(copies: list[UsageCopy]) -> list[list[UsageCopy]]:
    """Split one message id's copies into calls: by request id, merged again by the /btw rule."""
    by_request: dict[str | None, list[UsageCopy]] = {}
    for c in copies:
        by_request.setdefault(c.request_id, []).append(c)
    if len(by_request) > 1 and any(c.sidechain for c in copies):
        return [copies]
    return list(by_request.values())


def group_calls(calls: list[UsageCopy]) -> dict[GroupKey, TokenTotals]:
    groups: dict[GroupKey, TokenTotals] = defaultdict(TokenTotals)
    for c in calls:
        groups[(c.day, c.project, c.session, c.agent, c.model)].add(c)
    return dict(sorted(groups.items()))
