"""``ingest claude-code``: every Claude Code transcript into the ledger, attributed to its agent.

A run is the pipeline of this package, each stage handing its result to the next:

1. **discover** (:mod:`~gearshift.ingest.discover`): the transcripts and subagent sidecars;
2. **plan** (:mod:`~gearshift.ingest.plan`): each file against its saved state -- skip it, read
   what was appended, or read it again;
3. **parse** (:mod:`~gearshift.ingest.parse`): the new bytes -> usage entries, deduplicated
   across files as they come in (:mod:`~gearshift.ingest.copies`);
4. **attribute** (:mod:`~gearshift.ingest.attribute`): each kept response -> its agent;
5. **price** (:mod:`~gearshift.ingest.price`): -> its cost;
6. **write** (:mod:`~gearshift.ingest.write`): the records, the files' new states and what the
   run learned about agents, in one transaction (a run that fails to write leaves the files to
   be read again; one that wrote never reads them twice).

Malformed lines are counted and reported with file:line; with ``strict`` they abort the run
before anything is written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from gearshift.errors import ConfigError, IngestError
from gearshift.ingest import SOURCE
from gearshift.ingest.attribute import ParentFacts, attributor, resolve_pending
from gearshift.ingest.copies import Deduper
from gearshift.ingest.discover import Discovery, discover
from gearshift.ingest.plan import Plan, plan_files, state_after
from gearshift.ingest.summary import IngestSummary
from gearshift.ledger.bulk import BulkLedger
from gearshift.ledger.ingest_queries import file_state_statements, file_states

if TYPE_CHECKING:
    from gearshift.ingest.parse import FileResult
    from gearshift.ingest.price import CostMode

__all__ = ["IngestSummary", "ingest_claude_code"]

_MODES = ("auto", "calculate", "display")
_MALFORMED_EXAMPLES = 20


def ingest_claude_code(
    ledger: BulkLedger,
    paths: Sequence[str | os.PathLike[str]] | None = None,
    *,
    mode: CostMode = "auto",
    strict: bool = False,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    discovery: Discovery | None = None,
    follow_links: bool = False,
) -> IngestSummary:
    """Ingest transcripts under ``paths`` (default: the Claude config roots; or what
    ``discovery`` found) into ``ledger``. ``progress(files_done, bytes_done)`` is called as
    files finish. Linked files that point outside the roots are skipped (and listed in the
    summary) unless ``follow_links``."""
    if mode not in _MODES:
        raise ConfigError(f"--mode: {mode!r}", hint="use auto, calculate or display")
    started = time.perf_counter()
    found = discovery or discover(paths, follow_links=follow_links)
    summary = IngestSummary(files=len(found.files))
    summary.skipped_links = list(found.skipped_links)
    plans, summary.files_unchanged = plan_files(found.files, file_states(ledger, SOURCE))
    if not plans:  # nothing appended anywhere: only a sidecar may have appeared
        then, summary.reattributed_agents = resolve_pending(
            found.sidecars, ledger, ledger.location.dialect
        )
        if then:
            ledger.write_rows([], then=then)
        summary.seconds = time.perf_counter() - started
        return summary
    _read_and_record(ledger, found, plans, summary, mode, strict, workers, progress)
    summary.seconds = time.perf_counter() - started
    return summary


def _read_and_record(
    ledger: BulkLedger,
    found: Discovery,
    plans: list[Plan],
    summary: IngestSummary,
    mode: CostMode,
    strict: bool,
    workers: int | None,
    progress: Callable[[int, int], None] | None,
) -> None:
    """The stages from parse on, for the files that changed."""
    # Imported here: a run with nothing new (most runs from a hook) needs none of them, nor
    # what they load (msgspec, the price catalog, a process pool).
    from gearshift.ingest.parse import parse_files
    from gearshift.ingest.price import EntryPricer
    from gearshift.ingest.write import build_rows, write_records

    responses, facts = Deduper(), ParentFacts()
    parsed: list[tuple[Plan, FileResult]] = []
    for plan, result in parse_files(plans, workers, progress):
        responses.add(result.entries, len(parsed))
        facts.add(result)
        _count(summary, plan, result)
        result.entries = []  # the kept copies live on in the deduper
        parsed.append((plan, result))
    if strict and summary.malformed:
        raise IngestError(
            f"{summary.malformed} malformed line(s), first: {summary.malformed_examples[0]}",
            hint="nothing was recorded; fix or remove the lines, or run without --strict",
        )
    read = [plan for plan, _ in parsed]
    summary.duplicates += responses.duplicates

    attribute, known = attributor(facts, read, found.sidecars, ledger)
    pricer = EntryPricer(ledger.catalog, mode)
    rows = build_rows(responses.kept(), read, attribute, pricer.price, summary)
    del responses  # the rows hold what is recorded

    learned, summary.reattributed_agents = known.statements(attribute, ledger.location.dialect)
    states = [
        state_after(plan, result.offset, result.lines, result.fingerprint, result.reread)
        for plan, result in parsed
        if not result.error
    ]
    then = learned + file_state_statements(SOURCE, states)
    summary.new_records, summary.cost_added_nanos = write_records(ledger, rows, then)


def _count(summary: IngestSummary, plan: Plan, result: FileResult) -> None:
    summary.files_parsed += 1
    summary.files_reread += plan.action == "reread" or result.reread
    summary.bytes_parsed += result.offset - result.start
    summary.lines += result.lines
    summary.usage_lines += result.usage_lines
    summary.pending_bytes += result.pending_bytes
    summary.duplicates += result.duplicates
    if result.error:
        summary.unreadable.append(f"{plan.file.path}: {result.error}")
    for line, problem in result.malformed:
        summary.malformed += 1
        if len(summary.malformed_examples) < _MALFORMED_EXAMPLES:
            summary.malformed_examples.append(f"{plan.file.path}:{line}: {problem}")
