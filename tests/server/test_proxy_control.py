"""Routing, budgets and safety through a real proxy: sticky routes with their body edits, budget
refusals in Anthropic's shape, step-downs, access tokens, body limits, disconnects."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import time
from pathlib import Path

import httpx2
import pytest

from gearshift.budgets import CallScope
from gearshift.config import BudgetSpec, Config
from gearshift.errors import ConfigError
from gearshift.ledger.record import FLAG_ESTIMATED
from gearshift.server.security import require_safe_bind
from gearshift.testing.fake_anthropic import FakeAnthropic

from .conftest import CC_HEADERS, ProxyFactory, RunningProxy, post, turn, wait_for

EXPLORE = {"x-claude-code-agent-id": "ag-1", "x-claude-code-agent-type": "Explore"}


def _policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return str(path)


def test_a_conversation_is_routed_once_and_its_bodies_adapted(
    make_proxy: ProxyFactory, fake: FakeAnthropic, client: httpx2.Client, tmp_path: Path
) -> None:
    policy = _policy(tmp_path, "agents:\n  Explore: claude-haiku-4-5\n")
    proxy = make_proxy(policy=policy)
    first = turn(
        "Find where the config is parsed.",
        max_tokens=100_000,
        output_config={"effort": "high"},
        speed="fast",
    )
    answer = post(client, proxy, first, **EXPLORE)
    assert answer.status_code == 200
    assert answer.headers["x-gearshift-requested-model"] == "claude-opus-4-8"
    assert answer.headers["x-gearshift-served-model"] == "claude-haiku-4-5-20251001"
    assert "Explore" in answer.headers["x-gearshift-route-reason"]
    sent = fake.bodies()[0]
    assert sent["model"] == "claude-haiku-4-5-20251001"
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 32000}  # half, < 64k clamp
    assert sent["max_tokens"] == 64000
    assert "output_config" not in sent and "speed" not in sent
    assert sent["system"] == first["system"] and sent["tools"] == first["tools"]
    # the next turn of the same agent keeps its route, without deciding again
    post(client, proxy, turn("next", history=1), **EXPLORE)
    assert fake.bodies()[1]["model"] == "claude-haiku-4-5-20251001"
    # so does a new proxy on the same ledger (another worker or host)
    other = make_proxy(policy=_policy(tmp_path, "agents:\n  Explore: keep\n"))
    post(client, other, turn("again", history=2), **EXPLORE)
    assert fake.bodies()[2]["model"] == "claude-haiku-4-5-20251001"
    # the main loop is another conversation: nothing routes it, it keeps its model
    post(client, proxy, turn("main"))
    assert fake.bodies()[3] == turn("main")
    other.flush()
    rows = sorted(proxy.rows(), key=lambda r: r.ts)
    assert [r.model for r in rows[:3]] == ["claude-haiku-4-5-20251001"] * 3
    assert rows[0].tags["route"] == "override"
    assert rows[0].tags["requested_model"] == "claude-opus-4-8"
    assert set(rows[0].tags["edits"].split(",")) == {"model", "thinking", "effort", "speed",
                                                      "max_tokens"}  # fmt: skip


def test_a_model_only_switch_changes_no_other_byte(
    make_proxy: ProxyFactory, fake: FakeAnthropic, client: httpx2.Client, tmp_path: Path
) -> None:
    proxy = make_proxy(policy=_policy(tmp_path, "agents:\n  Explore: claude-opus-4-6\n"))
    body = turn("x", model="claude-opus-4-8")
    raw = json.dumps(body, ensure_ascii=True, indent=1).encode()  # spacing Claude Code may use
    post(client, proxy, raw, **EXPLORE)
    received = fake.requests[0]
    assert received.body["model"] == "claude-opus-4-6"
    assert received.body == {**body, "model": "claude-opus-4-6"}


def test_a_switch_mid_conversation_drops_the_old_models_thinking_blocks(
    make_proxy: ProxyFactory, fake: FakeAnthropic, client: httpx2.Client, tmp_path: Path
) -> None:
    proxy = make_proxy(policy=_policy(tmp_path, "agents:\n  Explore: sonnet\n"))
    post(client, proxy, turn("late", history=2), **EXPLORE)  # first seen on its third turn
    sent = fake.bodies()[0]
    kinds = [b["type"] for m in sent["messages"] if m["role"] == "assistant" for b in m["content"]]
    assert kinds == ["text", "text"]
    assert sent["messages"][-1] == turn("late", history=2)["messages"][-1]


def test_a_conversation_too_long_for_the_target_stays_where_it_is(
    make_proxy: ProxyFactory, fake: FakeAnthropic, client: httpx2.Client, tmp_path: Path
) -> None:
    proxy = make_proxy(policy=_policy(tmp_path, "agents:\n  Explore: claude-haiku-4-5\n"))
    long_text = "word " * 150_000  # ~750 kB: more than haiku 4.5's 200k window may hold
    answer = post(client, proxy, turn(long_text), **EXPLORE)
    assert fake.bodies()[0]["model"] == "claude-opus-4-8"
    assert "window" in answer.headers["x-gearshift-route-reason"]


def _budget(amount: str, action: str = "block") -> Config:
    spec = BudgetSpec(amount_usd=amount, scope="global", period="day", action=action)
    return Config(budgets={"daily": spec})


def test_a_request_over_a_blocking_budget_is_refused_as_anthropic_refuses(
    make_proxy: ProxyFactory, fake: FakeAnthropic, client: httpx2.Client
) -> None:
    proxy = make_proxy(config=_budget("0.01"))
    answer = post(client, proxy, turn())  # worst case: 32k output tokens of opus > $0.01
    assert answer.status_code == 429
    assert answer.headers["x-should-retry"] == "false"
    assert answer.headers["content-type"] == "application/json"
    retry = int(answer.headers["retry-after"])
    assert 0 < retry <= 86_400 + 3600
    body = answer.json()
    assert body["type"] == "error" and body["error"]["type"] == "billing_error"
    assert body["error"]["message"].startswith("spend limit reached (daily; resets ")
    assert body["request_id"] == answer.headers["request-id"]
    assert fake.counts["/v1/messages"] == 0
    [row] = proxy.rows()
    assert (row.status, row.cost_nanos, row.agent) == ("blocked", 0, "main")
    # count_tokens is never refused
    count = client.post(
        f"{proxy.url}/v1/messages/count_tokens",
        content=json.dumps(turn()).encode(),
        headers=CC_HEADERS,
    )
    assert count.status_code == 200


def test_a_request_within_the_budget_reserves_then_settles(
    make_proxy: ProxyFactory, client: httpx2.Client
) -> None:
    proxy = make_proxy(config=_budget("50"))
    assert post(client, proxy, turn()).status_code == 200
    [row] = proxy.rows()
    held = proxy.app.shared.ledger.query("SELECT COUNT(*) FROM budget_reservations")
    assert row.cost_nanos > 0 and held == [(0,)]


def test_a_step_down_budget_routes_the_conversation_down(
    make_proxy: ProxyFactory, fake: FakeAnthropic, client: httpx2.Client
) -> None:
    proxy = make_proxy(config=_budget("0.08", action="step-down"))
    answer = post(client, proxy, turn(max_tokens=4000))  # worst case: opus 4.8 $0.13, sonnet $0.05
    assert answer.status_code == 200
    served = answer.headers["x-gearshift-served-model"]
    assert served != "claude-opus-4-8" and fake.bodies()[0]["model"] == served
    assert answer.headers["x-gearshift-route-reason"].startswith("budget:")
    proxy.flush()  # settled: the first call's reservation no longer counts
    post(client, proxy, turn("next", max_tokens=4000))
    assert fake.bodies()[1]["model"] == served  # and stays there


def test_the_ledger_unreachable_fails_closed_for_blocking_budgets(
    make_proxy: ProxyFactory, fake: FakeAnthropic, client: httpx2.Client, tmp_path: Path
) -> None:
    proxy = make_proxy(config=_budget("50"))
    proxy.app.shared.gate.refresh()
    (tmp_path / "ledger.db").chmod(0o400)

    def broken(*args: object, **kwargs: object) -> object:
        from gearshift.errors import LedgerError

        raise LedgerError("database is locked")

    proxy.app.shared.gate._reservations.reserve = broken  # type: ignore[method-assign]
    answer = post(client, proxy, turn())
    assert answer.status_code == 429
    assert "unavailable" in answer.json()["error"]["message"]
    proxy.app.shared.gate.fail_closed = False
    assert post(client, proxy, turn()).status_code == 200


def test_a_client_leaving_mid_stream_cancels_upstream_and_is_recorded(
    proxy: RunningProxy, fake: FakeAnthropic
) -> None:
    fake.stream_delay = 0.3
    body = json.dumps(turn()).encode()
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        head = (
            f"POST /v1/messages HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
            f"x-api-key: k\r\nx-claude-code-session-id: s\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        got = b""
        while b"content_block_start" not in got:
            got += sock.recv(65536)
    wait_for(lambda: proxy.call(lambda: proxy.app.shared.meter.pending) == 1)
    [row] = proxy.rows()
    assert row.status == "cancelled" and row.flags & FLAG_ESTIMATED
    assert row.input_tokens > 0  # message_start's usage was read before the client left
    wait_for(lambda: not fake._conns)  # the upstream connection was closed, not left streaming
    assert proxy.idle()
    time.sleep(0.4)
    assert fake.statuses[200] == 1


def test_beyond_loopback_an_access_token_is_required(
    make_proxy: ProxyFactory, client: httpx2.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="access token"):
        require_safe_bind("0.0.0.0", None)
    with pytest.raises(ConfigError, match="too short"):
        require_safe_bind("192.168.1.4", "short")
    require_safe_bind("::1", None)
    monkeypatch.setenv("GEARSHIFT_PROXY_TOKEN", "t" * 24)
    proxy = make_proxy()
    refused = post(client, proxy, turn())
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"
    assert client.head(f"{proxy.url}/api/hello").status_code == 401
    wrong = post(client, proxy, turn(), **{"x-gearshift-token": "t" * 23 + "u"})
    assert wrong.status_code == 401
    assert post(client, proxy, turn(), **{"x-gearshift-token": "t" * 24}).status_code == 200


def test_oversized_and_malformed_bodies_get_anthropic_errors(
    make_proxy: ProxyFactory, fake: FakeAnthropic, client: httpx2.Client
) -> None:
    proxy = make_proxy(max_body_bytes=2048)
    big = post(client, proxy, turn("x" * 5000))
    assert big.status_code == 413 and big.json()["error"]["type"] == "request_too_large"
    bad = post(client, proxy, b"{not json")
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    missing = post(client, proxy, {"messages": []})
    assert missing.status_code == 400
    assert "model: Field required" in missing.json()["error"]["message"]
    assert fake.counts["/v1/messages"] == 0
    assert post(client, proxy, turn(system=[{"type": "text", "text": "s"}])).status_code == 200


def test_the_metrics_endpoint_counts_requests_and_tokens(
    proxy: RunningProxy, client: httpx2.Client
) -> None:
    post(client, proxy, turn())
    proxy.flush()
    text = client.get(f"{proxy.url}/metrics").text
    assert 'gearshift_proxy_requests_total{agent="main",endpoint="messages"' in text
    assert 'gearshift_proxy_tokens_total{agent="main",kind="output"' in text
    assert "gearshift_proxy_time_to_first_token_seconds_bucket" in text


def test_rows_wait_in_memory_while_the_ledger_is_down(proxy: RunningProxy) -> None:
    meter = proxy.app.shared.meter
    from gearshift.ledger import Execution

    calls = {"n": 0}
    real = meter._write

    def flaky(rows: list[Execution], held: list[object]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            from gearshift.errors import LedgerError

            raise LedgerError("down")
        real(rows, held)  # type: ignore[arg-type]

    meter._write = flaky  # type: ignore[method-assign]
    row = Execution(model="claude-opus-4-8", tier="opus", agent="a", source="proxy",
                    ts=dt.datetime.now(dt.UTC))  # fmt: skip
    proxy.call(lambda: meter.add([row]))
    wait_for(lambda: meter.written == 1)
    assert calls["n"] == 2
    assert [r.id for r in proxy.rows()] == [row.id]


@pytest.mark.postgres
def test_proxies_sharing_a_postgresql_ledger_share_routes_and_budgets(
    make_proxy: ProxyFactory,
    fake: FakeAnthropic,
    client: httpx2.Client,
    tmp_path: Path,
    pg_url: str,
) -> None:
    policy = _policy(tmp_path, "agents:\n  Explore: claude-haiku-4-5\n")
    first = make_proxy(ledger=pg_url, policy=policy, config=_budget("0.9"))
    second = make_proxy(ledger=pg_url, policy=_policy(tmp_path, "agents: {}\n"),
                        config=_budget("0.9"))  # fmt: skip
    post(client, first, turn("a", max_tokens=4000), **EXPLORE)
    post(client, second, turn("b", history=1, max_tokens=4000), **EXPLORE)
    assert [b["model"] for b in fake.bodies()] == ["claude-haiku-4-5-20251001"] * 2
    # opus 4.8 with 32k output has a worst case of ~$0.8: one fits the $0.9, two at once do not
    scope = CallScope(agent="main", model="claude-opus-4-8", tier="opus")
    opus = first.app.shared.catalog.resolve("claude-opus-4-8")
    gates = [first.app.shared.gate, second.app.shared.gate]
    for gate in gates:
        gate.refresh()
    assert asyncio.run(gates[0].admit(scope, opus, 1000, 32000)).admitted
    assert asyncio.run(gates[1].admit(scope, opus, 1000, 32000)).action == "block"
