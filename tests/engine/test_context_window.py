"""A request is checked against its model's context window before it is sent: routed up to a
tier that takes it, or refused with a message and a hint, with no call and no ledger row."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gearshift.catalog import Tier, load_catalog
from gearshift.engine.context import RunContext
from gearshift.engine.context_window import fitting_model, prompt_tokens, window_of
from gearshift.engine.job import Job
from gearshift.engine.run_state import RunStore
from gearshift.engine.runner import run_jobs
from gearshift.errors import PromptTooLong
from gearshift.ledger import Ledger
from gearshift.providers import get_provider
from gearshift.providers.base import ModelRequest
from gearshift.routing.router import Router
from gearshift.routing.rubric import Label
from gearshift.routing.task import Task

CAT = load_catalog()
HAIKU, SONNET = CAT.default_for(Tier.HAIKU), CAT.default_for(Tier.SONNET)
TEN_MB = "lorem ipsum " * (10_000_000 // 12)
ONE_MB = "x" * 1_000_000  # ~333k tokens as counted: over Haiku's 200k, under Sonnet's 1M


@given(st.text(max_size=2000))
def test_the_estimate_is_at_least_a_third_of_the_bytes(text: str) -> None:
    request = ModelRequest.user(text, model="haiku")
    assert prompt_tokens(request) >= len(text.encode("utf-8")) / 3


def test_every_tier_has_a_window_to_check_against() -> None:
    assert HAIKU.context_window is None  # not published: the tier's smallest known is used
    assert window_of(CAT, HAIKU) == 200_000
    assert window_of(CAT, SONNET) == SONNET.context_window


def test_a_prompt_too_long_for_haiku_goes_up_to_a_tier_that_takes_it() -> None:
    request = ModelRequest.user(ONE_MB, model=HAIKU.id)
    assert fitting_model(CAT, HAIKU, request) is SONNET
    small = ModelRequest.user("hello", model=HAIKU.id)
    assert fitting_model(CAT, HAIKU, small) is HAIKU
    with pytest.raises(PromptTooLong) as err:
        fitting_model(CAT, HAIKU, request, top=Tier.HAIKU)
    assert err.value.hint and "ladder_top" in err.value.hint and SONNET.id in err.value.hint


def test_a_prompt_too_long_for_every_model_is_refused_clearly() -> None:
    with pytest.raises(PromptTooLong) as err:
        fitting_model(CAT, HAIKU, ModelRequest.user(TEN_MB, model=HAIKU.id))
    assert "context window of 200,000 tokens" in err.value.message
    assert "nothing was sent" in err.value.message
    assert err.value.hint and "shorten the prompt" in err.value.hint


def run(tmp_path: Path, text: str, **job: object) -> tuple[object, list[object], int]:
    provider = get_provider("sim", seed=0, time_scale=0, catalog=CAT)
    sent: list[ModelRequest] = []
    complete = provider.complete

    async def spy(request: ModelRequest) -> object:
        sent.append(request)
        return await complete(request)

    provider.complete = spy  # type: ignore[method-assign]
    with Ledger.open(tmp_path / "l.db", catalog=CAT) as ledger:
        ctx = RunContext(provider=provider, catalog=CAT, router=Router(CAT), ledger=ledger,
                         store=RunStore(ledger), source="sim")  # fmt: skip
        task = Task(text=text, model="haiku", complexity=Label.LOW)  # not assessed: quicker
        report = run_jobs(ctx, [Job(id="big", task=task, strategy="single", **job)])  # type: ignore[arg-type]
        count = ledger.query("SELECT COUNT(*) FROM executions")[0][0]
    return report.outcomes[0], sent, int(count)


def test_the_simulator_never_runs_a_ten_megabyte_prompt(tmp_path: Path) -> None:
    outcome, sent, recorded = run(tmp_path, TEN_MB)
    assert outcome.status == "error"  # type: ignore[attr-defined]
    assert "context window" in outcome.reason and "hint: " in outcome.reason  # type: ignore[attr-defined]
    assert sent == [] and recorded == 0


def test_the_engine_routes_a_long_prompt_up(tmp_path: Path) -> None:
    outcome, sent, recorded = run(tmp_path, ONE_MB)
    assert [CAT.resolve(r.model).tier for r in sent] == [Tier.SONNET]  # type: ignore[attr-defined]
    assert outcome.attempts[0].tier is Tier.SONNET and recorded == 1  # type: ignore[attr-defined]
    (tmp_path / "capped").mkdir()
    capped, sent, recorded = run(tmp_path / "capped", ONE_MB, ladder_top=Tier.HAIKU)
    assert capped.status == "error" and sent == [] and recorded == 0  # type: ignore[attr-defined]


def test_max_tokens_counts_against_the_window() -> None:
    """The API refuses input + max_tokens over the window, so a prompt that fits alone but not
    with its max_tokens goes up a tier (or is refused naming max_tokens)."""
    text = "x" * (3 * 150_000)  # ~150k tokens as counted: fits Haiku's 200k alone
    fits = ModelRequest.user(text, model=HAIKU.id, max_tokens=1_000)
    assert fitting_model(CAT, HAIKU, fits) is HAIKU
    over = ModelRequest.user(text, model=HAIKU.id, max_tokens=64_000)
    assert fitting_model(CAT, HAIKU, over) is SONNET
    with pytest.raises(PromptTooLong) as err:
        fitting_model(CAT, HAIKU, over, top=Tier.HAIKU)
    assert "with max_tokens 64,000" in err.value.message
