"""The one retry loop reports each retried attempt to whoever made the call (the engine records
them), and a token bound that no text can exceed."""

from __future__ import annotations

import asyncio
import base64

from hypothesis import given
from hypothesis import strategies as st

from gearshift.errors import BudgetExceeded, Overloaded, RateLimited, ResponseDropped
from gearshift.providers import ModelRequest, RetryEvent, RetryPolicy, observe_retries
from gearshift.providers.base import IMAGE_TOKENS, PDF_PAGE_TOKENS, input_token_bound
from gearshift.providers.retry import call_with_retry


async def _no_sleep(_: float) -> None:
    return None


def test_the_caller_sees_every_retry_and_can_stop_them() -> None:
    errors = [
        RateLimited("429", request_id="r1"),
        ResponseDropped("cut", usage={"input_tokens": 3}),
    ]
    seen: list[RetryEvent] = []

    async def flaky() -> str:
        if errors:
            raise errors.pop(0)
        return "ok"

    async def main() -> str:
        with observe_retries(seen.append):
            return await call_with_retry(flaky, RetryPolicy(), sleep=_no_sleep, rand=lambda: 0.0)

    assert asyncio.run(main()) == "ok"
    assert [(e.attempt, type(e.error).__name__) for e in seen] == [
        (1, "RateLimited"),
        (2, "ResponseDropped"),
    ]
    assert isinstance(seen[1].error, ResponseDropped) and seen[1].error.usage == {"input_tokens": 3}

    def refuse(event: RetryEvent) -> None:
        raise BudgetExceeded("over budget")

    async def stopped() -> None:
        async def always() -> str:
            raise Overloaded("529")

        with observe_retries(refuse):
            await call_with_retry(always, RetryPolicy(), sleep=_no_sleep)

    try:
        asyncio.run(stopped())
    except BudgetExceeded:
        pass
    else:  # pragma: no cover
        raise AssertionError("the observer's refusal stops the retries")


def test_an_observer_sees_only_its_own_calls() -> None:
    seen: list[str] = []

    async def flaky(name: str, failures: list[int]) -> str:
        if failures:
            failures.pop()
            raise Overloaded(name)
        return name

    mine, other = [1], [1]

    async def observed() -> str:
        with observe_retries(lambda e: seen.append(str(e.error))):
            return await call_with_retry(lambda: flaky("mine", mine), sleep=_no_sleep)

    async def main() -> None:
        unobserved = call_with_retry(lambda: flaky("other", other), sleep=_no_sleep)
        await asyncio.gather(observed(), unobserved)

    asyncio.run(main())
    assert seen == ["mine"]


@given(st.text(), st.text(), st.integers(0, 3))
def test_the_bound_covers_every_byte(system: str, prompt: str, images: int) -> None:
    blocks: list[dict[str, object]] = [{"type": "text", "text": prompt}]
    blocks += [{"type": "image", "source": {"type": "base64", "data": "AAAA"}}] * images
    request = ModelRequest(model="haiku", messages=({"role": "user", "content": blocks},),
                           system=system or None)  # fmt: skip
    bound = input_token_bound(request)
    assert bound >= len(system.encode()) + len(prompt.encode()) + images * IMAGE_TOKENS


def test_a_pdf_counts_per_page() -> None:
    pdf = b"%PDF-1.4 /Type /Pages /Type /Page /Type /Page /Type /Page"
    block = {
        "type": "document",
        "source": {"type": "base64", "data": base64.b64encode(pdf).decode()},
    }
    request = ModelRequest(model="haiku", messages=({"role": "user", "content": [block]},))
    assert input_token_bound(request) >= 3 * PDF_PAGE_TOKENS
