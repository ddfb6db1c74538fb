"""What every command shares: global options, output helpers, JSON encoding."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console

    from gearshift.catalog import Catalog
    from gearshift.config import Config
    from gearshift.ledger import Ledger
    from gearshift.ledger.bulk import Reader
    from gearshift.ledger.sqlite3_ledger import LiteLedger

__all__ = [
    "State",
    "console",
    "dumps",
    "err_console",
    "global_prices",
    "plain_table",
    "print_json",
    "printable",
    "printable_text",
    "state",
]


class State:
    """Global options, resolved lazily so that `--help` imports nothing heavy (nor does this
    module: no dataclasses, typing or JSON until a command needs them)."""

    __slots__ = (
        "_catalog",
        "_config",
        "_ledger",
        "_lite",
        "debug",
        "ledger_from_env",
        "ledger_url",
        "lock_timeout",
        "prices",
    )

    def __init__(
        self, ledger_url: str | None = None, prices: str | None = None, debug: bool = False
    ) -> None:
        self.ledger_url = ledger_url
        #: the URL came from ``GEARSHIFT_LEDGER``: a command printed for the user to re-run
        #: leaves it out (it may hold a password, and the environment still has it)
        self.ledger_from_env = False
        self.lock_timeout = 60.0  # seconds a write waits for another writer
        self.prices = prices
        self.debug = debug
        self._catalog: Catalog | None = None
        self._config: Config | None = None
        self._ledger: Ledger | None = None
        self._lite: LiteLedger | None = None

    def __repr__(self) -> str:
        return (
            f"State(ledger={self.ledger_display()!r}, prices={self.prices!r}, debug={self.debug})"
        )

    def ledger_display(self) -> str | None:
        """``--ledger`` as given, with any password masked: safe to print."""
        if not self.ledger_url:
            return self.ledger_url
        from gearshift.redact import mask_password

        return mask_password(self.ledger_url)

    def catalog(self) -> Catalog:
        if self._catalog is None:
            from gearshift.catalog import load_catalog

            self._catalog = load_catalog(self.prices)
        return self._catalog

    def check_prices(self, spec: str | None = None) -> None:
        """Load the prices now when they come from a price file of the user's (``spec``, else
        ``--prices``, else ``$GEARSHIFT_PRICES``), so that a bad file fails every command the
        same way and before any work -- also the commands that would otherwise never load
        prices (``spend``, an ingest whose rate cards are saved). The bundled profiles need no
        check."""
        from gearshift.catalog.prices import PROFILES, price_spec

        name = price_spec(spec if spec is not None else self.prices)
        if name in PROFILES:
            return
        from gearshift.catalog import load_catalog
        from gearshift.errors import PriceFileError

        try:
            load_catalog(name)  # kept by load_catalog: the command's own load reuses it
        except PriceFileError as exc:
            if exc.hint is None:
                exc.hint = (
                    "fix the price file named by --prices or GEARSHIFT_PRICES (see "
                    "docs/pricing.md), or use a bundled profile: anthropic, article"
                )
            raise

    def use_prices(self, spec: str) -> None:
        """Price with ``spec`` from now on (a resumed run's own price file): the catalog is
        loaded again, and an open ledger prices with it."""
        self.prices = spec
        self._catalog = None
        if self._ledger is not None:
            self._ledger.catalog = self.catalog()

    def config(self) -> Config:
        """The user's config file, read once per command."""
        if self._config is None:
            from gearshift.config import load_config

            self._config = load_config()
        return self._config

    def ledger(self, *, create: bool = False) -> Ledger:
        """The ledger. Only commands that write pass ``create=True``, which creates a missing
        ledger and migrates an older one; for the others a missing file, a file that is not a
        gearshift ledger (another program's SQLite database) or one that needs migrating is an
        error naming it, and nothing is written to it."""
        if self._ledger is None:
            from gearshift.ledger import Ledger

            self._ledger = Ledger.open(
                self.ledger_url,
                catalog=self.catalog(),
                create=create,
                lock_timeout=self.lock_timeout,
                on_lock_wait=_say_waiting,
            )
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
        self._config = None


def _say_waiting(message: str) -> None:
    err_console().print(message, style="yellow", markup=False)


state = State()


def global_prices(args: list[str]) -> tuple[str | None, bool]:
    """``(the --prices value among the global options of args, whether a command runs)``: no
    command runs for ``--help``/``-h``, ``--version`` or a bare ``gearshift``."""
    prices: str | None = None
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name, eq, value = args[i].partition("=")
        if name in ("--help", "-h", "--version"):
            return prices, False
        if name in ("--ledger", "--prices") and not eq:
            value = args[i + 1] if i + 1 < len(args) else ""
            i += 1
        if name == "--prices":
            prices = value
        i += 1
    runs = i < len(args) and not any(a in ("--help", "-h") for a in args[i:])
    return prices, runs


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


#: Characters that reorder or hide text on a terminal: bidirectional overrides and isolates,
#: direction marks, line and paragraph separators.
_INVISIBLE = frozenset(
    "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
NAME_WIDTH = 48


def printable(text: str, limit: int | None = NAME_WIDTH) -> str:
    """``text`` safe to show on a terminal: control and bidirectional characters escaped
    (``\\u202e``), and cut to ``limit`` characters with an ellipsis. Names come from
    transcripts and prompts; a ``--json`` output keeps them exactly, a table shows this."""
    if text.isprintable() and not _INVISIBLE.intersection(text):
        shown = text
    else:
        shown = "".join(
            c if c.isprintable() and c not in _INVISIBLE else c.encode("unicode_escape").decode()
            for c in text
        )
    if limit is not None and len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return shown


def printable_text(text: str, *names: str | None) -> str:
    """A sentence for the terminal: each of ``names`` in it shortened as :func:`printable`
    shortens a name, and every control or bidirectional character escaped."""
    for name in names:
        if name and name in text:
            text = text.replace(name, printable(name))
    return printable(text, None)


def plain_table(*args: Any, **kwargs: Any) -> Any:
    """A Rich table whose string cells are printed as they are, never read as markup: agent,
    project and model names come from users and transcripts, and ``[/bold]`` in one of them
    must neither crash a report nor restyle it. Cells pass through :func:`printable`."""
    from rich.table import Table
    from rich.text import Text

    class _Plain(Table):
        def add_row(self, *renderables: Any, **options: Any) -> None:
            cells = [Text(printable(r)) if isinstance(r, str) else r for r in renderables]
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
