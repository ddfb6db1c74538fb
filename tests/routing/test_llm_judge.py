"""The LLM-judge assessor behind the Assessor protocol, with a fake completion callable."""

from __future__ import annotations

import asyncio

import pytest

from gearshift.catalog import Tier, load_catalog
from gearshift.errors import ValidationFailed
from gearshift.routing import (
    Assessor,
    KeywordEstimator,
    LLMJudgeAssessor,
    Router,
    Scores,
    Task,
    parse_judge_reply,
)


class FakeModel:
    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.prompts: list[str] = []

    async def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        await asyncio.sleep(0)
        return self.reply


def test_parses_lines_in_any_order_with_reasons() -> None:
    scores, evidence = parse_judge_reply(
        "Sure!\nstakes: 3 - touches payments\nMulti-step: 2 — two services\njudgement: 1\n"
    )
    assert scores == Scores(2, 1, 3)
    assert evidence["stakes"] == ("llm-judge: touches payments",)
    assert evidence["judgment"] == ("llm-judge",)


def test_parses_json_replies() -> None:
    scores, _ = parse_judge_reply('```json\n{"multi_step": 1, "judgment": 2, "stakes": 1}\n```')
    assert scores == Scores(1, 2, 1)


def test_incomplete_reply_is_a_validation_failure() -> None:
    with pytest.raises(ValidationFailed, match="lacks judgment, stakes") as err:
        parse_judge_reply("multi_step: 2")
    assert err.value.evidence == "multi_step: 2"


def test_judge_assesses_through_the_protocol() -> None:
    fake = FakeModel("multi_step: 3 - many steps\njudgment: 3 - trade-offs\nstakes: 2 - internal")
    judge = LLMJudgeAssessor(fake)
    assert isinstance(judge, Assessor) and isinstance(KeywordEstimator(), Assessor)
    a = asyncio.run(judge.assess("Design X", role="architect", description="designs"))
    assert a.source == "llm-judge" and a.scores == Scores(3, 3, 2)
    assert "Task: Design X" in fake.prompts[0] and "Agent role: architect" in fake.prompts[0]


def test_unparseable_reply_falls_back_to_the_estimator_or_raises() -> None:
    a = asyncio.run(LLMJudgeAssessor(FakeModel("I think it is hard.")).assess("Lint the code"))
    assert a.source == "estimator" and a.scores == Scores(1, 1, 1)
    assert a.evidence["stakes"][0] == "llm-judge reply unparseable; keyword estimate used"
    strict = LLMJudgeAssessor(FakeModel("no idea"), use_fallback=False)
    with pytest.raises(ValidationFailed):
        asyncio.run(strict.assess("Lint the code"))


def test_router_aroute_uses_the_async_assessor_only_when_needed() -> None:
    fake = FakeModel("multi_step: 3\njudgment: 3\nstakes: 3")
    router = Router(load_catalog(), assessor=LLMJudgeAssessor(fake))
    d = asyncio.run(router.aroute(Task("Lint the code")))
    assert d.tier is Tier.OPUS and d.assessment and d.assessment.source == "llm-judge"
    scored = asyncio.run(router.aroute(Task("Lint", scores=Scores(1, 1, 1))))
    assert scored.tier is Tier.HAIKU and len(fake.prompts) == 1
