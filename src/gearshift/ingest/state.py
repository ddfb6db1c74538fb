"""Per-file ingest state, so a second run reads only what was appended.

For each file the ledger remembers device/inode, size, mtime, the byte offset just past the last
complete line, the number of lines before it, and a fingerprint of the bytes before it. On the
next run a file is

* ``skip``: same inode, size and mtime -- nothing was written;
* ``append``: same inode, not shorter, and the bytes before the offset still hash the same --
  parse from the offset;
* ``reread``: anything else (rotated, truncated, rewritten) -- parse from the start; the ledger's
  dedup keys drop what was already recorded, so nothing is counted twice.

Files that disappear (Claude Code prunes after 30 days) keep their ledger records.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy import delete, select

from gearshift.ingest.discovery import TranscriptFile
from gearshift.ingest.parse import fingerprint
from gearshift.ledger.schema import ingest_files

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger

__all__ = ["FileState", "Plan", "load_states", "plan_file", "save_states"]

Action = Literal["skip", "append", "reread", "new"]


@dataclass(frozen=True, slots=True)
class FileState:
    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    offset: int
    lines: int
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Plan:
    file: TranscriptFile
    action: Action
    start: int
    first_line: int


def load_states(ledger: Ledger, source: str) -> dict[str, FileState]:
    query = select(
        ingest_files.c.path,
        ingest_files.c.device,
        ingest_files.c.inode,
        ingest_files.c.size,
        ingest_files.c.mtime_ns,
        ingest_files.c.offset,
        ingest_files.c.lines,
        ingest_files.c.fingerprint,
    ).where(ingest_files.c.source == source)
    with ledger.read() as conn:
        return {row[0]: FileState(*row) for row in conn.execute(query)}


def plan_file(file: TranscriptFile, state: FileState | None) -> Plan:
    if state is None:
        return Plan(file, "new", 0, 1)
    same_file = (file.device, file.inode) == (state.device, state.inode)
    if same_file and file.size == state.size and file.mtime_ns == state.mtime_ns:
        return Plan(file, "skip", state.offset, state.lines + 1)
    if same_file and file.size >= state.offset and state.offset > 0:
        try:
            unchanged = fingerprint(file.path, state.offset) == state.fingerprint
        except OSError:
            unchanged = False
        if unchanged:
            return Plan(file, "append", state.offset, state.lines + 1)
    return Plan(file, "reread", 0, 1)


def save_states(ledger: Ledger, source: str, states: list[FileState]) -> None:
    """Upsert states (delete + insert, the same on both stores) in one transaction."""
    if not states:
        return
    now = dt.datetime.now(dt.UTC).isoformat()
    rows = [
        {
            "path": s.path,
            "source": source,
            "device": s.device,
            "inode": s.inode,
            "size": s.size,
            "mtime_ns": s.mtime_ns,
            "offset": s.offset,
            "lines": s.lines,
            "fingerprint": s.fingerprint,
            "updated_at": now,
        }
        for s in states
    ]
    with ledger.write() as conn:
        paths = [s.path for s in states]
        for i in range(0, len(paths), 500):
            conn.execute(delete(ingest_files).where(ingest_files.c.path.in_(paths[i : i + 500])))
        conn.execute(ingest_files.insert(), rows)
