"""What an ingest run did: counts, examples of problems, and the summary as JSON."""

from __future__ import annotations

from gearshift.catalog.units import nanos_text

__all__ = ["IngestSummary"]


class IngestSummary:
    """What a run did, counted as it goes. Money in integer nano-dollars.
    ``reattributed_agents``: subagents recorded as ``subagent`` by earlier runs whose type this
    run learned (their records now carry it)."""

    def __init__(self, files: int = 0) -> None:
        self.files = files
        self.files_parsed = self.files_unchanged = self.files_reread = 0
        self.bytes_parsed = self.lines = self.usage_lines = self.duplicates = 0
        self.api_errors = self.malformed = self.new_records = self.cost_added_nanos = 0
        self.pending_bytes = self.reattributed_agents = 0
        self.seconds = 0.0
        self.malformed_examples: list[str] = []
        self.unreadable: list[str] = []
        self.unpriced_models: dict[str, int] = {}
        self.skipped_links: list[str] = []

    def to_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "files_parsed": self.files_parsed,
            "files_unchanged": self.files_unchanged,
            "files_reread": self.files_reread,
            "bytes_parsed": self.bytes_parsed,
            "lines": self.lines,
            "usage_lines": self.usage_lines,
            "duplicates_removed": self.duplicates,
            "api_errors": self.api_errors,
            "malformed_lines": self.malformed,
            "malformed_examples": self.malformed_examples,
            "unreadable_files": self.unreadable,
            "skipped_links": self.skipped_links,
            "new_records": self.new_records,
            "cost_added_usd": nanos_text(self.cost_added_nanos),
            "unpriced_models": self.unpriced_models,
            "pending_bytes": self.pending_bytes,
            "reattributed_agents": self.reattributed_agents,
            "seconds": round(self.seconds, 3),
        }
