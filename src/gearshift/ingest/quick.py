"""The no-op fast path: answer "nothing new" from the saved file states alone.

A re-run over unchanged transcripts has nothing to parse or write. For a SQLite ledger this
reads the saved states with the standard library's ``sqlite3``, read-only, so such a run never
imports SQLAlchemy or opens a write transaction. Any doubt (another store, a missing table, one
changed file) returns ``None`` and the full path runs.
"""

from __future__ import annotations

import sqlite3

from gearshift.ingest.discovery import Discovery
from gearshift.ledger.urls import LedgerLocation

__all__ = ["unchanged_files"]


def unchanged_files(location: LedgerLocation, found: Discovery, source: str) -> int | None:
    """How many files ``found`` has, when every one is saved as unchanged; else ``None``."""
    path = location.path
    if location.dialect != "sqlite" or path is None or not path.exists() or not found.files:
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            rows = conn.execute(
                "SELECT path, device, inode, size, mtime_ns FROM ingest_files WHERE source = ?",
                (source,),
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    saved = {row[0]: tuple(row[1:]) for row in rows}
    for f in found.files:
        if saved.get(f.path) != (f.device, f.inode, f.size, f.mtime_ns):
            return None
    return len(found.files)
