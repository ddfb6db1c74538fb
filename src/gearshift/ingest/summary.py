"""What an ingest run did: counts, examples of problems, and the summary as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

from gearshift.catalog.units import nanos_text

__all__ = ["IngestSummary"]


@dataclass(slots=True)
class IngestSummary:
    """What a run did. Money in integer nano-dollars. ``reattributed_agents``: subagents
    recorded as ``subagent`` by earlier runs whose type this run learned (their records now
    carry it)."""

    files: int = 0
    files_parsed: int = 0
    files_unchanged: int = 0
    files_reread: int = 0
    bytes_parsed: int = 0
    lines: int = 0
    usage_lines: int = 0
    duplicates: int = 0
    api_errors: int = 0
    malformed: int = 0
    new_records: int = 0
    cost_added_nanos: int = 0
    pending_bytes: int = 0
    reattributed_agents: int = 0
    seconds: float = 0.0
    malformed_examples: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    unpriced_models: dict[str, int] = field(default_factory=dict)

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
            "new_records": self.new_records,
            "cost_added_usd": nanos_text(self.cost_added_nanos),
            "unpriced_models": self.unpriced_models,
            "pending_bytes": self.pending_bytes,
            "reattributed_agents": self.reattributed_agents,
            "seconds": round(self.seconds, 3),
        }
