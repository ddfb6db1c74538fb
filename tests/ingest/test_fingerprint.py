"""Fingerprints: what tells an appended transcript from a rewritten one."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from gearshift.ingest.fingerprint import HEAD, SPAN, fingerprint, from_bytes, matches


def _legacy(data: bytes, offset: int) -> str:
    """How gearshift fingerprinted before version 2 (64 KiB before the offset, no prefix)."""
    digest = hashlib.blake2b(data[: min(offset, 4096)], digest_size=16)
    digest.update(data[max(0, offset - 65536) : offset])
    digest.update(str(offset).encode())
    return digest.hexdigest()


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
    assert saved.startswith("2:") and len(saved) <= 64  # fits the state table's column
    assert saved == from_bytes(data[:HEAD], data[offset - SPAN : offset], offset)
    assert matches(str(path), offset, saved)
    assert not matches(str(path), offset - 1, saved)
    for at in (10, offset - 10):  # a byte changed at either end
        changed = bytearray(data)
        changed[at] ^= 1
        path.write_bytes(changed)
        assert not matches(str(path), offset, saved), at
    path.write_bytes(data + b'{"appended": true}\n')  # appending keeps it
    assert matches(str(path), offset, saved)
    assert fingerprint(str(path), 0) == "" and from_bytes(b"", b"", 0) == ""


def test_a_short_file_is_hashed_whole(tmp_path: Path) -> None:
    path, data = _file(tmp_path, 1000)
    assert fingerprint(str(path), len(data)) == from_bytes(data, data, len(data))


def test_fingerprints_saved_by_an_older_version_still_match(tmp_path: Path) -> None:
    """A ledger written before version 2 keeps its files' states: an appended file is still
    parsed from its offset, not re-read in full."""
    path, data = _file(tmp_path, 200_000)
    offset = len(data)
    old = _legacy(data, offset)
    assert matches(str(path), offset, old)
    changed = bytearray(data)
    changed[offset - 60_000] ^= 1  # inside the old 64 KiB span, outside the new 4 KiB one
    path.write_bytes(changed)
    assert not matches(str(path), offset, old)


def test_an_unreadable_file_does_not_match(tmp_path: Path) -> None:
    assert not matches(str(tmp_path / "gone.jsonl"), 100, "2:00")


def test_only_the_two_known_spans_make_fingerprints(tmp_path: Path) -> None:
    import pytest

    path, _ = _file(tmp_path, 10_000)
    with pytest.raises(ValueError, match="4096"):
        fingerprint(str(path), 5000, span=1000)
