"""The native parser (C extension ``gearshift.ingest._scan``) gives exactly what the pure Python
path gives: on a generated corpus, on the reference lines, on adversarial lines and on random
mutations of real lines -- with and without a pricer, at any chunk size."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import pickle
import random
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gearshift.catalog import load_catalog
from gearshift.ingest import parse
from gearshift.ingest.parse import FileResult, parse_file_pure
from gearshift.ingest.pricing import EntryPricer
from gearshift.samples.claude_logs import generate_corpus

try:
    from gearshift.ingest import _scan
except ImportError:  # not built: every test here but the first two skips
    _scan = None  # type: ignore[assignment]

REFERENCE = Path(__file__).parents[1] / "data" / "claude_code" / "reference"
NOT_BUILT = (
    "the C extension gearshift.ingest._scan is not built "
    "(pip install -e . needs a C compiler and the Python headers)"
)
native = pytest.mark.skipif(_scan is None, reason=NOT_BUILT)

FIELDS = (
    "path",
    "start",
    "offset",
    "lines",
    "usage_lines",
    "entries",
    "malformed",
    "tool_types",
    "result_types",
    "result_tools",
    "pending_bytes",
    "duplicates",
    "fingerprint",
    "error",
    "interned",
    "projects",
)


def test_native_is_built_when_required() -> None:
    if os.environ.get("GEARSHIFT_REQUIRE_NATIVE") != "1":
        pytest.skip("GEARSHIFT_REQUIRE_NATIVE=1 is not set")
    assert _scan is not None, NOT_BUILT
    forced_pure = os.environ.get("GEARSHIFT_PURE_PYTHON", "") not in ("", "0")
    assert parse.NATIVE is not forced_pure


def test_native_flag() -> None:
    if _scan is None:
        pytest.skip(NOT_BUILT)
    forced = os.environ.get("GEARSHIFT_PURE_PYTHON", "") not in ("", "0")
    assert parse.NATIVE is not forced


@native
def test_pure_python_env_var_forces_the_pure_path() -> None:
    code = "from gearshift.ingest import parse; print(parse.NATIVE)"
    for value, want in (("1", "False"), ("0", "True"), ("", "True")):
        env = dict(os.environ, GEARSHIFT_PURE_PYTHON=value)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert out.stdout.strip() == want, out.stderr


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pricers() -> dict[str, EntryPricer]:
    catalog = load_catalog()
    return {mode: EntryPricer(catalog, mode) for mode in ("auto", "calculate", "display")}


def native_parse(path: str | Path, **kw: Any) -> FileResult:
    from gearshift.ingest.parse_native import parse_file_native

    return parse_file_native(str(path), **kw)


def assert_same(path: str | Path, **kw: Any) -> FileResult:
    """Parse ``path`` both ways; every field (and the pickled form) must be equal."""
    want = parse_file_pure(str(path), **kw)
    got = native_parse(path, **kw)
    for name in FIELDS:
        assert getattr(got, name) == getattr(want, name), f"{name} differs for {path}"
    for a, b in zip(got.entries, want.entries, strict=True):
        assert [type(x) for x in a] == [type(x) for x in b]
    again = pickle.loads(pickle.dumps(got))
    for name in FIELDS[:-2]:  # all but interned and projects, which are not pickled
        assert getattr(again, name) == getattr(want, name)
    return got


def assert_same_all_ways(path: Path, pricers: dict[str, EntryPricer]) -> FileResult:
    result = assert_same(path)
    for pricer in pricers.values():
        assert_same(path, pricer=pricer)
    return result


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


# --- the corpus and the reference ------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("native-corpus")
    generate_corpus(out, size_bytes=4_000_000, seed=5, ccusage_divergent=True)
    return sorted(out.rglob("*.jsonl"))


@native
def test_corpus_is_identical(corpus: list[Path], pricers: dict[str, EntryPricer]) -> None:
    entries = duplicates = 0
    for path in corpus:
        result = assert_same(path)
        entries += len(result.entries) + result.duplicates
        duplicates += result.duplicates
        assert_same(path, pricer=pricers["auto"])
    assert entries > 500 and duplicates > 100


@native
def test_corpus_other_cost_modes(corpus: list[Path], pricers: dict[str, EntryPricer]) -> None:
    for path in corpus[::5]:
        assert_same(path, pricer=pricers["calculate"])
        assert_same(path, pricer=pricers["display"])


@native
def test_corpus_lines_take_the_fast_path(corpus: list[Path]) -> None:
    """The fast path is what runs on real lines: every usage line of the corpus is accepted."""
    seen = 0
    for path in corpus[:40]:
        for line in path.read_bytes().split(b"\n"):
            if b'"usage"' in line and line.endswith(b"}"):
                seen += 1
                assert _scan.fast_path(line), line[:200]
    assert seen > 100


@native
def test_reference_lines(tmp_path: Path, pricers: dict[str, EntryPricer]) -> None:
    for path in sorted(REFERENCE.rglob("*.jsonl")):
        assert_same_all_ways(path, pricers)
    lines = [*reference_lines(), dumps(PROGRESS)]
    result = assert_same_all_ways(write_lines(tmp_path / "ref.jsonl", lines), pricers)
    # PROGRESS is the progress copy of SUBAGENT's response: the subagent's own line is kept
    assert len(result.entries) == 4 and result.duplicates == 1
    assert result.tool_types and result.result_tools


@native
def test_corpus_parsed_in_two_threads(corpus: list[Path], pricers: dict[str, EntryPricer]) -> None:
    pricer = pricers["auto"]
    want = [parse_file_pure(str(p), pricer=pricer) for p in corpus]
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(lambda p: native_parse(p, pricer=pricer), corpus))
    for a, b in zip(got, want, strict=True):
        assert (a.entries, a.malformed, a.tool_types) == (b.entries, b.malformed, b.tool_types)


@native
def test_incremental_parse_from_an_offset(corpus: list[Path]) -> None:
    path = max(corpus, key=lambda p: p.stat().st_size)
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) // 3) + 1
    first_line = data[:cut].count(b"\n") + 1
    result = assert_same(path, start=cut, first_line=first_line)
    assert result.entries and result.start == cut


# --- adversarial lines -------------------------------------------------------------------------


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


@native
def test_adversarial_lines_one_file(tmp_path: Path, pricers: dict[str, EntryPricer]) -> None:
    lines = list(adversarial_lines())
    result = assert_same_all_ways(write_lines(tmp_path / "adv.jsonl", lines), pricers)
    assert result.malformed and result.entries and result.tool_types


@native
def test_adversarial_lines_each_alone(tmp_path: Path, pricers: dict[str, EntryPricer]) -> None:
    """One line per file: nothing carries over (interned strings, cached projects, caches)."""
    for i, line in enumerate(adversarial_lines()):
        path = write_lines(tmp_path / f"{i}.jsonl", [line])
        assert_same(path)
        assert_same(path, pricer=pricers["auto"])


@native
def test_fast_path_rejects_what_it_cannot_be_sure_of() -> None:
    raw = dumps(ASSISTANT)
    assert _scan.fast_path(raw.encode())
    assert _scan.fast_path(b" \t" + raw.encode() + b"\r ")
    for old, new in (
        ('"cwd":"/home/dev/acme-api"', '"cwd":"a\\"b"'),  # an escape in an extracted string
        ('"type":"assistant"', '"type":"assistant","type":"assistant"'),  # a repeated key
        ('"type":"assistant"', '"t\\u0079pe":"assistant"'),  # an escaped key
        ('"input_tokens":2', '"input_tokens":-2'),
        ('"input_tokens":2', '"input_tokens":2.0'),
        ('"input_tokens":2', '"input_tokens":1000000000000000000'),
        ('"isSidechain":false', '"isSidechain":0'),
        ('"caller":{"type":"direct"}', '"caller":' + "[" * 80 + "]" * 80),
    ):
        assert not _scan.fast_path(raw.replace(old, new, 1).encode()), new
    assert not _scan.fast_path(raw.replace("acme-api", "\udcff").encode("utf-8", "surrogateescape"))
    assert _scan.fast_path(raw.replace("Locate", "caf\u00e9 \U0001f600").encode())
    assert _scan.fast_path(raw.replace("Locate", 'say \\"hi\\" \\u00e9\\n').encode())


# --- chunks, line ends, torn lines -------------------------------------------------------------


@native
@pytest.mark.parametrize("chunk", [16, 64, 333, 1024, 4096])
def test_chunk_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pricers: dict[str, EntryPricer], chunk: int
) -> None:
    monkeypatch.setattr(parse, "CHUNK", chunk)
    lines: list[str | bytes] = [dumps(b) for b in BASES.values()]
    filler = '{"type":"file-history-snapshot","x":"' + "y" * 100 + '"}'
    lines += [filler, "", dumps(ASSISTANT).replace("Locate", "z" * (3 * chunk)), filler]
    # a usage line that fills exactly one chunk with its newline
    base = dumps(SUBAGENT)
    pad = chunk - len(base) - 1 - len(',"p":""')
    if pad >= 0:
        lines.append(base[:-1] + ',"p":"' + "q" * pad + '"}')
    path = write_lines(tmp_path / "c.jsonl", lines)
    assert_same(path)
    assert_same(path, pricer=pricers["auto"])
    for torn in (1, 10, 200):  # a last line still being written
        data = path.read_bytes() + dumps(ASSISTANT).encode()[:torn]
        (tmp_path / "torn.jsonl").write_bytes(data)
        result = assert_same(tmp_path / "torn.jsonl")
        assert result.pending_bytes == torn
    crlf = write_lines(tmp_path / "crlf.jsonl", lines, end=b"\r\n")
    assert_same(crlf, pricer=pricers["auto"])


@native
def test_exact_chunk_and_longer_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pricers: dict[str, EntryPricer]
) -> None:
    base = dumps(ASSISTANT)
    for chunk in range(len(base) - 3, len(base) + 4):
        monkeypatch.setattr(parse, "CHUNK", chunk)
        for count in (1, 2, 3):
            path = write_lines(tmp_path / f"{chunk}-{count}.jsonl", [base] * count)
            result = assert_same(path, pricer=pricers["auto"])
            assert (len(result.entries), result.duplicates) == (1, count - 1)
            path.write_bytes(path.read_bytes()[:-1])  # no final newline
            assert assert_same(path).pending_bytes == len(base)


@native
def test_fingerprint_from_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file several buffers long: the fingerprint hashed from the bytes kept in memory equals
    the one read back from the file."""
    from gearshift.ingest import parse_native

    filler = '{"type":"file-history-snapshot","x":"' + "y" * 5000 + '"}'
    path = write_lines(tmp_path / "big.jsonl", [*[dumps(b) for b in BASES.values()], filler] * 150)
    want = parse_file_pure(str(path))

    def read_back(*_: object) -> str:
        raise AssertionError("the fingerprint was read back from the file")

    monkeypatch.setattr(parse_native.os, "pread", read_back)
    for chunk in (128 * 1024, 300_000, parse.CHUNK):
        monkeypatch.setattr(parse, "CHUNK", chunk)
        got = native_parse(path)
        assert (got.fingerprint, got.entries, got.lines) == (
            want.fingerprint,
            want.entries,
            want.lines,
        )


@native
@pytest.mark.parametrize("appended", [1, 3, 40, 400])
def test_fingerprint_of_a_file_parsed_from_an_offset(tmp_path: Path, appended: int) -> None:
    """Parsed from an offset, the head of the file and (after a short append) the bytes before
    the offset are read from the open file: the fingerprint is the one read back whole."""
    from gearshift.ingest.fingerprint import fingerprint

    lines = [dumps(b) for b in BASES.values()] * 60
    path = write_lines(tmp_path / "a.jsonl", lines)
    first = native_parse(path)
    with path.open("ab") as fh:
        fh.write(b"".join(line.encode() + b"\n" for line in lines[:appended]))
    again = native_parse(path, start=first.offset, first_line=first.lines + 1)
    assert again.offset == path.stat().st_size
    assert again.fingerprint == fingerprint(str(path), again.offset)
    assert len(again.entries) == len(parse_file_pure(str(path), first.offset).entries)


@native
def test_empty_and_odd_files(tmp_path: Path) -> None:
    for name, data in (
        ("empty", b""),
        ("newlines", b"\n\n\n"),
        ("no-newline", b'{"usage":1}'),
        ("no-usage", b'{"type":"summary"}\n' * 50),
        ("binary", bytes(range(256)) * 4 + b"\n"),
        ("usage-words", b'"usage" "usage"\n"usage"\n'),
    ):
        assert_same(write_lines(tmp_path / f"{name}.jsonl", [data], end=b""))
    missing = native_parse(tmp_path / "missing.jsonl")
    assert missing.error and missing.error == parse_file_pure(str(tmp_path / "missing.jsonl")).error


# --- timestamps and pricing --------------------------------------------------------------------


def _python_ts(text: str) -> int:
    return (parse._timestamp(text) - parse._EPOCH) // parse._ONE_US


@native
@given(
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    st.integers(0, 7),
)
def test_timestamps_equal_fromisoformat(when: dt.datetime, digits: int) -> None:
    text = f"{when.year:04d}-{when:%m-%dT%H:%M:%S}"
    if digits:
        text += "." + f"{when.microsecond:06d}{when.microsecond % 10}"[:digits]
    text += "Z"
    got = _scan.parse_timestamp(text.encode())
    if got is not None:
        assert got == _python_ts(text)
    else:
        assert digits > 6


@native
@given(st.text(alphabet="0123456789-:TZ.tz+ ", max_size=30))
def test_timestamp_parser_never_disagrees(text: str) -> None:
    got = _scan.parse_timestamp(text.encode())
    if got is not None:
        assert got == _python_ts(text)


@native
def test_price_cards_match_the_pricer(pricers: dict[str, EntryPricer]) -> None:
    from gearshift.ingest.parse_native import _card, _card_price

    rng = random.Random(3)
    catalog = load_catalog()
    names = [*catalog.models, "gpt-5", "", "<synthetic>", "opus", "claude-sonnet-4-5"]
    for mode, pricer in pricers.items():
        for name in names:
            for day in (19000, 20300, 20700, 20900):
                for fast in (False, True):
                    card = _card(pricer, name, day, fast, False)
                    assert card is not None, (mode, name, day, fast)
                    when = parse._EPOCH + dt.timedelta(days=day, hours=13)
                    for _ in range(20):
                        tokens = tuple(rng.choice((0, 1, rng.randrange(10**6))) for _ in range(5))
                        want = pricer.price(name, when, tokens, fast, None, False)  # type: ignore[arg-type]
                        if card[0] == "c":
                            assert card[1:] == want
                        else:
                            assert _card_price(card, tokens) == want  # type: ignore[arg-type]


@native
def test_price_cards_are_made_once_per_price_period(monkeypatch: pytest.MonkeyPatch) -> None:
    """A card is checked once per (model, price period) and handed out for the period's other
    days; a day in the next period gets that period's own card, and each day's card prices
    exactly as the pricer does on that day."""
    from gearshift.ingest import parse_native

    made: list[tuple[str, dt.datetime]] = []
    make = parse_native._make_card

    def counting(pricer: EntryPricer, name: str, when: dt.datetime, *rest: object) -> object:
        made.append((name, when))
        return make(pricer, name, when, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(parse_native, "_make_card", counting)
    pricer = EntryPricer(load_catalog(), "auto")
    model = pricer.catalog.find("claude-sonnet-5-5")
    assert model is not None and len(model.periods) == 2  # the bundled prices change on 10-07
    boundary = (model.periods[1].since - dt.date(1970, 1, 1)).days
    days = range(boundary - 20, boundary + 20)
    rng = random.Random(5)
    for day in days:
        card = parse_native._card(pricer, "claude-sonnet-5-5", day, False, False)
        assert card is not None and card[0] == "r"
        when = parse._EPOCH + dt.timedelta(days=day, hours=23)
        for _ in range(10):
            tokens = tuple(rng.randrange(10**6) for _ in range(5))
            want = pricer.price("claude-sonnet-5-5", when, tokens, False, None, False)  # type: ignore[arg-type]
            assert parse_native._card_price(card, tokens) == want  # type: ignore[arg-type]
    assert [w.date() for _, w in made] == [
        dt.date(1970, 1, 1) + dt.timedelta(days=boundary - 20),
        model.periods[1].since,
    ]
    for day in days:  # API errors and unknown models: one card each, whatever the day
        assert parse_native._card(pricer, "<synthetic>", day, False, True) is not None
        assert parse_native._card(pricer, "gpt-5", day, False, False) is not None
    assert len(made) == 4
    fast = parse_native._card(pricer, "claude-opus-4-6", 20600, True, False)
    assert fast is not None and fast[7:] == (6, 1)


@native
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "claude-opus-4-6",
                    "claude-sonnet-4-20250514",
                    "claude-sonnet-4-5-20250929",
                    "claude-opus-5",
                    "claude-haiku-4-5-20251001",
                    "gpt-5",
                    "<synthetic>",
                ]
            ),
            st.lists(st.integers(0, 400_000), min_size=5, max_size=5),
            st.sampled_from([None, "fast", "standard"]),
            st.sampled_from(
                ["2025-06-01T00:00:00Z", "2026-08-24T23:59:59.999Z", "2026-03-01T01:00:00+03:00"]
            ),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_random_usage_is_priced_identically(rows: list[Any]) -> None:
    pricer = EntryPricer(load_catalog(), "auto")
    lines = []
    for model, (i, o, w5, w1, r), speed, ts, split in rows:
        line = copy.deepcopy(ASSISTANT)
        usage = line["message"]["usage"]
        usage.update(input_tokens=i, output_tokens=o, cache_read_input_tokens=r)
        usage["cache_creation_input_tokens"] = w5 + w1
        if split:
            usage["cache_creation"] = {
                "ephemeral_5m_input_tokens": w5,
                "ephemeral_1h_input_tokens": w1,
            }
        else:
            del usage["cache_creation"]
        if speed is None:
            del usage["speed"]
        else:
            usage["speed"] = speed
        line["message"]["model"] = model
        line["timestamp"] = ts
        lines.append(dumps(line))
    with _tmp_file(lines) as path:
        assert_same(path, pricer=pricer)


# --- random mutations of real lines -------------------------------------------------------------


class _tmp_file:
    """A throwaway file (hypothesis examples cannot use the function-scoped tmp_path)."""

    def __init__(self, lines: list[str | bytes]) -> None:
        import tempfile

        fd, name = tempfile.mkstemp(suffix=".jsonl")
        os.close(fd)
        self.path = write_lines(Path(name), lines)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self.path.unlink()


def _sample_lines() -> list[bytes]:
    out = [dumps(b).encode() for b in BASES.values()]
    return out + [x.encode() for x in reference_lines()]


SAMPLES = _sample_lines()
TOKENS = [
    b'"',
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"-",
    b"1e5",
    b".",
    b" ",
    b"\\u",
    b"\\ud800",
    b'"usage"',
    b"\xff",
    b"\xc3",
    b"\xe9",
    b"\x00",
    b"\r",
    b"true",
]


def _mutate(line: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    data = bytearray(line)
    for kind, where, what in ops:
        if not data:
            break
        at = where % len(data)
        if kind == 0:  # flip a byte
            data[at] ^= 1 << (what % 8)
        elif kind == 1:  # truncate
            del data[at:]
        elif kind == 2:  # insert a token
            data[at:at] = TOKENS[what % len(TOKENS)]
        elif kind == 3:  # delete a run
            del data[at : at + 1 + what % 8]
        else:  # replace a byte
            data[at] = what % 256
    return bytes(data).replace(b"\n", b" ")


@native
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(SAMPLES) - 1),
            st.lists(
                st.tuples(st.integers(0, 4), st.integers(0, 10**6), st.integers(0, 255)), max_size=4
            ),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_lines_are_parsed_identically(
    picks: list[tuple[int, list[tuple[int, int, int]]]],
) -> None:
    lines: list[str | bytes] = [_mutate(SAMPLES[i], ops) for i, ops in picks]
    with _tmp_file(lines) as path:
        assert_same(path)
        assert_same(path, pricer=_AUTO)


_AUTO = EntryPricer(load_catalog(), "auto")


@native
def test_mutated_corpus_lines(corpus: list[Path]) -> None:
    """Byte flips in many real lines at once (a seeded sweep, wider than hypothesis runs)."""
    rng = random.Random(11)
    real = [
        line
        for path in corpus[:30]
        for line in path.read_bytes().split(b"\n")
        if b'"usage"' in line
    ][:400]
    lines: list[str | bytes] = []
    for line in real:
        ops = [
            (rng.randrange(5), rng.randrange(10**6), rng.randrange(256))
            for _ in range(rng.randrange(1, 3))
        ]
        lines.append(_mutate(line, ops))
    with _tmp_file(lines) as path:
        result = assert_same(path, pricer=_AUTO)
    assert result.malformed


# --- deduplication within the file ---------------------------------------------------------------
#
# Both paths return the entries of a file deduplicated by the rules of ``Deduper`` and in the order
# of its ``kept()``: the reference is ``Deduper`` applied to the entries parsed without compaction.


def dedup_reference(entries: list[parse.Entry]) -> tuple[list[parse.Entry], int]:
    from gearshift.ingest.dedup import Deduper

    local = Deduper()
    local.add(entries, 0)
    return [slot[0] for slot in local.kept()], local.duplicates


PARSERS = ["pure", pytest.param("native", marks=native)]


def parse_with(how: str, path: str | Path, **kw: Any) -> FileResult:
    if how == "pure":
        return parse_file_pure(str(path), **kw)
    return native_parse(path, **kw)


def assert_compacted(path: str | Path, how: str, **kw: Any) -> FileResult:
    """The compacted result is the raw one with its entries deduplicated as ``Deduper`` does;
    every other field (usage lines, tool calls and results, malformed lines...) is unchanged."""
    raw = parse_with(how, path, compact=False, **kw)
    got = parse_with(how, path, **kw)
    assert raw.duplicates == 0
    entries, duplicates = dedup_reference(raw.entries)
    assert got.entries == entries, f"entries differ from the Deduper reference for {path}"
    assert got.duplicates == duplicates
    for name in FIELDS:
        if name not in ("entries", "duplicates"):
            assert getattr(got, name) == getattr(raw, name), f"{name} differs for {path}"
    if how == "native":
        assert_same(path, **kw)  # and the same as the pure path, compacted or not
        want = parse_file_pure(str(path), compact=False, **kw)
        for name in FIELDS:
            assert getattr(raw, name) == getattr(want, name), f"raw {name} differs for {path}"
    return got


_MISSING = object()


def copy_line(
    mid: str | None,
    rid: object = "r1",
    *,
    side: bool = False,
    progress: bool = False,
    out: int = 10,
    ts: str = "2026-08-24T10:15:02.000Z",
    slow: bool = False,
    cwd: str = "/home/dev/acme-api",
) -> str:
    """A usage line of response ``mid`` (None: no message.id); ``rid=_MISSING`` leaves out the
    requestId; ``slow`` makes it a line the C parser hands to msgspec (same values)."""
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
    if slow:  # an escape in an extracted string: "\u0037d3f..." is "7d3f..."
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
        # lines msgspec decodes, duplicates of fast ones and the other way round, interleaved
        "fallback": [
            c("m1", out=5),
            c("m1", out=9, slow=True),
            c("m2", slow=True),
            c("m2", out=3),
            c("m3", "r1", slow=True),
            c("m4", "r1"),
            c("m3", "r2"),
            c("m3", "r2", out=77, slow=True),
            c("m4", "r1", side=True, slow=True),
            c("m5", "r1", progress=True, slow=True),
            c("m5", "r2", side=True),
        ],
        # not entries at all: no message.id, tokens out of range, an unparsable line
        "rejected": [
            c(None),
            c("m1"),
            c("m1", out=10**11),
            c("m1", out=10**11, slow=True),
            c(None, slow=True),
            c("m1", out=4, slow=True)[:-3],
            c("m1", out=12),
        ],
        # a losing copy's cwd still maps to its project, as the pure path does it
        "losers-intern": [c("m1", out=9), c("m1", cwd="/srv/other"), c("m1", slow=True, cwd="/x")],
    }


@native
def test_dedup_cases_take_both_paths() -> None:
    """The "slow" copies really go to msgspec, the others really do not."""
    for lines in dedup_cases().values():
        for line in lines:
            if line.endswith("}"):
                assert _scan.fast_path(line.encode()) is ("\\u00" not in line), line[:80]


@pytest.mark.parametrize("how", PARSERS)
def test_dedup_cases(tmp_path: Path, how: str, pricers: dict[str, EntryPricer]) -> None:
    for name, lines in dedup_cases().items():
        path = write_lines(tmp_path / f"{name}.jsonl", list(lines))
        result = assert_compacted(path, how)
        assert result.duplicates > 0, name
        assert_compacted(path, how, pricer=pricers["auto"])
    replaced = parse_with(how, tmp_path / "replaced-in-place.jsonl")
    assert [(e.message_id, e.output_tokens) for e in replaced.entries] == [("m1", 9), ("m2", 10)]
    tie = parse_with(how, tmp_path / "tie.jsonl")
    assert len(tie.entries) == 1 and tie.entries[0].ts_us % 86400_000_000 == 36000_000_000
    reordered = parse_with(how, tmp_path / "reordered.jsonl")
    assert [(e.message_id, e.request_id, e.output_tokens) for e in reordered.entries] == [
        ("m1", "r1", 10),
        ("m1", "r2", 99),
        ("m1", "r3", 10),
        ("m2", "r1", 10),
        ("m2", "r2", 99),
        ("m3", "r1", 10),
        ("m4", "r1", 10),
    ]


@pytest.mark.parametrize("how", PARSERS)
@pytest.mark.parametrize("chunk", [700, 2500, 5000])
def test_dedup_across_buffers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, chunk: int
) -> None:
    """Copies straddling buffer boundaries (a line is ~1.3 KB: at 2500 bytes nearly every line
    is a buffer of its own; at 700 every line grows the buffer)."""
    monkeypatch.setattr(parse, "CHUNK", chunk)
    lines = [line for case in dedup_cases().values() for line in case]
    assert_compacted(write_lines(tmp_path / "all.jsonl", list(lines)), how)
    rng = random.Random(chunk)
    rng.shuffle(lines)
    assert_compacted(write_lines(tmp_path / "shuffled.jsonl", list(lines)), how)


@pytest.mark.parametrize("how", PARSERS)
def test_dedup_corpus(
    corpus: list[Path], monkeypatch: pytest.MonkeyPatch, how: str, pricers: dict[str, EntryPricer]
) -> None:
    duplicates = 0
    for path in corpus:
        duplicates += assert_compacted(path, how).duplicates
    assert duplicates > 100
    monkeypatch.setattr(parse, "CHUNK", 16 * 1024)  # many buffers per file
    for path in corpus[::3]:
        assert_compacted(path, how, pricer=pricers["auto"])


@pytest.mark.parametrize("how", PARSERS)
def test_dedup_from_an_offset(corpus: list[Path], how: str) -> None:
    path = max(corpus, key=lambda p: p.stat().st_size)
    data = path.read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 1
    result = assert_compacted(path, how, start=cut, first_line=data[:cut].count(b"\n") + 1)
    assert result.entries and result.duplicates


_COPY_SPECS = st.tuples(
    st.sampled_from(["m1", "m2", "m3", None]),
    st.sampled_from(["r1", "r2", "", None, _MISSING]),
    st.booleans(),
    st.booleans(),
    st.sampled_from([5, 6, 10**11]),
    st.booleans(),
    st.sampled_from(["2026-08-24T10:00:00Z", "2026-08-24T11:00:00Z"]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_COPY_SPECS, min_size=1, max_size=14), st.sampled_from([1500, 4000, 10**6]))
def test_random_copies_are_deduplicated_as_deduper_does(specs: list[Any], chunk: int) -> None:
    lines: list[str | bytes] = [
        copy_line(mid, rid, side=side, progress=prog, out=out, slow=slow, ts=ts)
        for mid, rid, side, prog, out, slow, ts in specs
    ]
    old = parse.CHUNK
    parse.CHUNK = chunk
    try:
        with _tmp_file(lines) as path:
            for how in ("pure", "native") if _scan is not None else ("pure",):
                assert_compacted(path, how)
    finally:
        parse.CHUNK = old


@native
def test_scanner_dedup_state() -> None:
    from gearshift.ingest.parse_native import _scanner

    result = FileResult(path="x", start=0)
    result.entries.append(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="start empty"):
        _scanner(result, None, lambda raw, n: None, True)
    _scanner(result, None, lambda raw, n: None, False)  # without dedup anything goes
    result.entries.clear()
    scanner = _scanner(result, None, lambda raw, n: None, True)
    data = "".join(copy_line(m, r) + "\n" for m, r in [("a", "1"), ("b", "1"), ("a", "2")])
    buf = data.encode()
    keys = lambda: [f"{e.message_id}{e.request_id}" for e in result.entries]  # noqa: E731
    assert scanner.scan(buf, 0, len(buf), 0) == 3
    assert keys() == ["a1", "b1", "a2"]  # in line order until finish()
    assert scanner.finish() == 0 and scanner.duplicates == 0
    assert keys() == ["a1", "a2", "b1"]
    assert scanner.scan(buf, 0, len(buf), 3) == 6  # the same lines again: all copies
    assert scanner.finish() == 3 and len(result.entries) == 3


@native
def test_repeated_parses_do_not_leak(tmp_path: Path, pricers: dict[str, EntryPricer]) -> None:
    """Parsing the same file again and again (copies dropped, replaced, taken back from the
    fallback, reordered) holds no more memory blocks than the first time."""
    import gc

    lines = [line for case in dedup_cases().values() for line in case]
    path = write_lines(tmp_path / "leak.jsonl", list(lines))
    pricer = pricers["auto"]

    def run(times: int) -> None:
        for _ in range(times):
            native_parse(path, pricer=pricer)
            native_parse(path)

    run(150)  # warm caches (rate cards, interned strings, the thread's buffer)
    gc.collect()
    before = sys.getallocatedblocks()
    run(300)
    gc.collect()
    # A block lost a parse would be 600; free lists (tuples) still fill up by ~150 (bounded).
    assert sys.getallocatedblocks() - before < 300
    result = native_parse(path, pricer=pricer)
    assert result.duplicates > 0
    # each entry is held by the list (and getrefcount's argument) only
    counts = {sys.getrefcount(result.entries[i]) for i in range(len(result.entries))}
    assert counts == {2}
