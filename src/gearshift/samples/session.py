"""One Claude Code session on disk: the main transcript and every transcript it spawns.

Subagents are written where their CLI generation put them: 2.0.x as legacy
``<project>/agent-<7hex>.jsonl`` files linked only through the parent's ``toolUseResult``; 2.1.x
under ``<session>/subagents/`` with an ``agent-<id>.meta.json`` whose ``toolUseId`` is the id of
the parent's ``Task``/``Agent`` tool call; workflow agents under ``subagents/workflows/wf_<run>/``
with no tool call at all. Some 2.1.x parents also mirror every subagent line as a
``type:"progress"`` line, and 2.1.2xx ``/btw`` side questions replay parent calls under a new
request id in a sidechain file. A subagent is written completely (it runs synchronously inside
its parent's tool call) before the parent writes the tool result.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, replace
from typing import Any

from gearshift.samples.corpus import Corpus, Sink
from gearshift.samples.lines import (
    HAIKU_45,
    Envelope,
    Era,
    encode,
    flat_line,
    queue_line,
    snapshot_line,
    summary_line,
    tracked_entry,
    usage_dict,
)
from gearshift.samples.manifest import SessionInfo
from gearshift.samples.text import day_end, file_size, iso
from gearshift.samples.thread import Session, Thread, Written

__all__ = ["Plan", "run_session"]

Json = dict[str, Any]
_AGENT_TYPES = (
    ("Explore", 38), ("general-purpose", 25), ("Plan", 12), ("code-reviewer", 7),
    ("test-engineer", 7), ("style-enforcer", 5), ("architect", 5), ("statusline-setup", 1),
)  # fmt: skip
_CUSTOM = frozenset({"code-reviewer", "test-engineer", "style-enforcer", "architect"})


@dataclass(slots=True)
class Plan:
    """What the orchestrator decided about one session before it is written."""

    session: Session
    model: str
    start_ms: int
    target: int
    cap: int
    spawns: int
    workflows: int
    heavy: bool
    tiny: bool
    warmup: int = 0


def run_session(plan: Plan) -> SessionInfo:
    s = plan.session
    c = s.corpus
    sink = Sink(c, s.project_dir / f"{s.session_id}.jsonl", "main")
    if plan.tiny:
        _tiny(s, sink, plan.start_ms)
    else:
        main = Thread(
            s, sink, agent="main", agent_id=None, model=plan.model, depth=0,
            clock=plan.start_ms, target=plan.target,
        )  # fmt: skip
        _main_loop(main, plan)
        if s.era.layout == "dir" and c.rng.random() < 0.1:
            name = f"tool-results/{c.ids.tool_use_id()}.txt"
            c.write_file(s.dir / name, c.pad(), "tool_result_file")
    sink.close()
    legacy = s.era.key == "1.0"
    return SessionInfo(
        session=s.session_id,
        project=s.project,
        cwd=s.cwd,
        version=s.version,
        entrypoint=None if legacy else s.entrypoint,
        git_branch=None if legacy else s.git_branch,
        path=str(sink.path.relative_to(c.root.parent)),
    )


def _tiny(s: Session, sink: Sink, start: int) -> None:
    """A session that was opened and abandoned: a few hundred bytes of sidecars, no usage."""
    c = s.corpus
    sink.line(summary_line(c.pool.words(20, 90), c.ids.uuid()))
    c.did("sidecar_summary")
    if c.rng.random() < 0.5:
        sink.line(queue_line("enqueue", iso(start), s.session_id, c.pool.words(10, 60)))
        sink.line(queue_line("dequeue", iso(start + 5), s.session_id, None))
        c.did("sidecar_queue")


# ---------------------------------------------------------------------- the main thread


def _main_loop(t: Thread, plan: Plan) -> None:
    c, rng, era = t.c, t.rng, t.s.era
    trail = _SnapshotTrail(t, plan.heavy)
    spawns, workflows = plan.spawns, plan.workflows
    step_bytes = 2_500 if t.small else 9_000
    if era.key in ("1.0", "2.0") and c.want("sidecar_summary", 0.3):
        t.sink.line(summary_line(c.pool.words(20, 90), c.ids.uuid()))
        c.did("sidecar_summary")
    if era.new_fields and rng.random() < 0.3:
        t.sink.line(flat_line("permission-mode", "permissionMode", "default", t.s.session_id))
    while True:
        _prompt(t, trail)
        for _ in range(rng.randint(1, 2) if plan.heavy else rng.randint(1, 7)):
            if t.done():
                break
            left = max(1, t.target // step_bytes - t.steps)
            warm = t.steps >= plan.warmup
            if warm and spawns and rng.random() * left < spawns * 1.5:
                k = min(spawns, 1 if rng.random() < 0.8 else rng.randint(2, 3))
                _maybe_hook_progress(t, spawn_step(t, k, plan.cap))
                spawns -= k
            elif warm and workflows and rng.random() * left < workflows:
                run_workflow(t, plan.cap)
                workflows -= 1
            else:
                written = t.tool_step()
                _maybe_btw(t, written)
                _maybe_hook_progress(t, written)
        if t.done():
            break
        t.final_step()
        if era.new_fields and rng.random() < 0.4:
            t.system("turn_duration", "", {"durationMs": rng.randint(2_000, 600_000)})
    while (spawns or workflows) and not c.exhausted():
        if spawns:
            spawn_step(t, 1, plan.cap)
            spawns -= 1
        else:
            run_workflow(t, plan.cap)
            workflows -= 1
    trail.close()
    if era.new_fields:
        t.sink.line(flat_line("last-prompt", "lastPrompt", c.pool.words(10, 80), t.s.session_id))


def _prompt(t: Thread, trail: _SnapshotTrail) -> None:
    c, rng, era = t.c, t.rng, t.s.era
    t.tick(20_000, 600_000)
    if c.want("sidecar_queue", 0.05):
        t.sink.line(queue_line("enqueue", iso(t.clock), t.s.session_id, c.pool.words(10, 60)))
        t.sink.line(queue_line("dequeue", iso(t.clock + 3), t.s.session_id, None))
        c.did("sidecar_queue")
    text = c.pad(t.small) if rng.random() < 0.5 else c.pool.words(20, 400)
    t.user({"role": "user", "content": text}, prompt=True)
    trail.at_prompt()
    if era.key.startswith("2.1") and c.want("sidecar_attachment", 0.25):
        attachment = {"type": "todo_reminder", "content": [], "itemCount": 0}
        uuid = c.ids.uuid()
        t.parent = t.write(t.env.attachment(t.parent, uuid, iso(t.clock + 1), attachment))
        c.did("sidecar_attachment")


def _maybe_hook_progress(t: Thread, written: list[Written]) -> None:
    """Old-style ``progress`` lines that carry no usage (a hook ran after a tool)."""
    c = t.c
    if t.s.era.key not in ("2.0", "2.1") or not written or not c.want("hook_progress", 0.05):
        return
    block = written[-1].msg["content"][0]
    data = {"type": "hook_progress", "hookEvent": "PostToolUse", "hookName": "PostToolUse:Edit"}
    data["command"] = "ruff format ."
    uuid = c.ids.uuid()
    d = t.env.progress(t.parent, uuid, iso(t.clock), data, "hook_" + c.ids.hex(12), block["id"])
    t.write(d)
    c.did("hook_progress")


class _SnapshotTrail:
    """The ``file-history-snapshot`` lines written at each prompt. In a heavy session they list
    thousands of tracked files and grow to most of a transcript's bytes, with no usage at all."""

    def __init__(self, t: Thread, heavy: bool) -> None:
        self.t = t
        self.heavy = heavy
        self.body = ""
        self.count = 0
        self.snap_bytes = 0
        self.limit = t.target // 8 if heavy else 3_000
        self.grow = max(4, self.limit // 130) if heavy else 2

    def at_prompt(self) -> None:
        t = self.t
        if t.s.era.key == "1.0":
            return
        rng, c = t.rng, t.c
        if len(self.body) < self.limit:
            entries = [self._entry() for _ in range(rng.randint(self.grow // 2, self.grow))]
            if entries:
                self.body = ",".join([self.body, *entries] if self.body else entries)
        mid = c.ids.uuid()
        for i in range(rng.randint(3, 6) if self.heavy else 1):
            if i and t.done():
                break
            line = snapshot_line(mid, self.body, iso(t.clock), i > 0)
            t.sink.line(line)
            self.snap_bytes += len(line) + 1

    def _entry(self) -> str:
        t = self.t
        self.count += 1
        path = f"{t.rng.choice(t.s.files).removesuffix('.py')}_{self.count}.py"
        backup = f"{t.c.ids.hex(16)}@v{t.rng.randint(1, 9)}"
        return tracked_entry(path, backup, t.rng.randint(1, 9), iso(t.clock))

    def close(self) -> None:
        if self.heavy and self.snap_bytes * 2 >= self.t.sink.size:
            self.t.c.did("huge_snapshot_file")


# ---------------------------------------------------------------------- subagents


def spawn_step(parent: Thread, k: int, cap: int) -> list[Written]:
    """One parent call with ``k`` parallel ``Task``/``Agent`` tool uses, the subagents it runs,
    their progress mirrors (2.1.x) and the parent-side tool results."""
    c, rng, era = parent.c, parent.rng, parent.s.era
    tool = era.agent_tool
    assert tool is not None
    kinds = [_agent_type(c, rng) for _ in range(k)]
    models = [_sub_model(era, kind, parent.model, rng) for kind in kinds]
    blocks = parent.lead_blocks()
    for kind, model in zip(kinds, models, strict=True):
        spec: Json = {"description": c.pool.words(15, 50), "prompt": c.pad(parent.small)}
        spec["subagent_type"] = kind
        if rng.random() < 0.03:
            spec["model"] = _tier(model)
        blocks.append(parent.tool_block(tool, spec))
    written = parent.call(blocks, final=False, plain=True)
    c.did(f"tool:{tool}", k)
    calls = [w for w in written if w.msg["content"][0]["type"] == "tool_use"]
    children = [
        _spawn_one(parent, kind, model, w.msg["content"][0], cap)
        for kind, model, w in zip(kinds, models, calls, strict=True)
    ]
    mirrored = [
        [(w.ts, i, j, w) for j, w in enumerate(child.mirror or ())]
        for i, child in enumerate(children)
    ]
    for _ts, i, _j, w in heapq.merge(*mirrored):
        _progress_copy(parent, children[i], w, calls[i].msg["content"][0]["id"])
    c.reserved -= sum(child.reserved for child in children)
    parent.clock = max(parent.clock, *(child.clock for child in children)) + rng.randint(50, 900)
    for child, w in zip(children, calls, strict=True):
        _agent_result(parent, child, w)
    return written


def _spawn_one(parent: Thread, kind: str, model: str, block: Json, cap: int) -> Thread:
    s, c, rng = parent.s, parent.c, parent.rng
    agent_id = c.ids.agent_id(short=s.era.short_agent_ids)
    depth = parent.depth + 1
    if s.era.layout == "legacy":
        sink = Sink(c, s.project_dir / f"agent-{agent_id}.jsonl", "legacy_agent")
    else:
        path = s.dir / "subagents" / f"agent-{agent_id}.jsonl"
        meta: Json = {"agentType": kind, "description": block["input"]["description"]}
        meta |= {"toolUseId": block["id"], "spawnDepth": depth}
        if depth > 1:
            meta["parentAgentId"] = parent.agent_id
        if kind in _CUSTOM:
            meta["model"] = _tier(model)
        c.write_file(path.with_name(f"agent-{agent_id}.meta.json"), encode(meta), "meta")
        sink = Sink(c, path, "subagent")
    child = Thread(
        s, sink, agent=kind, agent_id=agent_id, model=model, depth=depth,
        clock=parent.clock + rng.randint(300, 4_000), target=_sub_target(c, cap),
    )  # fmt: skip
    if s.era.progress and parent.main and c.want("progress_copy", 0.7):
        child.mirror = []
        child.target //= 2
    run_subagent(child, str(block["input"]["prompt"]), cap, nest=s.era.layout == "dir")
    sink.close()
    c.did(f"agent:{kind}")
    c.did(f"spawn_depth_{depth}")
    return child


def run_subagent(t: Thread, prompt: str, cap: int, *, nest: bool) -> None:
    c = t.c
    t.user({"role": "user", "content": prompt})
    if nest and t.depth < 3 and c.want(f"spawn_depth_{t.depth + 1}", 0.04 if t.depth == 1 else 0.1):
        spawn_step(t, 1, cap)
    while not t.done():
        t.tool_step()
    t.final_step()


def _progress_copy(parent: Thread, child: Thread, w: Written, tool_use_id: str) -> None:
    """Mirror one subagent line into the parent as ``progress``/``agent_progress``."""
    c = parent.c
    nested: Json = {"type": "assistant", "timestamp": iso(w.ts), "message": w.msg}
    nested |= {"requestId": w.request_id, "uuid": w.uuid}
    data = {"type": "agent_progress", "agentId": child.agent_id, "prompt": "", "message": nested}
    ts = min(w.ts + parent.rng.randint(1, 40), day_end(w.ts))
    uuid = c.ids.uuid()
    d = parent.env.progress(
        parent.parent, uuid, iso(ts), data, "agent_msg_" + c.ids.b62(24), tool_use_id
    )
    parent.write(d, (replace(w.copy, sidechain=False),))
    c.did("progress_copy")


def _agent_result(parent: Thread, child: Thread, w: Written) -> None:
    """The parent's tool result for a subagent, with its ``toolUseResult`` summary.

    Never torn: for 2.0.x legacy agents it is the only link from the agent file to its type.
    """
    c, rng, era = parent.c, parent.rng, parent.s.era
    block = w.msg["content"][0]
    u = child.last_usage
    assert u is not None
    text = c.pool.words(80, 400)
    content = [{"type": "text", "text": text}]
    result: Json = {"status": "completed", "prompt": block["input"]["prompt"]}
    result["agentId"] = child.agent_id
    if era.key != "2.0":
        result |= {"agentType": child.agent, "resolvedModel": child.model}
    result |= {"content": content, "totalDurationMs": max(1, child.clock - w.ts)}
    result |= {"totalTokens": u.prompt + u.output, "totalToolUseCount": child.tool_calls}
    result["usage"] = usage_dict(
        era, u, split=era.cache_split, speed=None, geo="not_available", server_tools=False
    )
    if era.key != "2.0":
        stats = ("readCount", "searchCount", "bashCount", "editFileCount", "linesAdded")
        result["toolStats"] = {k: rng.randint(0, 9) for k in stats}
        result["toolStats"] |= {"linesRemoved": rng.randint(0, 40), "otherToolCount": 0}
    answer: Json = {"tool_use_id": block["id"], "type": "tool_result", "content": content}
    msg = {"role": "user", "content": [answer]}
    parent.user(msg, result=result, source=w.uuid, tearable=False)
    c.did("agent_result")


def run_workflow(main: Thread, cap: int) -> None:
    """A workflow run: 2-5 ``workflow-subagent`` transcripts, a journal, and the run's state."""
    s, c, rng = main.s, main.c, main.rng
    run = c.ids.hex(12)
    folder = s.dir / "subagents" / "workflows" / f"wf_{run}"
    journal = Sink(c, folder / "journal.jsonl", "journal")
    start = main.clock
    journal.line(encode({"type": "workflow_started", "runId": run, "timestamp": iso(start)}))
    agents, ends = [], []
    for i in range(rng.randint(2, 5)):
        if i and c.exhausted():
            break
        agent_id = c.ids.agent_id(short=False)
        meta: Json = {"agentType": "workflow-subagent", "description": c.pool.words(15, 50)}
        meta["spawnDepth"] = 1
        c.write_file(folder / f"agent-{agent_id}.meta.json", encode(meta), "meta")
        child = Thread(
            s, Sink(c, folder / f"agent-{agent_id}.jsonl", "workflow_agent"),
            agent="workflow-subagent", agent_id=agent_id,
            model=_sub_model(s.era, "workflow-subagent", main.model, rng), depth=1,
            clock=start + rng.randint(500, 20_000), target=_sub_target(c, cap),
        )  # fmt: skip
        run_subagent(child, c.pad(), cap, nest=False)
        child.sink.close()
        event = {"type": "agent_completed", "runId": run, "agentId": agent_id}
        journal.line(encode(event | {"timestamp": iso(child.clock)}))
        agents.append(agent_id)
        ends.append(child.clock)
        c.did("workflow_agent")
    end = max(ends)
    journal.line(encode({"type": "workflow_completed", "runId": run, "timestamp": iso(end)}))
    journal.close(may_tear=False)
    state = {"runId": run, "status": "completed", "agentIds": agents}
    state |= {"startedAt": iso(start), "completedAt": iso(end)}
    c.write_file(s.dir / "workflows" / f"wf_{run}.json", encode(state), "workflow_state")
    main.clock = end + rng.randint(100, 2_000)


def _maybe_btw(t: Thread, written: list[Written]) -> None:
    """A ``/btw`` side question (2.1.2xx): a sidechain file under ``subagents/`` replaying the
    parent's last call with the same message id and a new request id. It is a duplicate."""
    s, c, rng = t.s, t.c, t.rng
    if not (s.era.btw and t.main and written and written[0].request_id):
        return
    if written[0].copy.divergent or not c.want("btw_replay", 0.002):
        return
    agent_id = c.ids.agent_id(short=False)
    sink = Sink(c, s.dir / "subagents" / f"agent-{agent_id}.jsonl", "btw")
    env = Envelope(
        s.era, session_id=s.session_id, cwd=s.cwd, version=s.version, git_branch=s.git_branch,
        entrypoint=s.entrypoint, slug=s.slug, agent_id=agent_id,
    )  # fmt: skip
    parent = c.ids.uuid()
    question = {"role": "user", "content": "/btw " + c.pool.words(20, 120)}
    sink.line(encode(env.user(None, parent, iso(written[0].ts), question)))
    rid = c.ids.request_id()
    for w in written:
        uuid = c.ids.uuid()
        ts = min(w.ts + rng.randint(50, 5_000), day_end(w.ts))
        line = encode(env.assistant(parent, uuid, iso(ts), w.msg, rid))
        sink.line(line, (replace(w.copy, request_id=rid, sidechain=True),))
        parent = uuid
    sink.close()
    c.did("btw_replay")


def _agent_type(c: Corpus, rng: Any) -> str:
    for kind, _ in _AGENT_TYPES:
        if f"agent:{kind}" in c.pending:
            return kind
    return str(rng.choices([k for k, _ in _AGENT_TYPES], [w for _, w in _AGENT_TYPES])[0])


def _sub_model(era: Era, kind: str, parent_model: str, rng: Any) -> str:
    """The subagent's model: ``Plan`` and some others inherit; the rest use the era's pick."""
    if kind == "Plan" or (kind != "Explore" and rng.random() < 0.15):
        return parent_model
    table = dict(era.sub_models)
    return table.get(kind, table["*"])


def _tier(model: str) -> str:
    return "haiku" if model == HAIKU_45 else "opus" if "opus" in model else "sonnet"


def _sub_target(c: Corpus, cap: int) -> int:
    return max(3_000, min(file_size(c.rng), cap, c.size_target - c.bytes))
