"""The cost ledger: one record per agent execution, on SQLite or PostgreSQL.

Names load on first use (PEP 562), so importing a light submodule such as
``gearshift.ledger.urls`` does not import SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gearshift._lazy import lazy_names

if TYPE_CHECKING:
    from gearshift.ledger.queries import (
        GROUPS,
        AgentModelStats,
        Filters,
        SpendReport,
        SpendRow,
        agent_summary,
        spend,
    )
    from gearshift.ledger.record import SOURCES, STATUSES, Execution, new_id, task_digest
    from gearshift.ledger.store import Ledger
    from gearshift.ledger.track import Tracker, usage_from_api
    from gearshift.ledger.urls import default_path

_WHERE = {
    "GROUPS": ".queries",
    "AgentModelStats": ".queries",
    "Filters": ".queries",
    "SpendReport": ".queries",
    "SpendRow": ".queries",
    "agent_summary": ".queries",
    "spend": ".queries",
    "SOURCES": ".record",
    "STATUSES": ".record",
    "Execution": ".record",
    "new_id": ".record",
    "task_digest": ".record",
    "Ledger": ".store",
    "Tracker": ".track",
    "usage_from_api": ".track",
    "default_path": ".urls",
}

__all__ = [
    "GROUPS",
    "SOURCES",
    "STATUSES",
    "AgentModelStats",
    "Execution",
    "Filters",
    "Ledger",
    "SpendReport",
    "SpendRow",
    "Tracker",
    "agent_summary",
    "default_path",
    "new_id",
    "spend",
    "task_digest",
    "usage_from_api",
]


__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__)
