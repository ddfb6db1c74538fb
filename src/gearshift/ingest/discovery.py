"""Finding Claude Code transcripts: roots, the ``projects/`` walk, subagent files and sidecars.

Layout (see shared/reference/claude-code-usage-data.md §1.2)::

    <root>/projects/<project-key>/<session>.jsonl                        main thread
    <root>/projects/<project-key>/<session>/subagents/agent-<id>.jsonl   subagent (+ .meta.json)
    <root>/projects/<project-key>/<session>/subagents/workflows/wf_<run>/agent-<id>.jsonl
    <root>/projects/<project-key>/agent-<id>.jsonl                       legacy subagent (< 2.1.2)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from gearshift.errors import IngestError

__all__ = ["AgentMeta", "Discovery", "TranscriptFile", "default_roots", "discover"]


class TranscriptFile(NamedTuple):
    """One transcript and its ``stat`` (a tuple: a walk makes one per file, ~1 us each less than
    a frozen dataclass)."""

    path: str
    project_key: str
    session: str | None  # None: take it from the records (legacy agent files)
    agent_id: str | None
    workflow: str | None
    size: int
    mtime_ns: int
    device: int
    inode: int


@dataclass(frozen=True, slots=True)
class AgentMeta:
    agent_type: str | None
    spawn_depth: int | None
    tool_use_id: str | None
    description: str | None


@dataclass(slots=True)
class Discovery:
    roots: list[Path]
    files: list[TranscriptFile] = field(default_factory=list)
    meta_paths: dict[str, str] = field(default_factory=dict)
    bad_metas: list[str] = field(default_factory=list)
    _metas: dict[str, AgentMeta | None] = field(default_factory=dict)

    def meta(self, agent_id: str) -> AgentMeta | None:
        """The ``agent-<id>.meta.json`` sidecar of a subagent, read on first use (a run that
        finds nothing new never opens the hundreds of sidecars of a real tree)."""
        if agent_id not in self._metas:
            path = self.meta_paths.get(agent_id)
            self._metas[agent_id] = _read_meta(self, path) if path else None
        return self._metas[agent_id]

    def load_metas(self, agent_ids: Iterable[str | None]) -> None:
        """Read the sidecars of these agents now (those of the files a run parses: it will need
        them; any other is still read on first use)."""
        for agent_id in agent_ids:
            if agent_id is not None:
                self.meta(agent_id)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def default_roots() -> list[Path]:
    """``$CLAUDE_CONFIG_DIR`` (one path or a comma list) when set, else ``~/.config/claude``
    and ``~/.claude`` -- those that exist."""
    env = os.environ.get("CLAUDE_CONFIG_DIR", "").strip()
    if env:
        return [Path(p.strip()).expanduser() for p in env.split(",") if p.strip()]
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    candidates = [Path(xdg) / "claude", Path.home() / ".claude"]
    return [p for p in candidates if (p / "projects").is_dir()]


def discover(paths: list[Path] | None = None) -> Discovery:
    """Every transcript under ``paths`` (or the default roots), sorted by path.

    Paths are made absolute: a file's saved state is found by its path, so the same tree named
    from two working directories (``claude`` here, ``../claude`` there) is one tree."""
    explicit = bool(paths)
    given = paths if paths else default_roots()
    roots = [Path(os.path.abspath(os.path.expanduser(p))) for p in given]
    found = Discovery(roots=roots)
    seen: set[tuple[int, int]] = set()
    for root in roots:
        if not root.exists():
            if explicit or os.environ.get("CLAUDE_CONFIG_DIR"):
                raise IngestError(
                    f"{root} does not exist",
                    hint="name a Claude config dir (with projects/), a projects dir or a .jsonl",
                )
            continue
        if root.is_file():
            _add_file(found, seen, str(root), None)
            continue
        base = root / "projects" if (root / "projects").is_dir() else root
        _walk(found, seen, str(base), base.name == "projects")
    found.files.sort(key=lambda f: f.path)
    return found


def _walk(found: Discovery, seen: set[tuple[int, int]], top: str, is_projects: bool) -> None:
    stack: list[tuple[str, tuple[str, ...]]] = [(top, ())]
    while stack:
        current, rel = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            if entry.is_dir(follow_symlinks=False):
                if name != "tool-results":
                    stack.append((entry.path, (*rel, name)))
            elif name.endswith(".jsonl"):
                _add_file(found, seen, entry.path, (*rel, name) if is_projects else None)
            elif name.endswith(".meta.json") and name.startswith("agent-"):
                found.meta_paths[name[len("agent-") : -len(".meta.json")]] = entry.path


def _add_file(
    found: Discovery, seen: set[tuple[int, int]], path: str, rel: tuple[str, ...] | None
) -> None:
    """Add one transcript; ``rel`` is its path's parts below ``projects/`` when known."""
    try:
        st = os.stat(path)
    except OSError:
        return
    if (st.st_dev, st.st_ino) in seen:  # the same file reached twice (a link, two roots)
        return
    seen.add((st.st_dev, st.st_ino))
    parts = rel if rel else Path(path).parts
    name = parts[-1]
    agent_id = name[len("agent-") : -len(".jsonl")] if name.startswith("agent-") else None
    workflow = next((p for p in parts if p.startswith("wf_")), None) if "wf_" in path else None
    own_session = None if agent_id else name[: -len(".jsonl")]
    if rel:
        project_key = parts[0]
        session = own_session if len(parts) == 2 else parts[1]
    elif "subagents" in parts:
        idx = len(parts) - 1 - parts[::-1].index("subagents")
        session, project_key = parts[idx - 1], parts[max(idx - 2, 0)]
    else:
        session, project_key = own_session, Path(path).parent.name
    found.files.append(
        TranscriptFile(
            path,
            project_key,
            session,
            agent_id,
            workflow,
            st.st_size,
            st.st_mtime_ns,
            st.st_dev,
            st.st_ino,
        )
    )


def _read_meta(found: Discovery, path: str) -> AgentMeta | None:
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read())
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except (OSError, ValueError):
        found.bad_metas.append(path)
        return None
    depth = data.get("spawnDepth")
    return AgentMeta(
        agent_type=data.get("agentType") if isinstance(data.get("agentType"), str) else None,
        spawn_depth=depth if isinstance(depth, int) else None,
        tool_use_id=data.get("toolUseId") if isinstance(data.get("toolUseId"), str) else None,
        description=data.get("description") if isinstance(data.get("description"), str) else None,
    )
