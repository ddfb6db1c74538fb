"""Per-file ingest state, so a second run reads only what was appended.

For each file the ledger remembers device/inode, size, mtime, the byte offset just past the last
complete line, the number of lines before it, and a fingerprint of the bytes before it. On the
next run a file is

* ``skip``: same inode, size and mtime -- nothing was written;
* ``append``: same inode, not shorter, and the bytes before the offset still hash the same --
  parse from the offset (the parser checks the hash on the file it opens, and parses the file
  from the start when it does not match);
* ``reread``: anything else (rotated, truncated, rewritten) -- parse from the start; the ledger's
  dedup keys drop what was already recorded, so nothing is counted twice.

Files that disappear (Claude Code prunes after 30 days) keep their ledger records.
"""

from __future__ import annotations

import datetime as dt

from gearshift._frozen import NamedTuple
from gearshift.ingest.discovery import TranscriptFile, transcript

TYPE_CHECKING = False  # not typing's: this module is on the path of every hook-run ingest
if TYPE_CHECKING:
    from typing import Any, Literal

    from gearshift.ingest.discovery import Listed
    from gearshift.ledger.lite import BulkLedger, Statement

    Action = Literal["skip", "append", "reread", "new"]

__all__ = ["FileState", "Plan", "load_states", "plan_file", "plan_files", "state_statements"]


class FileState(NamedTuple):
    """What the ledger remembers of a file (tuples: a run loads one per file)."""

    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int
    offset: int
    lines: int
    fingerprint: str


class Plan(NamedTuple):
    """What a run does with a file: ``action`` from byte ``start`` (line ``first_line``). An
    ``append`` holds the fingerprint the bytes before ``start`` must still have (``expect``):
    the parser checks it on the file it opens, and reads the file whole if it does not."""

    file: TranscriptFile
    action: Action
    start: int
    first_line: int
    expect: str = ""


_COLUMNS = 'path, device, inode, size, mtime_ns, "offset", lines, fingerprint'


def load_states(ledger: BulkLedger, source: str) -> dict[str, tuple[Any, ...]]:
    """The saved state of every file of ``source``, by path: rows in :class:`FileState` order
    (a run makes a FileState only of the files that changed)."""
    rows = ledger.query(
        f"SELECT {_COLUMNS} FROM ingest_files WHERE source = :source", {"source": source}
    )
    return {row[0]: row for row in rows}


def plan_files(listing: list[Listed], states: dict[str, tuple[Any, ...]]) -> tuple[list[Plan], int]:
    """The plans of the files that changed since their saved state (:func:`plan_file`), in
    listing order, and how many did not (same device, inode, size and mtime: ``skip``)."""
    plans = []
    unchanged = 0
    for entry in listing:
        path, size, mtime_ns, device, inode, _ = entry
        row = states.get(path)
        if row is not None and row[1:5] == (device, inode, size, mtime_ns):
            unchanged += 1
            continue
        plans.append(plan_file(transcript(entry), None if row is None else FileState(*row)))
    return plans, unchanged


def plan_file(file: TranscriptFile, state: FileState | None) -> Plan:
    if state is None:
        return Plan(file, "new", 0, 1)
    same_file = (file.device, file.inode) == (state.device, state.inode)
    if same_file and file.size == state.size and file.mtime_ns == state.mtime_ns:
        return Plan(file, "skip", state.offset, state.lines + 1)
    if same_file and file.size >= state.offset and state.offset > 0 and state.fingerprint:
        return Plan(file, "append", state.offset, state.lines + 1, state.fingerprint)
    return Plan(file, "reread", 0, 1)


def state_statements(source: str, states: list[FileState]) -> list[Statement]:
    """The statement that upserts ``states`` (the same on both stores), to run in the
    transaction that records what was read. A known file's row is updated in place: a delete
    and insert would also rewrite the path index."""
    if not states:
        return []
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
    updated = ", ".join(f"{c} = excluded.{c}" for c in _UPSERTED)
    upsert = (
        f"INSERT INTO ingest_files ({_COLUMNS}, source, updated_at) VALUES (:path, :device, "
        ":inode, :size, :mtime_ns, :offset, :lines, :fingerprint, :source, :updated_at) "
        f"ON CONFLICT (path) DO UPDATE SET {updated}"
    )
    return [(upsert, rows)]


_UPSERTED = (
    "source",
    "device",
    "inode",
    "size",
    "mtime_ns",
    '"offset"',
    "lines",
    "fingerprint",
    "updated_at",
)
