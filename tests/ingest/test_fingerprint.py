"""Fingerprints: what tells an appended transcript from a rewritten one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from gearshift.ingest.fingerprint import HEAD, SPAN, fingerprint, matches


def _older(data: bytes, offset: int, span: int, prefix: str) -> str:
    """How older versions fingerprinted: the first 4 KiB and the ``span`` bytes before the
    offset (version 2: 4 KiB, prefix ``2:``; before it: 64 KiB, no prefix)."""
    digest = hashlib.blake2b(data[: min(offset, 4096)], digest_size=16)
    digest.update(data[max(0, offset - span) : offset])
    digest.update(str(offset).encode())
    return prefix + digest.hexdigest()


def _current(data: bytes, offset: int) -> str:
    """The version-3 fingerprint, computed here: 1 KiB at each end and the offset."""
    if not offset:
        return ""
    digest = hashlib.blake2b(data[: min(offset, HEAD)], digest_size=16)
    digest.update(data[max(0, offset - SPAN) : offset])
    digest.update(str(offset).encode())
    return "3:" + digest.hexdigest()


def _file(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    lines = []
    while sum(map(len, lines)) < size:
        lines.append(json.dumps({"uuid": f"u{len(lines)}", "text": "x" * 300}).encode() + b"\n")
    data = b"".join(lines)
    path = tmp_path / "t.jsonl"
    path.write_bytes(data)
    return path, data


def test_a_fingerprint_covers_both_ends_and_the_offset(tmp_path: Path) -> None:
    path, data = _file(tmp_path, 200_000)
    offset = data.rindex(b"\n", 0, 150_000) + 1
    saved = fingerprint(str(path), offset)
    assert saved.startswith("3:") and len(saved) <= 64  # fits the state table's column
    assert saved == _current(data, offset)
    assert matches(str(path), offset, saved)
    assert not matches(str(path), offset - 1, saved)
    for at in (10, offset - 10):  # a byte changed at either end
        changed = bytearray(data)
        changed[at] ^= 1
        path.write_bytes(changed)
        assert not matches(str(path), offset, saved), at
    path.write_bytes(data + b'{"appended": true}\n')  # appending keeps it
    assert matches(str(path), offset, saved)
    assert fingerprint(str(path), 0) == ""


def test_a_short_file_is_hashed_whole(tmp_path: Path) -> None:
    path, data = _file(tmp_path, 600)
    assert len(data) < min(HEAD, SPAN)
    assert fingerprint(str(path), len(data)) == _current(data, len(data))


@pytest.mark.parametrize(("span", "prefix"), [(65536, ""), (4096, "2:")])
def test_fingerprints_saved_by_an_older_version_still_match(
    tmp_path: Path, span: int, prefix: str
) -> None:
    """A ledger written by an older version keeps its files' states: an appended file is still
    parsed from its offset, not re-read in full, and a change in what the old fingerprint
    covered is still seen."""
    path, data = _file(tmp_path, 200_000)
    offset = len(data)
    old = _older(data, offset, span, prefix)
    assert fingerprint(str(path), offset, version=prefix) == old
    assert matches(str(path), offset, old)
    path.write_bytes(data + b'{"appended": true}\n')
    assert matches(str(path), offset, old)
    for at in (3000, offset - span + 10):  # inside the old spans, outside the new 1 KiB ones
        changed = bytearray(data)
        changed[at] ^= 1
        path.write_bytes(changed)
        assert not matches(str(path), offset, old), at


def test_an_unreadable_file_does_not_match(tmp_path: Path) -> None:
    assert not matches(str(tmp_path / "gone.jsonl"), 100, "2:00")


def test_only_known_versions_make_fingerprints(tmp_path: Path) -> None:
    path, _ = _file(tmp_path, 10_000)
    with pytest.raises(ValueError, match="no fingerprint version '4:'"):
        fingerprint(str(path), 5000, version="4:")
