"""BLAKE2b from the builtin ``_blake2`` module: :mod:`hashlib` would load OpenSSL first (~2 ms of a
hook-run ingest's start). The file fingerprints, the price files' digests and the saved rate
cards' identities all hash with it."""

from __future__ import annotations

try:
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

__all__ = ["blake2b"]
