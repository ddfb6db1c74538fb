"""Claude Code's requests through a real proxy to the fake API: relayed faithfully, recorded."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx2
import pytest

from gearshift.ledger.record import FLAG_ESTIMATED
from gearshift.testing.fake_anthropic import FakeAnthropic, Fault, claude_code_events

from .conftest import CC_HEADERS, SESSION, ProxyFactory, RunningProxy, post, turn

_IDS = re.compile(rb"req_fake_\d+")


def _direct(client: httpx2.Client, fake: FakeAnthropic, body: dict[str, object]) -> bytes:
    response = client.post(
        f"{fake.base_url}/v1/messages?beta=true",
        content=json.dumps(body).encode(),
        headers={**CC_HEADERS, "content-type": "application/json"},
    )
    return response.content


def test_a_streamed_turn_with_thinking_and_tool_use_is_relayed_byte_for_byte(
    proxy: RunningProxy, fake: FakeAnthropic, client: httpx2.Client
) -> None:
    fake.stream_events = claude_code_events
    body = turn()
    via = post(client, proxy, body)
    direct = _direct(client, fake, body)
    assert via.status_code == 200
    assert via.headers["content-type"] == "text/event-stream"
    assert _IDS.sub(b"ID", via.content) == _IDS.sub(b"ID", direct)
    events = re.findall(rb"^event: (\w+)$", via.content, re.M)
    assert events[0] == b"message_start" and events[-1] == b"message_stop"
    assert b"signature_delta" in via.content and b"input_json_delta" in via.content
    # every anthropic-* header verbatim, unknown Claude Code headers kept, nothing of ours
    sent = fake.requests[0].headers
    assert sent["anthropic-beta"] == CC_HEADERS["anthropic-beta"]
    assert sent["x-claude-code-future-header"] == "kept"
    assert sent["x-api-key"] == CC_HEADERS["x-api-key"]
    assert not any(name.startswith("x-gearshift") for name in sent)
    assert fake.bodies()[0] == body  # not one field changed
    assert via.headers["x-gearshift-served-model"] == "claude-opus-4-8"
    for name in ("request-id", "anthropic-ratelimit-requests-remaining"):
        assert name in via.headers


def test_the_turn_is_recorded_once_with_its_usage_and_attribution(
    proxy: RunningProxy, fake: FakeAnthropic, client: httpx2.Client, tmp_path: Path
) -> None:
    fake.stream_events = claude_code_events
    response = post(client, proxy, turn())
    [row] = proxy.rows()
    assert (row.source, row.status, row.agent, row.session) == ("proxy", "success", "main", SESSION)
    assert row.model == "claude-opus-4-8" and row.tier == "opus"
    assert row.output_tokens > 40  # the final message_delta's cumulative count, not the first
    assert row.cost_nanos > 0 and row.price_version.startswith("anthropic@")
    assert row.tags["request_id"] == response.headers["request-id"]
    assert row.tags["cc_version"] == "2.1.280"
    assert row.tags["requested_model"] == "claude-opus-4-8"
    assert int(row.tags["ttft_ms"]) <= int(row.latency_ms or 0)
    assert len(row.tags["credential"]) == 16
    assert row.dedup_key is not None and row.dedup_key.endswith("|m")
    assert not row.flags & FLAG_ESTIMATED
    # the credential is nowhere in the ledger
    raw = (tmp_path / "ledger.db").read_bytes()
    assert CC_HEADERS["x-api-key"].encode() not in raw


def test_subagents_and_nested_agents_are_attributed(
    proxy: RunningProxy, client: httpx2.Client
) -> None:
    post(client, proxy, turn("main"))
    post(
        client,
        proxy,
        turn("explore"),
        **{"x-claude-code-agent-id": "a1b2", "x-claude-code-agent-type": "Explore",
           "x-claude-code-request-class": "subagent"},
    )  # fmt: skip
    post(
        client,
        proxy,
        turn("nested"),
        **{"x-claude-code-agent-id": "c3d4", "x-claude-code-parent-agent-id": "a1b2"},
    )
    post(client, proxy, turn("sdk"), **{"x-gearshift-agent": "billing-bot"})
    rows = {r.agent: r for r in proxy.rows()}
    assert set(rows) == {"main", "Explore", "subagent", "billing-bot"}
    assert rows["Explore"].tags["agent_id"] == "a1b2"
    assert rows["Explore"].task_type == "subagent"
    assert rows["subagent"].tags["parent_agent_id"] == "a1b2"
    assert rows["subagent"].dedup_key is not None and rows["subagent"].dedup_key.endswith("|s")


def test_a_custom_agent_is_known_by_its_prompt_in_any_system_block(
    make_proxy: ProxyFactory, client: httpx2.Client, tmp_path: Path
) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    prompt = "You review pull requests for security problems: injection, secrets, unsafe defaults."
    (agents / "security-reviewer.md").write_text(
        f"---\nname: security-reviewer\ndescription: Reviews security\n---\n{prompt}\n"
    )
    proxy = make_proxy(agents_dirs=(str(agents),))
    system = [
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.280.abc;"},
        {"type": "text", "text": "You are an agent for Claude Code."},
        {"type": "text", "text": f"Notes.\n\n{prompt}\n\nEnvironment: linux"},
    ]
    post(client, proxy, turn(system=system), **{"x-claude-code-agent-id": "z9",
                                                 "x-claude-code-agent-type": "custom"})  # fmt: skip
    [row] = proxy.rows()
    assert row.agent == "security-reviewer"


def test_json_answers_are_relayed_and_metered(
    proxy: RunningProxy, fake: FakeAnthropic, client: httpx2.Client
) -> None:
    body = turn(stream=False, model="claude-sonnet-4-5")
    via = post(client, proxy, body)
    direct = _direct(client, fake, body)
    assert via.status_code == 200
    assert _IDS.sub(b"ID", via.content) == _IDS.sub(b"ID", direct)
    [row] = proxy.rows()
    assert row.output_tokens == via.json()["usage"]["output_tokens"]
    assert row.model == "claude-sonnet-4-5-20250929"


def test_count_tokens_probes_and_models_are_served_but_never_metered(
    proxy: RunningProxy, fake: FakeAnthropic, client: httpx2.Client
) -> None:
    count = client.post(
        f"{proxy.url}/v1/messages/count_tokens?beta=true",
        content=json.dumps(turn()).encode(),
        headers=CC_HEADERS,
    )
    assert count.status_code == 200 and count.json()["input_tokens"] > 0
    assert client.head(f"{proxy.url}/").status_code == 200
    assert client.head(f"{proxy.url}/api/hello").status_code == 200
    models = client.get(f"{proxy.url}/v1/models?limit=1000", headers=CC_HEADERS)
    assert models.status_code == 200 and models.json()["data"][0]["id"].startswith("claude")
    missing = client.get(f"{proxy.url}/v1/nothing", headers=CC_HEADERS)
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    assert proxy.rows() == []
    assert fake.counts["/v1/messages"] == 0
    metrics = client.get(f"{proxy.url}/metrics").text
    assert 'endpoint="count_tokens"' in metrics


def test_upstream_errors_come_back_unchanged_and_are_recorded(
    proxy: RunningProxy, fake: FakeAnthropic, client: httpx2.Client
) -> None:
    fake.script(Fault.rate_limit(retry_after=7), Fault.overloaded(), Fault.server_error())
    answers = [post(client, proxy, turn(stream=False)) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 529, 500]
    assert answers[0].headers["retry-after"] == "7"
    assert answers[0].json() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "Rate limited"},
        "request_id": answers[0].headers["request-id"],
    }
    assert answers[1].json()["error"]["type"] == "overloaded_error"
    rows = proxy.rows()
    assert [r.status for r in rows] == ["error"] * 3
    assert sorted(r.tags["http_status"] for r in rows) == ["429", "500", "529"]
    assert all(r.cost_nanos == 0 for r in rows)


def test_an_error_event_mid_stream_is_relayed_and_recorded(
    proxy: RunningProxy, fake: FakeAnthropic, client: httpx2.Client
) -> None:
    fake.script(Fault.stream_error("overloaded_error"))
    via = post(client, proxy, turn())
    assert via.status_code == 200 and b"event: error" in via.content
    [row] = proxy.rows()
    assert row.status == "error" and row.validation == "overloaded_error: Overloaded"
    assert row.flags & FLAG_ESTIMATED


def test_oauth_requests_keep_their_credential_and_are_not_billed(
    make_proxy: ProxyFactory,
    fake: FakeAnthropic,
    client: httpx2.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GS_TEST_UPSTREAM_KEY", "sk-ant-upstream-key")
    proxy = make_proxy(upstream_key_env="GS_TEST_UPSTREAM_KEY")
    post(client, proxy, turn("api"))
    headers = {k: v for k, v in CC_HEADERS.items() if k != "x-api-key"}
    headers["anthropic-beta"] += ",oauth-2025-04-20"
    client.post(
        f"{proxy.url}/v1/messages",
        content=json.dumps(turn("oauth")).encode(),
        headers={**headers, "authorization": "Bearer sk-ant-oat01-user"},
    )
    api, oauth = fake.requests
    assert api.headers["x-api-key"] == "sk-ant-upstream-key"
    assert oauth.headers["authorization"] == "Bearer sk-ant-oat01-user"
    assert "x-api-key" not in oauth.headers
    rows = sorted(proxy.rows(), key=lambda r: r.tags.get("billing", ""))
    assert rows[0].cost_nanos > 0
    assert rows[1].tags["billing"] == "subscription" and rows[1].cost_nanos == 0
