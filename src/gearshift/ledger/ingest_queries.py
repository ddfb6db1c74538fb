"""The SQL an ingest runs against the ledger: the files' saved states (``ingest_files``), what
runs learned about agents (``ingest_agents``), and the recorded copies of API responses and
re-attribution of their agent (``executions``).

Plain data in and out (rows as tuples, facts as dicts), so the ingest stays free of SQL and the
ledger free of ingest's types. Every function takes any :class:`~gearshift.ledger.bulk.Reader`
(either ledger class, or the reader of a write transaction in progress); the statements are
the same on SQLite and PostgreSQL unless a ``dialect`` is asked for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gearshift.ledger.bulk import Reader, Statement
from gearshift.ledger.columns import tags_json

__all__ = [
    "FILE_STATE_COLUMNS",
    "agent_fact_statements",
    "agent_facts",
    "file_state_statements",
    "file_states",
    "has_keyed_records",
    "pending_agents",
    "recorded_copies",
]

#: The columns of a file's saved state, in the order :func:`file_states` returns them and
#: :func:`file_state_statements` takes them.
FILE_STATE_COLUMNS = (
    "path",
    "device",
    "inode",
    "size",
    "mtime_ns",
    "offset",
    "lines",
    "fingerprint",
)
_STATE_SELECT = 'path, device, inode, size, mtime_ns, "offset", lines, fingerprint'
_STATE_UPDATED = (
    "source",
    "device",
    "inode",
    "size",
    "mtime_ns",
    '"offset"',
    "lines",
    "fingerprint",
    "updated_at",
)

#: ``?`` parameters per statement for long ``IN`` lists (SQLite looks every ``:name`` up).
_CHUNK = 500


def file_states(reader: Reader, source: str) -> dict[str, tuple[Any, ...]]:
    """The saved state of every file of ``source``, by path: rows of
    :data:`FILE_STATE_COLUMNS`."""
    rows = reader.query(
        f"SELECT {_STATE_SELECT} FROM ingest_files WHERE source = :source", {"source": source}
    )
    return {row[0]: row for row in rows}


def file_state_statements(source: str, states: Sequence[Sequence[Any]]) -> list[Statement]:
    """The statement that upserts ``states`` (rows of :data:`FILE_STATE_COLUMNS`), to run in the
    transaction that records what was read. A known file's row is updated in place: a delete
    and insert would also rewrite the path index."""
    if not states:
        return []
    now = dt.datetime.now(dt.UTC).isoformat()
    rows = [
        {**dict(zip(FILE_STATE_COLUMNS, state, strict=True)), "source": source, "updated_at": now}
        for state in states
    ]
    updated = ", ".join(f"{c} = excluded.{c}" for c in _STATE_UPDATED)
    upsert = (
        f"INSERT INTO ingest_files ({_STATE_SELECT}, source, updated_at) VALUES (:path, :device, "
        ":inode, :size, :mtime_ns, :offset, :lines, :fingerprint, :source, :updated_at) "
        f"ON CONFLICT (path) DO UPDATE SET {updated}"
    )
    return [(upsert, rows)]


def pending_agents(reader: Reader) -> dict[str, str]:
    """The agents recorded without a type, each with the id of the call that spawned it (``''``
    when unknown)."""
    sql = "SELECT ref, value FROM ingest_agents WHERE kind = 'pending'"
    return {str(ref): str(value) for ref, value in reader.query(sql)}


def agent_facts(reader: Reader, kind: str, refs: Iterable[str]) -> dict[str, str]:
    """The agent types earlier runs learned for ``refs``: tool-call ids (``kind='tool'``) or
    agent ids named by tool results (``kind='result'``)."""
    ordered = sorted(set(refs) - {""})
    found: dict[str, str] = {}
    for i in range(0, len(ordered), _CHUNK):
        part = ordered[i : i + _CHUNK]
        marks = ", ".join("?" * len(part))
        sql = f"SELECT ref, value FROM ingest_agents WHERE kind = ? AND ref IN ({marks})"
        found.update((str(ref), str(value)) for ref, value in reader.query(sql, [kind, *part]))
    return found


def agent_fact_statements(
    learned: Sequence[tuple[str, str, str]],
    resolved: Mapping[str, str],
    *,
    source: str,
    fallback: str,
    dialect: str,
) -> list[Statement]:
    """Statements that save what a run learned -- ``learned``: ``(kind, ref, value)`` facts
    (``tool``/``result`` types, ``pending`` agents with the call that spawned them) -- and give
    the records of ``source`` that each agent in ``resolved`` (agent id -> type) still has as
    ``fallback`` their type, dropping those agents from the pending ones."""
    out: list[Statement] = []
    if learned:
        insert = (
            "INSERT INTO ingest_agents (kind, ref, value) VALUES (:kind, :ref, :value)"
            " ON CONFLICT (kind, ref) DO NOTHING"
        )
        out.append((insert, [{"kind": k, "ref": r, "value": v} for k, r, v in learned]))
    if resolved:
        out += _reattribute(resolved, source, fallback, dialect)
        done = "DELETE FROM ingest_agents WHERE kind = 'pending' AND ref = :ref"
        out.append((done, [{"ref": agent_id} for agent_id in sorted(resolved)]))
    return out


def _reattribute(
    resolved: Mapping[str, str], source: str, fallback: str, dialect: str
) -> list[Statement]:
    """One pass over the table for up to 100 agents. A record carries its agent's id in its tags;
    the id is found exactly (SQLite's LIKE ignores case), with each database's substring
    search."""
    find = "strpos" if dialect == "postgresql" else "instr"
    out: list[Statement] = []
    items = sorted(resolved.items())
    for i in range(0, len(items), 100):
        part = items[i : i + 100]
        params: dict[str, str] = {"source": source, "fallback": fallback}
        cases, matches = [], []
        for j, (agent_id, agent_type) in enumerate(part):
            params[f"n{j}"] = tags_json({"agent_id": agent_id})[1:-1]
            params[f"t{j}"] = agent_type
            cases.append(f"WHEN {find}(tags, :n{j}) > 0 THEN :t{j}")
            matches.append(f"{find}(tags, :n{j}) > 0")
        sql = (
            f"UPDATE executions SET agent = CASE {' '.join(cases)} END"
            f" WHERE source = :source AND agent = :fallback AND ({' OR '.join(matches)})"
        )
        out.append((sql, [params]))
    return out


def has_keyed_records(reader: Reader) -> bool:
    """Whether any record has a dedup key (its partial index answers at once)."""
    return bool(reader.query("SELECT 1 FROM executions WHERE dedup_group IS NOT NULL LIMIT 1"))


def recorded_copies(reader: Reader, groups: Sequence[int]) -> list[tuple[str, int, int]]:
    """``(dedup key, total tokens, cost nanos)`` of every record in these dedup groups."""
    head = (
        "SELECT dedup_key, input_tokens + output_tokens + cache_write_5m_tokens"
        " + cache_write_1h_tokens + cache_read_tokens, cost_nanos FROM executions"
        " WHERE dedup_group IN "
    )
    out = []
    for i in range(0, len(groups), _CHUNK):
        part = list(groups[i : i + _CHUNK])
        for key, tokens, cost in reader.query(f"{head}({', '.join('?' * len(part))})", part):
            out.append((str(key), int(tokens or 0), int(cost or 0)))
    return out
