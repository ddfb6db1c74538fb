"""Type stub of the C extension ``gearshift.ingest._scan`` (see ``_scan.c``)."""

from collections.abc import Callable
from typing import Any, TypeAlias

MAX_DEPTH: int

Rates: TypeAlias = tuple[int, int, int, int, int]
Priced: TypeAlias = tuple[str, str, int, str, bool]
#: ("c", model_id, tier, nanos, price_version, known): the same price for any tokens.
ConstCard: TypeAlias = tuple[str, str, str, int, str, bool]
#: ("r", model_id, tier, price_version, lc_threshold or -1, rates, lc_rates, fast_num, fast_den)
RateCard: TypeAlias = tuple[str, str, str, str, int, Rates, Rates | None, int, int]
Card: TypeAlias = ConstCard | RateCard | None
Fallback: TypeAlias = Callable[[memoryview, int], None]
CardFn: TypeAlias = Callable[[str, int, bool, bool], Card]
SlowFn: TypeAlias = Callable[[str, str, Rates, bool, str | None, bool], Priced]
_Buffer: TypeAlias = bytes | bytearray | memoryview

class Scanner:
    def __init__(
        self,
        entry_type: type[tuple[Any, ...]],
        entries: list[Any],
        malformed: list[tuple[int, str]],
        tool_types: dict[str, str],
        result_types: dict[str, str],
        result_tools: dict[str, str],
        interned: dict[str, str],
        projects: dict[str, str],
        fallback: Fallback,
        ts_fn: Callable[[str], int],
        card_fn: CardFn | None,
        slow_fn: SlowFn | None,
        cards: dict[object, Card],
        max_tokens: int,
        dedup: bool = True,
    ) -> None: ...
    @property
    def usage_lines(self) -> int: ...
    @property
    def duplicates(self) -> int: ...
    def scan(self, buf: _Buffer, start: int, end: int, line_no: int, /) -> int: ...
    def finish(self) -> int: ...

def fast_path(line: _Buffer, /) -> bool: ...
def parse_timestamp(text: _Buffer, /) -> int | None: ...
