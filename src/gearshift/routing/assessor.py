"""The assessor interface, and an LLM judge that plugs in behind it.

An assessor turns a task into rubric scores with evidence. The keyword estimator is the default:
free, instant and deterministic. A team that wants a second opinion can put a cheap model in
front instead — the article's own move of using Haiku for classification — through
:class:`LLMJudgeAssessor`, which takes any ``async complete(prompt) -> str`` callable (the
execution engine's provider interface on a Haiku model, or a fake in tests), asks the three
questions and parses the scores and reasons from the reply. A reply it cannot parse falls back
to the keyword estimator, with the fallback noted in the evidence, so routing never stalls on a
chatty judge.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, runtime_checkable

from gearshift.errors import ConfigError, ValidationFailed
from gearshift.routing.estimator import KeywordEstimator
from gearshift.routing.rubric import DIMENSIONS, Assessment, Scores

__all__ = ["JUDGE_PROMPT", "Assessor", "LLMJudgeAssessor", "TextEstimator", "parse_judge_reply"]


@runtime_checkable
class Assessor(Protocol):
    """Scores a task on the three rubric questions. ``name`` becomes the assessment source."""

    name: str

    async def assess(self, text: str, *, role: str = "", description: str = "") -> Assessment: ...


@runtime_checkable
class TextEstimator(Protocol):
    """A synchronous, local assessor the router can call on its hot path: the keyword
    estimator or the learned zero-shot estimator."""

    name: str

    def estimate(self, text: str, *, role: str = "", description: str = "") -> Assessment: ...


JUDGE_PROMPT = """\
You rate how demanding a task for an AI coding agent is, to pick the cheapest model that can do
it well. Score each question 1 (low), 2 (medium) or 3 (high):

multi_step: does it need reasoning across several steps (holding state, dependencies, causes)?
judgment: does it need subjective judgment (trade-offs, taste, context, nuance)?
stakes: what does a wrong answer cost (3 = cascading problems: production, security, money)?

Agent role: {role}
Agent description: {description}
Task: {text}

Reply with exactly three lines and nothing else, each "name: score - short reason", e.g.
multi_step: 1 - a single mechanical step"""

_LINE = re.compile(
    r"(multi[-_ ]?step|reasoning|judge?ment|subjective|stakes|risk)\W{0,5}([1-3])\b[ \t]*"
    r"[-:–—]?[ \t]*([^\n]*)",
    re.IGNORECASE,
)
_CANON = {
    "multistep": "multi_step",
    "reasoning": "multi_step",
    "judgment": "judgment",
    "judgement": "judgment",
    "subjective": "judgment",
    "stakes": "stakes",
    "risk": "stakes",
}


def parse_judge_reply(reply: str) -> tuple[Scores, Mapping[str, tuple[str, ...]]]:
    """The scores and per-question reasons in a judge's reply.

    Accepts ``name: score - reason`` lines (any order, aliases such as ``reasoning`` and
    ``risk``) or a JSON object with the three names. Raises :class:`ValidationFailed` when a
    question is missing.
    """
    found: dict[str, tuple[int, str]] = {}
    blob = re.search(r"\{.*\}", reply, re.DOTALL)
    if blob is not None:
        try:
            data = json.loads(blob.group())
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            try:
                scores = Scores.parse({k: v for k, v in data.items() if k != "reason"})
                return scores, dict.fromkeys(DIMENSIONS, ("llm-judge",))
            except ConfigError:
                pass  # not the three scores: try the line format
    for match in _LINE.finditer(reply):
        key = _CANON[re.sub(r"[-_ ]", "", match.group(1).lower())]
        found.setdefault(key, (int(match.group(2)), match.group(3).strip()))
    missing = [d for d in DIMENSIONS if d not in found]
    if missing:
        raise ValidationFailed(f"judge reply lacks {', '.join(missing)}", evidence=reply[:500])
    scores = Scores(*(found[d][0] for d in DIMENSIONS))
    evidence = {
        d: (f"llm-judge: {found[d][1]}" if found[d][1] else "llm-judge",) for d in DIMENSIONS
    }
    return scores, evidence


class LLMJudgeAssessor:
    """Asks a model the three rubric questions through ``complete(prompt) -> reply``.

    ``fallback`` (the keyword estimator by default; ``None`` to raise instead) answers when the
    reply cannot be parsed. Errors of ``complete`` itself propagate: the caller's retry loop
    owns them.
    """

    name = "llm-judge"

    def __init__(
        self,
        complete: Callable[[str], Awaitable[str]],
        *,
        fallback: KeywordEstimator | None = None,
        use_fallback: bool = True,
        prompt: str = JUDGE_PROMPT,
    ) -> None:
        self._complete = complete
        self._fallback = fallback or (KeywordEstimator() if use_fallback else None)
        self._prompt = prompt

    def prompt_for(self, text: str, *, role: str = "", description: str = "") -> str:
        return self._prompt.format(text=text, role=role or "-", description=description or "-")

    async def assess(self, text: str, *, role: str = "", description: str = "") -> Assessment:
        reply = await self._complete(self.prompt_for(text, role=role, description=description))
        try:
            scores, evidence = parse_judge_reply(reply)
        except ValidationFailed:
            if self._fallback is None:
                raise
            estimate = self._fallback.estimate(text, role=role, description=description)
            note = ("llm-judge reply unparseable; keyword estimate used",)
            merged = {d: note + estimate.evidence.get(d, ()) for d in DIMENSIONS}
            return Assessment(estimate.scores, estimate.source, merged)
        return Assessment(scores, self.name, evidence)
