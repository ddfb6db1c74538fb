"""Looking up the recorded copies of messages by their dedup groups."""

from __future__ import annotations

from pathlib import Path

from gearshift.ingest.reconcile import _recorded
from gearshift.ingest.write import COLUMNS, FIXED
from gearshift.ledger import Ledger
from gearshift.ledger.columns import dedup_group
from gearshift.ledger.record import new_ids


def _rows(keys: list[str]) -> list[tuple[object, ...]]:
    ids = new_ids([1_764_288_000_000 + i for i in range(len(keys))])
    return [
        (ids[i], 1_764_288_000_000_000 + i, "p", "s", "main", "claude-x", "sonnet", 10, 1, 0, 0,
         0, 100 + i, "v", "success", 0, "{}", key, dedup_group(key))
        for i, key in enumerate(keys)
    ]  # fmt: skip


def test_each_recorded_copy_is_found_once_even_when_ids_share_a_prefix(tmp_path: Path) -> None:
    """Message id ``a`` followed by ``|`` prefixes ``a|b``'s keys (and shares its dedup group):
    each copy must be listed once, under its own message (it would be replaced, and its cost
    removed, twice)."""
    keys = ["cc:a|r1|s", "cc:a|b|r2|m", "cc:ab|r3|m", "cc:other|r4|m"]
    with Ledger.open(tmp_path / "l.db") as ledger:
        ledger.write_rows(_rows(keys), columns=COLUMNS, fixed=FIXED)
        found = _recorded(ledger, ["a", "a|b", "ab", "missing"])
    got = {mid: sorted(c.key for c, _ in copies) for mid, copies in found.items()}
    assert got == {"a": ["cc:a|r1|s"], "a|b": ["cc:a|b|r2|m"], "ab": ["cc:ab|r3|m"]}
    assert [cost for _, cost in found["a"]] == [100]


def _collation(ledger: Ledger) -> str | None:
    """A collation that does not order bytewise, as most PostgreSQL databases have."""
    names = {r[0] for r in ledger.query("SELECT collname FROM pg_collation")}
    return next((c for c in ("en-US-x-icu", "en_US.utf8", "en_US") if c in names), None)


def test_copies_are_found_on_postgresql_whatever_its_collation(tmp_path: Path, pg_url: str) -> None:
    """With the dedup keys in a natural-language collation (``|`` and ``}`` sort elsewhere),
    the recorded copies are still found: a straddling response keeps its final copy and a
    sidechain replay of it is not counted."""
    import json

    import pytest
    from sqlalchemy import text

    from gearshift.ingest.claude_code import ingest_claude_code

    with Ledger.open(pg_url) as pg:
        collation = _collation(pg)
        if collation is None:
            pytest.skip("no natural-language collation in this PostgreSQL")
        with pg.write() as conn:
            conn.execute(text("ALTER TABLE executions ALTER COLUMN dedup_key TYPE varchar(200) "
                              f'COLLATE "{collation}"'))  # fmt: skip
        keys = ["cc:msg_A|req_A|m", "cc:msg_B|req_B|s"]
        pg.write_rows(_rows(keys), columns=COLUMNS, fixed=FIXED)
        found = _recorded(pg, ["msg_A", "msg_B"])
        assert {m: [c.key for c, _ in copies] for m, copies in found.items()} == {
            "msg_A": ["cc:msg_A|req_A|m"],
            "msg_B": ["cc:msg_B|req_B|s"],
        }

        def line(req: str, out: int, side: bool = False) -> str:
            usage = {"input_tokens": 100, "output_tokens": out}
            message = {"id": "msg_C", "model": "claude-sonnet-4-5-20250929", "usage": usage}
            return json.dumps({"type": "assistant", "isSidechain": side, "sessionId": "s1",
                               "timestamp": "2026-09-01T10:00:00.000Z", "requestId": req,
                               "message": message}) + "\n"  # fmt: skip

        path = tmp_path / "projects" / "-w-proj" / "s1.jsonl"
        path.parent.mkdir(parents=True)
        path.write_text(line("req_C", 12))
        assert ingest_claude_code(pg, [tmp_path]).new_records == 1
        with path.open("a") as fh:
            fh.write(line("req_C", 412) + line("req_C2", 5, side=True))
        assert ingest_claude_code(pg, [tmp_path]).new_records == 0
        rows = pg.query("SELECT dedup_key, output_tokens FROM executions WHERE session = 's1'")
        assert rows == [("cc:msg_C|req_C|m", 412)]


def _transcript(tmp_path: Path, lines: list[tuple[str, str, int, bool]]) -> Path:
    import json

    path = tmp_path / "projects" / "-w-proj" / "s1.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        for mid, req, out, side in lines:
            usage = {"input_tokens": 10, "output_tokens": out}
            message = {"id": mid, "model": "claude-sonnet-4-5-20250929", "usage": usage}
            fh.write(json.dumps({"type": "assistant", "isSidechain": side, "sessionId": "s1",
                                 "timestamp": "2026-09-01T10:00:00.000Z", "requestId": req,
                                 "message": message}) + "\n")  # fmt: skip
    return tmp_path


def test_a_better_copy_replaces_the_recorded_copy_with_its_own_key(
    tmp_path: Path, ledger_url: str
) -> None:
    """A ledger may hold two copies of one message (older versions could record a sidechain
    replay beside its main copy). A larger main copy replaces the main copy -- the one with its
    very key -- and the summary says what changed."""
    from gearshift.ingest.claude_code import ingest_claude_code

    with Ledger.open(ledger_url) as ledger:
        ledger.write_rows(_rows(["cc:m1|x1|s", "cc:m1|r1|m"]), columns=COLUMNS, fixed=FIXED)
        before = dict(ledger.query("SELECT dedup_key, cost_nanos FROM executions"))
        summary = ingest_claude_code(ledger, [_transcript(tmp_path, [("m1", "r1", 500, False)])])
        after = dict(ledger.query("SELECT dedup_key, cost_nanos FROM executions"))
        tokens = dict(ledger.query("SELECT dedup_key, output_tokens FROM executions"))
    assert tokens == {"cc:m1|x1|s": 1, "cc:m1|r1|m": 500}
    assert summary.new_records == 0
    assert summary.cost_added_nanos == sum(after.values()) - sum(before.values())


def test_records_imported_without_file_states_are_reconciled(
    tmp_path: Path, ledger_url: str
) -> None:
    """A ledger filled by `gearshift ledger import` (records, no file states) still has the
    copies: ingesting the transcripts they came from adds nothing."""
    from gearshift.ingest.claude_code import ingest_claude_code

    lines = [("m1", "r1", 40, False), ("m1", "x1", 40, True), ("m2", "r2", 7, False)]
    with Ledger.open(tmp_path / "source.db") as source:
        ingest_claude_code(source, [_transcript(tmp_path / "a", lines)])
        recorded = list(source.executions())
    with Ledger.open(ledger_url) as ledger:
        assert ledger.add_many(recorded) == 2
        summary = ingest_claude_code(ledger, [_transcript(tmp_path / "b", lines)])
        assert (summary.new_records, summary.cost_added_nanos) == (0, 0)
        assert ledger.count() == 2
