"""The Deduper against a plain reference of the rules, on random streams of copies."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gearshift.ingest.copies import Deduper
from gearshift.ingest.usage_line import Entry


def _entry(mid: str, req: str | None, side: bool, prog: bool, out: int, tag: int) -> Entry:
    return Entry(
        mid, req, side, prog, f"s{tag}", None, None, "", "", "m", 1, out, 0, 0, 0, False,
        False, tag, "", None,
    )  # fmt: skip


def _reference(batches: list[list[Entry]]) -> tuple[list[list[Any]], int]:
    """The rules written the obvious way: a list of kept slots per message id."""
    groups: dict[str, list[list[Any]]] = {}
    seen = 0
    for index, entries in enumerate(batches):
        for e in entries:
            seen += 1
            bucket = groups.setdefault(e.message_id, [])
            for slot in bucket:
                o = slot[0]
                if o.request_id == e.request_id or o.sidechain or e.sidechain:
                    if e.sidechain != o.sidechain:
                        better = not e.sidechain
                    elif e.total_tokens != o.total_tokens:
                        better = e.total_tokens > o.total_tokens
                    else:
                        better = o.from_progress and not e.from_progress
                    if better:
                        slot[0], slot[1] = e, index
                    break
            else:
                bucket.append([e, index])
    kept = [slot for bucket in groups.values() for slot in bucket]
    return kept, seen - len(kept)


copies = st.lists(
    st.tuples(
        st.sampled_from(["m1", "m2", "m3", "m4"]),
        st.sampled_from(["r1", "r2", "r3", None, ""]),
        st.booleans(),
        st.booleans(),
        st.integers(0, 3),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(copies, max_size=5))
def test_deduper_keeps_what_the_rules_say_in_order(batches: list[list[Any]]) -> None:
    tag = iter(range(10_000))
    files = [[_entry(*c, tag=next(tag)) for c in batch] for batch in batches]
    dedup = Deduper()
    for index, entries in enumerate(files):
        dedup.add(entries, index)
    kept, duplicates = _reference(files)
    assert dedup.kept() == kept
    assert dedup.duplicates == duplicates
