"""One transcript line decoded with msgspec into just the fields an ingest needs.

Billable usage comes from ``assistant`` lines (``message.usage``) and from the subagent records
some versions nest in the parent file (``type:"progress"``, ``data.message.message.usage``).
Attribution also needs two facts from the parent side: the ``Agent``/``Task`` tool calls
(tool-use id -> ``subagent_type``) and the tool results naming a subagent
(``toolUseResult.agentId`` -> ``agentType``).
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import msgspec

from gearshift.catalog.units import MAX_TOKENS

__all__ = ["Entry", "LineDecoder"]


class Entry(NamedTuple):
    """One billable (or API-error) assistant response as found in one line, not yet priced."""

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
    #: ``costUSD`` as the line writes it (legacy CLI versions), exact; ``None`` when absent.
    cost_usd: str | None

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens + self.output_tokens + self.cache_5m + self.cache_1h + self.cache_read
        )

    @property
    def tokens(self) -> tuple[int, int, int, int, int]:
        """(input, output, 5m cache writes, 1h cache writes, cache reads)."""
        return (
            self.input_tokens,
            self.output_tokens,
            self.cache_5m,
            self.cache_1h,
            self.cache_read,
        )


class _CacheCreation(msgspec.Struct):
    ephemeral_5m_input_tokens: int | None = None
    ephemeral_1h_input_tokens: int | None = None


class _Usage(msgspec.Struct):
    input_tokens: int | None = 0
    output_tokens: int | None = 0
    cache_creation_input_tokens: int | None = 0
    cache_read_input_tokens: int | None = 0
    cache_creation: _CacheCreation | None = None
    speed: str | None = None
    inference_geo: str | None = None  # unused, but a line whose value is no string is malformed


class _ToolInput(msgspec.Struct):
    subagent_type: str | None = None


class _Block(msgspec.Struct):
    type: str | None = None
    id: str | None = None
    name: str | None = None
    input: _ToolInput | None = None
    tool_use_id: str | None = None


class _Message(msgspec.Struct):
    id: str | None = None
    model: str | None = None
    usage: _Usage | None = None
    content: list[_Block] | str | None = None


class _Inner(msgspec.Struct):  # progress.data.message
    type: str | None = None
    timestamp: str | None = None
    message: _Message | None = None
    requestId: str | None = None


class _ProgressData(msgspec.Struct):
    type: str | None = None
    agentId: str | None = None
    message: _Inner | None = None


class _ToolUseResult(msgspec.Struct):
    agentId: str | None = None
    agentType: str | None = None


class _Line(msgspec.Struct):
    type: str | None = None
    timestamp: str | None = None
    sessionId: str | None = None
    isSidechain: bool | None = None
    agentId: str | None = None
    attributionAgent: str | None = None
    cwd: str | None = None
    gitBranch: str | None = None
    entrypoint: str | None = None
    requestId: str | None = None
    costUSD: float | int | None = None
    isApiErrorMessage: bool | None = None
    version: str | None = None  # unused, but a line whose value is no string is malformed
    message: _Message | None = None
    data: _ProgressData | None = None
    toolUseResult: _ToolUseResult | str | list[object] | None = None


_DECODER = msgspec.json.Decoder(_Line)
#: What a line can raise that is its own fault: msgspec's errors, invalid UTF-8 in a decoded
#: string (msgspec raises UnicodeDecodeError for it) and nesting deeper than the recursion limit.
_LINE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)


class LineDecoder:
    """Decodes the usage lines of one file into ``entries`` (an entry per usage line),
    ``tool_types``, ``result_types``, ``result_tools`` (agent id -> the tool call its result
    names) and ``malformed`` (line number, problem)."""

    __slots__ = (
        "_interned",
        "_projects",
        "entries",
        "malformed",
        "result_tools",
        "result_types",
        "tool_types",
        "usage_lines",
    )

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.malformed: list[tuple[int, str]] = []
        self.tool_types: dict[str, str] = {}
        self.result_types: dict[str, str] = {}
        self.result_tools: dict[str, str] = {}
        self.usage_lines = 0
        # Strings that repeat on every line (session, branch, entrypoint) kept once: a smaller
        # heap, and smaller results to send back from a parser process.
        self._interned: dict[str, str] = {}
        self._projects: dict[str, str] = {}  # cwd -> project

    def decode(self, raw: bytes | memoryview, line_no: int) -> None:
        """Decode one line that contains ``"usage"``."""
        try:
            line = _DECODER.decode(raw)
        except _LINE_ERRORS as exc:
            self.malformed.append((line_no, str(exc)[:200]))
            return
        if line.type == "assistant":
            self._assistant(line, raw, line_no)
        elif line.type == "progress":
            self._progress(line, line_no)
        elif line.type == "user":
            self._tool_result(line)

    def _assistant(self, line: _Line, raw: bytes | memoryview, line_no: int) -> None:
        msg = line.message
        if msg is None or msg.usage is None:
            return
        self.usage_lines += 1
        if isinstance(msg.content, list):
            for block in msg.content:
                if block.type == "tool_use" and block.name in ("Agent", "Task") and block.id:
                    kind = block.input.subagent_type if block.input else None
                    if kind:
                        self.tool_types[block.id] = kind
        cost = _exact_cost(raw) if line.costUSD is not None else None
        self._add(
            line,
            msg,
            line.requestId,
            line.timestamp,
            bool(line.isSidechain),
            line.agentId,
            False,
            cost,
            line_no,
        )

    def _progress(self, line: _Line, line_no: int) -> None:
        data = line.data
        inner = data.message if data is not None else None
        if data is None or inner is None or inner.message is None or inner.message.usage is None:
            return
        self.usage_lines += 1
        self._add(
            line,
            inner.message,
            inner.requestId,
            inner.timestamp or line.timestamp,
            True,
            data.agentId,
            True,
            None,
            line_no,
        )

    def _tool_result(self, line: _Line) -> None:
        tur = line.toolUseResult
        if not (isinstance(tur, _ToolUseResult) and tur.agentId):
            return
        if tur.agentType:
            self.result_types[tur.agentId] = tur.agentType
        content = line.message.content if line.message is not None else None
        if isinstance(content, list):
            for block in content:
                if block.tool_use_id:
                    self.result_tools[tur.agentId] = block.tool_use_id
                    break

    def _add(
        self,
        line: _Line,
        msg: _Message,
        request_id: str | None,
        timestamp: str | None,
        sidechain: bool,
        agent_id: str | None,
        from_progress: bool,
        cost: str | None,
        line_no: int,
    ) -> None:
        usage = msg.usage
        assert usage is not None
        if not msg.id or not timestamp:
            self.malformed.append((line_no, "usage line without message.id or timestamp"))
            return
        # As ccusage does: the TTL split when the line has one, else every write at the 5m rate.
        split = usage.cache_creation
        if split is not None:
            w5 = split.ephemeral_5m_input_tokens or 0
            w1 = split.ephemeral_1h_input_tokens or 0
        else:
            w5, w1 = usage.cache_creation_input_tokens or 0, 0
        i, o = usage.input_tokens or 0, usage.output_tokens or 0
        r = usage.cache_read_input_tokens or 0
        if min(i, o, r, w5, w1) < 0 or max(i, o, r, w5, w1) > MAX_TOKENS:
            self.malformed.append((line_no, "a token count out of range"))
            return
        model = msg.model or ""
        intern = self._interned.setdefault
        session, branch = line.sessionId or "", line.gitBranch or ""
        entrypoint = line.entrypoint or ""
        self.entries.append(
            Entry(
                msg.id,
                request_id,
                sidechain,
                from_progress,
                intern(session, session),
                agent_id,
                line.attributionAgent,
                intern(branch, branch),
                intern(entrypoint, entrypoint),
                model,
                i,
                o,
                w5,
                w1,
                r,
                usage.speed == "fast",
                bool(line.isApiErrorMessage) or model == "<synthetic>",
                timestamp_us(timestamp),
                self._project(line.cwd or ""),
                cost,
            )
        )

    def _project(self, cwd: str) -> str:
        """The project of a working directory: its last path component."""
        project = self._projects.get(cwd)
        if project is None:
            project = self._projects[cwd] = cwd.rstrip("/").rsplit("/", 1)[-1] if cwd else ""
        return project


def timestamp_us(text: str) -> int:
    """Microseconds since the epoch of a line's ISO 8601 timestamp (UTC when it names no
    zone); one that does not parse counts as the epoch."""
    try:
        ts = dt.datetime.fromisoformat(text)
    except ValueError:
        return 0
    if not ts.tzinfo:
        ts = ts.replace(tzinfo=dt.UTC)
    return (ts - _EPOCH) // _ONE_US


def _exact_cost(raw: bytes | memoryview) -> str | None:
    """``costUSD`` as written in the line (read as text, so no float rounding)."""
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
