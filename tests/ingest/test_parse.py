"""The parse stage: a transcript's new bytes -> usage entries, parent facts and malformed lines.

Oracles: the result never depends on the read size (lines straddling reads, lines longer than
a read), a parse from an offset equals a parse of the bytes after it, and the entries of a
file are the raw entries deduplicated by :class:`~gearshift.ingest.copies.Deduper`. Hostile
lines (every field with odd values, broken JSON, invalid UTF-8, deep nesting) are counted as
malformed or passed over, never raised.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gearshift.ingest import parse
from gearshift.ingest.copies import Deduper
from gearshift.ingest.parse import FileResult, parse_file
from gearshift.ingest.usage_line import Entry
from gearshift.samples.claude_logs import generate_corpus

REFERENCE = Path(__file__).parents[1] / "data" / "claude_code" / "reference"

#: Every field of a result but the entries and the copies dropped.
FIELDS = (
    "path",
    "start",
    "offset",
    "lines",
    "usage_lines",
    "malformed",
    "tool_types",
    "result_types",
    "result_tools",
    "pending_bytes",
    "fingerprint",
    "error",
    "reread",
)


def write_lines(path: Path, lines: list[str | bytes], end: bytes = b"\n") -> Path:
    data = [x.encode() if isinstance(x, str) else x for x in lines]
    path.write_bytes(b"".join(x + end for x in data))
    return path


def reference_lines() -> list[str]:
    return [
        line
        for p in sorted(REFERENCE.rglob("*.jsonl"))
        for line in p.read_text().splitlines()
        if line.strip()
    ]


ASSISTANT = json.loads(next(x for x in reference_lines() if '"Agent"' in x and '"assistant"' in x))
SUBAGENT = json.loads(next(x for x in reference_lines() if '"attributionAgent"' in x))
USER = json.loads(next(x for x in reference_lines() if '"toolUseResult"' in x))
LEGACY = json.loads(next(x for x in reference_lines() if '"costUSD"' in x))
PROGRESS: dict[str, Any] = {
    "parentUuid": "p1",
    "isSidechain": False,
    "type": "progress",
    "data": {
        "type": "agent_progress",
        "agentId": "a3f9c1e07b2d4c85e",
        "message": {
            "type": "assistant",
            "timestamp": "2026-08-24T10:15:06.500Z",
            "message": SUBAGENT["message"],
            "requestId": "req_progress",
        },
    },
    "parentToolUseID": "toolu_01Ab3Cd4Ef5Gh6Ij7Kl8Mn9P",
    "timestamp": "2026-08-24T10:15:07.000Z",
    "sessionId": "7d3f1c2a-5b8e-4f0a-9c61-2e4d8a9b0c13",
    "cwd": "/home/dev/acme-api",
    "gitBranch": "main",
}
BASES = {"assistant": ASSISTANT, "subagent": SUBAGENT, "user": USER, "legacy": LEGACY}
BASES["progress"] = PROGRESS


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def with_value(base: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    node: Any = obj
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return obj


def without(base: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    node: Any = obj
    for key in path[:-1]:
        node = node[key]
    node.pop(path[-1], None)
    return obj


# Every field the msgspec Structs declare, as a path into one of the base lines.
FIELD_PATHS: list[tuple[str, tuple[str | int, ...]]] = [
    ("assistant", (k,))
    for k in (
        "type",
        "timestamp",
        "sessionId",
        "isSidechain",
        "agentId",
        "attributionAgent",
        "cwd",
        "gitBranch",
        "entrypoint",
        "requestId",
        "costUSD",
        "isApiErrorMessage",
        "version",
        "message",
        "data",
        "toolUseResult",
    )
]
FIELD_PATHS += [("assistant", ("message", k)) for k in ("id", "model", "usage", "content")]
FIELD_PATHS += [
    ("assistant", ("message", "usage", k))
    for k in (
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "cache_creation",
        "speed",
        "inference_geo",
    )
]
FIELD_PATHS += [
    ("assistant", ("message", "usage", "cache_creation", k))
    for k in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")
]
FIELD_PATHS += [
    ("assistant", ("message", "content", 0, k)) for k in ("type", "id", "name", "input")
]
FIELD_PATHS += [("assistant", ("message", "content", 0, "input", "subagent_type"))]
FIELD_PATHS += [("user", ("message", "content", 0, "tool_use_id"))]
FIELD_PATHS += [("user", ("toolUseResult", k)) for k in ("agentId", "agentType")]
FIELD_PATHS += [("progress", ("data", k)) for k in ("type", "agentId", "message")]
FIELD_PATHS += [
    ("progress", ("data", "message", k)) for k in ("type", "timestamp", "message", "requestId")
]
FIELD_PATHS += [("progress", ("data", "message", "message", "usage", "input_tokens"))]
FIELD_PATHS += [("legacy", ("costUSD",))]

ODD_VALUES: list[Any] = [
    None,
    0,
    1,
    -1,
    1.0,
    1.5,
    -0.0,
    10**18,
    10**19,
    10**30,
    True,
    False,
    "",
    "x",
    "fast",
    "1",
    "assistant",
    [],
    [1],
    [{}],
    {},
    {"type": "x"},
]


def adversarial_lines() -> Iterator[str | bytes]:
    for name, base in BASES.items():
        yield dumps(base)
        yield json.dumps(base)  # with spaces after ':' and ','
        yield json.dumps(base, indent=None, ensure_ascii=True)
        yield " \t" + dumps(base) + " \r"
        yield dumps(base) + "\r"
        if name != "progress":
            yield json.dumps(base, indent=1).replace("\n", " ")
    for which, path in FIELD_PATHS:
        base = BASES[which]
        yield dumps(without(base, path))
        for value in ODD_VALUES:
            yield dumps(with_value(base, path, value))
    # escapes and unicode in extracted strings
    for text in (
        'acme\\"api',
        "back\\\\slash",
        "/home/d\u00e9v/caf\u00e9",
        "emoji \U0001f600",
        "tab\there",
        "\u2028",
    ):
        for key in ("cwd", "sessionId", "requestId", "gitBranch", "entrypoint", "agentId"):
            yield dumps(with_value(ASSISTANT, (key,), text))
        yield dumps(with_value(ASSISTANT, ("message", "id"), text))
        yield dumps(with_value(ASSISTANT, ("message", "model"), text))
        yield dumps(with_value(USER, ("toolUseResult", "agentId"), text))
    raw = dumps(ASSISTANT)
    for old, new in (
        ('"cwd":"/home/dev/acme-api"', '"cwd":"/home/dev/\\u00e9"'),
        ('"cwd":"/home/dev/acme-api"', '"cwd":"/home/dev/\\u00E9"'),
        ('"cwd":"/home/dev/acme-api"', '"cwd":"\\ud83d\\ude00"'),
        ('"cwd":"/home/dev/acme-api"', '"cwd":"\\ud800"'),
        ('"cwd":"/home/dev/acme-api"', '"cwd":"\\udc00x"'),
        ('"cwd":"/home/dev/acme-api"', '"cwd":"\\ud800\\u0041"'),
        ('"cwd":"/home/dev/acme-api"', '"cwd":"\\/home"'),
        ('"cwd":"/home/dev/acme-api"', '"cwd":"\\x41"'),
        ('"cwd":"/home/dev/acme-api"', '"cwd":"\\u00g1"'),
        ('"cwd":"/home/dev/acme-api"', '"c\\u0077d":"/elsewhere"'),
        ('"type":"assistant"', '"t\\u0079pe":"assistant"'),
        ('"type":"assistant"', '"type":"assistant","type":"user"'),
        ('"type":"assistant"', '"type":"user","type":"assistant"'),
        ('"input_tokens":2', '"input_tokens":2,"input_tokens":3'),
        ('"input_tokens":2', '"input_tokens":02'),
        ('"input_tokens":2', '"input_tokens":-0'),
        ('"input_tokens":2', '"input_tokens":2e0'),
        ('"input_tokens":2', '"input_tokens":2.'),
        ('"input_tokens":2', '"input_tokens":+2'),
        ('"input_tokens":2', '"input_tokens":999999999999999999'),
        ('"input_tokens":2', '"input_tokens":1000000000000000000'),
        ('"input_tokens":2', '"input_tokens":10000000001'),
        ('"input_tokens":2', '"input_tokens":10000000000'),
        ('"input_tokens":2', '"input_tokens" : 2 '),
        ('"usage":{', '"usage" :{'),
        ('"usage":{', '"usage":{"usage":{},'),
        ('"speed":"standard"', '"speed":"fast"'),
        ('"speed":"standard"', '"speed":"fa\\u0073t"'),
        ('"speed":"standard"', '"speed":"FAST"'),
        ('"subagent_type":"Explore"', '"subagent_type":"Expl\\u006fre"'),
        ('"subagent_type":"Explore"', '"subagent_type":""'),
        ('"subagent_type":"Explore"', '"subagent_type":"Plan","usage":{"input_tokens":5}'),
        ('"name":"Agent"', '"name":"Task"'),
        ('"name":"Agent"', '"name":"Grep"'),
        ('"id":"toolu_01Ab3Cd4Ef5Gh6Ij7Kl8Mn9P"', '"id":""'),
        ('"caller":{"type":"direct"}', '"caller":{"usage":{"input_tokens":-7}}'),
        ('"caller":{"type":"direct"}', '"caller":"the \\"usage\\" field"'),
        ('"caller":{"type":"direct"}', '"caller":[1,2.5e10,-3E-2,true,false,null,"x",{}]'),
        ('"caller":{"type":"direct"}', '"caller":[1,]'),
        ('"caller":{"type":"direct"}', '"caller":{"a":1,}'),
        ('"caller":{"type":"direct"}', '"caller":{,}'),
        ('"caller":{"type":"direct"}', '"caller":NaN'),
        ('"caller":{"type":"direct"}', '"caller":1e999'),
        ('"caller":{"type":"direct"}', '"caller":-'),
        ('"caller":{"type":"direct"}', '"caller":.5'),
        ('"caller":{"type":"direct"}', '"caller":tru'),
        ('"caller":{"type":"direct"}', '"caller":"\x7f"'),
        ('"caller":{"type":"direct"}', '"caller":"a\\u0000b"'),
        ('"caller":{"type":"direct"}', '"caller":' + "[" * 62 + "]" * 62),
        ('"caller":{"type":"direct"}', '"caller":' + "[" * 63 + "]" * 63),
        ('"caller":{"type":"direct"}', '"caller":' + "[" * 64 + "]" * 64),
        ('"caller":{"type":"direct"}', '"caller":' + '{"a":' * 70 + "1" + "}" * 70),
        ('"caller":{"type":"direct"}', '"caller":' + "[" * 3000 + "]" * 3000),
        ('"cwd":"/home/dev/acme-api"', '"cwd":"/home/dev/acme-api/"'),
        ('"cwd":"/home/dev/acme-api"', '"cwd":"/"'),
        ('"cwd":"/home/dev/acme-api"', '"cwd":""'),
        ('"cwd":"/home/dev/acme-api"', '"cwd":"acme"'),
        ('"model":"claude-opus-4-6"', '"model":"<synthetic>"'),
        ('"model":"claude-opus-4-6"', '"model":"gpt-5"'),
        ('"model":"claude-opus-4-6"', '"model":"opus"'),
        ('"model":"claude-opus-4-6"', '"model":"claude-sonnet-4-5-20250929"'),
        ('"model":"claude-opus-4-6"', '"model":""'),
        ('"isSidechain":false', '"isSidechain":true'),
        ('"entrypoint":"cli"', '"entrypoint":"cli","isApiErrorMessage":true'),
        ('"entrypoint":"cli"', '"entrypoint":"cli","costUSD":0.5'),
        ('"entrypoint":"cli"', '"entrypoint":"cli","costUSD" : 0.5'),
        ('"entrypoint":"cli"', '"entrypoint":"cli","costUSD":1e-5'),
        ('"entrypoint":"cli"', '"entrypoint":"cli","costUSD":-0.25'),
        ('"entrypoint":"cli"', '"entrypoint":"cli","costUSD":12'),
        ('"entrypoint":"cli"', '"entrypoint":"cli","costUSD":0.1234567890123456789012345'),
        ('"entrypoint":"cli"', '"entrypoint":"cli","costUSD":1e400'),
        ('"entrypoint":"cli"', '"entrypoint":"cli","costUSD":"0.5"'),
        ('"diagnostics":null', '"diagnostics":{"costUSD":9.99}'),
        ('"diagnostics":null', '"diagnostics":{"costUSD":9.99},"x":{"costUSD": 1 }'),
    ):
        assert old in raw, old
        yield raw.replace(old, new, 1)
    yield raw.replace('"diagnostics":null', '"diagnostics":{"costUSD":9.99}').replace(
        '"entrypoint":"cli"', '"entrypoint":"cli","costUSD":0.5'
    )
    legacy = dumps(LEGACY)
    for old, new in (
        ('"costUSD":0.01758', '"costUSD":0.01758 '),
        ('"costUSD":0.01758', '"costUSD" :0.01758'),
        ('"costUSD":0.01758', '"costUSD":null'),
        ('"costUSD":0.01758', '"costUSD":1E2'),
        ('"costUSD":0.01758', '"costUSD":-0'),
        ('"costUSD":0.01758', '"costUSD":123456789012345678'),
        ('"costUSD":0.01758', '"costUSD":1234567890123456789'),
        ('"Done."', '"say \\"costUSD\\":5"'),
        ('"Done."', '"x","costUSD":3'),
    ):
        assert old in legacy, old
        yield legacy.replace(old, new, 1)
    # timestamps
    for ts in (
        "2026-08-24T10:15:02Z",
        "2026-08-24T10:15:02.1Z",
        "2026-08-24T10:15:02.12345Z",
        "2026-08-24T10:15:02.123456Z",
        "2026-08-24T10:15:02.1234567Z",
        "2026-08-24T10:15:02.Z",
        "2026-08-24T10:15:02,5Z",
        "2026-08-24T10:15:02+02:00",
        "2026-08-24T23:15:02-05:00",
        "2026-08-24T10:15:02",
        "2026-08-24t10:15:02Z",
        "2026-08-24T10:15:02z",
        "2026-08-24 10:15:02Z",
        "2026-08-24T10:15Z",
        "2026-08-24",
        "2024-02-29T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-08-24T24:00:00Z",
        "2026-08-24T10:60:00Z",
        "2026-08-24T10:15:60Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999999Z",
        "9999-12-31T23:59:59.999999Z",
        "2026-08-24T10:15:02.000Z",
        "yesterday",
        "",
        "２026-08-24T10:15:02Z",
    ):
        yield dumps(with_value(ASSISTANT, ("timestamp",), ts))
        yield dumps(with_value(PROGRESS, ("data", "message", "timestamp"), ts))
    # "usage" in lines that are not billable
    yield '{"type":"system","usage":{"input_tokens":5},"timestamp":"2026-01-01T00:00:00Z"}'
    yield dumps(with_value(USER, ("message", "usage"), {"input_tokens": 3}))
    yield dumps(with_value(ASSISTANT, ("type",), "user"))
    yield dumps(with_value(PROGRESS, ("type",), "assistant"))
    yield dumps(with_value(ASSISTANT, ("type",), "progress"))
    user_blocks = [{"type": "text", "text": "x"}, {"tool_use_id": ""}, {"tool_use_id": "t2"}]
    yield dumps(with_value(USER, ("message", "content"), user_blocks))
    yield dumps(with_value(USER, ("message", "content"), "plain \\ text"))
    yield dumps(with_value(USER, ("message",), None))
    yield dumps(with_value(USER, ("toolUseResult",), 'Error: "usage" \u00e9'))
    yield dumps(with_value(USER, ("toolUseResult",), [{"usage": 1}, [None]]))
    yield json.dumps(with_value(USER, ("toolUseResult", "usage"), {"x": "\ud800"}))
    # empty and minimal objects
    yield "{}"
    yield '{"usage":{}}'
    yield '{"type":"assistant","message":{"usage":{}}}'
    ts = '"timestamp":"2026-01-01T00:00:00Z"'
    yield '{"type":"assistant","message":{"id":"m1","usage":{}},' + ts + "}"
    yield '{"type":"assistant","message":{"id":"m2","usage":null},' + ts + "}"
    yield '{"type":"assistant","message":{"id":"m3","usage":{"cache_creation":{}}},"timestamp":"x"}'
    cache = '"cache_creation":null,"cache_creation_input_tokens":7'
    yield '{"type":"assistant","message":{"id":"m4","usage":{' + cache + "}}," + ts + "}"
    yield '["usage"]'
    yield '"usage"'
    yield 'null "usage"'
    yield ' {"usage":1} '
    yield '\x00{"usage":1}'
    yield '{"usage":1}\x0c'
    yield "\ufeff" + '{"usage":1}'
    # invalid UTF-8 in a skipped string, in an extracted one, and outside strings
    yield raw.replace("Locate rate-limit", "Locate \udcff").encode("utf-8", "surrogateescape")
    yield raw.replace("/home/dev/acme-api", "/home/\udcff").encode("utf-8", "surrogateescape")
    yield raw.replace("/home/dev/acme-api", "/home/\udced\udca0\udc80").encode(
        "utf-8", "surrogateescape"
    )
    yield raw.replace("Locate", "\udcc0\udc80").encode("utf-8", "surrogateescape")
    yield raw.replace("Locate", "\udcf4\udc90\udc80\udc80").encode("utf-8", "surrogateescape")
    yield raw.replace('"diagnostics":null', '"diagnostics":null\udcff').encode(
        "utf-8", "surrogateescape"
    )
    # truncations and trailing garbage
    for cut in (1, 2, 7, 50, len(raw) // 2, len(raw) - 2, len(raw) - 1):
        yield raw[:cut]
    for tail in ("x", "}", ",", " ,", "{}", " null", "\x00", '"usage"'):
        yield raw + tail


_MISSING = object()


def copy_line(
    mid: str | None,
    rid: object = "r1",
    *,
    side: bool = False,
    progress: bool = False,
    out: int = 10,
    ts: str = "2026-08-24T10:15:02.000Z",
    escaped: bool = False,
    cwd: str = "/home/dev/acme-api",
) -> str:
    """A usage line of response ``mid`` (None: no message.id); ``rid=_MISSING`` leaves out the
    requestId; ``escaped`` spells a character of its session id as a ``\\u`` escape (the same
    value)."""
    if progress:
        obj = copy.deepcopy(PROGRESS)
        inner = obj["data"]["message"]
        message, holder = inner["message"], inner
        inner["timestamp"] = ts
    else:
        obj = copy.deepcopy(SUBAGENT if side else ASSISTANT)
        obj["isSidechain"] = side
        obj["timestamp"] = ts
        message, holder = obj["message"], obj
    message = holder["message"] = copy.deepcopy(message)
    if mid is None:
        del message["id"]
    else:
        message["id"] = mid
    message["usage"]["output_tokens"] = out
    if rid is _MISSING:
        holder.pop("requestId", None)
    else:
        holder["requestId"] = rid
    obj["cwd"] = cwd
    text = dumps(obj)
    if escaped:  # "\u0037d3f..." is "7d3f..."
        at = text.index('"sessionId":"') + len('"sessionId":"')
        text = text[:at] + f"\\u{ord(text[at]):04x}" + text[at + 1 :]
    return text


def dedup_cases() -> dict[str, list[str]]:
    c = copy_line
    return {
        # a better copy replaces the kept one in place: m1 stays before m2
        "replaced-in-place": [c("m1", out=5), c("m2", "r2"), c("m1", out=9), c("m1", out=7)],
        # a full tie keeps the earlier copy (the timestamps tell them apart)
        "tie": [c("m1", ts="2026-08-24T10:00:00Z"), c("m1", ts="2026-08-24T11:00:00Z")],
        # no requestId (missing or null: None) is not "", two None are the same key
        "none-vs-empty": [
            c("m1", _MISSING),
            c("m1", ""),
            c("m1", None, out=50),
            c("m1", "", out=40),
            c("m1", "r1"),
        ],
        # sidechain copies match any request id; the non-sidechain copy wins over more tokens
        "sidechain": [
            c("m1", "r1", side=True, out=500),
            c("m1", "r2"),
            c("m1", "r3", out=30),
            c("m1", "r9", side=True, out=900),
            c("m1", "r3", out=31),
            c("m1", "r2", side=True),
        ],
        # the progress copy loses to the subagent's own line, either order, on a tie
        "progress": [
            c("m1", "rp", progress=True),
            c("m1", "rs", side=True),
            c("m2", "rs", side=True),
            c("m2", "rp", progress=True),
            c("m3", "rp", progress=True, out=11),
            c("m3", "rs", side=True),
        ],
        # a second slot of an older bucket: Deduper.kept() lists it with its bucket
        "reordered": [
            *(c(m, r) for m, r in [("m1", "r1"), ("m2", "r1"), ("m3", "r1"), ("m1", "r2")]),
            *(c(m, r) for m, r in [("m2", "r2"), ("m1", "r3"), ("m4", "r1")]),
            c("m2", "r2", out=99),
            c("m1", "r2", out=99),
        ],
        # copies spelt with and without escapes, interleaved
        "escapes": [
            c("m1", out=5),
            c("m1", out=9, escaped=True),
            c("m2", escaped=True),
            c("m2", out=3),
            c("m3", "r1", escaped=True),
            c("m4", "r1"),
            c("m3", "r2"),
            c("m3", "r2", out=77, escaped=True),
            c("m4", "r1", side=True, escaped=True),
            c("m5", "r1", progress=True, escaped=True),
            c("m5", "r2", side=True),
        ],
        # not entries at all: no message.id, tokens out of range, an unparsable line
        "rejected": [
            c(None),
            c("m1"),
            c("m1", out=10**11),
            c("m1", out=10**11, escaped=True),
            c(None, escaped=True),
            c("m1", out=4, escaped=True)[:-3],
            c("m1", out=12),
        ],
        # a losing copy's cwd still maps to its project
        "losers-intern": [
            c("m1", out=9),
            c("m1", cwd="/srv/other"),
            c("m1", escaped=True, cwd="/x"),
        ],
    }


_COPY_SPECS = st.tuples(
    st.sampled_from(["m1", "m2", "m3", None]),
    st.sampled_from(["r1", "r2", "", None, _MISSING]),
    st.booleans(),
    st.booleans(),
    st.sampled_from([5, 6, 10**11]),
    st.booleans(),
    st.sampled_from(["2026-08-24T10:00:00Z", "2026-08-24T11:00:00Z"]),
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("corpus")
    generate_corpus(out, size_bytes=4_000_000, seed=5, ccusage_divergent=True)
    return sorted(out.rglob("*.jsonl"))


def same(got: FileResult, want: FileResult) -> None:
    assert got.entries == want.entries
    assert got.duplicates == want.duplicates
    for name in FIELDS:
        if name != "path":
            assert getattr(got, name) == getattr(want, name), name


def dedup_reference(entries: list[Entry]) -> tuple[list[Entry], int]:
    local = Deduper()
    local.add(entries, 0)
    return [slot[0] for slot in local.kept()], local.duplicates


def assert_compacted(path: str | Path, **kw: Any) -> FileResult:
    """The result is the raw one with its entries deduplicated as ``Deduper`` does; every other
    field (usage lines, tool calls and results, malformed lines...) is unchanged."""
    raw = parse_file(str(path), compact=False, **kw)
    got = parse_file(str(path), **kw)
    assert raw.duplicates == 0
    entries, duplicates = dedup_reference(raw.entries)
    assert got.entries == entries, f"entries differ from the Deduper reference for {path}"
    assert got.duplicates == duplicates
    for name in FIELDS:
        assert getattr(got, name) == getattr(raw, name), f"{name} differs for {path}"
    return got


def test_reference_lines(tmp_path: Path) -> None:
    lines = [*reference_lines(), dumps(PROGRESS)]
    result = parse_file(str(write_lines(tmp_path / "ref.jsonl", lines)))
    # PROGRESS is the progress copy of SUBAGENT's response: the subagent's own line is kept
    assert len(result.entries) == 4 and result.duplicates == 1
    assert not any(e.from_progress for e in result.entries)
    assert result.tool_types and result.result_tools
    assert (result.malformed, result.error, result.pending_bytes) == ([], None, 0)


@pytest.mark.parametrize("chunk", [16, 64, 333, 1024, 4096])
def test_the_read_size_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    lines: list[str | bytes] = [dumps(b) for b in BASES.values()]
    filler = '{"type":"file-history-snapshot","x":"' + "y" * 100 + '"}'
    lines += [filler, "", dumps(ASSISTANT).replace("Locate", "z" * (3 * chunk)), filler]
    # a usage line that fills exactly one read with its newline
    base = dumps(SUBAGENT)
    pad = chunk - len(base) - 1 - len(',"p":""')
    if pad >= 0:
        lines.append(base[:-1] + ',"p":"' + "q" * pad + '"}')
    path = write_lines(tmp_path / "c.jsonl", lines)
    crlf = write_lines(tmp_path / "crlf.jsonl", lines, end=b"\r\n")
    torn = tmp_path / "torn.jsonl"
    want = {p: parse_file(str(p)) for p in (path, crlf)}
    assert len(want[path].entries) == 3 and want[crlf].entries == want[path].entries
    monkeypatch.setattr(parse, "CHUNK", chunk)
    for p in (path, crlf):
        same(parse_file(str(p)), want[p])
    for cut in (1, 10, 200):  # a last line still being written waits for the next run
        torn.write_bytes(path.read_bytes() + dumps(ASSISTANT).encode()[:cut])
        result = parse_file(str(torn))
        assert (result.pending_bytes, result.offset) == (cut, path.stat().st_size)
        assert result.entries == want[path].entries


def test_reads_of_exactly_a_line_and_lines_longer_than_a_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = dumps(ASSISTANT)
    for chunk in range(len(base) - 3, len(base) + 4):
        monkeypatch.setattr(parse, "CHUNK", chunk)
        for count in (1, 2, 3):
            path = write_lines(tmp_path / f"{chunk}-{count}.jsonl", [base] * count)
            result = parse_file(str(path))
            assert (len(result.entries), result.duplicates) == (1, count - 1)
            assert (result.lines, result.usage_lines) == (count, count)
            path.write_bytes(path.read_bytes()[:-1])  # no final newline
            result = parse_file(str(path))
            assert (result.pending_bytes, result.lines) == (len(base), count - 1)


def test_a_parse_from_an_offset_is_a_parse_of_the_bytes_after_it(
    corpus: list[Path], tmp_path: Path
) -> None:
    path = max(corpus, key=lambda p: p.stat().st_size)
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) // 3) + 1
    before = data[:cut].count(b"\n")
    result = parse_file(str(path), start=cut, first_line=before + 1)
    tail = tmp_path / "tail.jsonl"
    tail.write_bytes(data[cut:])
    alone = parse_file(str(tail))
    assert result.entries and result.entries == alone.entries
    assert (result.start, result.offset - cut, result.lines) == (cut, alone.offset, alone.lines)
    assert [(n - before, p) for n, p in result.malformed] == alone.malformed


def test_empty_and_odd_files(tmp_path: Path) -> None:
    for name, data, lines, pending in (
        ("empty", b"", 0, 0),
        ("newlines", b"\n\n\n", 3, 0),
        ("no-newline", b'{"usage":1}', 0, 11),
        ("no-usage", b'{"type":"summary"}\n' * 50, 50, 0),
        ("binary", bytes(range(256)) * 4 + b"\n", 5, 0),
        ("usage-words", b'"usage" "usage"\n"usage"\n', 2, 0),
    ):
        result = parse_file(str(write_lines(tmp_path / f"{name}.jsonl", [data], end=b"")))
        assert (result.lines, result.pending_bytes, result.entries) == (lines, pending, []), name
        assert result.error is None
    missing = parse_file(str(tmp_path / "missing.jsonl"))
    assert missing.error == "No such file or directory" and missing.offset == 0


def test_hostile_lines_are_counted_never_raised(tmp_path: Path) -> None:
    lines = list(adversarial_lines())
    together = parse_file(str(write_lines(tmp_path / "adv.jsonl", lines)), compact=False)
    assert together.malformed and together.entries and together.tool_types
    outcomes = 0
    for i, line in enumerate(lines):
        alone = parse_file(str(write_lines(tmp_path / f"{i}.jsonl", [line])), compact=False)
        assert alone.lines == 1 and alone.error is None
        assert len(alone.entries) + len(alone.malformed) <= 1
        outcomes += len(alone.entries) + len(alone.malformed)
    assert outcomes == len(together.entries) + len(together.malformed)


def test_dedup_cases(tmp_path: Path) -> None:
    for name, lines in dedup_cases().items():
        path = write_lines(tmp_path / f"{name}.jsonl", list(lines))
        assert assert_compacted(path).duplicates > 0, name
    replaced = parse_file(str(tmp_path / "replaced-in-place.jsonl"))
    assert [(e.message_id, e.output_tokens) for e in replaced.entries] == [("m1", 9), ("m2", 10)]
    tie = parse_file(str(tmp_path / "tie.jsonl"))
    assert len(tie.entries) == 1 and tie.entries[0].ts_us % 86400_000_000 == 36000_000_000
    reordered = parse_file(str(tmp_path / "reordered.jsonl"))
    assert [(e.message_id, e.request_id, e.output_tokens) for e in reordered.entries] == [
        ("m1", "r1", 10),
        ("m1", "r2", 99),
        ("m1", "r3", 10),
        ("m2", "r1", 10),
        ("m2", "r2", 99),
        ("m3", "r1", 10),
        ("m4", "r1", 10),
    ]


@pytest.mark.parametrize("chunk", [700, 2500, 5000])
def test_dedup_across_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """Copies straddling read boundaries (a line is ~1.3 KB: at 2500 bytes nearly every line
    is a read of its own; at 700 every line spans reads)."""
    monkeypatch.setattr(parse, "CHUNK", chunk)
    lines = [line for case in dedup_cases().values() for line in case]
    assert_compacted(write_lines(tmp_path / "all.jsonl", list(lines)))
    random.Random(chunk).shuffle(lines)
    assert_compacted(write_lines(tmp_path / "shuffled.jsonl", list(lines)))


def test_dedup_corpus(corpus: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    duplicates = sum(assert_compacted(path).duplicates for path in corpus)
    assert duplicates > 100
    monkeypatch.setattr(parse, "CHUNK", 16 * 1024)  # many reads per file
    for path in corpus[::3]:
        assert_compacted(path)


def test_dedup_from_an_offset(corpus: list[Path]) -> None:
    path = max(corpus, key=lambda p: p.stat().st_size)
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    result = assert_compacted(path, start=cut, first_line=data[:cut].count(b"\n") + 1)
    assert result.entries and result.duplicates


@contextlib.contextmanager
def _tmp_file(lines: list[str | bytes]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        yield write_lines(Path(tmp) / "t.jsonl", lines)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_COPY_SPECS, min_size=1, max_size=14), st.sampled_from([1500, 4000, 10**6]))
def test_random_copies_are_deduplicated_as_deduper_does(specs: list[Any], chunk: int) -> None:
    lines: list[str | bytes] = [
        copy_line(mid, rid, side=side, progress=prog, out=out, escaped=esc, ts=ts)
        for mid, rid, side, prog, out, esc, ts in specs
    ]
    old = parse.CHUNK
    parse.CHUNK = chunk
    try:
        with _tmp_file(lines) as path:
            assert_compacted(path)
    finally:
        parse.CHUNK = old
