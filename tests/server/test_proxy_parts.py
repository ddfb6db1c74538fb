"""The proxy's parsers and edits on their own: usage from streams cut anywhere, the model edit
that changes nothing else, body adaptations per target model, attribution, policy files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gearshift.catalog import load_catalog
from gearshift.errors import DefinitionError
from gearshift.server.metrics import OTHER, Folder
from gearshift.server.proxy.attribution import (
    AgentTypes,
    attribute,
    credential_hash,
    session_from,
)
from gearshift.server.proxy.edits import adapt, splice_model, switch_blocker
from gearshift.server.proxy.policy import load_policy
from gearshift.server.proxy.usage import StreamUsage, json_usage
from gearshift.server.security import is_loopback, token_matches
from gearshift.testing._fake_messages import CacheBook, Reply, message_body
from gearshift.testing.fake_anthropic import claude_code_events

CATALOG = load_catalog()


def _sse(events: list[tuple[str, dict[str, Any]]], newline: str = "\n") -> bytes:
    text = "".join(f"event: {e}{newline}data: {json.dumps(d)}{newline}{newline}" for e, d in events)
    return text.encode()


def _message() -> dict[str, Any]:
    body = {"model": "claude-opus-4-8", "max_tokens": 500, "messages": [{"role": "user",
            "content": "hello " * 30}]}  # fmt: skip
    return message_body(body, Reply("Here are the files: a.py, b.py and c.py."), CacheBook())


STREAM = _sse(claude_code_events(_message()))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(STREAM)), max_size=30), st.sampled_from(["\n", "\r\n"]))
def test_usage_is_the_same_however_the_stream_is_cut_into_chunks(
    cuts: list[int], newline: str
) -> None:
    data = _sse(claude_code_events(_message()), newline)
    points = sorted({min(c, len(data)) for c in cuts})
    tracker = StreamUsage()
    for start, end in zip([0, *points], [*points, len(data)], strict=True):
        tracker.feed(data[start:end])
    tracker.finish()
    message = _message()
    assert tracker.model == "claude-opus-4-8" and tracker.stop_reason == "tool_use"
    assert tracker.usage["output_tokens"] == message["usage"]["output_tokens"] + 40
    assert tracker.usage["input_tokens"] == message["usage"]["input_tokens"]
    assert not tracker.estimated and tracker.first_token_at is not None


@given(st.integers(0, len(STREAM)))
def test_a_stream_cut_short_is_estimated_from_what_was_sent(cut: int) -> None:
    tracker = StreamUsage()
    tracker.feed(STREAM[:cut])
    tracker.finish()
    if tracker.stop_reason is None:
        assert tracker.estimated
        sent = STREAM[:cut].count(b"_delta")
        assert tracker.usage.get("output_tokens", 0) >= (1 if sent else 0)


def test_later_usage_overwrites_only_what_it_names() -> None:
    events = [
        ("message_start", {"type": "message_start", "message": {"id": "m", "model": "x",
         "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 1}}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
         "usage": {"output_tokens": 7, "input_tokens": None}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": None},
         "usage": {"output_tokens": 9, "server_tool_use": {"web_search_requests": 2}}}),
    ]  # fmt: skip
    tracker = StreamUsage()
    tracker.feed(_sse(events))
    tracker.finish()
    assert tracker.usage == {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 9,
                             "server_tool_use": {"web_search_requests": 2}}  # fmt: skip
    assert tracker.stop_reason == "end_turn" and not tracker.estimated


@given(st.binary(max_size=400))
def test_no_bytes_break_the_stream_reader(data: bytes) -> None:
    tracker = StreamUsage()
    tracker.feed(data)
    tracker.finish()
    assert json_usage(data).usage is not None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                  max_size=3),
    max_leaves=10,
)  # fmt: skip


@given(
    st.dictionaries(st.text(max_size=6), _JSON, max_size=4),
    st.text(min_size=1, max_size=30),
    st.integers(0, 4),
    st.sampled_from([None, 1, 2]),
)
def test_the_model_edit_changes_that_value_only(
    extra: dict[str, Any], new: str, at: int, indent: int | None
) -> None:
    doc = {k: v for k, v in extra.items() if k != "model"}
    doc["nested"] = {"model": "inner", "messages": [{"model": "deep"}]}
    items = list(doc.items())
    items.insert(min(at, len(items)), ("model", "claude-opus-4-8"))
    body = json.dumps(dict(items), indent=indent).encode()
    out = splice_model(body, new)
    assert out is not None
    assert json.loads(out) == {**dict(items), "model": new}
    prefix = body.index(b'"claude-opus-4-8"')
    assert out[:prefix] == body[:prefix]
    assert out.endswith(body[prefix + len(b'"claude-opus-4-8"') :])


def test_adaptations_follow_what_the_target_accepts() -> None:
    haiku45 = CATALOG.resolve("claude-haiku-4-5")
    doc = {
        "model": "claude-opus-4-8",
        "max_tokens": 900,
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "low", "format": {"type": "json"}},
        "speed": "fast",
    }
    assert adapt(doc, haiku45) == ["model", "thinking", "effort", "speed"]
    assert "thinking" not in doc  # no room for the minimum budget below max_tokens
    assert doc["output_config"] == {"format": {"type": "json"}}
    opus47 = CATALOG.resolve("claude-opus-4-7")
    doc = {"model": "claude-sonnet-4-5", "max_tokens": 200_000,
           "thinking": {"type": "enabled", "budget_tokens": 150_000}}  # fmt: skip
    assert adapt(doc, opus47) == ["model", "max_tokens", "thinking"]
    assert doc == {"model": "claude-opus-4-7", "max_tokens": 128_000,
                   "thinking": {"type": "adaptive"}}  # fmt: skip
    fable = CATALOG.resolve("claude-fable-5")
    doc = {"model": "x", "max_tokens": 10, "thinking": {"type": "disabled"}}
    assert adapt(doc, fable) == ["model", "thinking"] and "thinking" not in doc
    unknown = CATALOG.resolve("claude-haiku-5-5")  # features not published: left as sent
    doc = {"model": "x", "max_tokens": 10, "thinking": {"type": "adaptive"}, "speed": "fast"}
    assert adapt(doc, unknown) == ["model"]


def test_some_conversations_must_not_move() -> None:
    sonnet5 = CATALOG.resolve("claude-sonnet-5")
    doc = {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]}
    assert "system messages" in (switch_blocker(doc, sonnet5, 100) or "")
    advisor = {"messages": [], "tools": [{"type": "advisor_20260301", "name": "advisor"}]}
    assert "advisor" in (switch_blocker(advisor, sonnet5, 100) or "")
    assert switch_blocker({"messages": []}, sonnet5, 100) is None


def test_attribution_from_headers() -> None:
    key = b"k" * 32
    prompt = "You write careful database migrations and check every index you touch."
    from gearshift.agents import AgentDefinition

    types = AgentTypes([AgentDefinition("db-migrator", instructions=prompt)])
    body = json.dumps({"system": [{"type": "text", "text": "cc"}, {"type": "text",
                       "text": f"pre\n{prompt}  \n post"}]}).encode()  # fmt: skip
    who = attribute(
        {b"x-claude-code-agent-id": b"a1", b"x-claude-code-session-id": b"s\x01bad",
         b"user-agent": b"claude-cli/2.1.139 (external, cli)"},
        body=body, session_hint="s-from-metadata", credential="c", types=types,
    )  # fmt: skip
    assert (who.agent, who.agent_type, who.session, who.version) == (
        "db-migrator", "db-migrator", "s-from-metadata", "2.1.139")  # fmt: skip
    plain = attribute({}, body=b"", session_hint="", credential="", types=None)
    assert plain.agent == "main" and plain.tags() == {}
    assert session_from('{"session_id": "abc-123"}') == "abc-123"
    assert session_from("user_1_account_2_session_0f0e0d0c-aaaa") == "0f0e0d0c-aaaa"
    assert credential_hash(key, b"sk-1") != credential_hash(key, b"sk-2")
    assert credential_hash(key, b"sk-1") != credential_hash(b"x" * 32, b"sk-1")


def test_policy_files_are_checked_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("agents:\n  Explore: haiku\n  Plan: keep\nkinds:\n  auxiliary: claude-nope\n")
    with pytest.raises(DefinitionError, match=r"p\.yaml:5: kinds\.auxiliary: unknown model"):
        load_policy(path, CATALOG)
    path.write_text("agents: {Explore: haiku}\nfloor: sonnet\nsurprise: 1\n")
    with pytest.raises(DefinitionError, match="surprise"):
        load_policy(path, CATALOG)
    path.write_text(
        "agents:\n  Explore: haiku\n  Plan: keep\nrules:\n"
        '  - if: task.type == "compaction"\n    then: {model: sonnet}\n'
    )
    policy = load_policy(path, CATALOG)
    assert policy.agents == {"Explore": CATALOG.resolve("haiku").id, "Plan": "keep"}
    assert policy.rules is not None and len(policy.rules.rules) == 1
    assert policy.explicit("", "Plan", "") == ("keep", "agents.Plan")


@given(st.text(max_size=40), st.text(min_size=1, max_size=40))
def test_tokens_match_only_themselves(given_: str, expected: str) -> None:
    assert token_matches(given_, expected) is (given_ == expected)
    assert token_matches(None, expected) is False


def test_loopback_names() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "example.com", ""]))


def test_label_values_are_bounded() -> None:
    fold = Folder(limit=2)
    assert [fold(n) for n in ("a", "b", "c", "a", "d")] == ["a", "b", OTHER, "a", OTHER]
