"""Budget holds of a dead worker go back to the budget within seconds, not at their TTL; a live
worker's stay."""

from __future__ import annotations

import time

import pytest

from gearshift.budgets import CallScope, make_budget
from gearshift.distributed.holds import WorkerReservations, beat, release_orphans
from gearshift.ledger import Ledger

pytestmark = pytest.mark.postgres

SCOPE = CallScope(project="acme", agent="coder", model="claude-sonnet-4-5", tier="sonnet")


def _held(ledger: Ledger) -> int:
    return int(ledger.query("SELECT count(*) FROM budget_reservations")[0][0])


def test_a_dead_workers_holds_are_released_and_a_live_ones_kept(dist_db: str) -> None:
    budget = make_budget(
        name="acme", scope="project", value="acme", period="day", amount_usd="1", action="block"
    )
    with Ledger.open(dist_db) as ledger:
        dead = WorkerReservations(ledger, "host-a:1", budgets=[budget])
        live = WorkerReservations(ledger, "host-b:2", budgets=[budget])
        # each worker holds most of the budget's half: a third hold would not fit
        assert dead.reserve(SCOPE, 400_000_000).admitted
        assert live.reserve(SCOPE, 400_000_000).admitted
        assert not live.reserve(SCOPE, 400_000_000).admitted
        assert _held(ledger) == 2
        time.sleep(1.2)
        beat(ledger, "host-b:2")  # host-a:1 was killed: it beats no more
        assert release_orphans(ledger, 1.0) == 1
        assert _held(ledger) == 1
        assert live.reserve(SCOPE, 400_000_000).admitted  # the dead worker's share is back
        # a hold settled with its attempt's row leaves no tag behind
        decision = live.reserve(SCOPE, 1)
        assert decision.reservation is not None
        live.release(decision.reservation)
        tags = ledger.query("SELECT count(*) FROM gs_dist_holds WHERE worker = 'host-b:2'")
        assert tags[0][0] == 2
