"""Type stub of the C extension ``gearshift.ingest._walk`` (see ``_walk.c``)."""

from typing import TypeAlias

#: (path, st_size, st_mtime_ns, st_dev, st_ino) of one ``*.jsonl`` (stat following links).
Transcript: TypeAlias = tuple[str, int, int, int, int]

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
