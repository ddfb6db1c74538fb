"""The fake Anthropic server itself, spoken to over raw HTTP (no SDK)."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any

import pytest

from gearshift.testing.fake_anthropic import FakeAnthropic, Fault, Reply


def post(server: FakeAnthropic, path: str, body: Any, key: str = "k") -> tuple[int, dict, Any]:
    host, port = server.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        headers = {"x-api-key": key, "content-type": "application/json"}
        conn.request("POST", path, json.dumps(body), headers)
        response = conn.getresponse()
        raw = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    try:
        return response.status, headers, json.loads(raw)
    except ValueError:
        return response.status, headers, raw.decode()


MESSAGE = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}


def test_message_headers_and_counters() -> None:
    with FakeAnthropic() as server:
        status, headers, body = post(server, "/v1/messages", MESSAGE)
        assert status == 200
        assert headers["request-id"] == "req_fake_000001"
        for family in ("requests", "tokens", "input-tokens", "output-tokens"):
            for part in ("limit", "remaining", "reset"):
                assert f"anthropic-ratelimit-{family}-{part}" in headers
        assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")
        assert body["type"] == "message"
        assert body["usage"]["cache_creation"] == {
            "ephemeral_5m_input_tokens": 0,
            "ephemeral_1h_input_tokens": 0,
        }
        assert server.request_count == 1
        assert server.counts["/v1/messages"] == 1
        assert server.requests[0].body == MESSAGE


def test_reply_hook_scripts_content() -> None:
    with FakeAnthropic(reply=lambda body: Reply("scripted", stop_reason="max_tokens")) as server:
        _, _, body = post(server, "/v1/messages", MESSAGE)
    assert body["content"][0]["text"] == "scripted"
    assert body["stop_reason"] == "max_tokens"


def test_streaming_sends_the_event_sequence() -> None:
    with FakeAnthropic(reply=lambda body: "x" * 60) as server:
        status, headers, text = post(server, "/v1/messages", {**MESSAGE, "stream": True})
    assert status == 200 and headers["content-type"] == "text/event-stream"
    events = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("event:")]
    assert events[:3] == ["message_start", "content_block_start", "ping"]
    assert events.count("content_block_delta") == 3
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]


def test_scripted_faults_come_in_order_then_stop() -> None:
    with FakeAnthropic() as server:
        server.script(Fault.rate_limit(retry_after=2.5), Fault.spend_limit(), Fault.overloaded())
        first = post(server, "/v1/messages", MESSAGE)
        second = post(server, "/v1/messages", MESSAGE)
        third = post(server, "/v1/messages", MESSAGE)
        fourth = post(server, "/v1/messages", MESSAGE)
    assert first[0] == 429 and first[1]["retry-after"] == "2.5"
    assert first[2]["error"]["type"] == "rate_limit_error"
    assert second[0] == 429 and "retry-after" not in second[1]
    assert second[2]["error"]["details"]["error_code"] == "enforced_spend_limit_reached"
    assert third[0] == 529 and third[2]["error"]["type"] == "overloaded_error"
    assert fourth[0] == 200


def test_fault_rates_are_seeded() -> None:
    def statuses(seed: int) -> list[int]:
        with FakeAnthropic(seed=seed) as server:
            server.fault_rates = {"rate_limit": 0.2, "overloaded": 0.2}
            return [post(server, "/v1/messages", MESSAGE)[0] for _ in range(40)]

    first = statuses(1)
    assert first == statuses(1)
    assert {429, 529, 200} <= set(first)


def test_fault_rates_are_checked_and_configurable() -> None:
    with FakeAnthropic() as server:
        with pytest.raises(ValueError):
            server.fault_rates = {"meteor": 0.1}
        with pytest.raises(ValueError):
            server.fault_rates = {"rate_limit": 0.7, "overloaded": 0.7}
        server.fault_rates = {"rate_limit": 1.0}
        server.rate_limit_retry_after = 0.25
        status, headers, _ = post(server, "/v1/messages", MESSAGE)
    assert status == 429 and headers["retry-after"] == "0.25"


def test_auth_and_validation_errors() -> None:
    with FakeAnthropic(api_key="right") as server:
        assert post(server, "/v1/messages", MESSAGE, key="wrong")[0] == 401
        assert post(server, "/v1/messages", {"model": "m"}, key="right")[0] == 400
        assert post(server, "/v1/nothing", {}, key="right")[0] == 404
        assert post(server, "/v1/messages/count_tokens", MESSAGE, key="right")[2] == {
            "input_tokens": 1
        }


def test_enforced_limits_answer_429_until_the_window_resets() -> None:
    from gearshift.testing.fake_anthropic import RateLimits

    with FakeAnthropic() as server:
        server.limits = RateLimits(requests=1, window=60, enforce=True)
        assert post(server, "/v1/messages", MESSAGE)[0] == 200
        status, headers, _ = post(server, "/v1/messages", MESSAGE)
        assert status == 429
        assert headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert int(headers["retry-after"]) > 0


def test_close_stops_threads_even_with_open_connections() -> None:
    before = threading.active_count()
    server = FakeAnthropic().start()
    host, port = server.base_url.removeprefix("http://").split(":")
    idle = http.client.HTTPConnection(host, int(port), timeout=5)
    idle.request("POST", "/v1/messages", json.dumps(MESSAGE), {"x-api-key": "k"})
    idle.getresponse().read()  # the keep-alive connection stays open in a handler thread
    server.close()
    server.close()  # twice is fine
    idle.close()
    assert threading.active_count() == before
    with pytest.raises(RuntimeError):
        server.base_url  # noqa: B018


def test_batch_cancel_marks_unfinished_items_canceled() -> None:
    with FakeAnthropic() as server:
        server.batch_polls = 5
        _, _, batch = post(
            server,
            "/v1/messages/batches",
            {
                "requests": [
                    {"custom_id": "a", "params": MESSAGE},
                    {"custom_id": "b", "params": MESSAGE},
                ]
            },
        )
        _, _, canceled = post(server, f"/v1/messages/batches/{batch['id']}/cancel", {})
    assert batch["processing_status"] == "in_progress"
    assert canceled["processing_status"] == "ended"
    assert canceled["request_counts"]["canceled"] == 2
