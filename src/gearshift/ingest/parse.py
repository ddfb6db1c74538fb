"""Parse stage: the new bytes of each planned transcript -> its usage entries and parent facts.

A file is never held whole: complete lines are read in chunks from the planned byte offset,
and only the lines that contain ``"usage"`` are decoded (:mod:`gearshift.ingest.usage_line`) --
most of a huge file-history transcript is never looked at. A last line without its newline is
a line still being written: it is left for the next run, and the returned offset stops before
it. If the bytes before the planned offset no longer have their saved fingerprint, the file was
rewritten and is parsed from the start (``reread``).

Entries come back deduplicated within their file (:class:`gearshift.ingest.copies.Deduper`:
half the usage lines of a transcript are copies of another line of the same file), with
``duplicates`` counting the copies dropped; the same rules applied across files give the run's
answer. Large runs parse files on every core, in processes (the decoding holds the GIL), and
results come back in plan order whatever order the files finish in, so that of two equal copies
of a response every run keeps the same one.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from gearshift.ingest.copies import Deduper
from gearshift.ingest.fingerprint import fingerprint_fd, matches_fd
from gearshift.ingest.plan import Plan
from gearshift.ingest.usage_line import Entry, LineDecoder

__all__ = ["CHUNK", "FileResult", "parse_file", "parse_files"]

CHUNK = 1024 * 1024
#: Below this many bytes to parse, one process does it all: starting parser processes and
#: sending their results back costs more than it saves.
PARALLEL_MIN_BYTES = 32 * 1024 * 1024
_USAGE = b'"usage"'


@dataclass(slots=True)
class FileResult:
    """What one pass over a file found; ``offset`` is where the next pass starts."""

    path: str
    start: int
    offset: int = 0
    lines: int = 0
    usage_lines: int = 0
    pending_bytes: int = 0
    duplicates: int = 0
    entries: list[Entry] = field(default_factory=list)
    malformed: list[tuple[int, str]] = field(default_factory=list)
    tool_types: dict[str, str] = field(default_factory=dict)
    result_types: dict[str, str] = field(default_factory=dict)
    #: agent id -> the tool call its result names
    result_tools: dict[str, str] = field(default_factory=dict)
    fingerprint: str = ""
    error: str | None = None
    #: parsed from the start: the bytes before ``start`` had changed
    reread: bool = False


def parse_files(
    plans: Sequence[Plan],
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[Plan, FileResult]]:
    """Parse every planned file, largest first, each with its result; ``workers`` processes
    (default: one per core) when there is enough to parse. ``progress(files_done, bytes_done)``
    is called as files finish."""
    jobs = sorted(plans, key=lambda p: p.file.size - p.start, reverse=True)
    total = sum(p.file.size - p.start for p in jobs)
    count = workers if workers is not None else (os.cpu_count() or 1)
    if count > 1 and len(jobs) > 1 and total >= PARALLEL_MIN_BYTES:
        from concurrent.futures import ProcessPoolExecutor  # (only large runs start processes)

        pool = ProcessPoolExecutor(min(count, len(jobs)))
        try:
            yield from _reported(jobs, pool.map(parse_plan, jobs), progress)
        finally:  # a run that stops early (an error, ^C) does not wait for the files left
            pool.shutdown(cancel_futures=True)
    else:
        yield from _reported(jobs, map(parse_plan, jobs), progress)


def _reported(
    jobs: list[Plan],
    results: Iterator[FileResult],
    progress: Callable[[int, int], None] | None,
) -> Iterator[tuple[Plan, FileResult]]:
    done_bytes = 0
    for done, (plan, result) in enumerate(zip(jobs, results, strict=True), 1):
        done_bytes += plan.file.size - plan.start
        if progress:
            progress(done, done_bytes)
        yield plan, result


def parse_plan(plan: Plan) -> FileResult:
    return parse_file(plan.file.path, plan.start, plan.first_line, plan.expect)


def parse_file(
    path: str, start: int = 0, first_line: int = 1, expect: str = "", *, compact: bool = True
) -> FileResult:
    """Parse the complete lines of ``path`` from byte ``start`` (line ``first_line``); never
    raises for bad content. ``expect``: the fingerprint the bytes before ``start`` must have
    (else the file is parsed from the start). ``compact=False`` (for tests) keeps every copy."""
    result = FileResult(path=path, start=start, offset=start)
    decoder = LineDecoder()
    try:
        _read(path, start, first_line, expect, result, decoder)
    except OSError as exc:
        result.error = f"{exc.strerror or exc}"
    result.entries = decoder.entries
    result.malformed = decoder.malformed
    result.tool_types = decoder.tool_types
    result.result_types = decoder.result_types
    result.result_tools = decoder.result_tools
    result.usage_lines = decoder.usage_lines
    if compact and len(result.entries) > 1:
        within = Deduper()
        within.add(result.entries, 0)
        result.duplicates = within.duplicates
        result.entries = [slot[0] for slot in within.kept()]
    return result


def _read(
    path: str, start: int, first_line: int, expect: str, result: FileResult, decoder: LineDecoder
) -> None:
    with open(open_transcript(path), "rb") as fh:
        if start and expect and not matches_fd(fh.fileno(), start, expect):
            start, first_line = 0, 1  # rewritten since: parsed whole
            result.start = result.offset = 0
            result.reread = True
        line_no = first_line - 1
        fh.seek(start)
        carry: list[bytes] = []  # the start of a line the reads so far did not finish
        read_to = start
        while data := fh.read(CHUNK):
            read_to += len(data)
            first_nl = data.find(b"\n")
            if first_nl < 0:
                carry.append(data)
                continue
            done = 0
            if carry:  # that line, completed: the only bytes copied
                line = b"".join([*carry, data[: first_nl + 1]])
                line_no = _scan(line, 0, len(line), line_no, decoder)
                done = first_nl + 1
            last_nl = data.rfind(b"\n")
            line_no = _scan(data, done, last_nl + 1, line_no, decoder)
            carry = [data[last_nl + 1 :]]
        pending = sum(len(part) for part in carry)
        result.offset = read_to - pending
        result.pending_bytes = pending
        result.lines = line_no - (first_line - 1)
        if result.offset:
            result.fingerprint = fingerprint_fd(fh.fileno(), result.offset)


def _scan(buf: bytes, start: int, end: int, line_no: int, decoder: LineDecoder) -> int:
    """Decode the usage lines among the complete lines ``buf[start:end]``; return the line
    number reached."""
    view = memoryview(buf)
    pos = counted_to = start
    while (hit := buf.find(_USAGE, pos, end)) >= 0:
        line_start = buf.rfind(b"\n", start, hit) + 1 or start
        line_end = buf.find(b"\n", hit, end)
        line_no += buf.count(b"\n", counted_to, line_start) + 1
        counted_to = line_end + 1
        decoder.decode(view[line_start:line_end], line_no)
        pos = line_end + 1
    return line_no + buf.count(b"\n", counted_to, end)


def open_transcript(path: str) -> int:
    """A descriptor of the regular file ``path`` for reading; ``OSError`` for anything else. A
    ``*.jsonl`` that is a FIFO, a socket or a device (a link to ``/dev/zero``, say) would block
    the run or never end: opened without blocking, it is refused before it is read."""
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | _CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        raise OSError(errno.EINVAL, "not a regular file (a FIFO, socket or device)")
    return fd


_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # POSIX only; no effect on a regular file's reads
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
