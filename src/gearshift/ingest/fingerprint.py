"""Fingerprints of a transcript's parsed bytes, so a later run can tell an appended file from a
rewritten one (see :mod:`gearshift.ingest.state`).

A fingerprint hashes the file's first bytes, the bytes just before the parsed offset and the
offset itself. Transcript lines carry unique ids and timestamps, so a few kilobytes at each end
identify the content; a rewrite that kept both ends and the length byte for byte would be
needed to fool it. Version ``2:`` hashes 4 KiB at each end; fingerprints saved before it (no
prefix) hashed the last 64 KiB, and are still checked that way, so a ledger written by an
older gearshift is not re-read in full.
"""

from __future__ import annotations

import os

try:  # the builtin module: hashlib would load OpenSSL first (~2 ms of every run's start)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

__all__ = ["HEAD", "SPAN", "fingerprint", "from_bytes", "matches", "matches_fd"]

#: Bytes hashed at the start of the file and just before the offset.
HEAD = 4096
SPAN = 4096
_VERSION = "2:"
_LEGACY_SPAN = 65536


def fingerprint(path: str, offset: int, *, span: int = SPAN) -> str:
    """The fingerprint of ``path``'s first ``offset`` bytes, read from the file (``""`` for 0)."""
    if not offset:
        return ""
    with open(path, "rb") as fh:
        head = fh.read(min(offset, HEAD))
        start = max(0, offset - span)
        fh.seek(start)
        tail = fh.read(offset - start)
    return _digest(head, tail, offset, span)


def from_bytes(head: bytes | memoryview, tail: bytes | memoryview, offset: int) -> str:
    """The fingerprint from bytes already in memory: ``head`` the file's first
    ``min(offset, HEAD)`` bytes, ``tail`` the ``min(offset, SPAN)`` bytes before ``offset``."""
    if not offset:
        return ""
    return _digest(head, tail, offset, SPAN)


def matches(path: str, offset: int, saved: str) -> bool:
    """Whether ``path``'s first ``offset`` bytes still have the fingerprint ``saved`` (of any
    version); an unreadable file does not match."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return matches_fd(fd, offset, saved)
    finally:
        os.close(fd)


def matches_fd(fd: int, offset: int, saved: str) -> bool:
    """:func:`matches` on a file already open (the parser checks the bytes before where it
    starts on the file it reads)."""
    if not offset:
        return saved == ""
    span = SPAN if saved.startswith(_VERSION) else _LEGACY_SPAN
    try:
        head = os.pread(fd, min(offset, HEAD), 0)
        start = max(0, offset - span)
        tail = os.pread(fd, offset - start, start)
    except OSError:
        return False
    return _digest(head, tail, offset, span) == saved


def _digest(head: bytes | memoryview, tail: bytes | memoryview, offset: int, span: int) -> str:
    if span not in (SPAN, _LEGACY_SPAN):
        raise ValueError(
            f"a fingerprint hashes {SPAN} or (legacy) {_LEGACY_SPAN} bytes, not {span}"
        )
    digest = blake2b(head, digest_size=16)
    digest.update(tail)
    digest.update(str(offset).encode())
    return (_VERSION if span == SPAN else "") + digest.hexdigest()
