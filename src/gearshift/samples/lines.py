"""The shapes of Claude Code transcript lines, per CLI generation.

Each :class:`Era` describes one generation of the CLI: its field order (1.0.x/2.0.x write the
envelope first, 2.1.2xx the message first), which optional fields exist, where subagent
transcripts go, and which models it ran. :class:`Envelope` builds the threaded records (user,
assistant, progress, attachment, system) of one thread as ``dict``s whose insertion order is the
field order written; the flat sidecars are plain functions. Nothing here decides *what* happens
in a session (that is :mod:`gearshift.samples.session`), only how it is spelt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "COST_MARK",
    "ERAS",
    "FAST_MODELS",
    "Envelope",
    "Era",
    "Usage",
    "api_error_message",
    "encode",
    "flat_line",
    "message",
    "queue_line",
    "snapshot_line",
    "summary_line",
    "tracked_entry",
    "usage_dict",
]

encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
COST_MARK = "__cost_usd__"
Json = dict[str, Any]

OPUS_5, OPUS_46, OPUS_45 = "claude-opus-5", "claude-opus-4-6", "claude-opus-4-5-20251101"
SONNET_5, SONNET_45 = "claude-sonnet-5", "claude-sonnet-4-5-20250929"
SONNET_4, HAIKU_45 = "claude-sonnet-4-20250514", "claude-haiku-4-5-20251001"
FAST_MODELS = frozenset({OPUS_5, OPUS_46})


@dataclass(frozen=True, slots=True)
class Era:
    """One generation of the CLI and what its transcripts look like."""

    key: str
    versions: tuple[str, ...]
    message_first: bool
    cost_usd: bool
    cache_split: bool
    entrypoint: bool
    git_branch: bool
    new_fields: bool
    agent_tool: str | None
    layout: str
    short_agent_ids: bool
    progress: bool
    attribution: bool
    workflows: bool
    btw: bool
    main_models: tuple[tuple[str, int], ...]
    sub_models: tuple[tuple[str, str], ...]


ERAS: dict[str, Era] = {
    "1.0": Era(
        "1.0", ("1.0.3", "1.0.6", "1.0.8"), message_first=False, cost_usd=True,
        cache_split=False, entrypoint=False, git_branch=False, new_fields=False, agent_tool=None,
        layout="none", short_agent_ids=True, progress=False, attribution=False, workflows=False,
        btw=False, main_models=((SONNET_4, 1),), sub_models=(),
    ),
    "2.0": Era(
        "2.0", ("2.0.14", "2.0.31", "2.0.55", "2.0.76"), message_first=False, cost_usd=False,
        cache_split=True, entrypoint=True, git_branch=True, new_fields=False, agent_tool="Task",
        layout="legacy", short_agent_ids=True, progress=False, attribution=False,
        workflows=False, btw=False, main_models=((SONNET_45, 55), (OPUS_45, 25), (SONNET_4, 20)),
        sub_models=(("Explore", HAIKU_45), ("general-purpose", SONNET_45), ("*", SONNET_45)),
    ),
    "2.1": Era(
        "2.1", ("2.1.29", "2.1.45", "2.1.74", "2.1.90"), message_first=False, cost_usd=False,
        cache_split=True, entrypoint=True, git_branch=True, new_fields=False, agent_tool="Task",
        layout="dir", short_agent_ids=True, progress=True, attribution=False, workflows=False,
        btw=False, main_models=((OPUS_46, 50), (SONNET_45, 50)),
        sub_models=(("Explore", HAIKU_45), ("general-purpose", SONNET_45), ("architect", OPUS_46),
                    ("*", SONNET_45)),
    ),
    "2.1.2xx": Era(
        "2.1.2xx", ("2.1.229", "2.1.248"), message_first=True, cost_usd=False, cache_split=True,
        entrypoint=True, git_branch=True, new_fields=True, agent_tool="Agent", layout="dir",
        short_agent_ids=False, progress=False, attribution=True, workflows=True, btw=True,
        main_models=((OPUS_5, 35), (OPUS_46, 25), (SONNET_5, 40)),
        sub_models=(("Explore", HAIKU_45), ("general-purpose", SONNET_5), ("architect", OPUS_5),
                    ("code-reviewer", OPUS_46), ("style-enforcer", HAIKU_45),
                    ("workflow-subagent", SONNET_5), ("*", SONNET_5)),
    ),
}  # fmt: skip


@dataclass(slots=True)
class Usage:
    """Token counts of one API call: uncached input, 5m and 1h cache writes, cache reads, output."""

    input: int
    cache_5m: int
    cache_1h: int
    cache_read: int
    output: int

    @property
    def prompt(self) -> int:
        return self.input + self.cache_5m + self.cache_1h + self.cache_read


def usage_dict(
    era: Era, u: Usage, *, split: bool, speed: str | None, geo: str, server_tools: bool
) -> Json:
    """``message.usage`` as the era wrote it; without ``split`` there is no ``cache_creation``."""
    d: Json = {
        "input_tokens": u.input,
        "cache_creation_input_tokens": u.cache_5m + u.cache_1h,
        "cache_read_input_tokens": u.cache_read,
        "output_tokens": u.output,
    }
    if server_tools:
        d["server_tool_use"] = {"web_search_requests": 0, "web_fetch_requests": 0}
    d["service_tier"] = "standard"
    if split:
        if era.new_fields:
            d["cache_creation"] = {
                "ephemeral_1h_input_tokens": u.cache_1h,
                "ephemeral_5m_input_tokens": u.cache_5m,
            }
        else:
            d["cache_creation"] = {
                "ephemeral_5m_input_tokens": u.cache_5m,
                "ephemeral_1h_input_tokens": u.cache_1h,
            }
    if era.new_fields:
        d["inference_geo"] = geo
        if speed is not None:
            d["speed"] = speed
    return d


def message(era: Era, model: str, mid: str, block: Json, stop: str | None, usage: Json) -> Json:
    """An assistant ``message`` holding one content block (one JSONL line per block)."""
    if era.new_fields:
        return {
            "model": model,
            "id": mid,
            "type": "message",
            "role": "assistant",
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
            "stop_details": None,
            "usage": usage,
            "diagnostics": None,
        }
    return {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def api_error_message(mid: str, text: str) -> Json:
    """The ``<synthetic>`` message of an API-error record: zero usage, never billed."""
    return {
        "id": mid,
        "model": "<synthetic>",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "stop_sequence",
        "stop_sequence": "",
        "usage": {
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


class Envelope:
    """Builds the threaded records of one thread (main or one subagent) in its era's field order."""

    __slots__ = ("_head", "_tail", "agent_id", "attribution", "era", "session_id", "sidechain")

    def __init__(
        self,
        era: Era,
        *,
        session_id: str,
        cwd: str,
        version: str,
        git_branch: str,
        entrypoint: str,
        slug: str | None,
        agent_id: str | None = None,
        agent_type: str | None = None,
    ) -> None:
        self.era = era
        self.session_id = session_id
        self.agent_id = agent_id
        self.sidechain = agent_id is not None
        self.attribution = agent_type if era.attribution and agent_id else None
        head: Json = {"userType": "external"}
        if era.entrypoint:
            head["entrypoint"] = entrypoint
        head |= {"cwd": cwd, "sessionId": session_id, "version": version}
        if era.git_branch:
            head["gitBranch"] = git_branch
        if agent_id:
            head["agentId"] = agent_id
        tail: Json = {"userType": "external", "entrypoint": entrypoint, "cwd": cwd}
        tail |= {"sessionId": session_id, "version": version, "gitBranch": git_branch}
        if slug:
            tail["slug"] = slug
        self._head = head
        self._tail = tail

    def _start(self, parent: str | None) -> Json:
        d: Json = {"parentUuid": parent, "isSidechain": self.sidechain}
        if self.era.message_first:
            if self.agent_id:
                d["agentId"] = self.agent_id
        else:
            d |= self._head
        return d

    def assistant(
        self,
        parent: str | None,
        uuid: str,
        ts: str,
        msg: Json,
        request_id: str | None,
        *,
        duration_ms: int = 0,
        effort: str | None = None,
    ) -> Json:
        d = self._start(parent)
        d["message"] = msg
        if self.era.cost_usd:
            d["costUSD"] = COST_MARK
            d["durationMs"] = duration_ms
        if request_id is not None:
            d["requestId"] = request_id
        if self.attribution:
            d["attributionAgent"] = self.attribution
        d |= {"type": "assistant", "uuid": uuid, "timestamp": ts}
        if self.era.message_first:
            d |= self._tail
            if effort:
                d["effort"] = effort
        return d

    def api_error(
        self, parent: str | None, uuid: str, ts: str, msg: Json, error: str, status: int
    ) -> Json:
        if not self.era.message_first:
            d = self._start(parent)
            d["message"] = msg
            d |= {"type": "assistant", "uuid": uuid, "timestamp": ts}
            if self.era.key != "1.0":
                d["isApiErrorMessage"] = True
            return d
        d = {"parentUuid": parent, "isSidechain": self.sidechain}
        if self.agent_id:
            d["agentId"] = self.agent_id
        d |= {"type": "assistant", "uuid": uuid, "timestamp": ts, "isApiErrorMessage": True}
        d |= {"error": error, "apiErrorStatus": status, "message": msg}
        return d | self._tail

    def user(
        self,
        parent: str | None,
        uuid: str,
        ts: str,
        msg: Json,
        *,
        prompt_id: str | None = None,
        result: Json | None = None,
        source: str | None = None,
    ) -> Json:
        d = self._start(parent)
        if prompt_id and self.era.message_first:
            d["promptId"] = prompt_id
        d |= {"type": "user", "message": msg, "uuid": uuid, "timestamp": ts}
        if result is not None:
            d["toolUseResult"] = result
        if source and self.era.message_first:
            d["sourceToolAssistantUUID"] = source
        if self.era.message_first:
            d |= self._tail
        return d

    def progress(
        self, parent: str | None, uuid: str, ts: str, data: Json, tool_use_id: str, parent_id: str
    ) -> Json:
        """A parent-side ``type:"progress"`` line; ``data`` may nest a whole assistant record."""
        d = self._start(parent)
        d |= {"type": "progress", "data": data, "toolUseID": tool_use_id}
        d |= {"parentToolUseID": parent_id, "uuid": uuid, "timestamp": ts}
        if self.era.message_first:
            d |= self._tail
        return d

    def attachment(self, parent: str | None, uuid: str, ts: str, attachment: Json) -> Json:
        d = self._start(parent)
        d |= {"attachment": attachment, "type": "attachment", "uuid": uuid, "timestamp": ts}
        if self.era.message_first:
            d |= self._tail
        return d

    def system(
        self, parent: str | None, uuid: str, ts: str, subtype: str, content: str, extra: Json
    ) -> Json:
        d = self._start(parent)
        d |= {"type": "system", "subtype": subtype, "content": content, "level": "info"}
        d |= extra
        d |= {"uuid": uuid, "timestamp": ts}
        if self.era.message_first:
            d |= self._tail
        return d


def summary_line(text: str, leaf: str) -> str:
    return encode({"type": "summary", "summary": text, "leafUuid": leaf})


def snapshot_line(message_id: str, tracked: str, ts: str, update: bool) -> str:
    """A ``file-history-snapshot`` line; ``tracked`` is the pre-encoded body of its backups map.

    These lines carry no usage but can make a transcript hundreds of MB, so they
    are assembled from a growing pre-encoded fragment rather than re-encoded each time.
    """
    flag = "true" if update else "false"
    return (
        f'{{"type":"file-history-snapshot","messageId":"{message_id}","snapshot":'
        f'{{"messageId":"{message_id}","trackedFileBackups":{{{tracked}}},"timestamp":"{ts}"}},'
        f'"isSnapshotUpdate":{flag}}}'
    )


def tracked_entry(path: str, backup: str, version: int, ts: str) -> str:
    return encode({path: {"backupFileName": backup, "version": version, "backupTime": ts}})[1:-1]


def queue_line(operation: str, ts: str, session_id: str, content: str | None) -> str:
    d: Json = {"type": "queue-operation", "operation": operation, "timestamp": ts}
    d["sessionId"] = session_id
    if content is not None:
        d["content"] = content
    return encode(d)


def flat_line(kind: str, key: str, value: str, session_id: str) -> str:
    """One of the small flat sidecars: ``last-prompt``, ``custom-title``, ``permission-mode``..."""
    return encode({"type": kind, key: value, "sessionId": session_id})
