"""The Admin API client against the fake server's admin endpoints: paging within the API's
limits, retries through the one retry loop, the admin key's handling and errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift.errors import AuthError, BadRequest, ProviderError
from gearshift.insight.bill import cents_to_nanos
from gearshift.providers.admin import (
    CLAUDE_CODE_PATH,
    COST_PATH,
    USAGE_PATH,
    AdminClient,
    PageEvent,
)
from gearshift.providers.admin_types import CostResult
from gearshift.providers.retry import RetryEvent, RetryPolicy
from gearshift.testing import _fake_http
from gearshift.testing.fake_anthropic import (
    Call,
    ClaudeCodeUse,
    FakeAnthropic,
    Fault,
    Organisation,
)

T = TypeVar("T")
KEY = "sk-ant-admin01-test-key-5ecret"
START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


def calls_per_day(days: int) -> list[Call]:
    return [
        Call(
            ts=START + dt.timedelta(days=i, hours=10),
            model="claude-sonnet-4-5",
            input_tokens=1000 + i,
            output_tokens=100,
        )
        for i in range(days)
    ]


def run(server: FakeAnthropic, body: Callable[[AdminClient], Awaitable[T]], **options: Any) -> T:
    async def main() -> T:
        options.setdefault("admin_key", KEY)
        async with AdminClient(base_url=server.base_url, **options) as client:
            return await body(client)

    return asyncio.run(main())


def no_sleep() -> tuple[list[float], Callable[[float], Awaitable[None]]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return slept, sleep


def test_usage_report_pages_within_the_daily_bucket_limit() -> None:
    org = Organisation(calls=calls_per_day(40))
    pages: list[PageEvent] = []
    with FakeAnthropic(organisation=org, admin_key=KEY) as server:
        buckets = run(
            server,
            lambda c: c.usage_report(START, START + dt.timedelta(days=40)),
            on_page=pages.append,
        )
        queries = [r.query for r in server.requests if r.path == USAGE_PATH]
    assert len(buckets) == 40
    assert [p.items for p in pages] == [31, 9]
    assert all(q["limit"] == ["31"] and q["bucket_width"] == ["1d"] for q in queries)
    assert "page" not in queries[0] and queries[1]["page"][0].startswith("page_")
    assert sorted(queries[0]["group_by[]"]) == sorted(
        [
            "model",
            "api_key_id",
            "workspace_id",
            "service_tier",
            "context_window",
            "inference_geo",
            "speed",
        ]
    )
    inputs = [r.uncached_input_tokens for b in buckets for r in b.results]
    assert inputs == [1000 + i for i in range(40)]


def test_the_key_travels_as_x_api_key_only_with_the_documented_version() -> None:
    org = Organisation(calls=calls_per_day(1))
    with FakeAnthropic(organisation=org, admin_key=KEY) as server:
        run(server, lambda c: c.usage_report(START, START + dt.timedelta(days=1)))
        headers = server.requests[-1].headers
    assert headers["x-api-key"] == KEY
    assert "authorization" not in headers
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["anthropic-beta"] == "fast-mode-2026-02-01"  # grouping by speed needs it


def test_the_key_is_not_in_the_sdk_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeAnthropic(organisation=Organisation(calls=calls_per_day(1)), admin_key=KEY) as server:
        run(server, lambda c: c.usage_report(START, START + dt.timedelta(days=1)))
    assert "Request options" in caplog.text  # the SDK did log the request
    assert KEY not in caplog.text


def test_the_admin_key_comes_from_its_own_variable_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-a-workspace-key")
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", KEY)
    with FakeAnthropic(organisation=Organisation(), admin_key=KEY) as server:
        run(server, lambda c: c.cost_report(START, START + dt.timedelta(days=1)), admin_key=None)
        assert server.requests[-1].headers["x-api-key"] == KEY
        monkeypatch.delenv("ANTHROPIC_ADMIN_KEY")
        with pytest.raises(AuthError) as caught:
            run(server, lambda c: c.cost_report(START, START + dt.timedelta(days=1)),
                admin_key=None)  # fmt: skip
        assert len(server.requests) == 1  # refused before any request
    assert "ANTHROPIC_ADMIN_KEY" in caught.value.message
    assert "Admin keys" in (caught.value.hint or "")


def test_an_invalid_admin_key_is_a_clear_error_that_never_shows_the_key() -> None:
    with FakeAnthropic(organisation=Organisation(), admin_key="sk-ant-admin01-right") as server:
        with pytest.raises(AuthError) as caught:
            run(server, lambda c: c.usage_report(START, START + dt.timedelta(days=2)))
        assert server.statuses[401] == 1  # not retried
    err = caught.value
    assert err.status == 401
    assert "refused the admin key" in err.message
    assert "sk-ant-admin01" in (err.hint or "") and "ANTHROPIC_ADMIN_KEY" in (err.hint or "")
    for text in (err.message, err.hint or "", str(err), repr(AdminClient(KEY))):
        assert KEY not in text


def test_a_429_waits_its_retry_after_and_is_retried() -> None:
    org = Organisation(calls=calls_per_day(3))
    slept, sleep = no_sleep()
    retries: list[RetryEvent] = []
    with FakeAnthropic(organisation=org, admin_key=KEY) as server:
        server.script(
            Fault.rate_limit(retry_after=7).at(COST_PATH), Fault.overloaded().at(COST_PATH)
        )
        buckets = run(
            server,
            lambda c: c.cost_report(START, START + dt.timedelta(days=3)),
            sleep=sleep,
            rand=lambda: 0.0,
            on_retry=retries.append,
        )
        assert server.statuses[429] == 1 and server.statuses[529] == 1
    assert slept == [7.0, 0.0]
    assert [e.error.status for e in retries] == [429, 529]
    assert len(buckets) == 3


def test_the_retry_loop_gives_up_by_its_policy() -> None:
    slept, sleep = no_sleep()
    with FakeAnthropic(organisation=Organisation(), admin_key=KEY) as server:
        server.script(*[Fault.rate_limit(retry_after=1).at(USAGE_PATH)] * 3)
        with pytest.raises(ProviderError) as caught:
            run(server, lambda c: c.usage_report(START, START + dt.timedelta(days=1)),
                sleep=sleep, policy=RetryPolicy(max_attempts=2))  # fmt: skip
    assert caught.value.status == 429
    assert slept == [1.0]


def test_cost_report_amounts_are_exact_cents() -> None:
    call = Call(ts=START + dt.timedelta(hours=3), model="claude-sonnet-4-5",
                input_tokens=1_234, output_tokens=567, web_search_requests=3)  # fmt: skip
    with FakeAnthropic(organisation=Organisation(calls=[call]), admin_key=KEY) as server:
        buckets = run(server, lambda c: c.cost_report(START, START + dt.timedelta(days=1)))
    by_type = {r.token_type or r.cost_type: r for r in buckets[0].results}
    # $3/MTok x 1234 = $0.003702 = 0.3702 cents; $15/MTok x 567 = 0.8505 cents; 3 searches
    assert by_type["uncached_input_tokens"].amount == "0.3702"
    assert by_type["output_tokens"].cents == Decimal("0.8505")
    assert by_type["web_search"].cents == Decimal("3")
    assert by_type["web_search"].model is None


def test_claude_code_report_pages_past_a_thousand_records() -> None:
    day = dt.date(2026, 9, 2)
    uses = [ClaudeCodeUse(day, f"dev{i:04d}@example.com", "claude-sonnet-4-5", 10, 5)
            for i in range(1_205)]  # fmt: skip
    pages: list[PageEvent] = []
    with FakeAnthropic(organisation=Organisation(claude_code=uses), admin_key=KEY) as server:
        records = run(server, lambda c: c.claude_code_report(day), on_page=pages.append)
        queries = [r.query for r in server.requests if r.path == CLAUDE_CODE_PATH]
    assert len(records) == 1_205 and [p.items for p in pages] == [1000, 205]
    assert queries[0]["starting_at"] == ["2026-09-02"] and queries[0]["limit"] == ["1000"]
    assert records[0].actor.name == "dev0000@example.com"
    assert records[0].model_breakdown[0].tokens.total == 15


def test_an_organisation_without_claude_code_analytics() -> None:
    org = Organisation(claude_code=None)
    with (
        FakeAnthropic(organisation=org, admin_key=KEY) as server,
        pytest.raises(BadRequest) as caught,
    ):
        run(server, lambda c: c.claude_code_report(dt.date(2026, 9, 2)))
    assert "no Claude Code analytics" in caught.value.message


def test_a_body_of_another_shape_is_an_error_at_the_boundary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        _fake_http.ADMIN_ROUTES, COST_PATH, lambda org, query: {"data": [{"results": 3}]}
    )
    with (
        FakeAnthropic(organisation=Organisation(), admin_key=KEY) as server,
        pytest.raises(ProviderError, match="unexpected shape"),
    ):
        run(server, lambda c: c.cost_report(START, START + dt.timedelta(days=1)))


def test_a_page_token_that_repeats_stops_the_paging(monkeypatch: pytest.MonkeyPatch) -> None:
    looping = {"data": [], "has_more": True, "next_page": "page_same"}
    monkeypatch.setitem(_fake_http.ADMIN_ROUTES, COST_PATH, lambda org, query: looping)
    with FakeAnthropic(organisation=Organisation(), admin_key=KEY) as server:
        with pytest.raises(ProviderError, match="no new page token"):
            run(server, lambda c: c.cost_report(START, START + dt.timedelta(days=1)))
        assert server.counts[COST_PATH] == 2


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=7, allow_nan=False))
def test_cents_with_up_to_seven_places_are_exact_nanos(cents: Decimal) -> None:
    assert cents_to_nanos(cents) == int(cents * 10**7)
    assert Decimal(cents_to_nanos(cents)).scaleb(-7) == cents


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_finer_cents_round_half_even_to_a_nano(tenths_of_nanos: int) -> None:
    cents = Decimal(tenths_of_nanos).scaleb(-8)
    q, r = divmod(tenths_of_nanos, 10)
    expected = q + (1 if r > 5 or (r == 5 and q % 2) else 0)
    assert cents_to_nanos(cents) == expected


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "12,5", ""])
def test_an_amount_that_is_not_a_number_is_refused(amount: str) -> None:
    with pytest.raises(ProviderError, match="not a number"):
        _ = CostResult(amount=amount).cents


def test_an_amount_in_another_currency_is_refused() -> None:
    with pytest.raises(ProviderError, match="EUR"):
        _ = CostResult(amount="1", currency="EUR").cents
