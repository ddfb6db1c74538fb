"""Where the ledger lives: turning ``--ledger`` / ``GEARSHIFT_LEDGER`` into a database URL."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from gearshift.errors import LedgerError

__all__ = ["LedgerLocation", "default_path", "resolve_location"]


@dataclass(frozen=True, slots=True)
class LedgerLocation:
    """A resolved ledger: the SQLAlchemy URL, the dialect, and the file for SQLite."""

    url: str
    dialect: str  # "sqlite" | "postgresql"
    path: Path | None

    @property
    def display(self) -> str:
        """The location with any password masked, safe to print."""
        return (
            re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", self.url)
            if self.path is None
            else str(self.path)
        )


def default_path() -> Path:
    """``$XDG_DATA_HOME/gearshift/ledger.db`` (``~/.local/share`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "gearshift" / "ledger.db"


def resolve_location(spec: str | os.PathLike[str] | None) -> LedgerLocation:
    """Accept a plain file path, ``sqlite:///PATH``, ``sqlite://`` (memory) or ``postgresql://``.

    ``None`` means ``$GEARSHIFT_LEDGER``, then the default path, whose folder is created.
    """
    raw = str(spec) if spec is not None else os.environ.get("GEARSHIFT_LEDGER", "")
    if not raw:
        path = default_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        return LedgerLocation(f"sqlite:///{path}", "sqlite", path)
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
    path = Path(raw).expanduser()
    if path.is_dir():
        raise LedgerError(f"ledger path {path} is a directory", hint="name a file, e.g. ledger.db")
    if not path.parent.exists():
        raise LedgerError(
            f"cannot open ledger {path}: folder {path.parent} does not exist",
            hint="create the folder first, or pick another --ledger path",
        )
    return LedgerLocation(f"sqlite:///{path}", "sqlite", path)
