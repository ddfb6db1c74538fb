"""Streaming parser for one Claude Code transcript file: billable usage lines -> entries.

It never holds a whole file: it reads complete lines in chunks from a byte offset, jumps from one
occurrence of ``"usage"`` to the next (lines without it -- most of a huge file-history file --
are never decoded), and decodes only those lines, with msgspec (:mod:`gearshift.ingest.decode`),
into just the fields it needs. A last line without its newline is a line still being written: it
is left for the next run and the returned offset stops before it.

Besides usage entries it collects what attribution needs from the parent side: ``Agent``/``Task``
tool calls (tool-use id -> ``subagent_type``) and tool results naming a subagent
(``toolUseResult.agentId`` -> ``agentType``).

The entries come back deduplicated within the file, by the rules of
:class:`gearshift.ingest.dedup.Deduper` and in the order of its ``kept()`` (half the usage lines
of a transcript are copies of another line of the same file: one response written as several
lines); ``FileResult.duplicates`` counts the copies removed. Those rules applied again across
files give the global answer. Everything else (``usage_lines``, tool calls and results,
malformed lines) comes from every line, copies included.

When the C extension ``gearshift.ingest._scan`` is built (``NATIVE``), :func:`parse_file` runs
the native path in :mod:`gearshift.ingest.parse_native`: it gives exactly the same results, as
its C parser decodes a line itself only when msgspec would certainly produce the same values and
hands every other line to :func:`_decode` below. ``GEARSHIFT_PURE_PYTHON=1`` forces this module's
pure Python path.
"""

from __future__ import annotations

import datetime as dt
import errno
import os

from gearshift._frozen import NamedTuple
from gearshift.catalog.units import MAX_TOKENS
from gearshift.ingest.fingerprint import fingerprint, matches_fd

TYPE_CHECKING = False  # not typing's: this module is on the path of every hook-run ingest
if TYPE_CHECKING:
    from gearshift.ingest.decode import _Line, _Message
    from gearshift.ingest.pricing import EntryPricer

__all__ = ["NATIVE", "Entry", "FileResult", "parse_file"]

CHUNK = 8 * 1024 * 1024
_USAGE = b'"usage"'


def _native_available() -> bool:
    if os.environ.get("GEARSHIFT_PURE_PYTHON", "") not in ("", "0"):
        return False
    try:
        from gearshift.ingest import _scan  # noqa: F401
    except ImportError:
        return False
    return True


#: Whether :func:`parse_file` uses the C extension (built, and not disabled by
#: ``GEARSHIFT_PURE_PYTHON=1``).
NATIVE: bool = _native_available()


class Entry(NamedTuple):
    """One billable (or API-error) assistant response as found in one line."""

    message_id: str
    request_id: str | None
    sidechain: bool
    from_progress: bool
    session_id: str
    agent_id: str | None
    attribution_agent: str | None
    git_branch: str
    entrypoint: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_5m: int
    cache_1h: int
    cache_read: int
    fast: bool
    api_error: bool
    ts_us: int
    project: str
    model_id: str
    tier: str
    cost_nanos: int
    price_version: str
    priced: bool

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens + self.output_tokens + self.cache_5m + self.cache_1h + self.cache_read
        )


class FileResult:
    """What one pass over a file found; ``offset`` is where the next pass starts."""

    __slots__ = (
        "duplicates",
        "entries",
        "error",
        "fingerprint",
        "interned",
        "lines",
        "malformed",
        "offset",
        "path",
        "pending_bytes",
        "pricer",
        "projects",
        "reread",
        "result_tools",
        "result_types",
        "start",
        "tool_types",
        "usage_lines",
    )

    def __init__(self, path: str, start: int, offset: int = 0) -> None:
        self.path = path
        self.start = start
        self.offset = offset
        self.lines = self.usage_lines = self.pending_bytes = self.duplicates = 0
        self.entries: list[Entry] = []
        self.malformed: list[tuple[int, str]] = []
        self.tool_types: dict[str, str] = {}
        self.result_types: dict[str, str] = {}
        self.result_tools: dict[str, str] = {}  # agent id -> the tool call a result names
        self.fingerprint = ""
        self.error: str | None = None
        self.pricer: EntryPricer | None = None
        self.interned: dict[str, str] = {}
        self.projects: dict[str, str] = {}
        self.reread = False  # parsed from the start: the bytes before ``start`` had changed

    def __repr__(self) -> str:
        return (
            f"FileResult(path={self.path!r}, start={self.start}, offset={self.offset}, "
            f"lines={self.lines}, entries={len(self.entries)}, error={self.error!r})"
        )

    def __getstate__(self) -> dict[str, object]:
        skip = ("pricer", "interned", "projects")
        return {k: getattr(self, k) for k in self.__slots__ if k not in skip}

    def __setstate__(self, data: dict[str, object]) -> None:
        for key, value in data.items():
            setattr(self, key, value)
        self.pricer = None
        self.interned = {}
        self.projects = {}


def parse_file(
    path: str,
    start: int = 0,
    first_line: int = 1,
    pricer: EntryPricer | None = None,
    expect: str = "",
) -> FileResult:
    """Parse complete lines of ``path`` from byte ``start``; never raises for bad content.

    With a ``pricer`` each entry is also timestamped and priced here, so that this work runs in
    the parser threads (or processes) rather than where their results are merged. Entries come
    back deduplicated within the file (``duplicates`` counts the copies dropped). ``expect``:
    the fingerprint the bytes before ``start`` must have; if they do not, the file is parsed
    from the start (``reread``)."""
    if NATIVE:
        from gearshift.ingest.parse_native import parse_file_native

        return parse_file_native(path, start, first_line, pricer, expect=expect)
    return parse_file_pure(path, start, first_line, pricer, expect=expect)


def parse_file_pure(
    path: str,
    start: int = 0,
    first_line: int = 1,
    pricer: EntryPricer | None = None,
    *,
    compact: bool = True,
    expect: str = "",
) -> FileResult:
    """:func:`parse_file` in pure Python (msgspec): the reference the native path must equal.

    ``compact=False`` (for tests) skips the deduplication within the file."""
    result = FileResult(path=path, start=start, offset=start)
    result.pricer = pricer
    _parse_pure(path, start, first_line, result, expect)
    if compact:
        _compact(result)
    return result


def restart(result: FileResult) -> tuple[int, int]:
    """Make ``result`` a parse from the start of the file; return ``(start, first_line)``."""
    result.start = result.offset = 0
    result.reread = True
    return 0, 1


def _compact(result: FileResult) -> None:
    """Deduplicate ``result.entries`` within the file, exactly as :class:`Deduper` does."""
    if len(result.entries) > 1:
        from gearshift.ingest.dedup import Deduper

        local = Deduper()
        local.add(result.entries, 0)
        result.duplicates += local.duplicates
        result.entries = [slot[0] for slot in local.kept()]


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
    if mode & 0o170000 != 0o100000:  # stat.S_ISREG without importing stat
        os.close(fd)
        if mode & 0o170000 == 0o040000:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        raise OSError(errno.EINVAL, "not a regular file (a FIFO, socket or device)")
    return fd


_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # no effect on a regular file's reads
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _parse_pure(
    path: str, start: int, first_line: int, result: FileResult, expect: str = ""
) -> None:
    try:
        with open(open_transcript(path), "rb") as fh:
            if start and expect and not matches_fd(fh.fileno(), start, expect):
                start, first_line = restart(result)
            line_no = first_line - 1
            fh.seek(start)
            carry = b""
            pos_in_file = start
            while True:
                data = fh.read(CHUNK)
                if not data:
                    break
                buf = carry + data if carry else data
                last_nl = buf.rfind(b"\n")
                if last_nl < 0:
                    carry = buf
                    continue
                complete = memoryview(buf)[: last_nl + 1]
                line_no = _scan(complete, buf, last_nl + 1, line_no, result)
                pos_in_file += last_nl + 1
                carry = buf[last_nl + 1 :]
            result.offset = pos_in_file
            result.pending_bytes = len(carry)
            result.lines = line_no - (first_line - 1)
    except OSError as exc:
        result.error = f"{exc.strerror or exc}"
        return
    result.fingerprint = fingerprint(path, result.offset) if result.offset else ""


def _scan(view: memoryview, buf: bytes, end: int, line_no: int, result: FileResult) -> int:
    """Decode the usage lines among ``buf[:end]``; return the line number reached."""
    from gearshift.ingest.decode import decode_line

    pos = 0
    counted_to = 0
    find = buf.find
    while pos < end:
        hit = find(_USAGE, pos, end)
        if hit < 0:
            break
        line_start = buf.rfind(b"\n", 0, hit) + 1
        line_end = find(b"\n", hit, end)
        line_no += buf.count(b"\n", counted_to, line_start) + 1
        counted_to = line_end + 1
        decode_line(view[line_start:line_end], line_no, result)
        pos = line_end + 1
    return line_no + buf.count(b"\n", counted_to, end)


def _decode(raw: memoryview, line_no: int, result: FileResult) -> None:
    """Decode one usage line with msgspec (:mod:`gearshift.ingest.decode`, loaded on first use:
    the C parser leaves few lines to it, and most runs none)."""
    from gearshift.ingest.decode import decode_line

    decode_line(raw, line_no, result)


def _add(
    result: FileResult,
    line: _Line,
    msg: _Message,
    request_id: str | None,
    timestamp: str | None,
    sidechain: bool,
    agent_id: str | None,
    from_progress: bool,
    line_no: int,
    raw: memoryview,
) -> None:
    usage = msg.usage
    assert usage is not None
    model = msg.model or ""
    api_error = bool(line.isApiErrorMessage) or model == "<synthetic>"
    if not msg.id or not timestamp:
        result.malformed.append((line_no, "usage line without message.id or timestamp"))
        return
    # As ccusage does: the TTL split when the line has one, else every write at the 5m rate.
    split = usage.cache_creation
    if split is not None:
        w5 = split.ephemeral_5m_input_tokens or 0
        w1 = split.ephemeral_1h_input_tokens or 0
    else:
        w5, w1 = usage.cache_creation_input_tokens or 0, 0
    i, o, r = usage.input_tokens or 0, usage.output_tokens or 0, usage.cache_read_input_tokens or 0
    if min(i, o, r, w5, w1) < 0 or max(i, o, r, w5, w1) > MAX_TOKENS:
        result.malformed.append((line_no, "a token count out of range"))
        return
    cost = None
    if line.costUSD is not None and not from_progress:
        cost = _exact_cost(raw)
    ts = _timestamp(timestamp)
    ts_us = (ts - _EPOCH) // _ONE_US
    intern = result.interned
    cwd = line.cwd or ""
    project = result.projects.get(cwd)
    if project is None:
        project = result.projects[cwd] = cwd.rstrip("/").rsplit("/", 1)[-1] if cwd else ""
    fast = usage.speed == "fast"
    if result.pricer is not None:
        priced = result.pricer.price(model, ts, (i, o, w5, w1, r), fast, cost, api_error)
    else:
        priced = (model, "unknown", 0, "", False)
    result.entries.append(
        Entry(
            msg.id,
            request_id,
            sidechain,
            from_progress,
            _i(intern, line.sessionId or ""),
            agent_id,
            line.attributionAgent,
            _i(intern, line.gitBranch or ""),
            _i(intern, line.entrypoint or ""),
            model,
            i,
            o,
            w5,
            w1,
            r,
            fast,
            api_error,
            ts_us,
            project,
            *priced,
        )
    )


def _i(table: dict[str, str], text: str) -> str:
    """One shared copy of strings that repeat on every line (a smaller pickle and heap)."""
    return table.setdefault(text, text)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)


def _timestamp(text: str) -> dt.datetime:
    try:
        ts = dt.datetime.fromisoformat(text)
    except ValueError:
        return _EPOCH
    return ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)


def _exact_cost(raw: memoryview) -> str | None:
    """``costUSD`` as written in the line (decoded as text, so no float rounding)."""
    text = bytes(raw)
    at = text.find(b'"costUSD":')
    if at < 0:
        return None
    start = at + len(b'"costUSD":')
    end = start
    while end < len(text) and text[end : end + 1] in b"0123456789.eE+- ":
        end += 1
    value = text[start:end].strip().decode()
    return value or None
