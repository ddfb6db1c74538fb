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

from gearshift.ingest.parse import Entry

TYPE_CHECKING = False  # not typing's: this module is on the path of every hook-run ingest
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["Deduper"]


#: A kept copy and the index of the file it came from: ``[entry, file_index]`` (a list, not an
#: object: the global pass makes one per distinct response, hundreds of thousands a run).
Slot = list["Any"]


class Deduper:
    """Feed entries with :meth:`add`; read the survivors from :meth:`kept`.

    A message's kept copies form a bucket: usually one copy, kept in ``first`` (with its file
    in ``first_at``); the rare further copies (the same message under other request ids, none a
    sidechain) in ``more``. Most entries are a message seen for the first time, which then costs
    one ``setdefault`` and one store."""

    __slots__ = ("first", "first_at", "more", "seen")

    def __init__(self) -> None:
        self.first: dict[str, Entry] = {}
        self.first_at: dict[str, int] = {}
        self.more: dict[str, list[Slot]] = {}
        self.seen = 0

    def add(self, entries: Sequence[Entry], file_index: int) -> None:
        first, first_at = self.first, self.first_at
        keep = first.setdefault
        self.seen += len(entries)
        for entry in entries:
            mid = entry[0]  # message_id
            if keep(mid, entry) is entry:
                first_at[mid] = file_index
            else:
                self._again(mid, entry, file_index)

    def _again(self, mid: str, entry: Entry, file_index: int) -> None:
        """``entry`` is a message already seen: a duplicate of a kept copy (which it may
        replace) or, under another request id with no sidechain involved, another call."""
        other = self.first[mid]
        if other.request_id == entry.request_id or other.sidechain or entry.sidechain:
            if _better(entry, other):
                self.first[mid], self.first_at[mid] = entry, file_index
            return
        bucket = self.more.setdefault(mid, [])
        for slot in bucket:
            other = slot[0]
            if other.request_id == entry.request_id or other.sidechain or entry.sidechain:
                if _better(entry, other):
                    slot[0], slot[1] = entry, file_index
                return
        bucket.append([entry, file_index])

    def kept(self) -> list[Slot]:
        """``[entry, file_index]`` per kept copy: messages in order of first appearance, each
        message's copies in the order they were first kept."""
        out: list[Slot] = []
        more, first_at = self.more, self.first_at
        for mid, entry in self.first.items():
            out.append([entry, first_at[mid]])
            extra = more.get(mid)
            if extra:
                out.extend(extra)
        return out

    @property
    def duplicates(self) -> int:
        return self.seen - len(self.first) - sum(len(b) for b in self.more.values())


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
