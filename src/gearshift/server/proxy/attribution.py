"""Who a request is for: session, agent, parent agent, agent type, credential.

From Claude Code's headers (``x-claude-code-session-id``, ``-agent-id``, ``-parent-agent-id``,
and the hint headers ``-request-class``, ``-agent-type``, ``-prompt-id``, ``-compaction`` when it
sends them), the version in ``user-agent``, and a keyed hash of the credential. The ledger's
``agent`` is, first match wins:

1. ``x-gearshift-agent`` -- an explicit name, for SDK clients and services;
2. the agent's type: the hint header, or (when the hint is absent or only says ``custom``) the
   known agent definition whose prompt the request's system prompt contains -- searched in every
   system block, never at a fixed position, since Claude Code prepends its own blocks;
3. ``subagent`` for an agent whose type nothing names (as transcript ingest says);
4. ``main``.

The agent id is never taken for a user: it names one spawned agent. Header values are kept
only when they are short printable ASCII (they become ledger tags and metric labels).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import msgspec

from gearshift.agents import AgentDefinition

__all__ = ["FALLBACK", "MAIN", "AgentTypes", "Attribution", "credential_hash", "session_from"]

MAIN = "main"
FALLBACK = "subagent"
_PRINTABLE = re.compile(rb"^[\x20-\x7e]{1,200}$")
_VERSION = re.compile(r"claude-cli/([0-9][0-9A-Za-z.+-]{0,40})")
_SESSION_SUFFIX = re.compile(r"_session_([0-9A-Za-z-]{8,80})$")
#: Characters of an agent's prompt used to recognise it (enough to tell agents apart, short
#: enough to survive Claude Code appending to it).
_PRINT_CHARS = 240


class Attribution(msgspec.Struct, frozen=True, kw_only=True):
    """The attribution of one request (values are printable ASCII or empty)."""

    session: str = ""
    agent: str = MAIN
    agent_id: str = ""
    parent_agent_id: str = ""
    agent_type: str = ""
    request_class: str = ""
    prompt_id: str = ""
    compaction: str = ""
    version: str = ""
    credential: str = ""
    explicit: str = ""

    def tags(self) -> dict[str, str]:
        """The ledger tags of this attribution (empty values left out)."""
        pairs = {
            "agent_id": self.agent_id,
            "parent_agent_id": self.parent_agent_id,
            "agent_type": self.agent_type,
            "request_class": self.request_class,
            "prompt_id": self.prompt_id,
            "compaction": self.compaction,
            "cc_version": self.version,
            "credential": self.credential,
        }
        return {k: v for k, v in pairs.items() if v}


def clean(value: bytes | None) -> str:
    """A header value fit for a tag: printable ASCII up to 200 bytes, else empty."""
    if not value or not _PRINTABLE.match(value):
        return ""
    return value.decode("ascii").strip()


def credential_hash(key: bytes, credential: bytes) -> str:
    """A keyed hash of a credential (16 hex digits): it groups a developer's requests without
    the credential ever being stored, and cannot be reversed or guessed without ``key``."""
    return hmac.new(key, credential, hashlib.sha256).hexdigest()[:16]


def session_from(metadata_user_id: str | None) -> str:
    """The session named in ``metadata.user_id`` by older Claude Code builds (a JSON string with
    ``session_id``, or a ``..._session_<uuid>`` suffix); empty when there is none."""
    if not metadata_user_id:
        return ""
    text = metadata_user_id.strip()
    if text.startswith("{"):
        try:
            found = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return ""
        session = found.get("session_id") if isinstance(found, dict) else None
        return clean(session.encode()) if isinstance(session, str) else ""
    match = _SESSION_SUFFIX.search(text)
    return match.group(1) if match else ""


def version_from(user_agent: bytes | None) -> str:
    match = _VERSION.search(clean(user_agent))
    return match.group(1) if match else ""


class _Block(msgspec.Struct):
    text: str = ""


class _System(msgspec.Struct):
    system: str | list[_Block | str] | None = None


_SYSTEM = msgspec.json.Decoder(_System)


def _squash(text: str) -> str:
    return " ".join(text.split())


class AgentTypes:
    """Recognises the known agent definitions in a request's system prompt.

    An agent id keeps its type for life, so each id is looked up once (the answer is kept for
    the last ``remember`` ids).
    """

    def __init__(self, agents: Iterable[AgentDefinition], *, remember: int = 10_000) -> None:
        prints = []
        for agent in agents:
            text = _squash(agent.instructions)[:_PRINT_CHARS]
            if len(text) >= 20:  # too short a prompt would match by accident
                prints.append((text, agent.name))
        self._prints = sorted(prints, key=lambda p: -len(p[0]))
        self._known: OrderedDict[str, str] = OrderedDict()
        self._remember = remember

    def __bool__(self) -> bool:
        return bool(self._prints)

    def type_of(self, agent_id: str, body: bytes) -> str:
        """The name of the agent whose prompt ``body``'s system prompt holds, or ``""``."""
        known = self._known.get(agent_id)
        if known is not None:
            self._known.move_to_end(agent_id)
            return known
        found = self.match(body)
        self._known[agent_id] = found
        if len(self._known) > self._remember:
            self._known.popitem(last=False)
        return found

    def match(self, body: bytes) -> str:
        if not self._prints:
            return ""
        try:
            system = _SYSTEM.decode(body).system
        except (msgspec.DecodeError, msgspec.ValidationError):
            return ""
        if system is None:
            return ""
        blocks: list[Any] = [system] if isinstance(system, str) else system
        texts = [_squash(b if isinstance(b, str) else b.text) for b in blocks]
        for fingerprint, name in self._prints:
            if any(fingerprint in text for text in texts):
                return name
        return ""


def attribute(
    headers: dict[bytes, bytes],
    *,
    body: bytes,
    session_hint: str,
    credential: str,
    types: AgentTypes | None,
) -> Attribution:
    """The attribution of a request from its (lower-cased) headers and body."""
    agent_id = clean(headers.get(b"x-claude-code-agent-id"))
    hinted = clean(headers.get(b"x-claude-code-agent-type"))
    explicit = clean(headers.get(b"x-gearshift-agent"))
    agent_type = hinted
    if agent_id and types and (not hinted or hinted == "custom"):
        agent_type = types.type_of(agent_id, body) or hinted
    if explicit:
        agent = explicit
    elif agent_type and agent_type != "custom":
        agent = agent_type
    elif agent_id:
        agent = FALLBACK
    else:
        agent = MAIN
    return Attribution(
        session=clean(headers.get(b"x-claude-code-session-id")) or session_hint,
        agent=agent,
        agent_id=agent_id,
        parent_agent_id=clean(headers.get(b"x-claude-code-parent-agent-id")),
        agent_type=agent_type,
        request_class=clean(headers.get(b"x-claude-code-request-class")),
        prompt_id=clean(headers.get(b"x-claude-code-prompt-id")),
        compaction=clean(headers.get(b"x-claude-code-compaction")),
        version=version_from(headers.get(b"user-agent")),
        credential=credential,
        explicit=explicit,
    )
