"""Discover stage: the Claude Code roots -> every transcript file and subagent sidecar.

Layout::

    <root>/projects/<project-key>/<session>.jsonl                        main thread
    <root>/projects/<project-key>/<session>/subagents/agent-<id>.jsonl   subagent (+ .meta.json)
    <root>/projects/<project-key>/<session>/subagents/workflows/wf_<run>/agent-<id>.jsonl
    <root>/projects/<project-key>/agent-<id>.jsonl                       legacy subagent (< 2.1.2)

A root is a Claude config folder (with ``projects/``), a ``projects/`` folder, any folder of
transcripts, or one ``.jsonl`` file. Folders named ``tool-results`` (Claude Code's overflowed
tool output) and links to folders are not entered.

A linked file found by the walk is read only when its target is inside one of the roots: a
transcript folder is not the user's choice of every file its links point to (a link to
``~/.ssh/...`` or another user's data must not end up in the ledger). ``follow_links=True`` (the
CLI's ``--follow-links``) reads them all; a root the user names is always read, link or not.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

from gearshift.errors import IngestError

__all__ = [
    "Discovery",
    "FoundFile",
    "TranscriptFile",
    "default_roots",
    "discover",
    "transcript_file",
]

#: Directories never entered: Claude Code keeps large tool outputs there, never transcripts.
SKIPPED_DIR = "tool-results"


class FoundFile(NamedTuple):
    """A transcript as the walk found it: its path and ``stat``. ``under``: where its path below
    ``projects/`` starts (0: there is no ``projects/`` above it). A run needs nothing more of a
    file that did not change; :func:`transcript_file` reads the rest from the path."""

    path: str
    size: int
    mtime_ns: int
    device: int
    inode: int
    under: int


class TranscriptFile(NamedTuple):
    """One transcript, where its path places it, and its ``stat``."""

    path: str
    project_key: str
    session: str | None  # None: take it from the records (legacy agent files)
    agent_id: str | None
    workflow: str | None
    size: int
    mtime_ns: int
    device: int
    inode: int


class Discovery(NamedTuple):
    """The transcripts found under ``roots`` (absolute paths), each once, sorted by path, and
    the ``agent-<id>.meta.json`` sidecar of each subagent that has one (agent id -> path)."""

    roots: list[str]
    files: list[FoundFile]
    sidecars: dict[str, str]
    #: Links the walk did not follow because their target is outside every root (link paths).
    skipped_links: list[str]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def default_roots() -> list[str]:
    """``$CLAUDE_CONFIG_DIR`` (one path or a comma list) when set, else ``~/.config/claude``
    and ``~/.claude`` -- those that exist."""
    env = os.environ.get("CLAUDE_CONFIG_DIR", "").strip()
    if env:
        return [os.path.expanduser(p.strip()) for p in env.split(",") if p.strip()]
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    candidates = [os.path.join(xdg, "claude"), os.path.join(home, ".claude")]
    return [p for p in candidates if os.path.isdir(os.path.join(p, "projects"))]


def discover(
    paths: Sequence[str | os.PathLike[str]] | None = None, *, follow_links: bool = False
) -> Discovery:
    """Every transcript under ``paths`` (or the default roots), sorted by path.

    Paths are made absolute: a file's saved state is found by its path, so the same tree named
    from two working directories (``claude`` here, ``../claude`` there) is one tree. A file
    reached twice (a link, two roots naming one tree) is listed once, under the first root
    that has it; of two sidecars of one agent, the later root's wins. Linked files whose
    target is outside every root are left out and listed in ``skipped_links`` unless
    ``follow_links``."""
    explicit = bool(paths)
    given = paths if paths else default_roots()
    found = Discovery(
        [os.path.abspath(os.path.expanduser(os.fspath(p))) for p in given], [], {}, []
    )
    inside = None if follow_links else _Inside(found.roots)
    seen: set[tuple[int, int]] = set()
    for root in found.roots:
        try:
            st = os.stat(root)
        except OSError:
            if explicit or os.environ.get("CLAUDE_CONFIG_DIR"):
                raise IngestError(
                    f"{root} does not exist",
                    hint="name a Claude config dir (with projects/), a projects dir or a .jsonl",
                ) from None
            continue
        if os.path.isdir(root):
            projects = os.path.join(root, "projects")
            top = projects if os.path.isdir(projects) else root
            under = len(top) + 1 if os.path.basename(top) == "projects" else 0
            transcripts, sidecars = _walk(top, inside, found.skipped_links)
        else:
            under, transcripts, sidecars = 0, [(root, st)], []
        for path, file_st in sorted(transcripts):
            if (file_st.st_dev, file_st.st_ino) not in seen:
                seen.add((file_st.st_dev, file_st.st_ino))
                found.files.append(
                    FoundFile(
                        path,
                        file_st.st_size,
                        file_st.st_mtime_ns,
                        file_st.st_dev,
                        file_st.st_ino,
                        under,
                    )
                )
        for path in sorted(sidecars):
            agent_id = os.path.basename(path)[len("agent-") : -len(".meta.json")]
            found.sidecars[agent_id] = path
    found.files.sort()
    return found


class _Inside:
    """Whether a link's target is inside one of the roots (each resolved through its own
    links, as the target is)."""

    def __init__(self, roots: Sequence[str]) -> None:
        self.roots = [os.path.realpath(root) for root in roots]

    def __call__(self, link: str) -> bool:
        target = os.path.realpath(link)
        return any(
            target == root or target.startswith(root.rstrip(os.sep) + os.sep) for root in self.roots
        )


def _walk(
    top: str, inside: _Inside | None = None, skipped: list[str] | None = None
) -> tuple[list[tuple[str, os.stat_result]], list[str]]:
    """``(transcripts, sidecars)`` under ``top``: every ``*.jsonl`` that is not a directory with
    its ``stat`` (followed through links: a link to something unreadable is listed, and the
    parse reports it), and every ``agent-*.meta.json``; unreadable directories, and files that
    vanish meanwhile, are passed over. With ``inside``, a link whose target it refuses is not
    listed but added to ``skipped``."""
    transcripts: list[tuple[str, os.stat_result]] = []
    sidecars: list[str] = []
    stack = [top]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                listed = list(entries)
        except OSError:
            continue
        for entry in listed:
            name = entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if name != SKIPPED_DIR:
                        stack.append(entry.path)
                elif not name.endswith((".jsonl", ".meta.json")):
                    continue
                elif inside is not None and entry.is_symlink() and not inside(entry.path):
                    if skipped is not None:
                        skipped.append(entry.path)
                elif name.endswith(".jsonl"):
                    transcripts.append((entry.path, entry.stat()))
                elif name.startswith("agent-"):
                    sidecars.append(entry.path)
            except OSError:
                continue
    return transcripts, sidecars


def transcript_file(found: FoundFile) -> TranscriptFile:
    """The :class:`TranscriptFile` of a found file: its project, session, agent and workflow
    read from its path."""
    path, size, mtime_ns, device, inode, under = found
    parts = path[under:].split(os.sep) if under else path.split(os.sep)
    name = parts[-1]
    agent_id = name[len("agent-") : -len(".jsonl")] if name.startswith("agent-") else None
    workflow = next((p for p in parts if p.startswith("wf_")), None) if "wf_" in path else None
    own_session = None if agent_id else name[: -len(".jsonl")]
    if under:
        project_key = parts[0]
        session = own_session if len(parts) == 2 else parts[1]
    elif "subagents" in parts:
        idx = len(parts) - 1 - parts[::-1].index("subagents")
        session, project_key = parts[idx - 1], parts[max(idx - 2, 0)] or os.sep
    else:
        session, project_key = own_session, os.path.basename(os.path.dirname(path))
    return TranscriptFile(
        path,
        project_key,
        session,
        agent_id,
        workflow,
        size,
        mtime_ns,
        device,
        inode,
    )
