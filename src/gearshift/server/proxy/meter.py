"""Ledger writes off the request path: finished requests are queued and written in batches.

A response never waits for the database. Each finished request hands its ledger rows (and the
budget reservation they settle) to :class:`Meter`, which makes them into plain rows at once and
writes them every ``flush_ms`` or as soon as ``flush_rows`` are waiting, in one transaction per
batch (rows recorded and reservations dropped together, see :mod:`.writer`) on a worker
thread.

A batch that fails to write (the database is down) is kept and retried on the next tick, up to
``max_pending`` rows; :meth:`Meter.close` writes what is left on shutdown and, if the ledger
still refuses, saves the rows as JSON lines (``gearshift ledger import FILE`` records them), so
a clean shutdown loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gearshift.budgets import Reservation
from gearshift.errors import GearshiftError
from gearshift.ledger import Execution
from gearshift.ledger.rows import row_to_execution
from gearshift.ledger.transfer import export_jsonl
from gearshift.server.proxy.writer import Row, RowWriter

__all__ = ["Meter"]

log = logging.getLogger("gearshift.proxy")


class Meter:
    """The write queue. Call :meth:`add` from request handlers; run :meth:`run` as a task."""

    def __init__(
        self,
        writer: RowWriter,
        *,
        flush_ms: int = 200,
        flush_rows: int = 500,
        max_pending: int = 200_000,
        spill_dir: Path | None = None,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.writer = writer
        self._to_row = writer.to_row
        self.flush_s = flush_ms / 1000
        self.flush_rows = flush_rows
        self.max_pending = max_pending
        self.spill_dir = spill_dir
        self._on_error = on_error
        self._rows: list[Row] = []
        self._held: list[Reservation] = []
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()
        self._closed = False
        self.written = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._rows)

    def add(self, rows: Sequence[Execution], reservation: Reservation | None = None) -> None:
        """Queue ``rows`` (and the reservation they settle); never blocks. A row the ledger
        would refuse (a token count out of range) is logged and counted in ``dropped`` here,
        rather than failing its whole batch on every retry."""
        to_row = self._to_row
        for row in rows:
            try:
                self._rows.append(to_row(row))
            except GearshiftError as exc:
                self.dropped += 1
                log.error("a ledger row cannot be recorded (dropped): %s", exc)
                if self._on_error is not None:
                    self._on_error()
        if reservation is not None and reservation.budgets:
            self._held.append(reservation)
        if len(self._rows) >= self.flush_rows:
            self._wake.set()

    async def run(self) -> None:
        """Flush every ``flush_ms`` (sooner when a batch fills) until :meth:`close`."""
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_s)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> bool:
        """Write what is queued (after any write in progress); ``False`` (rows kept for the
        next try) when the ledger fails."""
        async with self._writing:
            return await self._flush()

    async def _flush(self) -> bool:
        if not self._rows and not self._held:
            return True
        rows, held = self._rows, self._held
        self._rows, self._held = [], []
        try:
            await asyncio.to_thread(self._write, rows, held)
        except GearshiftError as exc:
            log.error("cannot write %d rows to the ledger (kept, retrying): %s", len(rows), exc)
            if self._on_error is not None:
                self._on_error()
            self._rows[:0], self._held[:0] = rows, held
            overflow = len(self._rows) - self.max_pending
            if overflow > 0:
                self.dropped += overflow
                self._spill(self._rows[:overflow])
                del self._rows[:overflow]
            return False
        self.written += len(rows)
        return True

    def _write(self, rows: list[Row], held: list[Reservation]) -> None:
        self.writer.write(rows, held)

    async def close(self) -> None:
        """Stop the loop and write everything left (saved to a file if the ledger refuses)."""
        self._closed = True
        self._wake.set()
        if not await self.flush():
            self._spill(self._rows)
            self._rows, self._held = [], []

    def _spill(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        folder = self.spill_dir or Path(".")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"gearshift-proxy-unsaved-{os.getpid()}-{time.time_ns()}.jsonl"
        with path.open("w", encoding="utf-8") as out:
            export_jsonl(map(row_to_execution, rows), out)
        log.error("saved %d unrecorded rows to %s (gearshift ledger import %s)", len(rows), path,
                  path)  # fmt: skip
