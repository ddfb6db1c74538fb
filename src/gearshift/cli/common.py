"""What every command shares: global options, output helpers, JSON encoding."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing costs a hook-run command ~4 ms
if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console

    from gearshift.catalog import Catalog
    from gearshift.ledger import Ledger
    from gearshift.ledger.bulk import Reader
    from gearshift.ledger.sqlite3_ledger import LiteLedger

__all__ = ["State", "console", "dumps", "err_console", "plain_table", "print_json", "state"]


class State:
    """Global options, resolved lazily so that `--help` imports nothing heavy (nor does this
    module: no dataclasses, typing or JSON until a command needs them)."""

    __slots__ = ("_catalog", "_ledger", "_lite", "debug", "ledger_url", "prices")

    def __init__(
        self, ledger_url: str | None = None, prices: str | None = None, debug: bool = False
    ) -> None:
        self.ledger_url = ledger_url
        self.prices = prices
        self.debug = debug
        self._catalog: Catalog | None = None
        self._ledger: Ledger | None = None
        self._lite: LiteLedger | None = None

    def __repr__(self) -> str:
        return f"State(ledger_url={self.ledger_url!r}, prices={self.prices!r}, debug={self.debug})"

    def catalog(self) -> Catalog:
        if self._catalog is None:
            from gearshift.catalog import load_catalog

            self._catalog = load_catalog(self.prices)
        return self._catalog

    def ledger(self, *, create: bool = True) -> Ledger:
        """The ledger; ``create=False`` (for commands that only read) refuses to create a new
        SQLite file, so a typo in ``--ledger`` is an error rather than an empty report."""
        if self._ledger is None:
            from gearshift.ledger import Ledger

            if not create:
                from gearshift.errors import LedgerError
                from gearshift.ledger.urls import resolve_location

                location = resolve_location(self.ledger_url)
                if location.path is not None and not location.path.exists():
                    raise LedgerError(
                        f"no ledger at {location.path}",
                        hint="record, ingest or run something first, or check --ledger / "
                        "GEARSHIFT_LEDGER",
                    )
            self._ledger = Ledger.open(self.ledger_url, catalog=self.catalog())
        return self._ledger

    def reader(self) -> Reader:
        """For commands that only run plain SQL reads: an existing, current SQLite ledger
        through the standard library (no SQLAlchemy to import, a report starts faster); else
        :meth:`ledger` with ``create=False``."""
        if self._lite is None and self._ledger is None:
            from gearshift.ledger.sqlite3_ledger import LiteLedger
            from gearshift.ledger.urls import resolve_location

            self._lite = LiteLedger.open_current(resolve_location(self.ledger_url), self.catalog)
        if self._lite is not None:
            return self._lite
        return self.ledger(create=False)

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
        if self._lite is not None:
            self._lite.close()
            self._lite = None


state = State()

_console: Console | None = None
_err: Console | None = None


def console() -> Console:
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(highlight=False, soft_wrap=False)
    return _console


def err_console() -> Console:
    global _err
    if _err is None:
        from rich.console import Console

        _err = Console(stderr=True, highlight=False)
    return _err


def _default(obj: Any) -> Any:
    import datetime as dt
    from decimal import Decimal
    from enum import Enum

    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, dt.datetime | dt.date):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """JSON with decimals as strings (money stays exact) and dates in ISO 8601."""
    import json

    return json.dumps(obj, default=_default, indent=indent, ensure_ascii=False)


def print_json(obj: Any) -> None:
    sys.stdout.write(dumps(obj) + "\n")


def is_terminal() -> bool:
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def plain_table(*args: Any, **kwargs: Any) -> Any:
    """A Rich table whose string cells are printed as they are, never read as markup: agent,
    project and model names come from users and transcripts, and ``[/bold]`` in one of them
    must neither crash a report nor restyle it."""
    from rich.table import Table
    from rich.text import Text

    class _Plain(Table):
        def add_row(self, *renderables: Any, **options: Any) -> None:
            cells = [Text(r) if isinstance(r, str) else r for r in renderables]
            super().add_row(*cells, **options)

        def __rich_console__(self, console: Any, options: Any) -> Any:
            # the first column names the row (an agent, a budget to `rm`, a model): never cut it
            if self.columns:
                first = self.columns[0]
                cells = [c.cell_len for c in first._cells if isinstance(c, Text)]
                first.min_width = min(max([len(str(first.header)), *cells]), 32)
                first.no_wrap = True
            return super().__rich_console__(console, options)

    return _Plain(*args, **kwargs)
