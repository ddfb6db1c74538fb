"""Does a request fit its model's context window? Checked before every call the engine makes.

A prompt too long for its model is routed up to the first tier whose model takes it (up to the
job's ``ladder_top``), or refused with :class:`~gearshift.errors.PromptTooLong` -- before any
call, so nothing is sent, reserved or recorded. A simulator would otherwise "run" a 10 MB prompt
as millions of tokens on Haiku, and the API would answer it with a 400.

What must fit is the prompt **and** ``max_tokens``: the API refuses a request whose input and
``max_tokens`` together exceed the window ("input length and `max_tokens` exceed context
limit"), whatever the answer's real length would have been.

The size is estimated without a network call, on the high side for English and code (very
dense text, CJK or base64, can run denser; the API then refuses the call itself):
:func:`~gearshift.providers.base.input_token_bound` (images and PDF pages at the most they
cost, framing included) with text counted at :data:`BYTES_PER_TOKEN` UTF-8 bytes a token
rather than one -- English runs about four bytes a token, CJK and code about three. A model
whose window the catalog does not give is taken to have the smallest window known for its
tier; when no model of the tier gives one, the request is not checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from gearshift.catalog import Catalog, Model, Tier
from gearshift.errors import PromptTooLong
from gearshift.providers.base import ModelRequest, input_token_bound

__all__ = ["BYTES_PER_TOKEN", "fitting_model", "prompt_tokens", "window_of"]

BYTES_PER_TOKEN = 3


def prompt_tokens(request: ModelRequest) -> int:
    """The input tokens of ``request``, estimated on the high side (see the module doc)."""
    text = len((request.system or "").encode("utf-8"))
    for message in request.messages:
        content = message.get("content", "")
        for block in [content] if isinstance(content, str) else content:
            if isinstance(block, str):
                text += len(block.encode("utf-8"))
            elif isinstance(block, Mapping) and block.get("type") == "text":
                text += len(str(block.get("text", "")).encode("utf-8"))
    return input_token_bound(request) - text + math.ceil(text / BYTES_PER_TOKEN)


def window_of(catalog: Catalog, model: Model) -> int | None:
    """``model``'s context window, else the smallest known in its tier, else ``None``."""
    if model.context_window:
        return model.context_window
    known = [m.context_window for m in catalog if m.tier is model.tier and m.context_window]
    return min(known) if known else None


def fitting_model(
    catalog: Catalog, model: Model, request: ModelRequest, *, top: Tier = Tier.OPUS
) -> Model:
    """``model`` if ``request`` (its prompt and ``max_tokens``) fits its window, else the default
    model of the first tier up to ``top`` that it fits; PromptTooLong when none does."""
    prompt = prompt_tokens(request)
    tokens = prompt + request.max_tokens
    window = window_of(catalog, model)
    if window is None or tokens <= window:
        return model
    tried: list[tuple[Model, int | None]] = [(model, window)]
    for tier in _tiers_above(model.tier):
        candidate = catalog.default_for(tier)
        size = window_of(catalog, candidate)
        if tier.rank <= top.rank and (size is None or tokens <= size):
            return candidate
        tried.append((candidate, size))
    raise _too_long(prompt, request.max_tokens, tried, top)


def _tiers_above(tier: Tier) -> Sequence[Tier]:
    return [t for t in Tier.ordered() if t.rank > tier.rank]


def _too_long(
    prompt: int, max_tokens: int, tried: list[tuple[Model, int | None]], top: Tier
) -> PromptTooLong:
    first, window = tried[0][0], tried[0][1] or 0
    tokens = prompt + max_tokens
    above = [m for m, size in tried[1:] if size is None or tokens <= size]
    if above:
        hint = (
            f"{above[0].id} ({above[0].tier.value}) would take it, above this job's ladder_top "
            f"({top.value}): raise ladder_top, or shorten the prompt"
        )
    else:
        hint = (
            "shorten the prompt, lower max_tokens or split the task: no model gearshift may "
            "route to takes it"
        )
    return PromptTooLong(
        f"the prompt is about {prompt:,} tokens (counted at {BYTES_PER_TOKEN} bytes a token), "
        f"which with max_tokens {max_tokens:,} is more than {first.id}'s context window of "
        f"{window:,} tokens; nothing was sent",
        hint=hint,
    )
