"""Fingerprints of a transcript's parsed bytes, so a later run can tell an appended file from a
rewritten one (see :mod:`gearshift.ingest.state`).

A fingerprint hashes the file's first bytes, the bytes just before the parsed offset and the
offset itself. Transcript lines carry unique ids and timestamps, so a kilobyte at each end
identifies the content; a rewrite that kept both ends and the length byte for byte would be
needed to fool it. Version ``3:`` hashes 1 KiB at each end (a run checks and makes one per
changed file: 4 KiB at each end cost ~25 us a file). Fingerprints saved by older versions are
still checked as they were made -- ``2:`` 4 KiB at each end, no prefix the first 4 KiB and the
last 64 KiB -- so a ledger written by an older gearshift is not re-read in full.
"""

from __future__ import annotations

import os

from gearshift._hash import blake2b

__all__ = [
    "HEAD",
    "HEAD_READ",
    "SPAN",
    "VERSION",
    "fingerprint",
    "from_bytes",
    "matches",
    "matches_fd",
]

#: The version fingerprints are made in, and the bytes it hashes at the start of the file and
#: just before the offset.
VERSION = "3:"
HEAD = 1024
SPAN = 1024
#: Every version's (head, span), by its prefix.
_VERSIONS = {VERSION: (HEAD, SPAN), "2:": (4096, 4096), "": (4096, 65536)}
#: The most of a file's start any version hashes.
HEAD_READ = max(head for head, _ in _VERSIONS.values())


def fingerprint(path: str, offset: int, *, version: str = VERSION) -> str:
    """The fingerprint of ``path``'s first ``offset`` bytes, read from the file (``""`` for 0)."""
    head_size, span = _spans(version)
    if not offset:
        return ""
    with open(path, "rb") as fh:
        head = fh.read(min(offset, head_size))
        start = max(0, offset - span)
        fh.seek(start)
        tail = fh.read(offset - start)
    return _digest(head, tail, offset, version)


def from_bytes(head: bytes | memoryview, tail: bytes | memoryview, offset: int) -> str:
    """The fingerprint from bytes already in memory: ``head`` the file's first
    ``min(offset, HEAD)`` bytes, ``tail`` the ``min(offset, SPAN)`` bytes before ``offset``."""
    if not offset:
        return ""
    return _digest(head, tail, offset, VERSION)


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


def matches_fd(fd: int, offset: int, saved: str, head: bytes = b"") -> bool:
    """:func:`matches` on a file already open (the parser checks the bytes before where it
    starts on the file it reads). ``head``: the file's first ``min(offset, HEAD_READ)`` bytes,
    if the caller has read them (the parser hashes them again for the file's new state)."""
    if not offset:
        return saved == ""
    version = saved[:2] if saved[:2] in _VERSIONS else ""
    head_size, span = _VERSIONS[version]
    try:
        if len(head) < min(offset, head_size):
            head = os.pread(fd, min(offset, head_size), 0)
        head = head[: min(offset, head_size)]
        start = max(0, offset - span)
        tail = os.pread(fd, offset - start, start)
    except OSError:
        return False
    return _digest(head, tail, offset, version) == saved


def _spans(version: str) -> tuple[int, int]:
    if version not in _VERSIONS:
        known = ", ".join(repr(v) for v in _VERSIONS)
        raise ValueError(f"no fingerprint version {version!r} (known: {known})")
    return _VERSIONS[version]


def _digest(head: bytes | memoryview, tail: bytes | memoryview, offset: int, version: str) -> str:
    digest = blake2b(head, digest_size=16)
    digest.update(tail)
    digest.update(str(offset).encode())
    return version + digest.hexdigest()
