"""The tightest budget at a glance, and the small file that keeps it between status lines.

Working out the tightest budget means reading the config file, every budget the ledger holds and
a forecast of each: a few hundred milliseconds of imports (TOML, SQLAlchemy, statistics) that a
status line, which must answer in a few dozen, cannot pay each time. So the figure is computed
apart (:mod:`gearshift.budgets.tightest`, run in a process of its own) and kept in
:class:`GlanceFile` -- one small JSON file in the user's cache folder -- for
:data:`FRESH_SECONDS`. A status line reads it, shows what it holds even when it is older, and
says when a new one is due (:meth:`GlanceFile.read`).

The file names the ledger it was made from by its display form (a path, or a URL with its
password masked), never a secret.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from gearshift import _json

if TYPE_CHECKING:
    from typing import Any

__all__ = ["FRESH_SECONDS", "PENDING_SECONDS", "BudgetGlance", "GlanceFile", "Kept"]

#: How long a computed figure stands before a new one is due.
FRESH_SECONDS = 60
#: How long a status line waits for a computation it started before it starts another.
PENDING_SECONDS = 30


class BudgetGlance:
    """One budget's figures: spend so far and forecast, as whole percentages of its amount,
    the forecast's status, and when its period ends (microseconds since the epoch)."""

    __slots__ = ("forecast_percent", "name", "period_end_us", "status", "used_percent")

    def __init__(
        self,
        name: str,
        used_percent: int,
        forecast_percent: int,
        status: str,
        period_end_us: int,
    ) -> None:
        self.name = name
        self.used_percent = used_percent
        self.forecast_percent = forecast_percent
        self.status = status
        self.period_end_us = period_end_us

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BudgetGlance):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # compared by value, not hashed

    def __repr__(self) -> str:
        return f"BudgetGlance({self.to_dict()!r})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "used_percent": self.used_percent,
            "forecast_percent": self.forecast_percent,
            "status": self.status,
            "period_end_us": self.period_end_us,
        }

    @classmethod
    def from_dict(cls, data: object) -> BudgetGlance | None:
        """The glance ``data`` holds, or ``None`` if it is not one."""
        if not isinstance(data, dict):
            return None
        name, status = data.get("name"), data.get("status")
        numbers = [data.get(k) for k in ("used_percent", "forecast_percent", "period_end_us")]
        if not (isinstance(name, str) and isinstance(status, str)):
            return None
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
            return None
        used, forecast, end = numbers
        return cls(name, used, forecast, status, end)  # type: ignore[arg-type]


class Kept:
    """What :meth:`GlanceFile.read` found: the glance (``None``: no budget, or nothing kept),
    the error the last computation met, and whether a new computation should start now."""

    __slots__ = ("due", "error", "glance")

    def __init__(self, glance: BudgetGlance | None, error: str | None, due: bool) -> None:
        self.glance = glance
        self.error = error
        self.due = due


class GlanceFile:
    """The kept glance of one ledger, at ``path`` (default
    ``$XDG_CACHE_HOME/gearshift/statusline.json``)."""

    __slots__ = ("ledger", "path")

    def __init__(self, ledger: str, path: str | None = None) -> None:
        self.ledger = ledger
        self.path = path or default_path()

    def read(self, now_us: int) -> Kept:
        """The kept glance, and whether a new one is due: none is kept for this ledger, it is
        older than :data:`FRESH_SECONDS` or its period has ended -- unless a computation
        started less than :data:`PENDING_SECONDS` ago. A missing or unreadable file keeps
        nothing."""
        doc = self._load()
        if doc.get("ledger") != self.ledger:
            doc = {}
        glance = BudgetGlance.from_dict(doc.get("budget"))
        made = _int(doc.get("made_us"))
        stale = made is None or now_us - made >= FRESH_SECONDS * 1_000_000 or now_us < made
        if glance is not None and now_us >= glance.period_end_us:
            stale, glance = True, None  # a new period: the old figures no longer hold
        pending = _int(doc.get("pending_us"))
        waiting = pending is not None and 0 <= now_us - pending < PENDING_SECONDS * 1_000_000
        error = doc.get("error")
        return Kept(glance, error if isinstance(error, str) else None, stale and not waiting)

    def mark_pending(self, now_us: int) -> None:
        """Note that a computation started at ``now_us`` (what is kept stays)."""
        doc = self._load()
        if doc.get("ledger") != self.ledger:
            doc = {"ledger": self.ledger}
        doc["pending_us"] = now_us
        self._save(doc)

    def write(self, glance: BudgetGlance | None, now_us: int, error: str | None = None) -> None:
        """Keep ``glance`` (``None``: no budget is in force) made at ``now_us``, or the
        ``error`` that prevented it."""
        doc: dict[str, Any] = {"ledger": self.ledger, "made_us": now_us}
        doc["budget"] = glance.to_dict() if glance is not None else None
        if error is not None:
            doc["error"] = error
        self._save(doc)

    def _load(self) -> dict[str, Any]:
        try:
            with open(self.path, "rb") as fh:
                doc = _json.loads(fh.read(65_536))
        except (OSError, ValueError, RecursionError):
            return {}
        return doc if isinstance(doc, dict) else {}

    def _save(self, doc: dict[str, Any]) -> None:
        """Write the file whole or not at all (a reader never sees half of it)."""
        folder = os.path.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(_json.dumps(doc, ensure_ascii=False))
            os.replace(tmp, self.path)
        except OSError:
            try:  # noqa: SIM105 - contextlib is not loaded on this path
                os.unlink(tmp)
            except OSError:
                pass
            raise


def default_path() -> str:
    """``$XDG_CACHE_HOME/gearshift/statusline.json`` (``~/.cache`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gearshift", "statusline.json")


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
