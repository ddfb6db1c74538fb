"""One conversation thread (a main transcript or one subagent's) and the lines its turns write.

A :class:`Thread` keeps a clock, a token context and a parent-uuid chain, and writes API calls
as Claude Code does: one JSONL line per content block, all sharing the message id, request id
and usage. Token counts follow the magnitudes seen in real transcripts (a first turn writes
15-25k to the cache, later turns read a context that grows until it is compacted), and the
context is compacted before a prompt (input + cache writes + cache reads) could pass ~168k, so
no request reaches the 200k long-context threshold of Sonnet 4/4.5.

Every copy of one call gets a timestamp on the same UTC day as its first copy, so the day a
call is counted on does not depend on which copy a reader keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gearshift.samples.corpus import Corpus, Sink
from gearshift.samples.lines import (
    COST_MARK,
    FAST_MODELS,
    HAIKU_45,
    Envelope,
    Era,
    Usage,
    api_error_message,
    encode,
    message,
    usage_dict,
)
from gearshift.samples.text import DAY_MS, day_end, iso, iso_day
from gearshift.samples.truth import UsageCopy

__all__ = ["Session", "Thread", "Written"]

Json = dict[str, Any]
_TOOLS = ("Edit", "Bash", "Read", "Grep", "Write", "Glob", "TodoWrite", "WebFetch", "WebSearch")
_TOOL_WEIGHTS = (20, 25, 20, 10, 8, 5, 7, 2, 3)
_PADDED_RESULTS = frozenset({"Read", "Grep", "Glob", "WebSearch", "Bash"})
_ERRORS = (
    ("server_error", 529, "API Error: 529 Overloaded. The service is temporarily overloaded."),
    ("server_error", 500, "API Error: 500 Internal server error"),
    ("rate_limit", 429, "API Error: Request rejected (429) rate limited, retry later"),
    ("authentication_failed", 401, "API Error: 401 OAuth token has expired"),
)


@dataclass(slots=True)
class Session:
    """What every thread of one session shares."""

    corpus: Corpus
    era: Era
    project: str
    project_dir: Path
    session_id: str
    cwd: str
    version: str
    git_branch: str
    entrypoint: str
    slug: str | None
    files: tuple[str, ...]

    @property
    def dir(self) -> Path:
        return self.project_dir / self.session_id


@dataclass(slots=True)
class Written:
    """One assistant line as written: enough to mirror it in a progress line or replay it."""

    ts: int
    uuid: str
    msg: Json
    request_id: str | None
    copy: UsageCopy


class Thread:
    """A transcript being written, turn by turn; see the module docstring."""

    def __init__(
        self,
        s: Session,
        sink: Sink,
        *,
        agent: str,
        agent_id: str | None,
        model: str,
        depth: int,
        clock: int,
        target: int,
    ) -> None:
        c = s.corpus
        rng = c.rng
        era = s.era
        self.s, self.c, self.rng, self.ids, self.sink = s, c, rng, c.ids, sink
        self.agent, self.agent_id, self.model, self.depth = agent, agent_id, model, depth
        self.clock, self.target = clock, target
        self.main = agent_id is None
        self.env = Envelope(
            era,
            session_id=s.session_id,
            cwd=s.cwd,
            version=s.version,
            git_branch=s.git_branch,
            entrypoint=s.entrypoint,
            slug=s.slug,
            agent_id=agent_id,
            agent_type=agent if agent_id else None,
        )
        self.small = target < 12_000
        self.parent: str | None = None
        self.ctx = 0
        self.first = True
        # A context is compacted before ~150-168k; one early thread compacts sooner so that even
        # a small corpus shows a compaction.
        owed = self.main and "compaction" in c.pending
        self.limit = rng.randint(25_000, 35_000) if owed else rng.randint(150_000, 168_000)
        self.ttl = self._ttl()
        self.jittery = c.want("timestamp_stepback", 0.2)
        self.thinking = era.key != "1.0" and model != HAIKU_45
        self.fast = era.key == "2.1.2xx" and self.main and model in FAST_MODELS
        self.effort = rng.choice(("high", "xhigh", "max")) if self.fast else None
        self.mirror: list[Written] | None = None
        self.reserved = 0
        self.last_usage: Usage | None = None
        self.steps = 0
        self.tool_calls = 0

    # ------------------------------------------------------------------ clocks and budget

    def done(self) -> bool:
        return self.sink.size >= self.target or self.c.exhausted()

    def tick(self, lo: int, hi: int) -> int:
        self.clock += self.rng.randint(lo, hi)
        return self.clock

    def _base_ts(self) -> int:
        if self.jittery and self.rng.random() < 0.1:
            self.c.did("timestamp_stepback")
            return self.clock - self.rng.randint(1_000, 60_000)
        return self.clock

    def _ttl(self) -> str:
        if self.s.era.cache_split and "cache_mixed" in self.c.pending:
            return "mixed"
        r = self.rng.random()
        if self.s.era.key == "2.1.2xx" and self.main:
            return "1h" if r < 0.6 else "5m" if r < 0.85 else "mixed"
        return "5m" if r < 0.8 else "1h" if r < 0.9 else "mixed"

    # ------------------------------------------------------------------ tokens

    def _usage(self, final: bool) -> tuple[Usage, bool]:
        rng = self.rng
        if self.first:
            self.first = False
            inp = rng.randint(3, 4) if self.main else rng.randint(8, 12)
            write = rng.randint(15_000, 25_000) if self.main else rng.randint(12_000, 20_000)
            read = 0
        else:
            inp = rng.randint(1, 3) if rng.random() < 0.8 else rng.randint(4, 10)
            r = rng.random()
            write = (
                rng.randint(100, 1_500)
                if r < 0.5
                else rng.randint(1_500, 5_000)
                if r < 0.85
                else rng.randint(5_000, 10_000)
            )
            read = self.ctx
        compacted = read + write + inp > self.limit
        if compacted:
            self.c.did("compaction")
            read = rng.randint(10_000, 14_000) if rng.random() < 0.5 else 0
            write = rng.randint(12_000, 30_000)
        r = rng.random()
        if final:
            out = rng.randint(150, 3_000)
        else:
            out = (
                rng.randint(20, 300)
                if r < 0.6
                else rng.randint(300, 900)
                if r < 0.9
                else rng.randint(900, 3_000)
            )
        self.ctx = read + write + inp + out
        if self.ttl == "1h":
            h1 = write
        elif self.ttl == "mixed":
            h1 = rng.randint(0, write)
        else:
            h1 = 0
        return Usage(inp, write - h1, h1, read, out), compacted

    def _cost_micros(self, u: Usage) -> int:
        """The legacy client-side ``costUSD`` estimate in micro-USD (Sonnet 4 list prices, plus
        the few-percent noise of an estimate, so ``display`` and ``calculate`` modes differ)."""
        hundredths = 300 * u.input + 1500 * u.output + 375 * (u.cache_5m + u.cache_1h)
        hundredths += 30 * u.cache_read
        return hundredths * self.rng.randint(97, 103) // 10_000

    # ------------------------------------------------------------------ lines

    def write(self, d: Json, copies: tuple[UsageCopy, ...] = (), *, tearable: bool = True) -> str:
        self.sink.line(encode(d), copies, tearable=tearable)
        return str(d["uuid"])

    def user(
        self,
        msg: Json,
        *,
        result: Json | None = None,
        source: str | None = None,
        prompt: bool = False,
        tearable: bool = True,
    ) -> str:
        uuid = self.ids.uuid()
        d = self.env.user(
            self.parent,
            uuid,
            iso(self.clock),
            msg,
            prompt_id=self.ids.uuid() if prompt else None,
            result=result,
            source=source,
        )
        self.parent = self.write(d, tearable=tearable)
        return uuid

    def system(self, subtype: str, content: str, extra: Json) -> None:
        uuid = self.ids.uuid()
        d = self.env.system(self.parent, uuid, iso(self.clock), subtype, content, extra)
        self.parent = self.write(d)
        self.c.did(f"system:{subtype}")

    def _assistant(self, msg: Json, rid: str | None, ts: int, copy: UsageCopy) -> str:
        uuid = self.ids.uuid()
        d = self.env.assistant(
            self.parent, uuid, iso(ts), msg, rid, duration_ms=ts % 9_000 + 900, effort=self.effort
        )
        text = encode(d)
        if copy.cost_usd_micros is not None:
            m = copy.cost_usd_micros
            text = text.replace(f'"{COST_MARK}"', f"{m // 1_000_000}.{m % 1_000_000:06d}", 1)
            self.c.did("legacy_cost_usd")
        self.sink.line(text, (copy,))
        self.parent = uuid
        return uuid

    def api_error(self) -> None:
        """A ``<synthetic>`` API-error record: zero usage, counted as an error, never billed."""
        c, rng, era = self.c, self.rng, self.s.era
        ts = self.clock
        mid = self.ids.uuid()
        if era.key in ("1.0", "2.0") and c.want("legacy_usage_limit_error", 0.3):
            error, status = "rate_limit", 429
            text = f"Claude AI usage limit reached|{ts // 1000 + rng.randint(600, 18_000)}"
            c.did("legacy_usage_limit_error")
        else:
            error, status, text = rng.choice(_ERRORS)
        copy = UsageCopy(
            mid, None, self.env.sidechain, 0, 0, 0, 0, 0, iso_day(ts // DAY_MS),
            self.s.project, self.s.session_id, self.agent, "<synthetic>",
        )  # fmt: skip
        uuid = self.ids.uuid()
        d = self.env.api_error(
            self.parent, uuid, iso(ts), api_error_message(mid, text), error, status
        )
        self.parent = self.write(d, (copy,))
        c.did("api_error")
        self.tick(1_000, 30_000)

    def call(self, blocks: list[Json], *, final: bool, plain: bool = False) -> list[Written]:
        """Write one API response, one line per content block, and return the lines written.

        ``plain`` calls (those spawning subagents) get none of the request-id or null quirks.
        """
        c, era = self.c, self.s.era
        size_before = self.sink.size
        self.tick(1_500, 40_000 if self.main else 12_000)
        if c.want("api_error", 0.004) or (
            era.key in ("1.0", "2.0") and "legacy_usage_limit_error" in c.pending
        ):
            self.api_error()
        base = self._base_ts()
        u, compacted = self._usage(final)
        if compacted and self.main:
            self.system("compact_boundary", "Conversation compacted", _compact_meta(u))
        blocks, rid, divergent = self._request_id(blocks, plain)
        split = era.cache_split and rid is not None
        if not split:
            u = Usage(u.input, u.cache_5m + u.cache_1h, 0, u.cache_read, u.output)
            c.did("no_cache_creation")
        elif u.cache_5m and u.cache_1h:
            c.did("cache_mixed")
        speed = self._speed()
        ud = usage_dict(
            era, u, split=split, speed=speed, geo="not_available", server_tools=era.new_fields
        )
        if not plain and rid and self.main and c.divergent and c.want("null_field", 0.003):
            blocks = blocks[-1:]
            _null_field(blocks[0], ud)
            c.did("null_field")
            divergent = True
        copy = UsageCopy(
            self.ids.message_id(), rid, self.env.sidechain, u.input, u.output, u.cache_5m,
            u.cache_1h, u.cache_read, iso_day(base // DAY_MS), self.s.project, self.s.session_id,
            self.agent, self.model, self._cost_micros(u) if era.cost_usd else None, divergent,
        )  # fmt: skip
        if (
            len(blocks) > 1
            and rid
            and era.key.startswith("2.1")
            and c.want("stream_snapshot", 0.03)
        ):
            self._stream_snapshot(blocks[0], copy, u, speed, base)
        written = self._lines(blocks, copy, ud, base, "end_turn" if final else "tool_use")
        if self.mirror is not None:
            self.mirror.extend(written)
            grown = self.sink.size - size_before
            self.reserved += grown
            c.reserved += grown
        self.clock = max(self.clock, written[-1].ts) + u.output * self.rng.randint(8, 25)
        self.last_usage = u
        self.steps += 1
        return written

    def _request_id(self, blocks: list[Json], plain: bool) -> tuple[list[Json], str | None, bool]:
        """The call's request id, or none (a gateway); then it is one line unless the corpus
        may diverge from ccusage, which does not dedupe such copies. Returns (blocks, id,
        divergent)."""
        c = self.c
        owed = c.divergent and len(blocks) > 1 and "no_request_id_multi_line" in c.pending
        if plain or not self.main or not self.s.era.key.startswith("2.1"):
            return blocks, self.ids.request_id(), False
        if not (owed or c.want("missing_request_id", 0.02)):
            return blocks, self.ids.request_id(), False
        c.did("missing_request_id")
        if c.divergent and len(blocks) > 1 and c.want("no_request_id_multi_line", 0.5):
            c.did("no_request_id_multi_line")
            return blocks, None, True
        return blocks[-1:], None, False

    def _speed(self) -> str | None:
        """``usage.speed``: fast mode on a few Opus main-thread calls of 2.1.2xx."""
        if self.fast:
            if self.c.want("fast_speed", 0.04):
                self.c.did("fast_speed")
                return "fast"
            return "standard"
        return "standard" if self.s.era.new_fields and self.main else None

    def _stream_snapshot(
        self, block: Json, copy: UsageCopy, u: Usage, speed: str | None, ts: int
    ) -> None:
        """A copy written mid-stream: first block only, ``stop_reason`` null and a partial
        ``output_tokens`` (anthropics/claude-code#22671). The final copies supersede it."""
        era = self.s.era
        snap = Usage(u.input, u.cache_5m, u.cache_1h, u.cache_read, self.rng.randint(1, 12))
        ud = usage_dict(
            era, snap, split=True, speed=speed, geo="not_available", server_tools=era.new_fields
        )
        msg = message(era, self.model, copy.message_id, block, None, ud)
        self._assistant(msg, copy.request_id, ts, replace(copy, output=snap.output))
        self.c.did("stream_snapshot")

    def _lines(
        self, blocks: list[Json], copy: UsageCopy, ud: Json, base: int, stop: str
    ) -> list[Written]:
        """One line per block, milliseconds apart but never past the end of ``base``'s day."""
        c, rng, era = self.c, self.rng, self.s.era
        end = day_end(base)
        ts = base
        written = []
        for block in blocks:
            ts = min(ts + rng.randint(3, 900), end)
            msg = message(era, self.model, copy.message_id, block, stop, ud)
            uuid = self._assistant(msg, copy.request_id, ts, copy)
            written.append(Written(ts, uuid, msg, copy.request_id, copy))
        if len(blocks) > 1:
            c.did("multi_line_response")
        if self.env.attribution:
            c.did("attribution_agent", len(blocks))
        return written

    # ------------------------------------------------------------------ content blocks

    def lead_blocks(self) -> list[Json]:
        """The thinking and short text blocks that may precede a response's tool calls."""
        rng, c = self.rng, self.c
        blocks: list[Json] = []
        if self.thinking and rng.random() < 0.5:
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": c.pad(self.small),
                    "signature": self.ids.signature(rng.randint(200, 420)),
                }
            )
        if rng.random() < 0.3:
            text = c.pad(self.small) if rng.random() < 0.5 else c.pool.words(30, 200)
            blocks.append({"type": "text", "text": text})
        return blocks

    def tool_block(self, name: str, tool_input: Json | None = None) -> Json:
        block: Json = {"type": "tool_use", "id": self.ids.tool_use_id(), "name": name}
        block["input"] = tool_input if tool_input is not None else self._tool_input(name)
        if self.s.era.new_fields:
            block["caller"] = {"type": "direct"}
        return block

    def _tool_input(self, name: str) -> Json:
        c, rng = self.c, self.rng
        path = rng.choice(self.s.files)
        if name == "Edit":
            pad = c.pad(self.small)
            half = len(pad) // 2
            return {"file_path": path, "old_string": pad[:half], "new_string": pad[half:]}
        if name == "Write":
            return {"file_path": path, "content": c.pad(self.small)}
        if name == "Bash":
            return {"command": c.pad(self.small), "description": c.pool.words(20, 60)}
        if name == "TodoWrite":
            todo = {"content": c.pad(self.small), "status": "in_progress"}
            return {"todos": [todo | {"activeForm": c.pool.words(20, 60)}]}
        if name == "WebFetch":
            return {"url": "https://example.com/docs", "prompt": c.pad(self.small)}
        if name == "WebSearch":
            return {"query": c.pool.words(20, 80)}
        if name == "Grep":
            return {"pattern": c.pool.words(4, 20), "output_mode": "files_with_matches"}
        if name == "Glob":
            return {"pattern": "**/*.py"}
        return {"file_path": path}

    def tool_result(self, block: Json, source: str) -> None:
        name = str(block["name"])
        c, rng = self.c, self.rng
        self.tick(200, 60_000 if name == "Bash" else 3_000)
        content = (
            c.pad(self.small)
            if name in _PADDED_RESULTS or rng.random() < 0.7
            else c.pool.words(20, 120)
        )
        result: Json | None = None
        if name == "Bash":
            result = {"stdout": c.pool.words(10, 80), "stderr": "", "interrupted": False}
            result["isImage"] = False
        elif name == "Read":
            n = rng.randint(20, 900)
            file = {"filePath": block["input"]["file_path"], "numLines": n, "startLine": 1}
            result = {"type": "text", "file": file | {"totalLines": n}}
        msg = {
            "role": "user",
            "content": [{"tool_use_id": block["id"], "type": "tool_result", "content": content}],
        }
        self.user(msg, result=result, source=source)
        self.tool_calls += 1

    # ------------------------------------------------------------------ steps

    def tool_step(self) -> list[Written]:
        rng = self.rng
        n = 1 if rng.random() < 0.8 else rng.randint(2, 3)
        names = rng.choices(_TOOLS, _TOOL_WEIGHTS, k=n)
        blocks = self.lead_blocks() + [self.tool_block(name) for name in names]
        written = self.call(blocks, final=False)
        for w in written:
            block = w.msg["content"][0]
            if block["type"] == "tool_use":
                self.tool_result(block, w.uuid)
        return written

    def final_step(self) -> list[Written]:
        text = {"type": "text", "text": self.c.pad(self.small)}
        return self.call([*self.lead_blocks(), text], final=True)


def _compact_meta(u: Usage) -> Json:
    return {"compactMetadata": {"trigger": "auto", "preTokens": u.prompt}}


def _null_field(block: Json, usage: Json) -> None:
    """Make a line that ccusage 20.0.24 drops: a ``"id":null`` in a tool input, or a
    ``"speed":null`` in the usage. A faithful reader still counts the call."""
    if block["type"] == "tool_use":
        block["input"] = {**block["input"], "filter": {"id": None, "state": "open"}}
    else:
        usage["speed"] = None
