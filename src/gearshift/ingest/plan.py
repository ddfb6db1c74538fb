"""Plan stage: each discovered transcript against its saved state -> what this run reads of it.

For each file the ledger remembers device/inode, size, mtime, the byte offset just past the last
complete line, the number of lines before it, and a fingerprint of the bytes before it
(:mod:`gearshift.ingest.fingerprint`). On the next run a file is

* ``skip``: same inode, size and mtime -- nothing was written;
* ``append``: same inode, not shorter, and the bytes before the offset still hash the same --
  parse from the offset (the parser checks the hash on the file it opens, and parses the file
  from the start when it does not match);
* ``reread``: anything else (rotated, truncated, rewritten) -- parse from the start; the ledger's
  dedup keys drop what was already recorded, so nothing is counted twice;
* ``new``: never seen -- parse from the start.

Files that disappear (Claude Code prunes after 30 days) keep their ledger records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

from gearshift.ingest.discover import FoundFile, TranscriptFile, transcript_file

__all__ = ["Action", "FileState", "Plan", "plan_file", "plan_files", "state_after"]

Action = Literal["skip", "append", "reread", "new"]


class FileState(NamedTuple):
    """What the ledger remembers of a file (the columns of
    :data:`gearshift.ledger.ingest_queries.FILE_STATE_COLUMNS`)."""

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
    ``append`` holds the fingerprint the bytes before ``start`` must still have (``expect``)."""

    file: TranscriptFile
    action: Action
    start: int
    first_line: int
    expect: str = ""


def plan_files(
    files: Sequence[FoundFile], states: Mapping[str, Sequence[Any]]
) -> tuple[list[Plan], int]:
    """The plans of the files that changed since their saved state (``states``: rows in
    :class:`FileState` order, by path), in order, and how many did not (``skip``)."""
    plans = []
    unchanged = 0
    for found in files:
        row = states.get(found.path)
        if row is not None and _unchanged(found, row):
            unchanged += 1
        else:
            state = None if row is None else FileState(*row)
            plans.append(plan_file(transcript_file(found), state))
    return plans, unchanged


def _unchanged(found: FoundFile, row: Sequence[Any]) -> bool:
    """Same device, inode, size and mtime as saved: nothing was written (``skip``)."""
    _, device, inode, size, mtime_ns, *_ = row
    saved = (device, inode, size, mtime_ns)
    return (found.device, found.inode, found.size, found.mtime_ns) == saved


def plan_file(file: TranscriptFile, state: FileState | None) -> Plan:
    if state is None:
        return Plan(file, "new", 0, 1)
    same_file = (file.device, file.inode) == (state.device, state.inode)
    if same_file and file.size == state.size and file.mtime_ns == state.mtime_ns:
        return Plan(file, "skip", state.offset, state.lines + 1)
    if same_file and file.size >= state.offset and state.offset > 0 and state.fingerprint:
        return Plan(file, "append", state.offset, state.lines + 1, state.fingerprint)
    return Plan(file, "reread", 0, 1)


def state_after(plan: Plan, offset: int, lines: int, fingerprint: str, reread: bool) -> FileState:
    """The file's state once its plan was parsed up to ``offset`` (``lines`` complete lines from
    where the parse started, from the start of the file if it was ``reread``)."""
    f = plan.file
    before = 0 if reread else plan.first_line - 1
    return FileState(
        f.path, f.device, f.inode, f.size, f.mtime_ns, offset, before + lines, fingerprint
    )
