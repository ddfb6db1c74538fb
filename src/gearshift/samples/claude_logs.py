"""A synthetic Claude Code transcript corpus with exactly known expected usage.

``generate_corpus(out, size_bytes=..., seed=...)`` writes ``out/projects/<project-key>/...`` as
Claude Code lays it out (so ``out`` works as ``CLAUDE_CONFIG_DIR``) and ``out/manifest.json``,
the :class:`CorpusManifest` of what a correct ingest must find. The tree follows Claude Code's
layout:

- several projects, keyed from their cwd (including the >200-character hash suffix);
- four CLI generations: 1.0.x (envelope first, ``costUSD``, no cache TTL split), 2.0.x (legacy
  top-level ``agent-<7hex>.jsonl`` subagents, ``Task``), early 2.1.x (``subagents/`` with
  ``.meta.json``, ``progress`` mirrors of subagent lines) and 2.1.2xx (message first, ``Agent``,
  ``attributionAgent``, workflows, ``/btw`` replays, fast mode); about 80% of transcripts are
  subagent transcripts;
- multi-line responses, streaming snapshots with a smaller ``output_tokens``, missing request
  ids, ``<synthetic>`` API errors, non-monotonic timestamps, torn last lines, 5m/1h cache
  writes, huge ``file-history-snapshot`` transcripts, and usage-free sidecar lines;
- per-file sizes drawn from the quantiles of a real-world profile and line sizes padded to it.

Output is byte-identical for the same arguments. Rare quirks are forced at their first
opportunity, so any corpus of 2 MB or more holds every one of them (counted in
``manifest.quirks``). By default the corpus holds nothing that ccusage 20.0.24 is known to
miscount, so its daily totals must equal the manifest's; ``ccusage_divergent=True`` adds lines it
drops (``"id":null`` in a tool input, ``"speed":null``) and multi-line responses without a
request id, whose share of the totals the manifest reports in ``divergent_by_day``.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gearshift.errors import ConfigError
from gearshift.samples.corpus import Corpus
from gearshift.samples.lines import ERAS, OPUS_5
from gearshift.samples.manifest import CorpusManifest, SessionInfo
from gearshift.samples.session import Plan, run_session
from gearshift.samples.text import DAY_MS, epoch_ms, file_size
from gearshift.samples.thread import Session

__all__ = ["DEFAULT_START", "CorpusManifest", "SessionInfo", "generate_corpus", "project_key"]

T = TypeVar("T")

#: Window start when none is given: a fixed date, so output never depends on the clock.
DEFAULT_START = dt.date(2026, 8, 1)

_SHOWCASE = ("2.1.2xx", "2.1", "2.0", "1.0", "heavy", "tiny")
_ERA_WEIGHTS = (("2.1.2xx", 60), ("2.1", 22), ("2.0", 12), ("1.0", 6))
_SPAWNS = ((0, 14), (1, 12), (2, 14), (3, 16), (4, 14), (5, 10), (6, 8), (8, 7), (12, 5))
_LONG_CWD = "/home/dev/" + "/".join(f"very-long-directory-name-segment-{i:02d}" for i in range(7))
_CWDS = (
    "/home/dev/acme-api",
    "/Users/sam/src/github.com/acme/mobile-app",
    _LONG_CWD,
    "/home/dev/work/data_pipeline.v2",
    "/srv/repos/infra-terraform",
    "/Users/sam/legacy",
    "/home/dev/acme-web",
    "/Users/ana/Projects/gearshift demo",
    "/home/ci/builds/payments_service",
    "/workspace/ml/feature-store",
    "/home/dev/notes",
    "/home/dev/.dotfiles",
)
_BRANCHES = ("main", "main", "main", "feature/rate-limit", "fix/ledger-race", "HEAD", "")
_SLUG_WORDS = ("graceful", "leaping", "steele", "parsed", "herding", "bird", "quiet", "amber")


def generate_corpus(
    out: Path,
    *,
    size_bytes: int,
    seed: int,
    start: dt.date | None = None,
    days: int = 30,
    progress: Callable[[int], None] | None = None,
    ccusage_divergent: bool = False,
) -> CorpusManifest:
    """Write about ``size_bytes`` of transcripts under ``out/projects`` and return the manifest.

    Sessions start spread over ``days`` UTC days from ``start`` (default :data:`DEFAULT_START`),
    in proportion to the bytes written; a session may run a few hours past the window.
    Generation stops once ``size_bytes`` is reached: every open transcript finishes its current
    API call, so the corpus ends within a few percent of the target (for targets of 1 MB or more).
    ``progress`` is called with the running total of bytes written, about every MB. Raises
    :class:`~gearshift.errors.ConfigError` on a bad argument or a non-empty ``out/projects``.
    """
    if size_bytes <= 0:
        raise ConfigError(f"corpus size must be positive, got {size_bytes}")
    if days < 1:
        raise ConfigError(f"days must be at least 1, got {days}")
    root = out / "projects"
    if root.exists() and any(root.iterdir()):
        raise ConfigError(
            f"{root} is not empty", hint="generate into a new directory, or delete this one first"
        )
    start = start or DEFAULT_START
    corpus = Corpus(
        root, seed=seed, size_target=size_bytes, divergent=ccusage_divergent, progress=progress
    )
    projects = _projects(corpus)
    sessions: list[SessionInfo] = []
    while not corpus.exhausted():
        plan = _plan(corpus, len(sessions), projects, epoch_ms(start), days * DAY_MS)
        sessions.append(run_session(plan))
    corpus.report(final=True)
    files = dict(sorted(corpus.files.items()))
    transcripts = ("main", "subagent", "legacy_agent", "workflow_agent", "btw")
    files["transcripts"] = sum(files.get(k, 0) for k in transcripts)
    files["subagent_transcripts"] = files["transcripts"] - files.get("main", 0)
    files["total"] = sum(corpus.files.values())
    manifest = CorpusManifest.build(
        corpus.truth.resolve(),
        seed=seed,
        size_target=size_bytes,
        start=start,
        days=days,
        ccusage_divergent=ccusage_divergent,
        files=files,
        bytes=corpus.bytes,
        lines=corpus.lines,
        torn_lines=corpus.torn,
        sessions=sessions,
        projects=dict(sorted({s.project: s.cwd for s in sessions}.items())),
        quirks=dict(sorted(corpus.quirks.items())),
    )
    text = json.dumps(manifest.to_dict(), indent=1, ensure_ascii=True) + "\n"
    (out / "manifest.json").write_text(text, encoding="ascii")
    return manifest


def project_key(cwd: str) -> str:
    """Claude Code's project directory name for ``cwd``: every character
    outside ``[A-Za-z0-9]`` becomes ``-``; past 200 characters the name is cut and suffixed with
    the base-36 absolute value of the JavaScript 32-bit string hash of the original cwd."""
    key = re.sub(r"[^A-Za-z0-9]", "-", cwd)
    if len(key) <= 200:
        return key
    return f"{key[:200]}-{_base36(abs(_js_hash(cwd)))}"


def _js_hash(text: str) -> int:
    """``s.split("").reduce((h, c) => ((h << 5) - h + c.charCodeAt(0)) | 0, 0)``: UTF-16 units."""
    data = text.encode("utf-16-le")
    h = 0
    for i in range(0, len(data), 2):
        h = (h * 31 + (data[i] | data[i + 1] << 8)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def _projects(corpus: Corpus) -> list[str]:
    """Three projects for a few MB, one more per doubling past 4 MB, at most twelve."""
    more = max(0, (corpus.size_target // 4_000_000).bit_length() - 1)
    return list(_CWDS[: min(len(_CWDS), 3 + more)])


def _plan(corpus: Corpus, index: int, cwds: list[str], window_start: int, window: int) -> Plan:
    """Decide one session: its CLI generation, project, start time, size and subagent count.

    The first sessions form a showcase (one of each generation, a heavy snapshot session and an
    abandoned one) with small files, so that every forced quirk fits in a small corpus.
    """
    rng = corpus.rng
    showcase = index < len(_SHOWCASE)
    if showcase:
        kind = _SHOWCASE[index]
    else:
        r = rng.random()
        kind = "tiny" if r < 0.04 else "heavy" if r < 0.045 else _weighted(rng, _ERA_WEIGHTS)
    heavy, tiny = kind == "heavy", kind == "tiny"
    era = ERAS[kind] if kind in ERAS else ERAS["2.1.2xx" if heavy else "2.1"]
    cap = (
        max(24_000, corpus.size_target // 100)
        if showcase
        else max(48_000, corpus.size_target // 16)
    )
    remaining = corpus.size_target - corpus.bytes
    target = min(cap if showcase else file_size(rng), cap, remaining)
    if heavy:
        target = min(max(corpus.size_target // 25, 200_000), remaining)
    if era.agent_tool is None or tiny:
        spawns = 0
    elif showcase:
        spawns = {"2.1.2xx": 8, "2.1": 3, "2.0": 2}.get(kind, 1)
    else:
        spawns = _weighted(rng, _SPAWNS)
    workflows = int(era.workflows and (showcase or rng.random() < 0.45)) if not heavy else 0
    cwd = cwds[index % len(cwds)] if showcase else _zipf(rng, cwds)
    key = project_key(cwd)
    session = Session(
        corpus=corpus,
        era=era,
        project=key,
        project_dir=corpus.root / key,
        session_id=corpus.ids.uuid(),
        cwd=cwd,
        version=rng.choice(era.versions),
        git_branch=rng.choice(_BRANCHES),
        entrypoint=_entrypoint(rng.random(), era.key),
        slug="-".join(rng.sample(_SLUG_WORDS, 3)) if era.new_fields else None,
        files=tuple(f"{cwd}/src/{rng.choice(_SLUG_WORDS)}/{i}.py" for i in range(24)),
    )
    offset = window * corpus.bytes // corpus.size_target
    return Plan(
        session=session,
        model=OPUS_5 if showcase and kind == "2.1.2xx" else _weighted(rng, era.main_models),
        start_ms=window_start + offset + rng.randint(0, 3_600_000),
        target=max(target, 1),
        cap=cap,
        spawns=spawns,
        workflows=workflows,
        heavy=heavy,
        tiny=tiny or target < 2_000,
        warmup=3 if showcase else 0,
    )


def _entrypoint(r: float, era: str) -> str:
    if era == "2.1.2xx":
        return "cli" if r < 0.65 else "sdk-cli" if r < 0.9 else "claude-vscode"
    return "cli" if r < 0.8 else "sdk-cli"


def _weighted(rng: random.Random, table: tuple[tuple[T, int], ...]) -> T:
    return rng.choices([k for k, _ in table], [w for _, w in table])[0]


def _zipf(rng: random.Random, items: list[str]) -> str:
    return _weighted(rng, tuple((item, 1_000 // (i + 1)) for i, item in enumerate(items)))
