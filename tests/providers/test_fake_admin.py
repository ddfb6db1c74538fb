"""The fake server's Admin API spoken to over raw HTTP: shapes, limits and refusals as the API
documents them."""

from __future__ import annotations

import datetime as dt
import http.client
import json
from decimal import Decimal
from typing import Any

import pytest

from gearshift.catalog import PriceSet
from gearshift.testing.fake_anthropic import (
    Call,
    ClaudeCodeUse,
    CodeExecution,
    FakeAnthropic,
    Organisation,
)

DAY = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
USAGE = "/v1/organizations/usage_report/messages"
COST = "/v1/organizations/cost_report"
CODE = "/v1/organizations/usage_report/claude_code"


def get(
    server: FakeAnthropic, path: str, key: str = "k", beta: str | None = None
) -> tuple[int, Any]:
    host, port = server.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    headers = {"x-api-key": key}
    if beta:
        headers["anthropic-beta"] = beta
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def org() -> Organisation:
    calls = [
        Call(DAY + dt.timedelta(hours=1), "claude-sonnet-4-5", 100, 10, workspace_id="wrkspc_a"),
        Call(DAY + dt.timedelta(hours=2), "claude-sonnet-4-5", 200, 20, service_tier="batch"),
        Call(DAY + dt.timedelta(hours=3), "claude-haiku-4-5", 300, 30, service_tier="priority"),
        Call(DAY + dt.timedelta(days=1), "claude-haiku-4-5", 400, 40, cache_write_1h_tokens=50),
    ]
    return Organisation(
        calls=calls,
        code_execution=[CodeExecution(DAY.date(), Decimal("12.5"), "wrkspc_a")],
        claude_code=[ClaudeCodeUse(DAY.date(), "ann@example.com", "claude-sonnet-4-5", 1, 2, 3, 4)],
    )


WINDOW = "starting_at=2026-10-01T00:00:00Z&ending_at=2026-10-03T00:00:00Z"


def test_usage_buckets_group_only_by_what_was_asked() -> None:
    with FakeAnthropic(organisation=org(), admin_key="k") as server:
        status, body = get(server, f"{USAGE}?{WINDOW}&group_by[]=service_tier")
    assert status == 200 and body["has_more"] is False and body["next_page"] is None
    first = body["data"][0]
    assert first["starting_at"] == "2026-10-01T00:00:00Z"
    assert first["ending_at"] == "2026-10-02T00:00:00Z"
    tiers = {r["service_tier"]: r["uncached_input_tokens"] for r in first["results"]}
    assert tiers == {"batch": 200, "priority": 300, "standard": 100}
    assert all(r["model"] is None and r["workspace_id"] is None for r in first["results"])
    second = body["data"][1]["results"][0]
    assert second["cache_creation"] == {
        "ephemeral_5m_input_tokens": 0,
        "ephemeral_1h_input_tokens": 50,
    }


def test_cost_report_leaves_priority_out_and_splits_by_description() -> None:
    with FakeAnthropic(organisation=org(), admin_key="k") as server:
        _, grouped = get(server, f"{COST}?{WINDOW}&group_by[]=description&group_by[]=workspace_id")
        _, plain = get(server, f"{COST}?{WINDOW}")
    rows = grouped["data"][0]["results"]
    assert {r["model"] for r in rows} == {"claude-sonnet-4-5", None}  # haiku was priority
    code = [r for r in rows if r["cost_type"] == "code_execution"]
    assert code == [{**code[0], "amount": "12.5", "workspace_id": "wrkspc_a", "model": None}]
    batch = [r for r in rows if r["service_tier"] == "batch" and r["token_type"] == "output_tokens"]
    assert batch[0]["amount"] == "0.015"  # 20 tokens x $15/MTok x 0.5, in cents
    assert all(r["currency"] == "USD" and isinstance(r["amount"], str) for r in rows)
    totals = plain["data"][0]["results"]
    assert len(totals) == 1 and totals[0]["description"] is None
    assert Decimal(totals[0]["amount"]) == sum(Decimal(r["amount"]) for r in rows)


def test_bill_prices_override_the_catalog() -> None:
    o = org()
    o.bill_prices["claude-sonnet-4-5-20250929"] = PriceSet(
        Decimal("4"), Decimal("15"), Decimal("5"), Decimal("8"), Decimal("0.4")
    )
    with FakeAnthropic(organisation=o, admin_key="k") as server:
        _, body = get(server, f"{COST}?{WINDOW}&group_by[]=description")
    inputs = [r for r in body["data"][0]["results"] if r["token_type"] == "uncached_input_tokens"]
    assert sorted(r["amount"] for r in inputs) == ["0.04", "0.04"]  # 100 x $4; 200 x $4 x 0.5


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        (f"{USAGE}?{WINDOW}&limit=32", "limit"),
        (f"{USAGE}?{WINDOW}&bucket_width=1h&limit=169", "limit"),
        (f"{USAGE}?{WINDOW}&bucket_width=1w", "bucket_width"),
        (f"{USAGE}?{WINDOW}&group_by[]=colour", "group_by"),
        (f"{USAGE}?{WINDOW}&group_by[]=speed", "beta"),
        (f"{USAGE}?ending_at=2026-10-03T00:00:00Z", "starting_at"),
        (f"{USAGE}?{WINDOW}&page=garbage!", "page"),
        (f"{COST}?{WINDOW}&bucket_width=1h", "1d"),
        (f"{COST}?{WINDOW}&group_by[]=model", "group_by"),
        (f"{CODE}?starting_at=2026-10-01T00:00:00Z", "YYYY-MM-DD"),
        (f"{CODE}?starting_at=2026-10-01&limit=1001", "limit"),
    ],
)
def test_bad_parameters_are_refused_as_the_api_does(path: str, problem: str) -> None:
    with FakeAnthropic(organisation=org(), admin_key="k") as server:
        status, body = get(server, path)
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error" and problem in body["error"]["message"]


def test_speed_groups_with_the_fast_mode_beta() -> None:
    with FakeAnthropic(organisation=org(), admin_key="k") as server:
        status, body = get(
            server, f"{USAGE}?{WINDOW}&group_by[]=speed", beta="fast-mode-2026-02-01"
        )
    assert status == 200 and body["data"][0]["results"][0]["speed"] == "standard"


def test_admin_endpoints_check_the_admin_key_and_need_an_organisation() -> None:
    with FakeAnthropic(organisation=org(), admin_key="admin", api_key="api") as server:
        assert get(server, f"{USAGE}?{WINDOW}", key="api")[0] == 401
        assert get(server, f"{USAGE}?{WINDOW}", key="admin")[0] == 200
    with FakeAnthropic() as server:
        status, body = get(server, f"{USAGE}?{WINDOW}")
    assert status == 404 and body["error"]["type"] == "not_found_error"


def test_claude_code_records_have_the_documented_shape() -> None:
    with FakeAnthropic(organisation=org(), admin_key="k") as server:
        status, body = get(server, f"{CODE}?starting_at=2026-10-01")
    assert status == 200
    record = body["data"][0]
    assert record["actor"] == {"type": "user_actor", "email_address": "ann@example.com"}
    assert record["date"] == "2026-10-01T00:00:00Z"
    assert record["core_metrics"]["num_sessions"] == 1
    assert record["model_breakdown"][0]["tokens"] == {
        "input": 1, "output": 2, "cache_read": 3, "cache_creation": 4
    }  # fmt: skip
    assert record["model_breakdown"][0]["estimated_cost"]["currency"] == "USD"
