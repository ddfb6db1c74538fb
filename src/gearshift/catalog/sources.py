"""Which price files a catalog is made from: what :func:`gearshift.catalog.load_catalog` reads,
named here without loading the catalog's modules (so a run can tell whether rate cards it saved
were made from the same prices; see :mod:`gearshift.ingest.cards`)."""

from __future__ import annotations

import os

from gearshift._files import read_package_file

__all__ = ["PROFILES", "price_spec", "price_texts", "texts_digest"]

#: Named price profiles bundled with gearshift.
PROFILES = ("anthropic", "article")


def price_spec(prices: str | os.PathLike[str] | None) -> str:
    """The price profile or file ``prices`` names: itself, else ``$GEARSHIFT_PRICES``, else
    the bundled ``anthropic`` catalog."""
    spec = os.fspath(prices) if prices is not None else os.environ.get("GEARSHIFT_PRICES", "")
    return spec or "anthropic"


def price_texts(spec: str) -> list[bytes] | None:
    """The bytes of every price file the catalog of ``spec`` is made from, in the order they are
    laid over each other: the bundled ``anthropic.toml``, then the profile or the user's file;
    ``None`` when one cannot be read (loading the catalog then says why)."""
    try:
        texts = [_bundled("anthropic")]
        if spec != "anthropic":
            if spec in PROFILES:
                texts.append(_bundled(spec))
            else:
                with open(os.path.expanduser(spec), "rb") as fh:
                    texts.append(fh.read())
    except (OSError, UnicodeDecodeError):
        return None
    return texts


def _bundled(name: str) -> bytes:
    return read_package_file("gearshift.catalog", __file__, "data", f"{name}.toml").encode()


def texts_digest(texts: list[bytes]) -> str:
    """A digest of the price files' bytes (as :func:`price_texts` or ``load_catalog`` reads
    them): what :attr:`gearshift.catalog.Catalog.sources` holds."""
    from gearshift._hash import blake2b

    digest = blake2b(digest_size=16)
    for text in texts:
        digest.update(len(text).to_bytes(8, "little"))
        digest.update(text)
    return digest.hexdigest()
