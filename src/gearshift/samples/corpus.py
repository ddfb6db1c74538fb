"""Shared state of one corpus generation: the random source, byte budget, files and quirk tally.

:class:`Sink` writes one transcript with large buffered writes and keeps its last line pending
until the file is closed, because only then is it known whether that line is torn (written
half, with no newline, as a live file being appended to looks). A pending line's usage copies
reach the :class:`~gearshift.samples.truth.Truth` only once the line is complete.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from gearshift.samples.text import Ids, TextPool
from gearshift.samples.truth import Truth, UsageCopy

__all__ = ["DIVERGENT_QUIRKS", "FORCED_QUIRKS", "Corpus", "Sink"]

_FLUSH_AT = 1 << 20
_PROGRESS_EVERY = 1 << 20

#: Rare quirks that are forced at their first opportunity, so that every corpus of a few MB
#: holds at least one of each; after that they occur at their natural rate.
FORCED_QUIRKS = frozenset(
    {
        "api_error",
        "btw_replay",
        "missing_request_id",
        "stream_snapshot",
        "torn_tail",
        "timestamp_stepback",
        "fast_speed",
        "spawn_depth_2",
        "spawn_depth_3",
        "progress_copy",
        "hook_progress",
        "cache_mixed",
        "compaction",
        "sidecar_summary",
        "sidecar_attachment",
        "sidecar_queue",
        "legacy_usage_limit_error",
        *(
            f"agent:{t}"
            for t in (
                "Explore",
                "Plan",
                "general-purpose",
                "test-engineer",
                "code-reviewer",
                "style-enforcer",
                "architect",
            )
        ),
    }
)
DIVERGENT_QUIRKS = frozenset({"null_field", "no_request_id_multi_line"})


class Corpus:
    """Everything the threads of every session share while one corpus is written."""

    def __init__(
        self,
        root: Path,
        *,
        seed: int,
        size_target: int,
        divergent: bool,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.rng = random.Random(seed)
        self.ids = Ids(self.rng)
        self.pool = TextPool(self.rng)
        self.truth = Truth()
        self.root = root
        self.size_target = size_target
        self.divergent = divergent
        self.bytes = 0
        self.reserved = 0
        self.lines = 0
        self.torn = 0
        self.files: Counter[str] = Counter()
        self.quirks: Counter[str] = Counter()
        self.pending = set(FORCED_QUIRKS) | (DIVERGENT_QUIRKS if divergent else set())
        self._padded = 0
        self._progress = progress
        self._reported = 0

    def exhausted(self) -> bool:
        """Whether the byte budget is spent, counting the progress mirrors still to be written."""
        return self.bytes + self.reserved >= self.size_target

    def want(self, quirk: str, p: float) -> bool:
        """Whether to emit ``quirk`` now: always while it is still owed, else with chance ``p``."""
        return quirk in self.pending or self.rng.random() < p

    def did(self, quirk: str, n: int = 1) -> None:
        self.quirks[quirk] += n
        self.pending.discard(quirk)

    def pad(self, small: bool = False, overhead: int = 900) -> str:
        """Filler for the next content line, sized so lines follow a real-world profile:
        most lines 1.8-4.2 KB, every 37th 8-16 KB, every 997th 48-80 KB."""
        rng = self.rng
        if small:
            return self.pool.take(rng.randint(60, 500))
        self._padded += 1
        n = self._padded
        if n % 997 == 0:
            size = rng.randint(48_000, 80_000)
        elif n % 37 == 0:
            size = rng.randint(8_000, 16_000)
        else:
            size = rng.randint(1_800, 4_200)
        return self.pool.take(size - overhead)

    def write_file(self, path: Path, text: str, kind: str) -> None:
        """A small non-transcript file (``.meta.json``, workflow state, overflowed tool output)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="ascii", newline="") as fh:
            fh.write(text)
        self.bytes += len(text)
        self.files[kind] += 1

    def report(self, final: bool = False) -> None:
        if self._progress is not None and (final or self.bytes - self._reported >= _PROGRESS_EVERY):
            self._reported = self.bytes
            self._progress(self.bytes)


class Sink:
    """One ``.jsonl`` file being written; see the module docstring for the pending last line.

    ``size`` counts the pending line, the corpus's ``bytes`` only what is final, so the running
    total reported as progress never goes down when a line is torn.
    """

    __slots__ = (
        "_buf",
        "_buffered",
        "_copies",
        "_fh",
        "_pending",
        "_tearable",
        "corpus",
        "kind",
        "path",
        "size",
    )

    def __init__(self, corpus: Corpus, path: Path, kind: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.corpus = corpus
        self.path = path
        self.kind = kind
        self.size = 0
        self._fh = path.open("w", encoding="ascii", newline="")
        self._buf: list[str] = []
        self._buffered = 0
        self._pending: str | None = None
        self._copies: Sequence[UsageCopy] = ()
        self._tearable = False

    def line(self, text: str, copies: Sequence[UsageCopy] = (), *, tearable: bool = True) -> None:
        """Append one line. Its ``copies`` count once the line is known to be complete."""
        if self._pending is not None:
            self._commit()
        self._pending = text
        self._copies = copies
        self._tearable = tearable
        self.size += len(text) + 1

    def _commit(self) -> None:
        text = self._pending
        assert text is not None
        self._buf.append(text)
        self._buf.append("\n")
        add = self.corpus.truth.add
        for c in self._copies:
            add(c)
        self.corpus.lines += 1
        self.corpus.bytes += len(text) + 1
        self._buffered += len(text) + 1
        if self._buffered >= _FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        self._fh.write("".join(self._buf))
        self._buf.clear()
        self._buffered = 0
        self.corpus.report()

    def close(self, *, may_tear: bool = True) -> None:
        """Finish the file; its last line is torn with the corpus's tear rate when allowed."""
        corpus = self.corpus
        text = self._pending
        if (
            text is not None
            and may_tear
            and self._tearable
            and len(text) > 40
            and corpus.want("torn_tail", 0.03)
        ):
            cut = corpus.rng.randint(len(text) // 3, len(text) - 2)
            self._buf.append(text[:cut])
            self.size -= len(text) + 1 - cut
            corpus.bytes += cut
            corpus.torn += 1
            corpus.did("torn_tail")
        elif text is not None:
            self._commit()
        self._pending = None
        self._flush()
        self._fh.close()
        corpus.files[self.kind] += 1
