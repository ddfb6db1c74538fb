"""Rate cards kept between runs, so that an ingest that meets only models it priced before
loads no price catalog (its modules, with :mod:`decimal` and :mod:`enum`, and the bundled prices
cost a hook-run ingest ~5 ms).

A rate card (see :mod:`gearshift.ingest.parse_native`) tells the C parser how to price the
responses of one model on one UTC day, and is only made after it reproduced
:meth:`~gearshift.ingest.pricing.EntryPricer.price` on probe token counts. Prices depend on the
day only through the model's price periods, so what is saved, per model name as transcripts
write it (and fast mode, and API error), is one checked card per period with the day the
period starts: any day's card is then the one of the last period started by that day (the
first period's for days before it, as the catalog has it).

The file holds the cards of one *identity*: a digest of the price files the catalog is made
from (:func:`gearshift.catalog.sources.price_texts`), the cost mode, and the code that makes,
checks and reads cards. Cards made from a catalog are saved only if that catalog was made from
the very bytes the identity hashes (:attr:`~gearshift.catalog.Catalog.sources`: a price file
edited while a run loads it, or a catalog a long-lived process loaded before the edit, makes
cards this run uses and no later one). A run of another identity, or that made cards the file
lacks, rewrites it when it ends (atomically: a reader sees the old file or the new one); the
file carries a digest of its cards, so a damaged one is not used. A file that cannot be read,
parsed or written is passed over -- the run loads the catalog, as without it.

Where: ``$XDG_CACHE_HOME/gearshift/rate-cards.json`` (``~/.cache`` when unset).
"""

from __future__ import annotations

import os
from _thread import allocate_lock

from gearshift.catalog.sources import price_texts, texts_digest

TYPE_CHECKING = False  # not typing's: this module is on the path of every hook-run ingest
if TYPE_CHECKING:
    from typing import Any

    from gearshift.ingest._scan import Card

__all__ = ["MISSING", "SavedCards", "cards_path", "identity"]

#: The modules whose code decides what a card holds (beside this one), by path below the
#: gearshift package: a change to any of them makes saved cards another identity's.
_CODE = (
    ("ingest", "cards.py"),
    ("ingest", "parse_native.py"),
    ("ingest", "pricing.py"),
    ("catalog", "cost.py"),
    ("catalog", "models.py"),
    ("catalog", "prices.py"),
    ("catalog", "sources.py"),
    ("catalog", "tiers.py"),
    ("catalog", "units.py"),
    ("_json.py",),  # it reads the bundled prices' compiled twins
)
# (The C parser applies a card as parse_native._card_price does -- its tests hold them to it --
# so what a card means is in the Python above.)

#: What :meth:`SavedCards.get` returns for a key it holds no card for.
MISSING: Any = object()


def cards_path() -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "gearshift", "rate-cards.json")


def identity(spec: str, mode: str) -> str | None:
    """The identity of the cards made for price spec ``spec`` (see
    :func:`gearshift.catalog.sources.price_spec`) in cost mode ``mode``; ``None`` when a price
    file or the code cannot be read (nothing is saved or used then)."""
    found = _identity(spec, mode)
    return None if found is None else found[0]


def _identity(spec: str, mode: str) -> tuple[str, str] | None:
    """``(identity, digest of the price files)``."""
    texts = price_texts(spec)
    if texts is None:
        return None
    sources = texts_digest(texts)
    digest = _blake2b(f"rate cards 1\0{mode}\0{spec}\0{sources}\0".encode())
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        for parts in _CODE:
            with open(os.path.join(package, *parts), "rb") as fh:
                digest.update(fh.read())
    except OSError:  # not plain files (a zip): no saved cards
        return None
    return digest.hexdigest(), sources


def _blake2b(data: bytes) -> Any:
    from gearshift._hash import blake2b

    return blake2b(data, digest_size=16)


class SavedCards:
    """The cards saved for price spec ``spec`` (see
    :func:`gearshift.catalog.sources.price_spec`) in cost mode ``mode``, read on first use (a
    run with nothing new never reads them): :meth:`get` answers the parser from them,
    :meth:`put` adds a model's, :meth:`save` writes the file if anything was added. Not
    :attr:`usable` when no identity can be made (a price file or the code cannot be read)."""

    __slots__ = (
        "_added",
        "_by_key",
        "_identity",
        "_lock",
        "_read",
        "_sources",
        "_stale",
        "_version",
        "mode",
        "path",
        "spec",
    )

    def __init__(self, spec: str, mode: str, path: str | None = None) -> None:
        self.spec = spec
        self.mode = mode
        self.path = path or cards_path()
        self._read = False
        self._identity: str | None = None
        self._sources: str | None = None  # the digest of the price files the identity is of
        self._version: str | None = None  # the price version of the catalog the cards are of
        self._by_key: dict[tuple[str, bool, bool], list[tuple[int, Card]]] = {}
        self._added = False
        self._stale = False  # made from a catalog of other bytes: not to be saved
        self._lock = allocate_lock()  # parser threads ask for cards at once

    @property
    def usable(self) -> bool:
        self._open()
        return self._identity is not None

    @property
    def version(self) -> str | None:
        """The price version of the saved cards (``None``: none saved)."""
        self._open()
        return self._version

    def _open(self) -> None:
        if self._read:
            return
        with self._lock:
            if not self._read:
                found = _identity(self.spec, self.mode)
                if found is not None:
                    self._identity, self._sources = found
                    self._load()
                self._read = True

    def _load(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                data = fh.read()
            from gearshift._json import loads

            doc = loads(data)
        except (OSError, ValueError, RecursionError):
            return
        if not isinstance(doc, dict) or doc.get("identity") != self._identity:
            return
        version, cards = doc.get("version"), doc.get("cards")
        if not isinstance(version, str) or not isinstance(cards, list):
            return
        if doc.get("digest") != _payload_digest(version, cards):
            return
        by_key: dict[tuple[str, bool, bool], list[tuple[int, Card]]] = {}
        for item in cards:
            parsed = _parse_item(item, version)
            if parsed is None:
                return  # not what this code writes: none of it is used
            key, periods = parsed
            by_key[key] = periods
        self._version = version
        self._by_key = by_key

    def get(self, model: str, day: int, fast: bool, api_error: bool) -> Any:
        """The card of ``model`` on ``day`` (days since the epoch), or :data:`MISSING`."""
        self._open()
        periods = self._by_key.get((model, fast, api_error))
        if periods is None:
            return MISSING
        card = periods[0][1]
        for since, later in periods[1:]:
            if since > day:
                break
            card = later
        return card

    def put(
        self,
        version: str,
        model: str,
        fast: bool,
        api_error: bool,
        periods: list[tuple[int, Card]],
        sources: str | None,
    ) -> None:
        """Add ``model``'s checked cards: ``(first day, card)`` of each price period, in order.
        ``sources``: the :attr:`~gearshift.catalog.Catalog.sources` of the catalog they were made
        from (``None``: no catalog was loaded, they depend on none); cards of other bytes than
        the identity's are used by this run and never saved."""
        self._open()
        with self._lock:
            if sources is not None and sources != self._sources:
                self._stale = True
            if self._version != version:  # cards of another catalog: start over
                self._by_key = {}
                self._version = version
            self._by_key[(model, fast, api_error)] = periods
            self._added = True

    def save(self) -> None:
        """Write the file if cards were added (or it was of another identity); a failure to
        write is passed over."""
        if not self._added or self._identity is None or self._stale or self._version is None:
            return
        from gearshift._json import dumps

        cards = [
            [model, fast, api_error, [[since, card] for since, card in periods]]
            for (model, fast, api_error), periods in sorted(self._by_key.items())
        ]
        doc = {
            "identity": self._identity,
            "version": self._version,
            "cards": cards,
            "digest": _payload_digest(self._version, cards),
        }
        tmp = f"{self.path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(dumps(doc, separators=(",", ":"), ensure_ascii=False))
            os.replace(tmp, self.path)
        except OSError:
            try:  # noqa: SIM105 - contextlib is not loaded on this path
                os.unlink(tmp)
            except OSError:
                pass
            return
        self._added = False


def _payload_digest(version: str, cards: list[Any]) -> str:
    """A digest of the cards as the file holds them (lists: what JSON reads back)."""
    from gearshift._json import dumps

    text = dumps([version, cards], separators=(",", ":"), ensure_ascii=True)
    return str(_blake2b(text.encode()).hexdigest())


def _parse_item(item: object, version: str) -> tuple[tuple[str, bool, bool], list[Any]] | None:
    """``[model, fast, api_error, [[since, card], ...]]`` as :meth:`SavedCards.save` writes it,
    with each card as the parser takes it; ``None`` for anything else."""
    if not (isinstance(item, list) and len(item) == 4):
        return None
    model, fast, api_error, periods = item
    if not (isinstance(model, str) and type(fast) is bool and type(api_error) is bool):
        return None
    if not (isinstance(periods, list) and periods):
        return None
    out: list[tuple[int, Card]] = []
    for period in periods:
        if not (isinstance(period, list) and len(period) == 2 and type(period[0]) is int):
            return None
        if out and period[0] <= out[-1][0]:
            return None
        card = _card(period[1], version)
        if card is MISSING:
            return None
        out.append((period[0], card))
    return (model, fast, api_error), out


def _card(value: object, version: str) -> Any:
    """A card read back from JSON as the parser takes it (tuples), or :data:`MISSING`."""
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        return MISSING
    if value[0] == "c" and len(value) == 6:
        # Constant cards price nothing: an API error, display mode without costUSD, a model
        # the catalog does not know.
        _, model_id, tier, nanos, price_version, known = value
        if (
            isinstance(model_id, str)
            and isinstance(tier, str)
            and type(nanos) is int
            and nanos == 0
            and price_version in ("", "costUSD")
            and type(known) is bool
        ):
            return ("c", model_id, tier, nanos, price_version, known)
        return MISSING
    if value[0] == "r" and len(value) == 9:
        _, model_id, tier, price_version, threshold, base, lc, num, den = value
        if not (
            isinstance(model_id, str)
            and isinstance(tier, str)
            and price_version == version
            and type(threshold) is int
            and type(num) is int
            and type(den) is int
            and num >= 0
            and den > 0
        ):
            return MISSING
        rates = _rates(base)
        lc_rates = None if lc is None else _rates(lc)
        if rates is None or (lc is not None and lc_rates is None):
            return MISSING
        return ("r", model_id, tier, price_version, threshold, rates, lc_rates, num, den)
    return MISSING


def _rates(value: object) -> tuple[int, int, int, int, int] | None:
    if (
        isinstance(value, list)
        and len(value) == 5
        and all(type(v) is int and v >= 0 for v in value)
    ):
        return (value[0], value[1], value[2], value[3], value[4])
    return None
