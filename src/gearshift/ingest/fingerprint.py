"""Fingerprints of a transcript's parsed bytes, so a later run can tell an appended file from a
rewritten one (see :mod:`gearshift.ingest.plan`).

A fingerprint hashes the file's first bytes, the bytes just before the parsed offset and the
offset itself. Transcript lines carry unique ids and timestamps, so a kilobyte at each end
identifies the content; a rewrite that kept both ends and the length byte for byte would be
needed to fool it. Version ``3:`` hashes 1 KiB at each end. Fingerprints saved by older
versions are still checked as they were made -- ``2:`` 4 KiB at each end, no prefix the first
4 KiB and the last 64 KiB -- so a ledger written by an older gearshift is not re-read in full.
"""

from __future__ import annotations

import os
from hashlib import blake2b

__all__ = ["HEAD", "SPAN", "VERSION", "fingerprint", "fingerprint_fd", "matches", "matches_fd"]

#: The version fingerprints are made in, and the bytes it hashes at the start of the file and
#: just before the offset.
VERSION = "3:"
HEAD = 1024
SPAN = 1024
#: Every version's (head, span), by its prefix.
_VERSIONS = {VERSION: (HEAD, SPAN), "2:": (4096, 4096), "": (4096, 65536)}


def fingerprint(path: str, offset: int, *, version: str = VERSION) -> str:
    """The fingerprint of ``path``'s first ``offset`` bytes (``""`` for 0)."""
    if version not in _VERSIONS:
        known = ", ".join(repr(v) for v in _VERSIONS)
        raise ValueError(f"no fingerprint version {version!r} (known: {known})")
    if not offset:
        return ""
    fd = os.open(path, os.O_RDONLY)
    try:
        return _of_fd(fd, offset, version)
    finally:
        os.close(fd)


def fingerprint_fd(fd: int, offset: int) -> str:
    """:func:`fingerprint` of a file already open (the parser's, once it has read it)."""
    return _of_fd(fd, offset, VERSION) if offset else ""


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
    version = saved[:2] if saved[:2] in _VERSIONS else ""
    try:
        return _of_fd(fd, offset, version) == saved
    except OSError:
        return False


def _of_fd(fd: int, offset: int, version: str) -> str:
    head_size, span = _VERSIONS[version]
    digest = blake2b(os.pread(fd, min(offset, head_size), 0), digest_size=16)
    start = max(0, offset - span)
    digest.update(os.pread(fd, offset - start, start))
    digest.update(str(offset).encode())
    return version + digest.hexdigest()
