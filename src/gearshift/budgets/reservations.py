"""Budget enforcement: reserve a call's worst-case cost before making it, settle it afterwards.

The engine (and later the proxy) runs every model call through this protocol::

    guard = Reservations(ledger, config=config)       # config + ledger budgets
    call = CallScope(project="acme", agent="reviewer", model=model.id, tier="opus", tags={})
    decision = guard.reserve(call, worst_case_nanos(catalog, model.id, input_estimate, max_tokens))
    if decision.action == "step-down":                # retry on decision.step_to's model
        ...
    elif not decision.admitted:
        raise decision.error()                        # BudgetExceeded, with the reason
    try:
        result = provider.call(...)
    except BaseException:
        guard.release(decision.reservation)           # nothing was spent
        raise
    guard.settle(decision.reservation, ledger.price(agent=..., model=..., usage=result.usage))

**Atomicity.** :meth:`Reservations.reserve` checks every budget covering the call in one write
transaction: spend recorded in the period + unexpired reservations + this worst case must fit
in the amount. On SQLite the transaction is ``BEGIN IMMEDIATE`` (the database's one write lock);
on PostgreSQL each covering budget's row in ``budget_locks`` is locked ``FOR UPDATE``, in name
order. So concurrent callers, threads or machines, queue on a budget, and the spend of admitted
calls can never exceed an amount by more than what their worst cases under-estimated.

**Settling.** :meth:`Reservations.settle` records the execution and deletes the reservation in
one transaction, so at no instant does the call count twice or not at all. A caller that records
the execution itself must do so *before* ``settle(reservation)`` (counting twice for a moment is
safe; counting zero times is not). A caller that crashes leaves its reservation behind; it stops
counting at its expiry (``ttl``, 15 minutes by default: longer than any single model call).

**Breaches.** Each budget's ``action`` says what a breach does: ``block`` refuses the call,
``step-down`` asks the caller to retry one tier cheaper (blocking at the bottom tier), ``alert``
lets it through and reports the breach in ``decision.breaches``. Block beats step-down beats
alert. Reservations held by calls still in flight when a period rolls over keep counting against
the new period until settled: conservative, and short-lived.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from gearshift.budgets import sql as budget_sql
from gearshift.budgets.forecast import money
from gearshift.budgets.model import Budget, CallScope, config_budgets, period_window, stored_budgets
from gearshift.catalog import Catalog, Model, Tier, Usage
from gearshift.config import Config
from gearshift.errors import BudgetExceeded
from gearshift.ledger.dedup_sql import ConnReader
from gearshift.ledger.queries import spent_and_held
from gearshift.ledger.record import new_id, us_from_ts

if TYPE_CHECKING:
    from gearshift.ledger.record import Execution
    from gearshift.ledger.store import Ledger

__all__ = [
    "DEFAULT_TTL",
    "Breach",
    "CallScope",
    "Decision",
    "Reservation",
    "Reservations",
    "reserve",
    "settle",
    "worst_case_nanos",
]

DEFAULT_TTL = dt.timedelta(minutes=15)
_FEMTO_PER_NANO = 10**6


@dataclass(frozen=True, slots=True)
class Reservation:
    """A worst-case amount held against ``budgets`` until settled, released or ``expires``."""

    id: str
    nanos: int
    budgets: tuple[str, ...]
    expires: dt.datetime


@dataclass(frozen=True, slots=True)
class Breach:
    """One budget this call would overrun: spent + in flight + this call > amount."""

    budget: Budget
    spent_nanos: int
    reserved_nanos: int
    request_nanos: int

    @property
    def text(self) -> str:
        b = self.budget
        return (
            f"budget {b.name} ({b.scope_text}, {b.period_text}): {money(self.spent_nanos)} spent"
            f" + {money(self.reserved_nanos)} in flight + {money(self.request_nanos)} for this"
            f" call > {money(b.amount_nanos)}"
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to a reservation.

    ``action`` is ``ok`` (admitted, no breach), ``alert`` (admitted; ``breaches`` lists the
    alert-only budgets overrun), ``step-down`` (not admitted; retry on ``step_to``) or ``block``
    (not admitted). ``reservation`` is set exactly when the call is admitted.
    """

    action: str
    reservation: Reservation | None
    breaches: tuple[Breach, ...] = ()
    step_to: Tier | None = None

    @property
    def admitted(self) -> bool:
        return self.reservation is not None

    @property
    def reason(self) -> str:
        if not self.breaches:
            return "within every budget"
        return "; ".join(b.text for b in self.breaches)

    def error(self) -> BudgetExceeded:
        """The error to raise for a refused call."""
        return BudgetExceeded(
            f"over budget: {self.reason}",
            hint="raise the budget (`gearshift budget set`), wait for the next period, "
            "or change its action to step-down or alert",
        )


class Reservations:
    """Reservations against ``budgets`` (default: ``config``'s plus the ledger's).

    Ledger budgets are read on every :meth:`reserve`, so a budget a teammate sets on a shared
    ledger applies at once. ``tz`` is the zone of budget periods for budgets without their own.
    """

    def __init__(
        self,
        ledger: Ledger,
        budgets: Sequence[Budget] | None = None,
        *,
        config: Config | None = None,
        tz: dt.tzinfo | None = None,
        ttl: dt.timedelta = DEFAULT_TTL,
    ) -> None:
        self.ledger = ledger
        self.tz = tz
        self.ttl = ttl
        self._fixed = list(budgets) if budgets is not None else None
        self._config = config_budgets(config) if budgets is None and config is not None else []

    def budgets(self) -> list[Budget]:
        if self._fixed is not None:
            return self._fixed
        with self.ledger.read() as conn:
            stored = stored_budgets(conn)
        names = {b.name for b in self._config}
        return [*self._config, *(b for b in stored if b.name not in names)]

    def covering(self, call: CallScope, now: dt.datetime | None = None) -> list[Budget]:
        """The budgets in force that cover ``call``, by name (none: nothing to reserve, and no
        need to work out the call's worst case)."""
        now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        return sorted(
            (b for b in self.budgets() if b.covers(call) and b.active(now, self.tz)),
            key=lambda b: b.name,
        )

    def reserve(
        self, call: CallScope, worst_case_nanos: int, *, now: dt.datetime | None = None
    ) -> Decision:
        """Hold ``worst_case_nanos`` against every budget covering ``call``, atomically."""
        if worst_case_nanos < 0:
            raise ValueError("worst_case_nanos must not be negative")
        now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        covering = self.covering(call, now)
        reservation = Reservation(
            new_id(), worst_case_nanos, tuple(b.name for b in covering), now + self.ttl
        )
        if not covering:
            return Decision("ok", reservation)
        with self.ledger.write() as conn:
            breaches = self._check(conn, covering, worst_case_nanos, now)
            action, step_to = _action(breaches, call)
            if action in ("ok", "alert"):
                budget_sql.insert_reservation(
                    conn,
                    reservation.id,
                    reservation.budgets,
                    worst_case_nanos,
                    us_from_ts(now),
                    us_from_ts(reservation.expires),
                )
                return Decision(action, reservation, breaches)
        return Decision(action, None, breaches, step_to)

    def _check(
        self, conn: Connection, covering: list[Budget], nanos: int, now: dt.datetime
    ) -> tuple[Breach, ...]:
        names = [b.name for b in covering]
        now_us = us_from_ts(now)
        budget_sql.lock_budgets(conn, names)
        budget_sql.purge_expired(conn, names, now_us)
        breaches = []
        for budget in covering:
            spent, held = _committed(conn, budget, now, now_us, self.tz)
            if spent + held + nanos > budget.amount_nanos:
                breaches.append(Breach(budget, spent, held, nanos))
        return tuple(breaches)

    def settle(self, reservation: Reservation, execution: Execution | None = None) -> bool:
        """Record ``execution`` (when given) and drop the reservation, in one transaction.

        Without ``execution`` the caller has recorded the call already, or it never happened.
        Returns ``False`` when the reservation was no longer there (expired and purged).
        """
        if execution is None and not reservation.budgets:
            return True
        with self.ledger.write() as conn:
            if execution is not None:
                self.ledger.add_in(conn, [execution])
            return (
                not reservation.budgets or budget_sql.delete_reservation(conn, reservation.id) > 0
            )

    def settle_many(
        self, executions: Sequence[Execution], reservations: Sequence[Reservation]
    ) -> int:
        """Record ``executions`` and drop ``reservations``, all in one transaction (a batch of
        finished calls settled at once, as the proxy writes them); returns the rows added."""
        held = [r for r in reservations if r.budgets]
        if not held:
            return self.ledger.add_many(executions) if executions else 0
        with self.ledger.write() as conn:
            added = self.ledger.add_in(conn, executions)
            for reservation in held:
                budget_sql.delete_reservation(conn, reservation.id)
        return added

    def release(self, reservation: Reservation) -> bool:
        """Drop a reservation whose call did not happen (or was recorded already)."""
        return self.settle(reservation, None)

    def settle_in(self, conn: Connection, reservations: Sequence[Reservation]) -> None:
        """Drop ``reservations`` inside the caller's write transaction -- the one that records
        their executions (the engine's group commit), so each call counts exactly once."""
        for reservation in reservations:
            if reservation.budgets:
                budget_sql.delete_reservation(conn, reservation.id)

    def shrink(self, reservation: Reservation, nanos: int) -> Reservation:
        """Lower a hold to ``nanos`` -- the call's real cost, once its usage is known -- so the
        rest of the worst case goes back to the budget at once rather than when the attempt is
        recorded (after validation, which may take minutes or call a judge). A hold never grows
        here, and one already at or below ``nanos`` is left as it is."""
        if not reservation.budgets or nanos >= reservation.nanos:
            return reservation
        nanos = max(0, nanos)
        with self.ledger.write() as conn:
            budget_sql.shrink_reservation(conn, reservation.id, nanos)
        return Reservation(reservation.id, nanos, reservation.budgets, reservation.expires)


def _committed(
    conn: Connection, budget: Budget, now: dt.datetime, now_us: int, tz: dt.tzinfo | None
) -> tuple[int, int]:
    """(recorded spend in the period, unexpired reservations) of ``budget``."""
    start, end = period_window(budget, now, tz)
    return spent_and_held(ConnReader(conn), budget.filters(start, end), budget.name, now_us)


def _action(breaches: Sequence[Breach], call: CallScope) -> tuple[str, Tier | None]:
    actions = {b.budget.action for b in breaches}
    if not actions:
        return "ok", None
    if "block" in actions:
        return "block", None
    if "step-down" in actions:
        lower = Tier.parse(call.tier).down() if call.tier else None
        return ("step-down", lower) if lower is not None else ("block", None)
    return "alert", None


def reserve(
    ledger: Ledger,
    call: CallScope,
    worst_case_nanos: int,
    *,
    budgets: Sequence[Budget] | None = None,
    config: Config | None = None,
    now: dt.datetime | None = None,
) -> Decision:
    """One-off :meth:`Reservations.reserve`; build a :class:`Reservations` to make many."""
    return Reservations(ledger, budgets, config=config).reserve(call, worst_case_nanos, now=now)


def settle(ledger: Ledger, reservation: Reservation, execution: Execution | None = None) -> bool:
    """One-off :meth:`Reservations.settle`."""
    return Reservations(ledger, ()).settle(reservation, execution)


def worst_case_nanos(
    catalog: Catalog,
    model: str | Model,
    input_tokens: int,
    max_tokens: int,
    *,
    at: dt.date | dt.datetime | None = None,
    batch: bool = False,
    fast: bool = False,
    geo: str | None = None,
) -> int:
    """An upper bound on a call's cost: every input token at the dearest input price (plain,
    or written to the 5-minute or 1-hour cache) plus ``max_tokens`` of output, rounded *up* to
    a nano-dollar. ``input_tokens`` should come from ``count_tokens`` or a generous estimate;
    long-context repricing applies as it would to the real call."""
    worst = 0
    for kind in ("input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens"):
        usage = Usage(
            **{kind: input_tokens}, output_tokens=max_tokens, batch=batch, fast=fast, geo=geo
        )
        cost = catalog.cost(model, usage, at=at)
        num = cost.femto * cost.multiplier.numerator
        den = cost.multiplier.denominator * _FEMTO_PER_NANO
        worst = max(worst, -(-num // den))
    return worst
