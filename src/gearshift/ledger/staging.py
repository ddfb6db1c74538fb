"""The files of a new SQLite ledger being staged (see
:meth:`gearshift.ledger.sqlite3_ledger.LiteLedger.open_or_create`): built complete under a
private name beside the ledger, linked into place when published, and swept up when a killed
process left them behind."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import sqlite3
import time

from gearshift._files import read_package_file
from gearshift.ledger.columns import MIGRATION_NAMES

__all__ = ["build", "discard", "fsync", "sweep"]


def build(path: str) -> str | None:
    """A complete, empty ledger (schema, migrations) in a private file beside ``path``; ``None``,
    with nothing left behind, when the filesystem cannot make the hard link publishing needs."""
    script = read_package_file("gearshift.ledger", __file__, "sqlite_schema.sql")
    code = "\n".join(line for line in script.splitlines() if not line.startswith("--"))
    # One statement per paragraph (a trigger's body has semicolons of its own).
    statements = [s.strip().removesuffix(";") for s in code.split("\n\n") if s.strip()]
    now = dt.datetime.now(dt.UTC).isoformat()
    folder, base = os.path.split(path)
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.{os.urandom(4).hex()}.new")
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = MEMORY")
            conn.execute("BEGIN")
            for statement in statements:
                conn.execute(statement)
            conn.executemany(
                "INSERT INTO gearshift_migrations (name, applied_at) VALUES (?, ?)",
                [(name, now) for name in MIGRATION_NAMES],
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        probe = tmp + ".link"
        try:
            os.link(tmp, probe)  # find out now, before anything is written into it
        except OSError:
            discard(tmp)
            return None
        finally:
            _unlink(probe)
        return tmp
    except BaseException:
        discard(tmp)
        raise


def sweep(path: str) -> None:
    """Remove what staged ledgers of ``path`` left when their process was killed (SIGTERM from
    a hook's timeout, SIGKILL): ``.<name>.<pid>.<8 hex>.new`` files (and their ``-wal``,
    ``-shm``, ``.link``) whose process is gone and that have not changed for ten minutes (a
    build being written is touched all the time) -- a pid from another container sharing the
    folder is not ours to judge by itself."""
    folder, base = os.path.split(path)
    folder = folder or "."
    prefix = f".{base}."
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix) and ".new" in n]
    except OSError:
        return
    staged = re.compile(re.escape(prefix) + r"(\d+)\.[0-9a-f]{8}\.new(?:-wal|-shm|\.link)?")
    now = time.time()
    for name in names:
        m = staged.fullmatch(name)
        if m is None or _alive(int(m.group(1))):
            continue
        leftover = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            if now - os.stat(leftover).st_mtime > _STALE_SECONDS:
                os.unlink(leftover)


_STALE_SECONDS = 600


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists (another user's) or cannot be asked
        return True
    return True


def discard(tmp: str) -> None:
    for leftover in (tmp, tmp + "-wal", tmp + "-shm"):
        _unlink(leftover)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
