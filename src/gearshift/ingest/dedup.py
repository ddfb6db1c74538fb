"""Global deduplication of usage entries, across every file of a run.

Rules (shared/reference/claude-code-usage-data.md §1.7, §2.2; the same as ccusage 20):

* copies of one API response share ``(message.id, requestId)``; a missing ``requestId`` makes
  the key ``message.id`` alone;
* the same ``message.id`` under another ``requestId`` is a duplicate too when either copy is a
  sidechain -- the ``/btw`` replay of a parent message;
* of duplicates, keep the non-sidechain copy, else the one with the most tokens, else the one
  that states ``speed``; a copy from the subagent's own file beats the ``progress`` copy that
  some versions nest in the parent file (it carries the attribution).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gearshift.ingest.parse import Entry

__all__ = ["Deduper"]


#: A kept copy and the index of the file it came from: ``[entry, file_index]`` (a list, not an
#: object: the global pass makes one per distinct response, hundreds of thousands a run).
Slot = list[Any]


@dataclass(slots=True)
class Deduper:
    """Feed entries with :meth:`add`; read the survivors from :meth:`kept`."""

    groups: dict[str, list[Slot]] = field(default_factory=dict)
    seen: int = 0

    def add(self, entries: Sequence[Entry], file_index: int) -> None:
        groups = self.groups
        get = groups.get
        self.seen += len(entries)
        for entry in entries:
            mid = entry[0]  # message_id
            bucket = get(mid)
            if bucket is None:
                groups[mid] = [[entry, file_index]]
                continue
            for slot in bucket:
                other = slot[0]
                if other.request_id == entry.request_id or other.sidechain or entry.sidechain:
                    if _better(entry, other):
                        slot[0], slot[1] = entry, file_index
                    break
            else:
                bucket.append([entry, file_index])

    def kept(self) -> list[Slot]:
        return [slot for bucket in self.groups.values() for slot in bucket]

    @property
    def duplicates(self) -> int:
        return self.seen - sum(len(b) for b in self.groups.values())


def _better(new: Entry, old: Entry) -> bool:
    """Whether ``new`` should replace ``old`` as the copy kept (called for every duplicate, so
    the token sums are written out rather than read through ``Entry.total_tokens``)."""
    if new.sidechain != old.sidechain:
        return not new.sidechain
    new_total = new.input_tokens + new.output_tokens + new.cache_5m + new.cache_1h + new.cache_read
    old_total = old.input_tokens + old.output_tokens + old.cache_5m + old.cache_1h + old.cache_read
    if new_total != old_total:
        return new_total > old_total
    if new.from_progress != old.from_progress:
        return not new.from_progress
    return False
