"""Cheap deterministic building blocks of the synthetic corpus: ids, timestamps, sizes, filler.

Everything draws from the one ``random.Random`` it is given, so a corpus is a pure function of its
arguments. Nothing here reads the clock or the global random state, and no transcendental float
function is used (their last bit may differ between C libraries), so output is byte-identical
across platforms for the same seed and gearshift version.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from functools import lru_cache
from itertools import pairwise

__all__ = ["DAY_MS", "Ids", "TextPool", "day_end", "epoch_ms", "file_size", "iso", "iso_day"]

DAY_MS = 86_400_000
_EPOCH = dt.date(1970, 1, 1).toordinal()
_B62 = string.ascii_letters + string.digits
_B64 = _B62 + "+/"

#: Per-file size quantiles of ccusage's "real-world profile", interpolated in
#: log space and frozen here as (basis points, bytes) so sampling needs no ``exp``/``log``.
_SIZE_QUANTILES = (
    (0, 236), (200, 301), (400, 384), (600, 491), (800, 626), (1000, 799), (1200, 1020),
    (1400, 1301), (1600, 1661), (1800, 2120), (2000, 2705), (2200, 3453), (2400, 4406),
    (2600, 5624), (2800, 7177), (3000, 9160), (3200, 11690), (3400, 14919), (3600, 19040),
    (3800, 24300), (4000, 31012), (4200, 39579), (4400, 50512), (4600, 64465), (4800, 82273),
    (5000, 105000), (5200, 111952), (5400, 119364), (5600, 127267), (5800, 135693),
    (6000, 144677), (6200, 154256), (6400, 164469), (6600, 175358), (6800, 186968),
    (7000, 199347), (7200, 212546), (7400, 226618), (7600, 250596), (7800, 287401),
    (8000, 329612), (8200, 378023), (8400, 433544), (8600, 497219), (8800, 570247),
    (9000, 654000), (9200, 911556), (9400, 1270541), (9600, 2066174), (9800, 3920289),
    (9900, 5400000), (9920, 9414968), (9940, 16415116), (9960, 28619962), (9980, 49899266),
    (10000, 87000000),
)  # fmt: skip

_WORDS = (
    "the a to of and in is for that with on as this it be are by from at we can not if when "
    "then else return value function class module test tests error errors config request "
    "response handler middleware rate limit token bucket cache session agent subagent model "
    "router budget ledger record records cost costs usage tokens input output read write file "
    "files path paths line lines parse parser schema field fields index query table column "
    "migration commit branch merge review refactor rename extract inline helper util utils "
    "async await future promise stream buffer chunk offset size bytes count total sum mean "
    "median quantile retry backoff timeout deadline worker queue job task tasks plan step "
    "steps result results check checks assert expected actual fixture mock stub client server "
    "endpoint route routes api http json yaml toml env var vars option options flag flags "
    "default defaults user users team project projects repo build deploy release version "
    "import export type types interface struct enum match case loop iterate map filter reduce "
    "sort key keys dict list set tuple string number integer decimal exact money price prices"
)
_VOCAB = tuple(_WORDS.split())


class Ids:
    """Identifiers shaped like Claude Code's: uuids, ``msg_01…``, ``req_011C…``, ``toolu_01…``."""

    __slots__ = ("_rng",)

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def b62(self, n: int) -> str:
        return "".join(self._rng.choices(_B62, k=n))

    def hex(self, n: int) -> str:
        return f"{self._rng.getrandbits(4 * n):0{n}x}"

    def uuid(self) -> str:
        h = self.hex(32)
        variant = "89ab"[int(h[16], 16) & 3]
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"

    def message_id(self) -> str:
        return "msg_01" + self.b62(22)

    def request_id(self) -> str:
        return "req_011C" + self.b62(20)

    def tool_use_id(self) -> str:
        return "toolu_01" + self.b62(22)

    def agent_id(self, *, short: bool) -> str:
        """``a`` + 16 hex digits (Claude Code >= 2.1.1xx), or 7 hex digits (older versions)."""
        return self.hex(7) if short else "a" + self.hex(16)

    def signature(self, n: int) -> str:
        return "".join(self._rng.choices(_B64, k=n))


def file_size(rng: random.Random) -> int:
    """A file size drawn from the reference corpus quantiles (p50 105 KB, p99 5.4 MB, max 87 MB)."""
    u = rng.randrange(10_000 * 64) / 64
    for (p0, s0), (p1, s1) in pairwise(_SIZE_QUANTILES):
        if u <= p1:
            return s0 + int((s1 - s0) * (u - p0) / (p1 - p0))
    return _SIZE_QUANTILES[-1][1]


def epoch_ms(day: dt.date) -> int:
    return (day.toordinal() - _EPOCH) * DAY_MS


def day_end(ms: int) -> int:
    """The last millisecond of the UTC day holding ``ms``: copies of one API call never cross it."""
    return (ms // DAY_MS + 1) * DAY_MS - 1


@lru_cache(maxsize=4096)
def iso_day(day_number: int) -> str:
    return dt.date.fromordinal(_EPOCH + day_number).isoformat()


def iso(ms: int) -> str:
    """``2026-08-24T22:43:22.764Z``: UTC, millisecond precision, 24 characters, as Claude Code."""
    day, rest = divmod(ms, DAY_MS)
    sec, milli = divmod(rest, 1000)
    minute, s = divmod(sec, 60)
    h, m = divmod(minute, 60)
    return f"{iso_day(day)}T{h:02d}:{m:02d}:{s:02d}.{milli:03d}Z"


class TextPool:
    """A pre-generated block of filler prose; padding is a slice of it, never built per character.

    The text is ASCII words and spaces only: no quotes, backslashes or colons, so it needs no JSON
    escaping and can never look like a ``"key":null`` pattern to a byte scanner.
    """

    __slots__ = ("_n", "_rng", "_text")

    def __init__(self, rng: random.Random, size: int = 1 << 21) -> None:
        words: list[str] = []
        length = 0
        while length < size:
            chunk = rng.choices(_VOCAB, k=4096)
            words.extend(chunk)
            length += sum(map(len, chunk)) + len(chunk)
        self._text = " ".join(words)
        self._n = len(self._text)
        self._rng = rng

    def take(self, n: int) -> str:
        n = max(1, min(n, self._n - 1))
        start = self._rng.randrange(self._n - n)
        return self._text[start : start + n]

    def words(self, lo: int, hi: int) -> str:
        """A short phrase (a description, a title): ``lo``..``hi`` characters, trimmed to words."""
        text = self.take(self._rng.randint(lo, hi) + 12)
        first = text.find(" ") + 1
        last = text.rfind(" ")
        return text[first:last] if last > first else text.strip()
