"""The body edits a model switch needs, and the reasons a conversation must not switch.

Claude Code builds every request for the model *it* asked for; a request the proxy sends to
another model must be adapted, field by field, or the API refuses it (docs/proxy.md has the
table and the sources). Only what the target model's catalog entry says it cannot take is
changed; a target whose features are unknown gets the body as it was sent.

* ``model`` -- the only edit most switches need. It is made in the bytes (:func:`splice_model`):
  every other byte of the body stays as the client wrote it.
* ``thinking`` -- adaptive becomes enabled with a budget below ``max_tokens`` on a model that
  takes only that (or is dropped on a model that takes neither); enabled becomes adaptive on a
  model that refuses it; ``disabled`` is dropped where thinking cannot be turned off.
* ``output_config.effort`` and ``speed: "fast"`` -- dropped where not accepted.
* ``max_tokens`` -- clamped to the target's output limit (and a thinking budget below it).
* thinking blocks of assistant turns written by the previous model -- dropped: they belong to
  the model that wrote them (other models ignore them but bill them, or refuse them).

Other fields (``system``, ``tools``, ``cache_control``, earlier messages) are never touched. When
an edit beyond ``model`` is needed the body is re-encoded (keys keep their order).

A conversation stays on its requested model (:func:`switch_blocker`) when its prompt may not fit
the target's context window, when it holds mid-conversation system messages the target does not
take, or when it pairs with an advisor tool.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from gearshift.catalog import Model

__all__ = ["adapt", "splice_model", "switch_blocker"]

_MIN_THINKING_BUDGET = 1024
#: Bytes per token assumed when checking that a prompt fits a window: fewer bytes per token
#: than real text has, so the estimate errs towards "does not fit".
_BYTES_PER_TOKEN = 3
_MODEL_KEY = re.compile(rb'"model"\s*:\s*"((?:[^"\\]|\\.)*)"')
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]]')


def _depth(prefix: bytes) -> int:
    depth = 0
    for token in _TOKENS.finditer(prefix):
        ch = token.group()[:1]
        if ch in (b"{", b"["):
            depth += 1
        elif ch in (b"}", b"]"):
            depth -= 1
    return depth


def splice_model(body: bytes, new: str) -> bytes | None:
    """``body`` with its top-level ``model`` value replaced by ``new``, every other byte kept;
    ``None`` when the key cannot be found at the top level (the caller re-encodes instead)."""
    for match in _MODEL_KEY.finditer(body):
        if _depth(body[: match.start()]) == 1:
            value = msgspec.json.encode(new)
            return body[: match.start(1) - 1] + value + body[match.end(1) + 1 :]
    return None


def switch_blocker(doc: dict[str, Any], target: Model, prompt_bytes: int) -> str | None:
    """Why the conversation of ``doc`` must stay on its requested model rather than move to
    ``target`` (``None``: it may move)."""
    window = target.context_window
    if window is not None and prompt_bytes // _BYTES_PER_TOKEN > window:
        return f"the prompt may not fit {target.id}'s {window:,}-token window"
    messages = doc.get("messages")
    if (
        target.accepts("system-messages") is False
        and isinstance(messages, list)
        and any(isinstance(m, dict) and m.get("role") == "system" for m in messages)
    ):
        return f"the conversation has mid-conversation system messages {target.id} refuses"
    for tool in doc.get("tools") or ():
        if isinstance(tool, dict) and str(tool.get("type", "")).startswith("advisor_"):
            return "the request pairs with an advisor tool chosen for the requested model"
    return None


def adapt(doc: dict[str, Any], target: Model, *, strip_before: int = 0) -> list[str]:
    """Edit ``doc`` (a decoded Messages body) in place for ``target``; returns the names of the
    edits made (``model`` always first)."""
    doc["model"] = target.id
    edits = ["model"]
    _max_tokens(doc, target, edits)
    _thinking(doc, target, edits)
    _effort(doc, target, edits)
    if doc.get("speed") == "fast" and target.accepts("fast") is False:
        del doc["speed"]
        edits.append("speed")
    if strip_before and _strip_thinking(doc, strip_before):
        edits.append("thinking-blocks")
    return edits


def _thinking(doc: dict[str, Any], target: Model, edits: list[str]) -> None:
    thinking = doc.get("thinking")
    if not isinstance(thinking, dict):
        return
    kind = thinking.get("type")
    adaptive, enabled = target.accepts("adaptive-thinking"), target.accepts("enabled-thinking")
    if kind == "adaptive" and adaptive is False:
        budget = _budget_for(doc)
        if enabled and budget is not None:
            doc["thinking"] = {"type": "enabled", "budget_tokens": budget}
        else:
            del doc["thinking"]
        edits.append("thinking")
    elif kind == "enabled" and enabled is False:
        if adaptive:
            doc["thinking"] = {"type": "adaptive"}
        else:
            del doc["thinking"]
        edits.append("thinking")
    elif kind == "disabled" and target.accepts("thinking-required"):
        del doc["thinking"]
        edits.append("thinking")


def _budget_for(doc: dict[str, Any]) -> int | None:
    """A thinking budget for a request that asked for adaptive thinking: half its output, at
    least the API's minimum, always below ``max_tokens``; ``None`` when there is no room."""
    max_tokens = doc.get("max_tokens")
    if not isinstance(max_tokens, int) or max_tokens <= _MIN_THINKING_BUDGET:
        return None
    return max(_MIN_THINKING_BUDGET, max_tokens // 2)


def _effort(doc: dict[str, Any], target: Model, edits: list[str]) -> None:
    config = doc.get("output_config")
    if isinstance(config, dict) and "effort" in config and target.accepts("effort") is False:
        del config["effort"]
        if not config:
            del doc["output_config"]
        edits.append("effort")


def _max_tokens(doc: dict[str, Any], target: Model, edits: list[str]) -> None:
    limit = target.max_output
    max_tokens = doc.get("max_tokens")
    if limit is None or not isinstance(max_tokens, int) or max_tokens <= limit:
        return
    doc["max_tokens"] = limit
    edits.append("max_tokens")
    thinking = doc.get("thinking")
    budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
    if isinstance(thinking, dict) and isinstance(budget, int) and budget >= limit:
        thinking["budget_tokens"] = max(_MIN_THINKING_BUDGET, limit // 2)


def _strip_thinking(doc: dict[str, Any], before: int) -> bool:
    """Drop thinking blocks from assistant turns among the first ``before`` messages (written by
    the model the conversation left); returns whether any was dropped."""
    messages = doc.get("messages")
    if not isinstance(messages, list):
        return False
    dropped = False
    for message in messages[:before]:
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        content = message.get("content")
        if not isinstance(content, list):
            continue
        kept = [
            b
            for b in content
            if not (isinstance(b, dict) and b.get("type") in ("thinking", "redacted_thinking"))
        ]
        if kept and len(kept) != len(content):  # a turn of thinking only is left whole
            dropped = True
            message["content"] = kept
    return dropped
