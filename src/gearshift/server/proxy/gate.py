"""Budgets in the request path: reserve a request's worst case before it goes upstream.

The budgets in force (the config file's and the ledger's) are re-read every few seconds off the
request path, so a request that no budget covers -- the usual case -- costs no database round
trip. A covered request is reserved through :class:`gearshift.budgets.Reservations` (atomic on
SQLite and PostgreSQL, across every process sharing the ledger) with a worst case no answer can
exceed: every byte of the body taken as a token at the dearest input rate, plus ``max_tokens``
of output. The meter settles it with the real usage when the answer is recorded.

A refusal looks as Anthropic's own gateway refuses (Claude Code shows it and does not retry):
HTTP 429, ``billing_error``, ``x-should-retry: false`` and ``retry-after`` until the period of
the budget resets. When the ledger cannot be reached, requests covered by a *blocking* budget
are refused (``spend limit unavailable``) unless the proxy runs fail-open.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Sequence

import msgspec

from gearshift.budgets import (
    Budget,
    CallScope,
    Decision,
    Reservation,
    Reservations,
    load_budgets,
    over_budget_check,
    period_window,
    worst_case_nanos,
)
from gearshift.catalog import Catalog, Model
from gearshift.config import Config
from gearshift.errors import GearshiftError
from gearshift.ledger import Ledger
from gearshift.routing import Task
from gearshift.server.proxy.wire import error_body, error_headers

__all__ = ["Admission", "BudgetGate", "refusal"]

log = logging.getLogger("gearshift.proxy")

#: Input tokens the API may add to a request beyond its body (tool-use system prompt).
_SERVER_TOKENS = 1024
#: Seconds between forecasts of budget pressure (a forecast is a few queries per budget).
_PRESSURE_EVERY_S = 60.0


class Admission(msgspec.Struct, frozen=True):
    """The gate's answer: ``action`` is ``ok``, ``step-down``, ``block`` or ``unavailable``."""

    action: str
    reservation: Reservation | None = None
    decision: Decision | None = None

    @property
    def admitted(self) -> bool:
        return self.action == "ok"


FREE = Admission("ok")


class BudgetGate:
    """Reserves before, and knows which budgets are in force (refreshed in the background)."""

    def __init__(
        self,
        ledger: Ledger,
        config: Config,
        catalog: Catalog,
        *,
        project: str = "",
        fail_closed: bool = True,
        refresh_s: float = 2.0,
    ) -> None:
        self.ledger = ledger
        self.config = config
        self.catalog = catalog
        self.project = project
        self.fail_closed = fail_closed
        self.refresh_s = refresh_s
        self.budgets: list[Budget] = []
        self.pressure: Callable[[Task], bool] | None = None
        self._reservations = Reservations(ledger, [])
        self._pressure_at = -math.inf

    def refresh(self) -> None:
        """Re-read the budgets (and, every minute, the budget pressure routing looks at)."""
        budgets = load_budgets(self.ledger, self.config)
        self.budgets = budgets
        self._reservations = Reservations(self.ledger, budgets)
        now = time.monotonic()
        if not budgets:
            self.pressure = None
        elif now - self._pressure_at >= _PRESSURE_EVERY_S:
            self.pressure = over_budget_check(
                self.ledger, config=self.config, project=self.project, budgets=budgets
            )
            self._pressure_at = now

    def covering(self, call: CallScope, now: dt.datetime) -> list[Budget]:
        return [b for b in self.budgets if b.covers(call) and b.active(now)]

    async def admit(
        self, call: CallScope, model: Model, body_bytes: int, max_tokens: int
    ) -> Admission:
        """Reserve ``call``'s worst case against every budget covering it."""
        now = dt.datetime.now(dt.UTC)
        covering = self.covering(call, now)
        if not covering:
            return FREE
        worst = worst_case_nanos(
            self.catalog, model, body_bytes + _SERVER_TOKENS, max_tokens, at=now
        )
        try:
            decision = await asyncio.to_thread(self._reservations.reserve, call, worst, now=now)
        except GearshiftError as exc:
            log.warning("cannot check budgets: %s", exc)
            blocking = any(b.action == "block" for b in covering)
            if blocking and self.fail_closed:
                return Admission("unavailable")
            return FREE
        if decision.admitted:
            return Admission("ok", decision.reservation, decision)
        return Admission(decision.action, None, decision)

    async def release(self, reservation: Reservation | None) -> None:
        if reservation is not None and reservation.budgets:
            try:
                await asyncio.to_thread(self._reservations.release, reservation)
            except GearshiftError as exc:  # it expires on its own
                log.warning("cannot release a reservation: %s", exc)

    @property
    def reservations(self) -> Reservations:
        return self._reservations


def refusal(
    admission: Admission, request_id: str, now: dt.datetime | None = None
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The 429 Claude Code shows and does not retry: status, headers and body."""
    now = now or dt.datetime.now(dt.UTC)
    if admission.decision is None:
        message = "spend limit unavailable: the budget store cannot be reached"
        retry = 60
    else:
        budgets = [b.budget for b in admission.decision.breaches if b.budget.action != "alert"]
        resets = [period_window(b, now)[1] for b in budgets]
        reset = max(resets) if resets else now + dt.timedelta(hours=1)
        retry = max(1, int((reset - now).total_seconds() + 0.999))
        message = (
            f"spend limit reached ({_periods(budgets)}; resets "
            f"{reset.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC): {admission.decision.reason}"
        )
    extra = [(b"x-should-retry", b"false"), (b"retry-after", str(retry).encode())]
    body = error_body("billing_error", message, request_id)
    return 429, error_headers(request_id, extra), body


def _periods(budgets: Sequence[Budget]) -> str:
    texts = sorted({b.period_text for b in budgets})
    return ", ".join(texts) or "budget"
