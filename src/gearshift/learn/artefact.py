"""A trained predictor as a stored artefact: JSON metadata plus an ``.npz`` of plain arrays.

Nothing in it can run code when loaded: the arrays are read with ``allow_pickle=False`` (an
object array is refused), the metadata is JSON, and :meth:`Predictor.from_arrays` checks every
array's name, shape and kind against the metadata before anything uses it. The metadata carries
:data:`FORMAT_VERSION`; a model of another format is refused with a clear error. The blob's
SHA-256 is stored beside it and checked on load (a corrupted or edited blob is refused).
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import TYPE_CHECKING, Any

from gearshift.errors import ConfigError
from gearshift.ledger.learning import StoredModel, latest_model, save_model
from gearshift.routing.features import require_sklearn
from gearshift.routing.predictor import Predictor

if TYPE_CHECKING:
    from gearshift.ledger.store import Ledger

__all__ = ["FORMAT_VERSION", "from_blob", "load_latest", "store", "to_blob"]

#: The artefact layout this gearshift writes and reads.
FORMAT_VERSION = 1


def to_blob(predictor: Predictor) -> tuple[str, bytes]:
    """``(meta JSON, npz bytes)`` of a predictor."""
    import numpy as np

    buffer = io.BytesIO()
    np.savez_compressed(buffer, allow_pickle=False, **predictor.arrays)
    meta = {**predictor.meta, "format_version": FORMAT_VERSION}
    return json.dumps(meta, sort_keys=True, separators=(",", ":")), buffer.getvalue()


def from_blob(meta_json: str, blob: bytes, *, digest: str | None = None) -> Predictor:
    """The predictor of a stored artefact, or ConfigError saying why it cannot be used."""
    require_sklearn()
    import numpy as np

    if digest is not None and hashlib.sha256(blob).hexdigest() != digest:
        raise ConfigError(
            "the stored model does not match its digest (changed or corrupted)",
            hint="train a new one: gearshift learn fit",
        )
    try:
        meta = json.loads(meta_json)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"the stored model's metadata is not JSON: {exc.msg}") from None
    if not isinstance(meta, dict):
        raise ConfigError("the stored model's metadata is not a JSON object")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise ConfigError(
            f"the stored model has format version {version!r}; this gearshift reads "
            f"version {FORMAT_VERSION}",
            hint="train a new one with this gearshift: gearshift learn fit",
        )
    arrays: dict[str, Any] = {}
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            for name in npz.files:
                arrays[name] = npz[name]
    except (ValueError, OSError, EOFError) as exc:
        raise ConfigError(f"the stored model's arrays cannot be read safely: {exc}") from None
    return Predictor.from_arrays(meta, arrays)


def store(ledger: Ledger, predictor: Predictor) -> StoredModel:
    """Save ``predictor`` as the ledger's newest model."""
    meta, blob = to_blob(predictor)
    return save_model(
        ledger,
        format_version=FORMAT_VERSION,
        meta=meta,
        digest=hashlib.sha256(blob).hexdigest(),
        blob=blob,
    )


def load_latest(ledger: Ledger) -> tuple[StoredModel, Predictor] | None:
    """The newest stored model and its predictor, or ``None`` when none was trained."""
    stored = latest_model(ledger)
    if stored is None:
        return None
    return stored, from_blob(stored.meta, stored.blob, digest=stored.digest)
