"""Keeping dedup keys unique without a unique index on their text.

An importer sets each record's ``dedup_key`` so that recording the same source twice adds
nothing. Since migration 0007 the key text has no index: records carry ``dedup_group`` (see
:func:`gearshift.ledger.columns.dedup_group`), and every writer, holding the write lock (SQLite's;
a PostgreSQL advisory lock), derives the groups of its rows (:func:`with_groups`) and leaves out
the rows whose key is recorded or repeated (:func:`unrecorded`) -- what ``INSERT OR IGNORE`` on a
unique index did. The functions are shared by both ledger classes and import nothing beyond the
standard library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gearshift.ledger.columns import EXECUTION_COLUMNS, dedup_group, dedup_groups

Row = tuple[Any, ...]

__all__ = ["DELETE_BY_KEY", "first_copies", "has_keys", "key_params", "unrecorded", "with_groups"]


#: Deletes the record with dedup key ``:k`` (``:g`` its group), found by the group index.
DELETE_BY_KEY = "DELETE FROM executions WHERE dedup_group = :g AND dedup_key = :k"


def key_params(keys: Sequence[str]) -> list[dict[str, Any]]:
    """Parameter sets of :data:`DELETE_BY_KEY` for ``keys``."""
    return [{"g": dedup_group(k), "k": k} for k in keys]


def with_groups(
    rows: Sequence[Row], columns: Sequence[str] | None, fixed: Mapping[str, Any] | None
) -> tuple[Sequence[Row], list[str], dict[str, Any], bool]:
    """``(rows, columns, fixed, keyed)``: the rows with the ``dedup_group`` of every row derived
    here from its ``dedup_key`` (see :func:`gearshift.ledger.columns.dedup_group`), whatever the
    caller gave -- a wrong group would hide a recorded key from :func:`unrecorded` -- and
    whether any row has a key (if not, the rows are returned as they are)."""
    names = list(columns if columns is not None else EXECUTION_COLUMNS)
    constants = dict(fixed or {})
    if not has_keys(rows, names, constants):  # no key, nothing to group or check
        if "dedup_group" not in names:
            constants["dedup_group"] = None
        return rows, names, constants, False
    constants.pop("dedup_group", None)
    if "dedup_key" in constants:
        constants["dedup_group"] = dedup_group(constants["dedup_key"])
        if "dedup_group" in names:
            at = names.index("dedup_group")
            del names[at]
            rows = [row[:at] + row[at + 1 :] for row in rows]
        return rows, names, constants, True
    key_at = names.index("dedup_key")
    keys = [row[key_at] for row in rows]
    found = dedup_groups([key for key in keys if key is not None])
    groups: list[int | None] = list(found)
    if len(found) < len(keys):  # some rows have none: their group is None
        it = iter(found)
        groups = [None if key is None else next(it) for key in keys]
    if "dedup_group" in names:
        at = names.index("dedup_group")
        rows = [  # rebuilt only where the group given is not the key's
            row if row[at] == g else (*row[:at], g, *row[at + 1 :])
            for row, g in zip(rows, groups, strict=True)
        ]
        return rows, names, constants, True
    rows = [(*row, g) for row, g in zip(rows, groups, strict=True)]
    return rows, [*names, "dedup_group"], constants, True


def has_keys(
    rows: Sequence[Row], columns: Sequence[str] | None, fixed: Mapping[str, Any] | None
) -> bool:
    """Whether any of ``rows`` (of ``columns`` and ``fixed``) has a dedup key."""
    names = list(columns if columns is not None else EXECUTION_COLUMNS)
    if fixed and "dedup_key" in fixed:
        return fixed["dedup_key"] is not None and bool(rows)
    if "dedup_key" not in names:
        return False
    key_at = names.index("dedup_key")
    return any(row[key_at] is not None for row in rows)


def unrecorded(
    rows: Sequence[Row],
    columns: Sequence[str],
    fixed: Mapping[str, Any],
    recorded: Callable[[list[int]], Iterable[str]],
    recorded_ids: Callable[[list[str]], Iterable[str]],
) -> Sequence[Row]:
    """``rows`` (as :func:`with_groups` returns them, when it finds keys) without those whose
    dedup key is recorded already or repeats an earlier row's (the first copy is kept): what a
    unique index on ``dedup_key`` would let in, checked by the writer holding the write lock.
    ``recorded(groups)`` yields the recorded keys of those dedup groups, ``recorded_ids(ids)``
    which of those ids are recorded: a row whose id is taken is not written (``INSERT OR
    IGNORE``), so it must not claim its key either."""
    names = list(columns)
    id_at = names.index("id") if "id" in names else -1
    if "dedup_key" in fixed:  # every row has this one key
        seen = set(recorded([fixed["dedup_group"]]))
    else:
        key_at, group_at = names.index("dedup_key"), names.index("dedup_group")
        seen = set(recorded(list({row[group_at] for row in rows if row[key_at] is not None})))
    taken = set(recorded_ids([row[id_at] for row in rows])) if id_at >= 0 else set()
    return first_copies(rows, names, fixed, seen, taken)


def first_copies(
    rows: Sequence[Row],
    names: Sequence[str],
    fixed: Mapping[str, Any],
    seen: set[Any],
    taken: set[Any],
) -> list[Row]:
    """The rows whose id is not in ``taken`` and whose key is not in ``seen`` nor an earlier
    row's (the sets grow as rows are kept)."""
    id_at = list(names).index("id") if "id" in names else -1
    fixed_key = fixed.get("dedup_key")
    key_at = list(names).index("dedup_key") if "dedup_key" in names else -1
    kept: list[Row] = []
    keep = kept.append
    for row in rows:
        if id_at >= 0:
            row_id = row[id_at]
            if row_id in taken:
                continue  # INSERT OR IGNORE would drop it: its key stays free
            taken.add(row_id)
        key = row[key_at] if key_at >= 0 else fixed_key
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        keep(row)
    return kept
