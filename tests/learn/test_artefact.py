"""Stored models: a round trip predicts the same, and anything tampered or unknown is refused
before it is used (and nothing in it can run code)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from gearshift.errors import ConfigError
from gearshift.learn.artefact import FORMAT_VERSION, from_blob, load_latest, store, to_blob
from gearshift.ledger import Ledger
from gearshift.routing.features import TaskText
from gearshift.routing.predictor import Predictor

ROWS = [TaskText("lint the api module"), TaskText("design the failover of billing", "ops")]


def npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def test_round_trip_through_the_ledger(tmp_path: Path, trained: Predictor) -> None:
    with Ledger.open(tmp_path / "l.db") as ledger:
        assert load_latest(ledger) is None
        stored = store(ledger, trained)
        again = load_latest(ledger)
    assert again is not None
    assert again[0].id == stored.id
    assert again[1].meta["format_version"] == FORMAT_VERSION
    np.testing.assert_allclose(again[1].predict_array(ROWS), trained.predict_array(ROWS))


def test_a_changed_blob_fails_its_digest(trained: Predictor) -> None:
    meta, blob = to_blob(trained)
    digest = hashlib.sha256(blob).hexdigest()
    with pytest.raises(ConfigError, match="digest"):
        from_blob(meta, blob[:-1] + bytes([blob[-1] ^ 1]), digest=digest)


def test_an_unknown_format_version_is_refused(trained: Predictor) -> None:
    meta, blob = to_blob(trained)
    data = json.loads(meta)
    data["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(ConfigError, match="format version"):
        from_blob(json.dumps(data), blob)


def test_an_unknown_feature_version_is_refused(trained: Predictor) -> None:
    meta, blob = to_blob(trained)
    data = json.loads(meta)
    data["feature_version"] = 99
    with pytest.raises(ConfigError, match="features are version"):
        from_blob(json.dumps(data), blob)


def test_pickled_arrays_are_never_loaded(trained: Predictor) -> None:
    meta, _ = to_blob(trained)
    arrays = dict(trained.arrays)
    arrays["weights"] = np.array([{"evil": "code"}], dtype=object)
    with pytest.raises(ConfigError, match="cannot be read safely"):
        from_blob(meta, npz(arrays))


def test_wrong_shapes_and_extra_arrays_are_refused(trained: Predictor) -> None:
    meta, _ = to_blob(trained)
    short = dict(trained.arrays)
    short["bias"] = np.zeros(2)
    with pytest.raises(ConfigError, match="'bias' has shape"):
        from_blob(meta, npz(short))
    extra = {**trained.arrays, "more": np.zeros(1)}
    with pytest.raises(ConfigError, match="not the expected"):
        from_blob(meta, npz(extra))
    bad = dict(trained.arrays)
    bad["calibration"] = np.full((3, 2), np.nan)
    with pytest.raises(ConfigError, match="NaN"):
        from_blob(meta, npz(bad))


def test_metadata_must_be_a_json_object(trained: Predictor) -> None:
    _, blob = to_blob(trained)
    with pytest.raises(ConfigError):
        from_blob("[1, 2]", blob)
    with pytest.raises(ConfigError):
        from_blob("{not json", blob)


@pytest.mark.postgres
def test_round_trip_on_postgresql(pg_url: str, trained: Predictor, tmp_path: Path) -> None:
    from gearshift.catalog import load_catalog
    from gearshift.learn.outcomes import import_file, training_outcomes

    path = tmp_path / "o.csv"
    path.write_text("task,tier,success,cost_usd\na,haiku,1,0.25\nb,opus,0.5,\n", encoding="utf-8")
    with Ledger.open(pg_url) as ledger:
        import_file(ledger, path, load_catalog())
        assert [(o.task, o.score, o.cost_nanos) for o in training_outcomes(ledger)] == [
            ("a", 1.0, 250_000_000),
            ("b", 0.5, None),
        ]
        store(ledger, trained)
        found = load_latest(ledger)
    assert found is not None
    np.testing.assert_allclose(found[1].predict_array(ROWS), trained.predict_array(ROWS))
