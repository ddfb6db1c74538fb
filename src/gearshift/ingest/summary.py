"""What an ingest run did: counts, examples of problems, and the summary as JSON."""

from __future__ import annotations

__all__ = ["IngestSummary"]


class IngestSummary:
    """What a run did. Money in integer nano-dollars. ``reattributed_agents``: subagents
    recorded as ``subagent`` by earlier runs whose type this run learned (their records now
    carry it). Counts start at zero; any can be given by keyword."""

    __slots__ = (
        "api_errors",
        "bytes_parsed",
        "cost_added_nanos",
        "duplicates",
        "files",
        "files_parsed",
        "files_reread",
        "files_unchanged",
        "lines",
        "malformed",
        "malformed_examples",
        "new_records",
        "pending_bytes",
        "reattributed_agents",
        "seconds",
        "unpriced_models",
        "unreadable",
        "usage_lines",
    )

    def __init__(self, **counts: int) -> None:
        self.files = self.files_parsed = self.files_unchanged = self.files_reread = 0
        self.bytes_parsed = self.lines = self.usage_lines = self.duplicates = 0
        self.api_errors = self.malformed = self.new_records = self.cost_added_nanos = 0
        self.pending_bytes = self.reattributed_agents = 0
        self.seconds = 0.0
        self.malformed_examples: list[str] = []
        self.unreadable: list[str] = []
        self.unpriced_models: dict[str, int] = {}
        for name, value in counts.items():
            if name not in self.__slots__:
                raise TypeError(f"IngestSummary has no count {name!r}")
            setattr(self, name, value)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"IngestSummary({shown})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IngestSummary):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def to_dict(self) -> dict[str, object]:
        from gearshift.catalog.units import nanos_text  # as usd_text has it, without decimal

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
