"""Reconciling a run's copies of API responses with what earlier runs recorded (part of the
write stage: it runs inside the write transaction).

Each recorded response carries a dedup key that names the copy it came from:
``cc:<message id>|<request id>|<m|s|p>`` (main thread, sidechain, or a ``progress`` copy in a
parent file). The key depends only on the copy, never on the order files were read, so every run
names the same copy the same way. A new copy is compared with the recorded copies of its message
by the rules of :mod:`gearshift.ingest.copies`, and the ledger keeps the better one.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from gearshift.ingest.copies import better, same_call
from gearshift.ledger.bulk import Reader, Row
from gearshift.ledger.columns import dedup_groups
from gearshift.ledger.ingest_queries import recorded_copies

__all__ = ["Copy", "reconcile"]


class Copy(NamedTuple):
    message_id: str
    request_id: str
    kind: str  # "m" main thread, "s" sidechain, "p" progress copy in a parent file
    tokens: int

    @property
    def key(self) -> str:
        return f"cc:{self.message_id}|{self.request_id}|{self.kind}"

    @property
    def sidechain(self) -> bool:
        return self.kind != "m"

    @classmethod
    def parse(cls, key: str, tokens: int) -> Copy | None:
        body = key[3:] if key.startswith("cc:") else ""
        parts = body.rsplit("|", 2)
        if len(parts) != 3:
            return None
        return cls(parts[0], parts[1], parts[2], tokens)

    def duplicates(self, other: Copy) -> bool:
        return same_call(self.request_id, self.sidechain, other.request_id, other.sidechain)

    def better_than(self, other: Copy) -> bool:
        return better(
            self.sidechain,
            self.tokens,
            self.kind == "p",
            other.sidechain,
            other.tokens,
            other.kind == "p",
        )


def reconcile(
    ledger: Reader, rows: Sequence[Row], columns: Sequence[str]
) -> tuple[list[Row], list[str], int]:
    """``(rows to insert, recorded keys they replace, the replaced rows' cost)``; each row (of
    ``columns``) has its copy read back from its dedup key and token columns."""
    copy_of = _reader(columns)
    key_at = list(columns).index("dedup_key")
    group_at = list(columns).index("dedup_group") if "dedup_group" in columns else None
    # The message id of each row, as Copy.parse reads it (``cc:<id>|<request>|<kind>``).
    message_ids = [str(row[key_at])[3:].rsplit("|", 2)[0] for row in rows]
    wanted = set(message_ids)
    groups = None if group_at is None else sorted({int(row[group_at]) for row in rows})
    recorded = _recorded(ledger, wanted, groups)
    # The messages with a copy to compare: a recorded one, or another in this run.
    compared = set(recorded)
    if len(wanted) < len(message_ids):
        compared.update(mid for mid, n in Counter(message_ids).items() if n > 1)
    if not compared:
        return list(rows), [], 0  # the usual run: new messages, one copy each
    fresh: list[Row] = []
    replaced: list[str] = []
    removed = 0
    for message_id, row in zip(message_ids, rows, strict=True):
        if message_id not in compared:
            fresh.append(row)  # the only copy anywhere (most rows): nothing to compare
            continue
        copy = copy_of(row)
        known = recorded[copy.message_id]
        # The copy with this very key first (a ledger may hold two copies of one message that
        # an older version recorded), else the first this one duplicates.
        match = next((i for i, (old, _) in enumerate(known) if old.key == copy.key), None)
        if match is None:
            match = next((i for i, (old, _) in enumerate(known) if copy.duplicates(old)), None)
        if match is None:
            fresh.append(row)
            known.append((copy, -1))  # -1: added by this run, not yet a recorded row
            continue
        old, old_cost = known[match]
        if not copy.better_than(old):
            continue
        if old_cost >= 0:  # a recorded row (not one added earlier in this loop)
            replaced.append(old.key)
            removed += old_cost
        else:
            fresh[:] = [r for r in fresh if r[key_at] != old.key]
        fresh.append(row)
        known[match] = (copy, -1)
    return fresh, replaced, removed


_TOKENS = (
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
)


def _reader(columns: Sequence[str]) -> Callable[[Row], Copy]:
    at = {name: i for i, name in enumerate(columns)}
    token_at = [at[c] for c in _TOKENS]
    key_at = at["dedup_key"]

    def copy_of(row: Row) -> Copy:
        copy = Copy.parse(str(row[key_at]), sum(int(row[i]) for i in token_at))
        assert copy is not None, row[key_at]
        return copy

    return copy_of


def _recorded(
    ledger: Reader, message_ids: Iterable[str], groups: list[int] | None = None
) -> dict[str, list[tuple[Copy, int]]]:
    """The recorded copies of these messages, with their cost, found by their dedup groups
    (``groups``, when the caller has them; a group may hold other messages' copies too: those
    are passed over)."""
    wanted = message_ids if isinstance(message_ids, set) else set(message_ids)
    if groups is None:
        groups = sorted(set(dedup_groups([f"cc:{mid}|" for mid in wanted])))
    found: dict[str, list[tuple[Copy, int]]] = defaultdict(list)
    for key, tokens, cost in recorded_copies(ledger, groups):
        copy = Copy.parse(key, tokens)
        if copy is not None and copy.message_id in wanted:
            found[copy.message_id].append((copy, cost))
    return found
