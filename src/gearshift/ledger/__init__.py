"""The cost ledger: one record per agent execution, on SQLite or PostgreSQL."""

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
