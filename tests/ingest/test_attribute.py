"""Re-attributing the records of a subagent whose type a later run learns."""

from __future__ import annotations

from gearshift.ingest.attribute import Attributor, KnownAgents
from gearshift.ingest.write import COLUMNS, FIXED
from gearshift.ledger import Ledger
from gearshift.ledger.columns import dedup_group
from gearshift.ledger.record import new_ids


def _row(i: int, agent_id: str, agent: str = "subagent") -> tuple[object, ...]:
    (row_id,) = new_ids([1_764_288_000_000 + i])
    tags = '{"agent_id":"' + agent_id + '","branch":"main"}'
    key = f"cc:m{i}|r|s"
    return (row_id, 1_764_288_000_000_000 + i, "p", "s", agent, "claude-x", "sonnet", 1, 1, 0, 0,
            0, 10, "v", "success", 0, tags, key, dedup_group(key))  # fmt: skip


def test_only_the_named_agents_records_change(ledger_url: str) -> None:
    """The agent id is matched exactly: not another id it is a prefix of, not one differing
    only in case (SQLite's LIKE would match it), and only records still called ``subagent``."""
    rows = [_row(0, "abc"), _row(1, "ABC"), _row(2, "abcd"), _row(3, "abc", agent="Explore"),
            _row(4, "xyz")]  # fmt: skip
    with Ledger.open(ledger_url) as ledger:
        ledger.write_rows(rows, columns=COLUMNS, fixed=FIXED)
        known = KnownAgents(pending={"abc": "", "xyz": "toolu_9", "zzz": ""})
        attribute = Attributor({}, {"toolu_9": "Explore"}, {"abc": "Plan"})
        statements, resolved = known.statements(attribute, ledger.location.dialect)
        assert resolved == 2
        ledger.execute_many(statements)
        agents = {e.dedup_key: e.agent for e in ledger.executions()}
        assert agents == {"cc:m0|r|s": "Plan", "cc:m1|r|s": "subagent", "cc:m2|r|s": "subagent",
                          "cc:m3|r|s": "Explore", "cc:m4|r|s": "Explore"}  # fmt: skip
        pending = ledger.query("SELECT ref FROM ingest_agents WHERE kind = 'pending'")
        assert pending == []  # "abc" and "xyz" resolved; "zzz" was never written by this test
        learned = sorted(ledger.query("SELECT kind, ref, value FROM ingest_agents"))
        assert learned == [("result", "abc", "Plan"), ("tool", "toolu_9", "Explore")]
