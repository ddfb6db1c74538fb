"""The native path of :func:`gearshift.ingest.parse.parse_file` (the C extension ``_scan``).

The file is read with ``readinto`` into one reused per-thread buffer of 512 KiB (the kernel's
copy lands in cache; when the buffer is full only the torn last line and the last 64 KiB, which
the fingerprint hashes, move to its front), and each run of complete lines goes to
:meth:`_scan.Scanner.scan`. That finds the ``"usage"`` lines and validates and locates their
fields with the GIL released, then builds the entries; any line its conservative JSON parser does
not accept comes back to :func:`gearshift.ingest.parse._decode` (msgspec), so results equal the
pure path's exactly. Lines, offsets, the torn last line and the fingerprint are as there too (the
fingerprint is hashed from the bytes still in memory rather than read back from the file).

The scanner deduplicates the entries within the file as it builds them (the rules of
:class:`gearshift.ingest.dedup.Deduper`, across all the buffers of the file and the lines left to
msgspec): a copy that loses to the one kept is never turned into a tuple, a better one replaces
it in place, and :meth:`_scan.Scanner.finish` puts the list in ``Deduper.kept()`` order.

Pricing: the scanner asks :func:`_card` once per (model, UTC day, fast, API error) for a *rate
card* -- the per-token femto-dollar rates, long-context threshold and fast-mode ratio
:meth:`EntryPricer.price` would use -- and computes each cost from the tokens in C. A card is
only handed out after it reproduced ``price`` on probe token counts; lines with a ``costUSD``,
pricers of another type and anything a card cannot express go to ``price`` itself. This relies
on what ``EntryPricer`` documents: its prices depend on the timestamp only through its UTC day.
"""

from __future__ import annotations

import datetime as dt
import os
from _thread import _local as _thread_local  # threading.local (threading: ~0.8 ms to load)

from gearshift.catalog.units import MAX_TOKENS, round_half_even
from gearshift.ingest import _scan
from gearshift.ingest import parse as _parse
from gearshift.ingest.cards import MISSING
from gearshift.ingest.fingerprint import HEAD, HEAD_READ, SPAN, from_bytes, matches_fd
from gearshift.ingest.parse import _EPOCH, _ONE_US, Entry, FileResult, _decode, _timestamp
from gearshift.ingest.pricing import EntryPricer

TYPE_CHECKING = False  # not typing's: importing typing costs a hook-run ingest ~4 ms
if TYPE_CHECKING:
    from collections.abc import Callable

    from gearshift.catalog.models import PricePeriod
    from gearshift.ingest._scan import Card, Priced, RateCard, Rates

__all__ = ["parse_file_native"]

_BUFFER = 512 * 1024
_EPOCH_DATE = dt.date(1970, 1, 1)
_FIRST_DAY = (dt.date.min - _EPOCH_DATE).days
_LAST_DAY = (dt.date.max - _EPOCH_DATE).days
_NANO_FEMTO = 10**6
_local = _thread_local()


def parse_file_native(
    path: str,
    start: int = 0,
    first_line: int = 1,
    pricer: EntryPricer | None = None,
    *,
    compact: bool = True,
    expect: str = "",
) -> FileResult:
    """``compact=False`` (for tests) skips the deduplication within the file; ``expect`` as
    :func:`gearshift.ingest.parse.parse_file` has it."""
    result = FileResult(path=path, start=start, offset=start)
    result.pricer = pricer

    def fallback(raw: memoryview, line_no: int) -> None:
        _decode(raw, line_no, result)  # an entry it appends is taken back by the scanner

    scanner = _scanner(result, pricer, fallback, compact)
    # An L2-sized buffer: the kernel copies into cache and the scanner reads it from there.
    size = max(1, min(_parse.CHUNK, _BUFFER))  # CHUNK is read at call time, as the pure path does
    buf: bytearray | None = getattr(_local, "buf", None)
    _local.buf = None  # a reentrant call gets its own buffer
    if buf is None or len(buf) != size:
        buf = bytearray(size)
    keep = min(SPAN, size // 2)
    done = 0  # buf[:done] is parsed
    filled = 0  # buf[:filled] holds data
    head = b""  # the file's first bytes, once read
    try:
        # A descriptor and reads at an offset: no file object and no seek.
        fd = _parse.open_transcript(path)
    except OSError as exc:
        result.error = f"{exc.strerror or exc}"
        result.usage_lines += scanner.usage_lines
        result.duplicates += scanner.finish()
        _local.buf = buf
        return result
    try:
        if start and expect:
            head = os.pread(fd, min(start, HEAD_READ), 0)
            if not matches_fd(fd, start, expect, head):
                start, first_line = _parse.restart(result)
        line_no = first_line - 1
        base = start  # the file offset of buf[0]
        while True:
            if filled == len(buf):
                # Make room, keeping the last parsed bytes for the fingerprint; a line longer
                # than the buffer grows it.
                drop = max(0, done - keep)
                if drop:
                    if base == 0 and not head:
                        head = bytes(buf[:HEAD])
                    with memoryview(buf) as view:
                        view[: filled - drop] = view[drop:filled]  # a memmove
                    base += drop
                    done -= drop
                    filled -= drop
                else:
                    buf.extend(bytes(len(buf)))
            room = len(buf) - filled
            with memoryview(buf) as view:
                got = _read_at(fd, view[filled:], base + filled)
            if not got:
                break
            last_nl = buf.rfind(b"\n", filled, filled + got)
            filled += got
            if last_nl >= 0:
                line_no = scanner.scan(buf, done, last_nl + 1, line_no)
                done = last_nl + 1
            if got < room:  # a regular file reads short only at its end: no read for EOF
                break
        result.offset = base + done
        result.pending_bytes = filled - done
        result.lines = line_no - (first_line - 1)
        result.fingerprint = _fingerprint(fd, result.offset, buf, base, done, head)
    except OSError as exc:
        result.error = f"{exc.strerror or exc}"
        result.fingerprint = ""
        return result
    finally:
        os.close(fd)
        result.usage_lines += scanner.usage_lines
        result.duplicates += scanner.finish()
        if len(buf) > size:
            del buf[size:]
        _local.buf = buf
    return result


_preadv: Callable[[int, list[memoryview], int], int] | None = getattr(os, "preadv", None)


def _read_at(fd: int, into: memoryview, offset: int) -> int:
    """Read from ``fd`` at ``offset`` into ``into``; how many bytes came."""
    if _preadv is not None:
        return _preadv(fd, [into], offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - a POSIX without preadv
    return os.readv(fd, [into])  # pragma: no cover


def _fingerprint(fd: int, offset: int, buf: bytearray, base: int, done: int, head: bytes) -> str:
    """The fingerprint from the bytes still in ``buf`` (file offset ``base`` on), reading what
    is not there (the head of a file parsed from an offset, the bytes before a short append)
    from the open file ``fd``."""
    if not offset:
        return ""
    first = min(offset, HEAD)
    tail_from = max(0, offset - SPAN)
    if base and len(head) < first:
        head = os.pread(fd, first, 0)
    tail: bytes | memoryview
    with memoryview(buf) as view:
        if tail_from < base:
            tail = os.pread(fd, base - tail_from, tail_from) + bytes(view[:done])
        else:
            tail = view[tail_from - base : done]
        return from_bytes(head[:first] if base else view[:first], tail, offset)


def _scanner(
    result: FileResult, pricer: EntryPricer | None, fallback: _scan.Fallback, compact: bool
) -> _scan.Scanner:
    if pricer is None:
        card_fn: _scan.CardFn | None = None
        slow_fn: _scan.SlowFn | None = None
        cards: dict[object, Card] = {}
    else:
        priced_by = pricer

        def card_fn(model: str, day: int, fast: bool, api_error: bool) -> Card:
            return _card(priced_by, model, day, fast, api_error)

        def slow_fn(
            model: str,
            timestamp: str,
            tokens: Rates,
            fast: bool,
            cost: str | None,
            api_error: bool,
        ) -> Priced:
            return priced_by.price(model, _timestamp(timestamp), tokens, fast, cost, api_error)

        cards = _cards_for(pricer)
    return _scan.Scanner(
        Entry,
        result.entries,
        result.malformed,
        result.tool_types,
        result.result_types,
        result.result_tools,
        result.interned,
        result.projects,
        fallback,
        _ts_us,
        card_fn,
        slow_fn,
        cards,
        MAX_TOKENS,
        compact,
    )


def _ts_us(text: str) -> int:
    """Microseconds since the epoch of a timestamp the C parser left to Python."""
    return (_timestamp(text) - _EPOCH) // _ONE_US


def _cards_for(pricer: EntryPricer) -> dict[object, Card]:
    """The rate cards of ``pricer`` (kept as long as it lives, shared by every file and thread)."""
    cards: dict[object, Card] = pricer.native_cards.setdefault((pricer.mode, pricer.version), {})
    return cards  # setdefault is atomic: threads of one run share one dict


_PROBES: tuple[Rates, ...] = (
    (0, 0, 0, 0, 0),
    (1, 1, 1, 1, 1),
    (3, 7, 11, 13, 17),
    (999_999, 3, 200_001, 100_003, 900_007),
    (MAX_TOKENS, MAX_TOKENS, MAX_TOKENS, MAX_TOKENS, MAX_TOKENS),
)


def _card(pricer: EntryPricer, model_name: str, day: int, fast: bool, api_error: bool) -> Card:
    """How the scanner prices entries of ``model_name`` on UTC day ``day`` (days since the
    epoch): ``("c", *priced)`` when ``price`` does not depend on the tokens, ``("r", ...)`` with
    the rates of :meth:`EntryPricer.price`, or ``None``: call ``price`` for each entry.

    ``price`` depends on the day only through the model's price period (what
    :class:`EntryPricer` documents), so a card is made and checked once per period and handed
    out again for the period's other days: a run over a month of transcripts checks a handful
    of cards, not one per model and day (~40 us each). With saved cards (see
    :mod:`gearshift.ingest.cards`) a model's cards are looked up there, or made for every
    period of the model and added."""
    if type(pricer) is not EntryPricer:
        return None
    saved = pricer.saved
    if saved is not None and saved.usable:
        card: Card = saved.get(model_name, day, fast, api_error)
        if card is MISSING:  # every card of the model, kept for later runs
            cards = _model_cards(pricer, model_name, fast, api_error)
            saved.put(pricer.version, model_name, fast, api_error, cards, pricer.loaded_sources)
            card = saved.get(model_name, day, fast, api_error)
        return card
    return _day_card(pricer, model_name, day, fast, api_error)


def _model_cards(
    pricer: EntryPricer, model_name: str, fast: bool, api_error: bool
) -> list[tuple[int, Card]]:
    """``(first day, card)`` of each price period of ``model_name`` (one card, from day 0, when
    the price depends on no day), as :func:`_day_card` makes them."""
    model = None if api_error or pricer.mode == "display" else pricer._model(model_name)
    if model is None:
        return [(0, _day_card(pricer, model_name, 0, fast, api_error))]
    days = [(period.since - _EPOCH_DATE).days for period in model.periods]
    return [(day, _day_card(pricer, model_name, day, fast, api_error)) for day in days]


def _day_card(pricer: EntryPricer, model_name: str, day: int, fast: bool, api_error: bool) -> Card:
    """:func:`_card` made from the catalog."""
    # A day beyond what a date can hold (a year-1 timestamp east of UTC is still year 0 there)
    # is priced as the nearest one: every price period starts well inside.
    when = _EPOCH + dt.timedelta(days=min(max(day, _FIRST_DAY), _LAST_DAY))
    period = None  # a price that depends on neither the day nor the tokens
    if not (api_error or pricer.mode == "display"):  # (an API error's model is not looked up)
        model = pricer._model(model_name)
        if model is not None:
            period = pricer._period(model, when)
    # id(period): the pricer's catalog holds every period for as long as the memo lives.
    key = (pricer.mode, pricer.version, model_name, id(period), fast, api_error)
    memo = pricer.period_cards
    if key in memo:
        known: Card = memo[key]
        return known
    card = memo[key] = _make_card(pricer, model_name, when, fast, api_error, period)
    return card


def _make_card(
    pricer: EntryPricer,
    model_name: str,
    when: dt.datetime,
    fast: bool,
    api_error: bool,
    period: PricePeriod | None,
) -> Card:
    """:func:`_card` for the day ``when`` in ``period`` (``None``: a price that depends on
    neither the day nor the tokens), checked against ``price`` on probe tokens."""

    def price(tokens: Rates) -> Priced:
        return pricer.price(model_name, when, tokens, fast, None, api_error)

    model = None if period is None else pricer._model(model_name)
    if period is None or model is None:
        first = price(_PROBES[0])
        if all(price(tokens) == first for tokens in _PROBES[1:]):
            return ("c", *first)
        return None
    lc = period.long_context
    if fast and period.fast is not None:
        # A Decimal's exact ratio in lowest terms, as Fraction(period.fast) has it (fractions
        # costs ~1.5 ms to load, its pattern compiled at import).
        ratio_n, ratio_d = period.fast.as_integer_ratio()
    else:
        ratio_n, ratio_d = 1, 1
    card: RateCard = (
        "r",
        model.id,
        model.tier.value,
        pricer.version,
        lc.threshold if lc is not None else -1,
        period.base.femto,
        lc.prices.femto if lc is not None else None,
        ratio_n,
        ratio_d,
    )
    probes = list(_PROBES)
    if lc is not None and 0 <= lc.threshold < MAX_TOKENS:
        t = lc.threshold
        probes += [(t, 0, 0, 0, 0), (t + 1, 5, 0, 0, 0), (0, 9, t // 2, t - t // 2 + 1, 0)]
    if all(_card_price(card, tokens) == price(tokens) for tokens in probes):
        return card
    return None


def _card_price(card: RateCard, tokens: Rates) -> Priced:
    """What the scanner computes from a ``"r"`` card (the C code does the same in integers)."""
    _, model_id, tier, version, threshold, base, lc, num, den = card
    i_n, o_n, w5_n, w1_n, r_n = tokens
    prompt = i_n + w5_n + w1_n + r_n
    rates = lc if lc is not None and prompt > threshold else base
    i, o, w5, w1, r = rates
    femto = i_n * i + o_n * o + w5_n * w5 + w1_n * w1 + r_n * r
    return model_id, tier, round_half_even(femto * num, den * _NANO_FEMTO), version, True
