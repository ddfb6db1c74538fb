"""Budget holds across workers: the existing reservations, each tagged with the worker that
holds it, so a worker that dies releases its holds within seconds rather than at their TTL.

Every worker refreshes ``gs_dist_holds.heartbeat_at`` for its holds (:func:`beat`) and sweeps
(:func:`release_orphans`) the holds whose worker stopped beating: their reservations are
deleted, which frees the budget for the others. A hold is tagged in its own short transaction
right after it is taken; a worker killed between the two leaves an untagged hold, which its TTL
(15 minutes) still ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from gearshift.budgets.reservations import Decision, Reservation, Reservations

if TYPE_CHECKING:
    from gearshift.budgets.model import CallScope
    from gearshift.ledger.store import Ledger

__all__ = ["WorkerReservations", "beat", "release_orphans"]

_TAG = text(
    "INSERT INTO gs_dist_holds (reservation_id, worker) VALUES (:id, :worker) "
    "ON CONFLICT (reservation_id) DO NOTHING"
)
_UNTAG = text("DELETE FROM gs_dist_holds WHERE reservation_id = :id")
_BEAT = text("UPDATE gs_dist_holds SET heartbeat_at = clock_timestamp() WHERE worker = :worker")
_ORPHANS = text(
    "WITH dead AS (DELETE FROM gs_dist_holds "
    "  WHERE heartbeat_at < clock_timestamp() - make_interval(secs => :silent) "
    "  RETURNING reservation_id) "
    "DELETE FROM budget_reservations WHERE id IN (SELECT reservation_id FROM dead)"
)


class WorkerReservations(Reservations):
    """:class:`~gearshift.budgets.reservations.Reservations` whose holds name their worker."""

    def __init__(self, ledger: Ledger, worker: str, **options: Any) -> None:
        super().__init__(ledger, **options)
        self.worker = worker

    def reserve(self, call: CallScope, worst_case_nanos: int, **options: Any) -> Decision:
        decision = super().reserve(call, worst_case_nanos, **options)
        held = decision.reservation
        if decision.admitted and held is not None and held.budgets:
            with self.ledger.write() as conn:
                conn.execute(_TAG, {"id": held.id, "worker": self.worker})
        return decision

    def settle_in(self, conn: Connection, reservations: Sequence[Reservation]) -> None:
        super().settle_in(conn, reservations)
        for reservation in reservations:
            if reservation.budgets:
                conn.execute(_UNTAG, {"id": reservation.id})

    def settle(self, reservation: Reservation, execution: Any = None) -> bool:
        settled = super().settle(reservation, execution)
        if reservation.budgets:
            with self.ledger.write() as conn:
                conn.execute(_UNTAG, {"id": reservation.id})
        return settled


def beat(ledger: Ledger, worker: str) -> None:
    """This worker is alive: its holds stay."""
    with ledger.write() as conn:
        conn.execute(_BEAT, {"worker": worker})


def release_orphans(ledger: Ledger, silent_s: float) -> int:
    """Delete the reservations of workers silent for ``silent_s`` seconds; how many."""
    with ledger.write() as conn:
        return int(conn.execute(_ORPHANS, {"silent": silent_s}).rowcount or 0)
