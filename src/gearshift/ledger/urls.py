"""Where the ledger lives: turning ``--ledger`` / ``GEARSHIFT_LEDGER`` into a database URL."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from gearshift.errors import LedgerError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["LedgerLocation", "default_path", "resolve_location"]


class LedgerLocation(NamedTuple):
    """A resolved ledger: the SQLAlchemy URL, the dialect (``"sqlite"`` or ``"postgresql"``),
    and the file for SQLite (``file``, a string; ``path``, the same as a :class:`~pathlib.Path`)."""

    url: str
    dialect: str
    file: str | None

    @property
    def path(self) -> Path | None:
        if self.file is None:
            return None
        from pathlib import Path  # here: it loads urllib.parse, which a hook run never needs

        return Path(self.file)

    @property
    def display(self) -> str:
        """The location with any password masked, safe to print."""
        if self.file is not None:
            return self.file
        from gearshift.redact import mask_password  # only when printed

        return mask_password(self.url)


def default_path() -> Path:
    """``$XDG_DATA_HOME/gearshift/ledger.db`` (``~/.local/share`` when unset)."""
    from pathlib import Path

    return Path(_default_file())


def _default_file() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(base, "gearshift", "ledger.db")


def resolve_location(spec: str | os.PathLike[str] | None) -> LedgerLocation:
    """Accept a plain file path, ``sqlite:///PATH``, ``sqlite://`` (memory) or ``postgresql://``.

    ``None`` means ``$GEARSHIFT_LEDGER``, then the default path, whose folder is created.
    """
    raw = str(spec) if spec is not None else os.environ.get("GEARSHIFT_LEDGER", "")
    if not raw:
        file = _default_file()
        os.makedirs(os.path.dirname(file), exist_ok=True)
        return LedgerLocation(f"sqlite:///{file}", "sqlite", file)
    if raw.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        rest = raw.split("://", 1)[1]
        return LedgerLocation(f"postgresql+psycopg://{rest}", "postgresql", None)
    if raw in {"sqlite://", "sqlite:///:memory:"}:
        return LedgerLocation("sqlite://", "sqlite", None)
    if raw.startswith("sqlite:///"):
        raw = raw[len("sqlite:///") :]
    elif "://" in raw:
        scheme = raw.split("://", 1)[0]
        raise LedgerError(
            f"unsupported ledger URL scheme {scheme!r}",
            hint="use a file path, sqlite:///PATH or postgresql://user@host:port/db",
        )
    path = os.path.expanduser(raw)
    if os.path.isdir(path):
        raise LedgerError(f"ledger path {path} is a directory", hint="name a file, e.g. ledger.db")
    folder = os.path.dirname(path) or "."
    if not os.path.exists(folder):
        raise LedgerError(
            f"cannot open ledger {path}: folder {folder} does not exist",
            hint="create the folder first, or pick another --ledger path",
        )
    return LedgerLocation(f"sqlite:///{path}", "sqlite", path)
