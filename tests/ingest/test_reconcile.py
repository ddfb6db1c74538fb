"""Looking up the recorded copies of messages by their dedup-key ranges."""

from __future__ import annotations

from pathlib import Path

from gearshift.ingest.claude_code import COLUMNS, FIXED
from gearshift.ingest.reconcile import _recorded
from gearshift.ledger import Ledger
from gearshift.ledger.record import new_ids


def _rows(keys: list[str]) -> list[tuple[object, ...]]:
    ids = new_ids([1_764_288_000_000 + i for i in range(len(keys))])
    return [
        (ids[i], 1_764_288_000_000_000 + i, "p", "s", "main", "claude-x", "sonnet", 10, 1, 0, 0,
         0, 100 + i, "v", "success", 0, "{}", key)
        for i, key in enumerate(keys)
    ]  # fmt: skip


def test_each_recorded_copy_is_found_once_even_when_ranges_overlap(tmp_path: Path) -> None:
    """Message id ``a`` followed by ``|`` prefixes ``a|b``'s keys: the two ranges overlap, and
    a copy in both must not be listed twice (it would be replaced, and its cost removed, twice)."""
    keys = ["cc:a|r1|s", "cc:a|b|r2|m", "cc:ab|r3|m", "cc:other|r4|m"]
    with Ledger.open(tmp_path / "l.db") as ledger:
        ledger.write_rows(_rows(keys), columns=COLUMNS, fixed=FIXED)
        found = _recorded(ledger, ["a", "a|b", "ab", "missing"])
    got = {mid: sorted(c.key for c, _ in copies) for mid, copies in found.items()}
    assert got == {"a": ["cc:a|r1|s"], "a|b": ["cc:a|b|r2|m"], "ab": ["cc:ab|r3|m"]}
    assert [cost for _, cost in found["a"]] == [100]
