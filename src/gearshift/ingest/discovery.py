"""Finding Claude Code transcripts: roots, the ``projects/`` walk, subagent files and sidecars.

Layout (see shared/reference/claude-code-usage-data.md §1.2)::

    <root>/projects/<project-key>/<session>.jsonl                        main thread
    <root>/projects/<project-key>/<session>/subagents/agent-<id>.jsonl   subagent (+ .meta.json)
    <root>/projects/<project-key>/<session>/subagents/workflows/wf_<run>/agent-<id>.jsonl
    <root>/projects/<project-key>/agent-<id>.jsonl                       legacy subagent (< 2.1.2)
"""

from __future__ import annotations

import os
import sys

from gearshift._background import Background
from gearshift._frozen import NamedTuple
from gearshift.errors import IngestError

TYPE_CHECKING = False  # not typing's: this module is on the path of every hook-run ingest
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "AgentMeta",
    "Discovery",
    "Listed",
    "PendingDiscovery",
    "TranscriptFile",
    "default_roots",
    "discover",
    "start_discover",
    "transcript",
]

#: Directories never entered: Claude Code keeps large tool outputs there, never transcripts.
SKIPPED_DIR = "tool-results"

try:  # the C walk (optional, as the C parser is): the same listing with the GIL released
    from gearshift.ingest._walk import listing as _native_listing
except ImportError:  # pragma: no cover - exercised where the extension is not built
    _native_listing = None  # type: ignore[assignment]

#: Whether paths decode as UTF-8 with surrogateescape: the C listing can then sort them in byte
#: order, which is str order for valid UTF-8.
_UTF8_PATHS = sys.getfilesystemencoding() == "utf-8" and (
    sys.getfilesystemencodeerrors() == "surrogateescape"
)


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


class AgentMeta(NamedTuple):
    agent_type: str | None
    spawn_depth: int | None
    tool_use_id: str | None
    description: str | None


if TYPE_CHECKING:
    #: A transcript as the walk lists it: ``(path, size, mtime_ns, device, inode, under)``,
    #: ``under`` where its path below ``projects/`` starts (0: not below one). A run that finds
    #: a file unchanged needs nothing more of it, so :class:`TranscriptFile` is made on demand.
    Listed = tuple[str, int, int, int, int, int]


class Discovery:
    """The transcripts found under ``roots`` (absolute paths) and their subagents' sidecars.

    ``listing`` has each transcript once, sorted by path; ``files`` the same as
    :class:`TranscriptFile` (made on first use)."""

    __slots__ = ("_files", "_metas", "bad_metas", "listing", "meta_paths", "roots")

    def __init__(self, roots: Sequence[str | os.PathLike[str]]) -> None:
        self.roots = [os.fspath(r) for r in roots]
        self.listing: list[Listed] = []
        self.meta_paths: dict[str, str] = {}  # agent id -> its sidecar
        self.bad_metas: list[str] = []
        self._metas: dict[str, AgentMeta | None] = {}
        self._files: list[TranscriptFile] | None = None

    @property
    def files(self) -> list[TranscriptFile]:
        if self._files is None:
            self._files = [transcript(entry) for entry in self.listing]
        return self._files

    def meta(self, agent_id: str) -> AgentMeta | None:
        """The ``agent-<id>.meta.json`` sidecar of a subagent, read on first use (a run that
        finds nothing new never opens the hundreds of sidecars of a real tree)."""
        if agent_id not in self._metas:
            path = self.meta_paths.get(agent_id)
            self._metas[agent_id] = _read_meta(self, path) if path else None
        return self._metas[agent_id]

    @property
    def total_bytes(self) -> int:
        return sum(entry[1] for entry in self.listing)


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


def discover(paths: Sequence[str | os.PathLike[str]] | None = None) -> Discovery:
    """Every transcript under ``paths`` (or the default roots), sorted by path.

    Paths are made absolute: a file's saved state is found by its path, so the same tree named
    from two working directories (``claude`` here, ``../claude`` there) is one tree. A file
    reached twice (a link, two roots naming one tree) is listed once, under the first root
    that has it."""
    explicit = bool(paths)
    given = paths if paths else default_roots()
    roots = [os.path.abspath(os.path.expanduser(os.fspath(p))) for p in given]
    found = Discovery(roots)
    parts: list[tuple[list[Listed], list[tuple[str, str]], bool]] = []
    for root in roots:
        try:
            st = os.stat(root)
        except OSError:
            if explicit or os.environ.get("CLAUDE_CONFIG_DIR"):
                raise IngestError(
                    f"{root} does not exist",
                    hint="name a Claude config dir (with projects/), a projects dir or a .jsonl",
                ) from None
            continue
        if not _is_dir(st.st_mode):
            parts.append(([(root, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, 0)], [], True))
            continue
        projects = os.path.join(root, "projects")
        base = projects if os.path.isdir(projects) else root
        under = len(base) + 1 if os.path.basename(base) == "projects" else 0
        parts.append(_list_root(base, under))
    if len(parts) == 1 and parts[0][2]:  # one root, listed in order by the C walk
        found.listing, sidecars, _ = parts[0]
        found.meta_paths = dict(sidecars)
        return found
    listing = found.listing
    seen: set[tuple[int, int]] = set()
    for entries, sidecars, ordered in parts:
        if not ordered:
            entries.sort()  # of two paths to one file, the same one every run
            sidecars.sort(key=lambda pair: pair[1])
        for entry in entries:
            if (entry[3], entry[4]) not in seen:  # one file reached twice (a link, two roots)
                seen.add((entry[3], entry[4]))
                listing.append(entry)
        found.meta_paths.update(sidecars)  # a later root's sidecar of one agent wins
    listing.sort()  # by path: a path is listed once
    return found


class PendingDiscovery:
    """:func:`discover` running on another thread (see :func:`start_discover`): calling it
    waits for the result (raising what discover raised); ``ready`` says whether that would
    return at once."""

    __slots__ = ("_call",)

    def __init__(self, paths: Sequence[str | os.PathLike[str]] | None) -> None:
        self._call = Background(discover, paths)

    @property
    def ready(self) -> bool:
        return self._call.ready

    def __call__(self) -> Discovery:
        found: Discovery = self._call.result()
        return found


def start_discover(paths: Sequence[str | os.PathLike[str]] | None = None) -> PendingDiscovery:
    """:func:`discover` on another thread. The C walk runs without the GIL, so the caller can
    import and open what it needs meanwhile."""
    return PendingDiscovery(paths)


def _is_dir(mode: int) -> bool:
    return mode & 0o170000 == 0o040000  # stat.S_ISDIR without importing stat


def _list_root(top: str, under: int) -> tuple[list[Listed], list[tuple[str, str]], bool]:
    """``(entries, sidecars, ordered)`` under the directory ``top``: the :data:`Listed` entry of
    every ``*.jsonl`` that is not a directory (stat followed through links) and the ``(agent
    id, path)`` of every ``agent-*.meta.json``; directories named :data:`SKIPPED_DIR` and links
    to directories are not entered, unreadable directories are passed over. ``ordered``: both
    lists are sorted by path and the entries hold each file (device, inode) once, under its
    first path -- what the C walk gives where paths are UTF-8; else the caller sorts them."""
    if _native_listing is not None and os.environ.get("GEARSHIFT_PURE_PYTHON", "") in ("", "0"):
        return _native_listing(top, SKIPPED_DIR, under, _UTF8_PATHS)
    transcripts, sidecars = _walk(top)
    entries = [(*t, under) for t in transcripts]
    pairs = [(os.path.basename(p)[len("agent-") : -len(".meta.json")], p) for p in sidecars]
    return entries, pairs, False


def _walk(top: str) -> tuple[list[tuple[str, int, int, int, int]], list[str]]:
    """:func:`_list` in Python."""
    transcripts: list[tuple[str, int, int, int, int]] = []
    sidecars: list[str] = []
    stack = [top]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if name != SKIPPED_DIR:
                    stack.append(entry.path)
            elif name.endswith(".jsonl"):
                try:
                    st = os.stat(entry.path)
                except OSError:
                    continue
                transcripts.append((entry.path, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino))
            elif name.endswith(".meta.json") and name.startswith("agent-"):
                sidecars.append(entry.path)
    return transcripts, sidecars


def transcript(entry: Listed) -> TranscriptFile:
    """The :class:`TranscriptFile` of a listed transcript: its project, session, agent and
    workflow read from its path."""
    path, size, mtime_ns, device, inode, under = entry
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
        path, project_key, session, agent_id, workflow, size, mtime_ns, device, inode
    )


def _read_meta(found: Discovery, path: str) -> AgentMeta | None:
    try:
        from gearshift._json import loads  # not json's: see gearshift._json

        with open(path, "rb") as fh:
            data = loads(fh.read())
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
