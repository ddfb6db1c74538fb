"""Which copy of an API response is recorded: the deduplication rules, in one place.

Claude Code writes one response as several lines (one per content block), some versions copy a
subagent's lines into the parent file as ``progress`` lines, and ``/btw`` side questions replay
a parent's response in a sidechain file under a new request id. The rules (those of ccusage 20):

* copies of one API response share ``(message.id, requestId)``; a missing ``requestId`` makes
  the key ``message.id`` alone;
* the same ``message.id`` under another ``requestId`` is a copy too when either one is a
  sidechain -- the ``/btw`` replay of a parent message;
* of two copies, keep the non-sidechain one, else the one with the most tokens, else the one
  not nested in a ``progress`` line (the subagent's own line carries the attribution), else the
  one seen first.

:func:`same_call` and :func:`better` state them; :class:`Deduper` applies them to the entries
of a run (within a file as it is parsed, then across files), and the write stage applies them to
the copies earlier runs recorded (:mod:`gearshift.ingest.write`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gearshift.ingest.usage_line import Entry

__all__ = ["Deduper", "Slot", "better", "same_call"]


def same_call(
    request: str | None, sidechain: bool, other_request: str | None, other_sidechain: bool
) -> bool:
    """Whether two copies of one ``message.id`` are copies of one call."""
    return request == other_request or sidechain or other_sidechain


def better(
    sidechain: bool,
    tokens: int,
    from_progress: bool,
    old_sidechain: bool,
    old_tokens: int,
    old_from_progress: bool,
) -> bool:
    """Whether a copy should replace the copy kept so far (``old_...``)."""
    if sidechain != old_sidechain:
        return not sidechain
    if tokens != old_tokens:
        return tokens > old_tokens
    return old_from_progress and not from_progress


def _better_entry(new: Entry, old: Entry) -> bool:
    return better(
        new.sidechain,
        new.total_tokens,
        new.from_progress,
        old.sidechain,
        old.total_tokens,
        old.from_progress,
    )


#: A kept copy and the index of the file it came from: ``[entry, file_index]``.
Slot = list[Any]


class Deduper:
    """Feed entries with :meth:`add`; read the survivors from :meth:`kept`.

    A message's kept copies form a bucket: usually one copy, kept in ``first`` (with its file in
    ``first_at``); the rare further copies (the same message under other request ids, none a
    sidechain) in ``more``."""

    __slots__ = ("first", "first_at", "more", "seen")

    def __init__(self) -> None:
        self.first: dict[str, Entry] = {}
        self.first_at: dict[str, int] = {}
        self.more: dict[str, list[Slot]] = {}
        self.seen = 0

    def add(self, entries: Sequence[Entry], file_index: int) -> None:
        self.seen += len(entries)
        for entry in entries:
            mid = entry.message_id
            if self.first.setdefault(mid, entry) is entry:
                self.first_at[mid] = file_index
            else:
                self._again(mid, entry, file_index)

    def _again(self, mid: str, entry: Entry, file_index: int) -> None:
        """``entry`` is a message already seen: a copy of a kept one (which it may replace) or,
        under another request id with no sidechain involved, another call."""
        other = self.first[mid]
        if same_call(entry.request_id, entry.sidechain, other.request_id, other.sidechain):
            if _better_entry(entry, other):
                self.first[mid], self.first_at[mid] = entry, file_index
            return
        bucket = self.more.setdefault(mid, [])
        for slot in bucket:
            other = slot[0]
            if same_call(entry.request_id, entry.sidechain, other.request_id, other.sidechain):
                if _better_entry(entry, other):
                    slot[0], slot[1] = entry, file_index
                return
        bucket.append([entry, file_index])

    def kept(self) -> list[Slot]:
        """``[entry, file_index]`` per kept copy: messages in order of first appearance, each
        message's copies in the order they were first kept."""
        out: list[Slot] = []
        for mid, entry in self.first.items():
            out.append([entry, self.first_at[mid]])
            out.extend(self.more.get(mid, ()))
        return out

    @property
    def duplicates(self) -> int:
        return self.seen - len(self.first) - sum(len(b) for b in self.more.values())
