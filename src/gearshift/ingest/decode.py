"""Decoding one transcript line with msgspec, into just the fields an entry needs.

The pure-Python parser (:mod:`gearshift.ingest.parse`) decodes every usage line here; the C
parser only the lines its own strict parser leaves to it. Kept apart so that importing the
parser does not import msgspec (a fifth of a re-run's start-up) until a line needs it.
"""

from __future__ import annotations

import msgspec

from gearshift.ingest.parse import _add

TYPE_CHECKING = False  # not typing's: importing typing costs a hook-run ingest ~4 ms
if TYPE_CHECKING:
    from gearshift.ingest.parse import FileResult

__all__ = ["decode_line"]


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
    inference_geo: str | None = None


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
    version: str | None = None
    message: _Message | None = None
    data: _ProgressData | None = None
    toolUseResult: _ToolUseResult | str | list[object] | None = None


_DECODER = msgspec.json.Decoder(_Line)
#: What a line can raise that is its own fault: msgspec's errors, invalid UTF-8 in a decoded
#: string (msgspec raises UnicodeDecodeError for it) and nesting deeper than the recursion limit.
_LINE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError)


def decode_line(raw: memoryview, line_no: int, result: FileResult) -> None:
    """Decode one line that contains ``\"usage\"`` into ``result`` (an entry, a tool call or result,
    or a malformed line with its number)."""
    try:
        line = _DECODER.decode(raw)
    except _LINE_ERRORS as exc:
        result.malformed.append((line_no, str(exc)[:200]))
        return
    kind = line.type
    if kind == "assistant":
        msg = line.message
        if msg is not None and msg.usage is not None:
            result.usage_lines += 1
            _tool_calls(msg, result)
            _add(
                result,
                line,
                msg,
                line.requestId,
                line.timestamp,
                bool(line.isSidechain),
                line.agentId,
                False,
                line_no,
                raw,
            )
    elif kind == "progress":
        data = line.data
        inner = data.message if data is not None else None
        if inner is not None and inner.message is not None and inner.message.usage is not None:
            result.usage_lines += 1
            agent_id = data.agentId if data is not None else None
            _add(
                result,
                line,
                inner.message,
                inner.requestId,
                inner.timestamp or line.timestamp,
                True,
                agent_id,
                True,
                line_no,
                raw,
            )
    elif kind == "user":
        tur = line.toolUseResult
        if isinstance(tur, _ToolUseResult) and tur.agentId:
            if tur.agentType:
                result.result_types[tur.agentId] = tur.agentType
            content = line.message.content if line.message is not None else None
            if isinstance(content, list):
                for block in content:
                    if block.tool_use_id:
                        result.result_tools[tur.agentId] = block.tool_use_id
                        break


def _tool_calls(msg: _Message, result: FileResult) -> None:
    content = msg.content
    if not isinstance(content, list):
        return
    for block in content:
        if block.type == "tool_use" and block.name in ("Agent", "Task") and block.id:
            kind = block.input.subagent_type if block.input else None
            if kind:
                result.tool_types[block.id] = kind
