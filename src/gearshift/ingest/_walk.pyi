"""Type stub of the C extension ``gearshift.ingest._walk`` (see ``_walk.c``)."""

from typing import TypeAlias

#: (path, st_size, st_mtime_ns, st_dev, st_ino) of one ``*.jsonl`` (stat following links).
Transcript: TypeAlias = tuple[str, int, int, int, int]
#: A Transcript and ``under`` (see gearshift.ingest.discovery.Listed).
Entry: TypeAlias = tuple[str, int, int, int, int, int]

def walk(top: str, skip: str, /) -> tuple[list[Transcript], list[str]]:
    """``(transcripts, sidecars)`` under the directory ``top``, walked with the GIL released.

    Every directory is entered unless its name is ``skip``; a symlink never is (lstat /
    ``d_type`` ``DT_DIR`` decides). ``transcripts``: ``(path, st_size, st_mtime_ns, st_dev,
    st_ino)`` of every non-directory entry named ``*.jsonl``, stat following symlinks exactly as
    ``os.stat(path)`` gives it (an entry whose stat fails is left out). ``sidecars``: the path of
    every non-directory entry named ``agent-*.meta.json``. ``path`` is ``top`` and the names
    below it joined by ``"/"`` (not doubled after a ``top`` ending in ``"/"``), names decoded as
    :func:`os.fsdecode` does. Directories that cannot be opened or read are passed over; a
    ``top`` that cannot be opened gives ``([], [])``. The order of both lists is unspecified.
    """

def listing(
    top: str, skip: str, under: int, utf8: bool, /
) -> tuple[list[Entry], list[tuple[str, str]], bool]:
    """:func:`walk` as gearshift.ingest.discovery lists a root: ``(entries, sidecars,
    ordered)``, the sorting done with the GIL released.

    ``entries``: each transcript with ``under`` appended; ``sidecars``: ``(agent id, path)`` of
    each ``agent-<id>.meta.json``. ``ordered``: both lists are sorted by path and ``entries``
    holds each ``(st_dev, st_ino)`` once, under the first of its paths -- so when ``utf8`` (the
    filesystem encoding is UTF-8 with surrogateescape) and every path is valid UTF-8, where byte
    order is str order; else both lists are as walked, every path listed, for the caller to sort.
    """
