"""The claude-code provider, run against a fake ``claude`` script written into tmp_path."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gearshift.errors import Overloaded, ProviderError, ProviderTimeout, RateLimited
from gearshift.providers import ModelRequest
from gearshift.providers.claude_code import ClaudeCodeProvider, parse_result

RESULT = (
    '{"type":"result","subtype":"success","is_error":false,"duration_ms":74096,'
    '"duration_api_ms":71152,"num_turns":15,"result":"Done. Added rate limiting to /api/*.",'
    '"stop_reason":"end_turn","session_id":"22795ca6-8222-4620-91dd-3001deaf3378",'
    '"total_cost_usd":0.2416735,"usage":{"input_tokens":18,"cache_creation_input_tokens":14760,'
    '"cache_read_input_tokens":169817,"output_tokens":2577,"server_tool_use":'
    '{"web_search_requests":0,"web_fetch_requests":0},"service_tier":"standard","cache_creation":'
    '{"ephemeral_1h_input_tokens":760,"ephemeral_5m_input_tokens":14000},"inference_geo":"",'
    '"iterations":[],"speed":"standard"},"modelUsage":{"claude-opus-4-6":{"inputTokens":18,'
    '"outputTokens":2577,"cacheReadInputTokens":169817,"cacheCreationInputTokens":14760,'
    '"webSearchRequests":0,"costUSD":0.2316735,"contextWindow":200000,"maxOutputTokens":64000},'
    '"claude-haiku-4-5":{"inputTokens":900,"outputTokens":100,"cacheReadInputTokens":0,'
    '"cacheCreationInputTokens":0,"webSearchRequests":0,"costUSD":0.01,"contextWindow":200000,'
    '"maxOutputTokens":64000}},"permission_denials":[],"fast_mode_state":"off",'
    '"terminal_reason":"completed","uuid":"733cdb5d-5183-4249-9882-744a929d52ad"}'
)

SCRIPT = textwrap.dedent(
    """\
    #!{python}
    import json, os, sys, time
    log = os.environ["FAKE_CLAUDE_LOG"]
    prompt = sys.stdin.read()
    with open(log, "w") as fh:
        json.dump({{"argv": sys.argv[1:], "stdin": prompt}}, fh)
    mode = os.environ.get("FAKE_CLAUDE_MODE", "ok")
    if mode == "ok":
        print({result!r})
    elif mode == "api_429":
        print(json.dumps({{"type": "result", "subtype": "success", "is_error": True,
                          "api_error_status": 429, "result": "API Error: 429 rate limited"}}))
    elif mode == "api_529":
        print(json.dumps({{"type": "result", "subtype": "success", "is_error": True,
                          "api_error_status": 529, "result": "API Error: overloaded"}}))
    elif mode == "max_turns":
        print(json.dumps({{"type": "result", "subtype": "error_max_turns", "is_error": True}}))
    elif mode == "garbage":
        print("this is not json")
    elif mode == "silent_crash":
        sys.stderr.write("boom: cannot start\\n")
        sys.exit(3)
    elif mode == "sleep":
        time.sleep(30)
    """
)


@pytest.fixture
def claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "claude"
    script.write_text(SCRIPT.format(python=sys.executable, result=RESULT))
    script.chmod(0o755)
    monkeypatch.setenv("FAKE_CLAUDE_LOG", str(tmp_path / "log.json"))
    return script


def run(provider: ClaudeCodeProvider, request: ModelRequest) -> Any:
    return asyncio.run(provider.complete(request))


def logged(claude: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((claude.parent / "log.json").read_text())
    return data


def test_parses_the_result_object(claude: Path) -> None:
    provider = ClaudeCodeProvider(binary=str(claude))
    result = run(provider, ModelRequest.user("Add rate limiting", model="opus"))
    assert result.text == "Done. Added rate limiting to /api/*."
    assert result.reported_cost_usd == Decimal("0.2416735")  # exact, never a float
    assert result.model == "claude-opus-4-6"  # the costliest model in modelUsage
    assert result.usage.input_tokens == 18
    assert result.usage.cache_write_5m_tokens == 14000
    assert result.usage.cache_write_1h_tokens == 760
    assert result.usage.cache_read_tokens == 169817
    assert result.usage.output_tokens == 2577
    assert result.usage.geo is None
    assert set(result.by_model) == {"claude-opus-4-6", "claude-haiku-4-5"}
    assert result.by_model["claude-haiku-4-5"].input_tokens == 900
    assert result.latency_ms == 74096
    assert result.request_id == "22795ca6-8222-4620-91dd-3001deaf3378"
    assert result.provider == "claude-code"


def test_command_line_and_stdin(claude: Path) -> None:
    agents = {"reviewer": {"description": "Reviews code", "prompt": "Review.", "model": "haiku"}}
    provider = ClaudeCodeProvider(binary=str(claude), extra_args=["--max-turns", "3"])
    request = ModelRequest.user(
        "Review the diff",
        model="sonnet",
        system="Be terse.",
        agents=agents,
        metadata={"agent": "reviewer"},
    )
    run(provider, request)
    seen = logged(claude)
    argv = seen["argv"]
    assert argv[:6] == [
        "-p",
        "--model",
        "sonnet",
        "--output-format",
        "json",
        "--append-system-prompt",
    ]
    assert argv[6] == "Be terse."
    assert json.loads(argv[argv.index("--agents") + 1]) == agents
    assert argv[argv.index("--agent") + 1] == "reviewer"
    assert argv[-2:] == ["--max-turns", "3"]
    assert seen["stdin"] == "Review the diff"


def test_binary_from_environment(claude: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEARSHIFT_CLAUDE_BIN", str(claude))
    assert ClaudeCodeProvider().binary == str(claude)
    assert run(ClaudeCodeProvider(), ModelRequest.user("hi", model="haiku")).text.startswith("Done")


@pytest.mark.parametrize(("mode", "error"), [("api_429", RateLimited), ("api_529", Overloaded)])
def test_api_errors_map_like_the_api(claude, monkeypatch, mode: str, error: type) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", mode)
    with pytest.raises(error):
        run(ClaudeCodeProvider(binary=str(claude)), ModelRequest.user("hi", model="haiku"))


@pytest.mark.parametrize("mode", ["max_turns", "garbage", "silent_crash"])
def test_other_failures_are_not_retryable(claude, monkeypatch, mode: str) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", mode)
    with pytest.raises(ProviderError) as caught:
        run(ClaudeCodeProvider(binary=str(claude)), ModelRequest.user("hi", model="haiku"))
    assert caught.value.retryable is False
    if mode == "silent_crash":
        assert "boom" in (caught.value.hint or "")


def test_timeout_kills_the_process(claude: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CLAUDE_MODE", "sleep")
    provider = ClaudeCodeProvider(binary=str(claude), timeout=0.5)
    with pytest.raises(ProviderTimeout):
        run(provider, ModelRequest.user("hi", model="haiku"))


def test_missing_binary(tmp_path: Path) -> None:
    provider = ClaudeCodeProvider(binary=str(tmp_path / "nope"))
    with pytest.raises(ProviderError) as caught:
        run(provider, ModelRequest.user("hi", model="haiku"))
    assert "GEARSHIFT_CLAUDE_BIN" in (caught.value.hint or "")


def test_multi_turn_prompt_is_a_transcript(claude: Path) -> None:
    request = ModelRequest(
        model="haiku",
        messages=(
            {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "A1"},
            {"role": "user", "content": [{"type": "text", "text": "Q2"}]},
        ),
    )
    run(ClaudeCodeProvider(binary=str(claude)), request)
    assert logged(claude)["stdin"] == "User: Q1\n\nAssistant: A1\n\nUser: Q2"


def test_parse_result_accepts_stream_json_and_verbose_arrays() -> None:
    lines = '{"type":"system","subtype":"init"}\n' + RESULT + "\n"
    assert parse_result(lines)["total_cost_usd"] == Decimal("0.2416735")
    array = json.dumps([{"type": "system"}, {"type": "result", "result": "x", "total_cost_usd": 1}])
    assert parse_result(array)["result"] == "x"
    with pytest.raises(ProviderError):
        parse_result('{"type":"assistant"}')


def test_count_tokens_is_an_estimate() -> None:
    request = ModelRequest.user("x" * 80, model="haiku")
    assert asyncio.run(ClaudeCodeProvider(binary="claude").count_tokens(request)) == 20
