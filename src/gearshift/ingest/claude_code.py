"""``ingest claude-code``: every Claude Code transcript into the ledger, attributed to its agent.

A run discovers files, plans each against its saved state (skip / append / reread), parses the
changed bytes on every core, deduplicates globally, attributes each response to its agent, prices
it, writes the new records (the ledger's dedup keys make a run idempotent), then saves the files'
state. Malformed lines are counted and reported with file:line; with ``strict`` they abort the
run before anything is written.
"""

from __future__ import annotations

import gc
import os
import time
from collections import Counter

from gearshift.errors import ConfigError, IngestError
from gearshift.ingest.discovery import Discovery, discover
from gearshift.ingest.state import FileState, Plan, load_states, plan_files, state_statements
from gearshift.ingest.summary import IngestSummary

TYPE_CHECKING = False  # not typing's: importing typing costs a hook-run ingest ~4 ms
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any, Literal

    from gearshift.ingest.attribution import Attributor, KnownAgents
    from gearshift.ingest.cards import SavedCards
    from gearshift.ingest.parse import FileResult
    from gearshift.ingest.pricing import EntryPricer
    from gearshift.ledger.lite import BulkLedger, Reader, Row, Statement

# The parser, pricer and writer load only when a run has something to read: a re-run over
# unchanged transcripts (from a hook, say) needs none of them.

__all__ = ["CostMode", "IngestSummary", "ingest_claude_code"]

if TYPE_CHECKING:
    CostMode = Literal["auto", "calculate", "display"]
else:
    CostMode = str  # at run time: the Literal above is for type checkers (and needs typing)
SOURCE = "claude-code"
# Below these many bytes to parse, this thread does it alone. Parser threads share the GIL for
# the Python part of each file and hand it over at the switch interval: on an incremental run's
# 130 files (7.6 MB) two threads took 18 ms, one 10 ms. A forked process (the pure Python
# parser's way to use more cores) costs ~10 ms to start.
_THREADS_MIN_BYTES = 32 * 1024 * 1024
_PROCESSES_MIN_BYTES = 32 * 1024 * 1024

#: The columns of a transcript record that vary; the rest are the same in every one (FIXED).
COLUMNS = (
    "id",
    "ts_us",
    "project",
    "session",
    "agent",
    "model",
    "tier",
    "input_tokens",
    "output_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "cost_nanos",
    "price_version",
    "status",
    "flags",
    "tags",
    "dedup_key",
    "dedup_group",  # the writer checks it against the key (see ledger.dedup.with_groups)
)
FIXED = {
    "task": None,
    "task_hash": None,
    "task_type": None,
    "latency_ms": None,
    "attempt": 1,
    "chain_id": None,
    "strategy": None,
    "source": SOURCE,
    "validation": None,
    "escalation_reason": None,
    "run_id": None,
    "task_key": None,
}


def ingest_claude_code(
    ledger: BulkLedger,
    paths: Sequence[str | os.PathLike[str]] | None = None,
    *,
    mode: CostMode = "auto",
    strict: bool = False,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    discovery: Discovery | None = None,
    rate_cards: SavedCards | None = None,
) -> IngestSummary:
    """Ingest transcripts under ``paths`` (default: the Claude config roots) into ``ledger``.

    ``progress(files_done, bytes_done)`` is called as files finish. ``rate_cards``: the rate
    cards saved for the ledger's prices in ``mode`` (see :mod:`gearshift.ingest.cards`), used
    before the catalog is loaded and saved again when the run added to them.
    """
    # A run allocates a few hundred thousand small tuples and lists and makes no reference
    # cycles; the cyclic collector, triggered by every 700 allocations, would rescan them all
    # again and again (a third of the run's time on a 1 GB corpus). Reference counting frees
    # them as usual; the collector resumes when the run ends.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _ingest(ledger, paths, mode, strict, workers, progress, discovery, rate_cards)
    finally:
        if enabled:
            gc.enable()


def _ingest(
    ledger: BulkLedger,
    paths: Sequence[str | os.PathLike[str]] | None,
    mode: CostMode,
    strict: bool,
    workers: int | None,
    progress: Callable[[int, int], None] | None,
    discovery: Discovery | None,
    rate_cards: SavedCards | None = None,
) -> IngestSummary:
    if mode not in ("auto", "calculate", "display"):
        raise ConfigError(f"--mode: {mode!r}", hint="use auto, calculate or display")
    if rate_cards is not None and rate_cards.mode != mode:
        raise ValueError(f"rate cards of mode {rate_cards.mode!r} for an ingest in mode {mode!r}")
    started = time.perf_counter()
    found = discovery or discover(paths)
    summary = IngestSummary(files=len(found.listing))
    todo, summary.files_unchanged = plan_files(found.listing, load_states(ledger, SOURCE))
    summary.files_reread = sum(1 for p in todo if p.action == "reread")  # + those found below
    if not todo:  # nothing appended anywhere: no prices to load, nothing to write
        _resolve_pending(ledger, found, summary)
        summary.seconds = time.perf_counter() - started
        return summary
    from gearshift.ingest.pricing import EntryPricer

    # The catalog is loaded only if a card is not among the saved ones (or an entry needs it).
    pricer = EntryPricer(lambda: ledger.catalog, mode, saved=rate_cards)
    merged = _Merged()
    results: list[tuple[Plan, FileResult]] = []
    for plan, result in _parse_all(todo, workers, progress, pricer):
        merged.add(result, len(results))  # deduplicating while other files are still parsed
        result.entries = []  # the survivors live on in the merge; the copies can go now
        results.append((plan, result))
        summary.bytes_parsed += result.offset - result.start
        summary.files_reread += result.reread
        summary.lines += result.lines
        summary.usage_lines += result.usage_lines
        summary.pending_bytes += result.pending_bytes
        if result.error:
            summary.unreadable.append(f"{plan.file.path}: {result.error}")
        for line, problem in result.malformed:
            summary.malformed += 1
            if len(summary.malformed_examples) < 20:
                summary.malformed_examples.append(f"{plan.file.path}:{line}: {problem}")
    summary.files_parsed = len(results)
    if strict and summary.malformed:
        raise IngestError(
            f"{summary.malformed} malformed line(s), first: {summary.malformed_examples[0]}",
            hint="nothing was recorded; fix or remove the lines, or run without --strict",
        )
    attribute, known = merged.attributor(found, ledger, [plan for plan, _ in results])
    rows = _records([plan for plan, _ in results], merged, attribute, summary)
    del merged  # the entries: the rows hold what is recorded
    saved = [_state(plan, result) for plan, result in results if not result.error]
    # The files' new states commit with the records read from them: a run that fails to write
    # leaves the files to be read again, and one that wrote never reads them twice.
    learned, summary.reattributed_agents = known.statements(attribute, ledger.location.dialect)
    summary.new_records, summary.cost_added_nanos = _write(
        ledger, rows, learned + state_statements(SOURCE, saved)
    )
    if rate_cards is not None:
        rate_cards.save()  # what this run added (after the records are in)
    summary.seconds = time.perf_counter() - started
    return summary


def _resolve_pending(ledger: BulkLedger, found: Discovery, summary: IngestSummary) -> None:
    """With no transcript changed, re-attribute the agents recorded as ``subagent`` whose
    sidecar has appeared since (the only new fact a run without new lines can hold)."""
    pending = ledger.query("SELECT ref FROM ingest_agents WHERE kind = 'pending'")
    if not any(ref in found.meta_paths for (ref,) in pending):
        return
    from gearshift.ingest.attribution import Attributor, KnownAgents

    known = KnownAgents.load(ledger, found, set(), set())
    attribute = Attributor(found, dict(known.tool_types), dict(known.result_types))
    statements, summary.reattributed_agents = known.statements(attribute, ledger.location.dialect)
    if summary.reattributed_agents:
        ledger.write_rows([], then=statements)


def _parse_all(
    todo: list[Plan],
    workers: int | None,
    progress: Callable[[int, int], None] | None,
    pricer: EntryPricer,
) -> Iterator[tuple[Plan, FileResult]]:

    jobs = sorted(todo, key=lambda p: p.file.size - p.start, reverse=True)
    total = sum(p.file.size - p.start for p in jobs)
    count = workers if workers is not None else (os.cpu_count() or 1)
    done_files = done_bytes = 0
    from gearshift.ingest.parse import NATIVE

    enough = _THREADS_MIN_BYTES if NATIVE else _PROCESSES_MIN_BYTES
    if count <= 1 or total < enough or len(jobs) < 2:
        for plan in jobs:
            result = _parse(_job(plan), pricer)
            done_files += 1
            done_bytes += plan.file.size - plan.start
            if progress:
                progress(done_files, done_bytes)
            yield plan, result
        return
    by_path = {p.file.path: p for p in jobs}
    if NATIVE:
        results = _threaded(jobs, count, pricer)
    elif hasattr(os, "fork"):
        results = _work_shared(jobs, count, pricer)
    else:
        results = (_parse(_job(p), pricer) for p in jobs)
    for result in results:
        plan = by_path[result.path]
        done_files += 1
        done_bytes += plan.file.size - plan.start
        if progress:
            progress(done_files, done_bytes)
        yield plan, result


def _threaded(jobs: list[Plan], count: int, pricer: EntryPricer) -> Iterator[FileResult]:
    """Parse ``jobs`` on ``count`` threads: the C parser scans with the GIL released, so
    threads use every core without copying results between processes, while this thread
    merges what they hand back. Each takes the next job from a shared index, so the load
    balances itself. Results come back in job order, whatever order the files finish in, so
    that of two equal copies of a response (a resumed session repeats its history) every run
    keeps the same one. (Plain threads: concurrent.futures would cost a hook-run ingest ~4 ms
    to import.)"""

    import threading  # here: only a run of 32 MB or more parses on threads

    results: list[FileResult | BaseException | None] = [None] * len(jobs)
    ready = [threading.Event() for _ in jobs]
    taken = iter(range(len(jobs)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(taken, None)
            if index is None:
                return
            plan = jobs[index]
            try:
                results[index] = _parse(_job(plan), pricer)
            except BaseException as exc:  # a bug, not bad data: handed to the caller
                results[index] = exc
            ready[index].set()

    helpers = [
        threading.Thread(target=work, name="gearshift-parse", daemon=True) for _ in range(count)
    ]
    for thread in helpers:
        thread.start()
    for index in range(len(jobs)):
        ready[index].wait()
        result = results[index]
        results[index] = None
        if isinstance(result, BaseException):
            raise result
        assert result is not None
        yield result
    for thread in helpers:
        thread.join()


def _work_shared(jobs: list[Plan], count: int, pricer: EntryPricer) -> Iterator[FileResult]:
    """Parse ``jobs`` (largest first) on ``count`` cores: ``count - 1`` forked workers and this
    process take the next file from one shared counter, so the load balances itself and this
    process, rather than idling while it waits, parses too. Workers send back results already
    deduplicated within their file, which keeps what crosses the pipe small. Results are
    yielded in job order (see :func:`_threaded`)."""
    return _in_order(_shared_unordered(jobs, count, pricer), [p.file.path for p in jobs])


def _in_order(results: Iterator[FileResult], paths: list[str]) -> Iterator[FileResult]:
    waiting: dict[str, FileResult] = {}
    at = 0
    for result in results:
        waiting[result.path] = result
        while at < len(paths) and paths[at] in waiting:
            yield waiting.pop(paths[at])
            at += 1


def _shared_unordered(jobs: list[Plan], count: int, pricer: EntryPricer) -> Iterator[FileResult]:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    args = [_job(p) for p in jobs]
    counter = ctx.Value("i", 0)
    results = ctx.SimpleQueue()
    workers = [
        ctx.Process(target=_worker, args=(args, counter, results, pricer), daemon=True)
        for _ in range(max(1, count - 1))
    ]
    for w in workers:
        w.start()
    received = 0
    try:
        while (index := _take(counter)) < len(args):
            received += 1
            yield _parse(args[index], pricer)
            while not results.empty():
                received += 1
                yield _checked(results.get())
        while received < len(args):
            received += 1
            yield _checked(results.get())
    finally:
        for w in workers:
            w.join(timeout=5)
            if w.is_alive():
                w.kill()


def _take(counter: Any) -> int:
    with counter.get_lock():
        index = int(counter.value)
        counter.value = index + 1
    return index


def _worker(args: list[_Job], counter: Any, results: Any, pricer: EntryPricer) -> None:
    while (index := _take(counter)) < len(args):
        try:
            results.put(_parse(args[index], pricer))
        except BaseException as exc:  # a bug, not bad data: parse_file never raises for content
            results.put(f"{args[index][0]}: {type(exc).__name__}: {exc}")


def _checked(item: FileResult | str) -> FileResult:
    if isinstance(item, str):
        raise IngestError(f"parser process failed on {item}", hint="run again with --workers 1")
    return item


#: What a parser needs of a plan: (path, start, first line, expected fingerprint).
_Job = tuple[str, int, int, str]


def _job(plan: Plan) -> _Job:
    return (plan.file.path, plan.start, plan.first_line, plan.expect)


def _parse(job: _Job, pricer: EntryPricer) -> FileResult:
    from gearshift.ingest.parse import parse_file

    path, start, first_line, expect = job
    return parse_file(path, start, first_line, pricer, expect)


def _state(plan: Plan, result: FileResult) -> FileState:
    f = plan.file
    return FileState(
        f.path,
        f.device,
        f.inode,
        f.size,
        f.mtime_ns,
        result.offset,
        (0 if result.reread else plan.first_line - 1) + result.lines,
        result.fingerprint,
    )


class _Merged:
    """What the parsed files say together: the deduplicated entries and, for attribution, the
    parents' ``Agent``/``Task`` calls and tool results. Fed one file at a time, as files finish."""

    def __init__(self) -> None:
        from gearshift.ingest.dedup import Deduper

        self.dedup = Deduper()
        self.tool_types: dict[str, str] = {}
        self.result_types: dict[str, str] = {}
        self.pending_tools: dict[str, str] = {}
        self.derived: set[str] = set()  # result types taken from a call, not named by a result
        self.agent_ids: set[str] = set()
        self.file_duplicates = 0

    def add(self, result: FileResult, index: int) -> None:
        self.dedup.add(result.entries, index)
        self.agent_ids.update(e.agent_id for e in result.entries if e.agent_id)
        self.file_duplicates += result.duplicates
        self.tool_types.update(result.tool_types)
        self.result_types.update(result.result_types)
        self.derived.difference_update(result.result_types)
        for agent_id, tool_use_id in result.result_tools.items():
            kind = result.tool_types.get(tool_use_id) or self.tool_types.get(tool_use_id)
            if kind is not None:
                if agent_id not in self.result_types:
                    self.result_types[agent_id] = kind
                    self.derived.add(agent_id)
            else:
                self.pending_tools[agent_id] = tool_use_id

    def attributor(
        self, found: Discovery, ledger: BulkLedger, plans: list[Plan]
    ) -> tuple[Attributor, KnownAgents]:
        """The attributor for the merged files (once every file is in), with what earlier runs
        learned about their agents (this run's own findings take precedence)."""
        from gearshift.ingest.attribution import Attributor, KnownAgents

        agent_ids = self.agent_ids | {p.file.agent_id for p in plans if p.file.agent_id}
        tool_ids = set(self.pending_tools.values())  # results naming a call, not a type
        for agent_id in agent_ids:
            meta = found.meta(agent_id)
            if meta is not None and meta.tool_use_id:
                tool_ids.add(meta.tool_use_id)
        known = KnownAgents.load(ledger, found, agent_ids, tool_ids)
        for tool_use_id, kind in known.tool_types.items():
            self.tool_types.setdefault(tool_use_id, kind)
        for agent_id, kind in known.result_types.items():
            # a type a result named outranks one taken from a call, as in one full run
            if agent_id not in self.result_types or agent_id in self.derived:
                self.result_types[agent_id] = kind
        for agent_id, tool_use_id in self.pending_tools.items():
            if agent_id not in self.result_types and tool_use_id in self.tool_types:
                self.result_types[agent_id] = self.tool_types[tool_use_id]
        return Attributor(found, self.tool_types, self.result_types), known


def _records(
    plans: list[Plan],
    merged: _Merged,
    attribute: Attributor,
    summary: IngestSummary,
) -> list[Row]:
    from gearshift.ledger.columns import FLAG_FAST, dedup_group, tags_json
    from gearshift.ledger.ids import new_ids_now

    dedup = merged.dedup
    summary.duplicates = dedup.duplicates + merged.file_duplicates
    unpriced: Counter[str] = Counter()
    memo: dict[tuple[object, ...], tuple[str, str]] = {}
    kept = dedup.kept()
    # Ids of the time of recording (the ts_us column keeps the response's): a run's new ids
    # sit together at the end of the id index instead of all over it.
    ids = new_ids_now(len(kept))
    where = [(p.file.project_key, p.file.session) for p in plans]
    rows: list[Row] = []
    append = rows.append
    errors = 0
    # One tuple unpacking per entry instead of a dozen attribute reads: this loop runs once per
    # recorded response (90k times for 1 GB of transcripts).
    for (e, file_index), row_id in zip(kept, ids, strict=True):
        (message_id, request_id, sidechain, from_progress, session_id, agent_id, attribution,
         branch, entrypoint, model, i, o, w5, w1, r, fast, api_error, ts_us, project, model_id,
         tier, cost, price_version, priced) = e  # fmt: skip
        if api_error:
            errors += 1
        elif not priced:
            unpriced[model or "(none)"] += 1
        facts = (agent_id, sidechain, attribution, branch, entrypoint, file_index)
        known = memo.get(facts)
        if known is None:
            agent, tags = attribute(e, plans[file_index])
            known = memo[facts] = (agent, tags_json(tags) if tags else "{}")
        project_key, file_session = where[file_index]
        kind = "p" if from_progress else ("s" if sidechain else "m")
        key = f"cc:{message_id}|{request_id or ''}|{kind}"
        append(
            (  # the order of COLUMNS
                row_id,
                ts_us,
                project or project_key,
                file_session or session_id,
                known[0],
                model_id,
                tier,
                i,
                o,
                w5,
                w1,
                r,
                cost,
                price_version,
                "error" if api_error else "success",
                FLAG_FAST if fast else 0,
                known[1],
                key,
                dedup_group(key),
            )
        )
    summary.api_errors += errors
    summary.unpriced_models = dict(unpriced)
    return rows


def _write(ledger: BulkLedger, rows: list[Row], then: list[Statement]) -> tuple[int, int]:
    """Record this run's copies, and run ``then`` in the same transaction; return (new
    records, cost added).

    On a ledger that has ingested before, each copy is reconciled with the copies of the same
    message already recorded, by the same rules as within a run: a duplicate is dropped unless it
    is the better copy (the non-sidechain one, or the one with more tokens -- a response whose
    lines straddle two runs), in which case it replaces the recorded one in the same transaction.
    The comparison runs inside the write transaction, so two runs at once never both keep a
    copy of one message.
    """
    from gearshift.ingest.reconcile import reconcile

    if not rows:
        ledger.write_rows([], then=then)
        return 0, 0
    settled: list[tuple[list[Row], list[str], int]] = []

    def settle(reader: Reader) -> tuple[list[Row], list[str]]:
        # In the write transaction, with no other writer of dedup keys: what this run keeps
        # is decided against everything any run has recorded.
        if _has_records(reader):
            settled.append(reconcile(reader, rows, COLUMNS))
        else:  # the first ingest: nothing recorded to reconcile with
            settled.append((rows, [], 0))
        return settled[-1][0], settled[-1][1]

    inserted = ledger.write_rows(rows, columns=COLUMNS, fixed=FIXED, then=then, settle=settle)
    fresh, replaced, removed_cost = settled[-1]
    cost_index = COLUMNS.index("cost_nanos")
    added = sum(int(r[cost_index]) for r in fresh) - removed_cost
    return inserted - len(replaced), added


def _has_records(ledger: Reader) -> bool:
    """Whether ``ledger`` holds any record with a dedup key (its partial index answers at once;
    ingested or imported, a copy of a transcript's response may be among them)."""
    sql = "SELECT 1 FROM executions WHERE dedup_group IS NOT NULL LIMIT 1"
    return bool(ledger.query(sql))
