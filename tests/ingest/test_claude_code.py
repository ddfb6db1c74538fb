"""Ingest of Claude Code transcripts: the reference lines (tests/data) and every trap of the
format -- multi-line responses, progress copies, /btw replays, missing request ids, torn last
lines, rewritten files, unknown models."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gearshift.errors import IngestError
from gearshift.ingest.claude_code import IngestSummary
from gearshift.ingest.claude_code import ingest_claude_code as _ingest
from gearshift.ledger import Execution, Ledger, spend
from gearshift.ledger.sqlite3_ledger import LiteLedger

REFERENCE = Path(__file__).parents[1] / "data" / "claude_code" / "reference"
SESSION = "7d3f1c2a-5b8e-4f0a-9c61-2e4d8a9b0c13"


_STORE = {"kind": "sqlalchemy"}


@pytest.fixture(autouse=True, params=["sqlalchemy", "sqlite3"])
def _store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every test runs twice: writing through the SQLAlchemy ledger, and through the
    standard-library SQLite path the CLI takes (there with every first write into an empty
    ledger taking the build-indexes-afterwards path, whatever its size)."""
    from gearshift.ledger import sqlite3_ledger

    monkeypatch.setattr(sqlite3_ledger, "BULK_MIN_ROWS", 1)
    _STORE["kind"] = request.param
    yield
    _STORE["kind"] = "sqlalchemy"


def ingest_claude_code(ledger: Ledger, *args: Any, **kwargs: Any) -> IngestSummary:
    if _STORE["kind"] == "sqlite3" and ledger.location.path is not None:
        lite = LiteLedger.open_current(ledger.location, lambda: ledger.catalog)
        assert lite is not None
        with lite:
            return _ingest(lite, *args, **kwargs)
    return _ingest(ledger, *args, **kwargs)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.open(tmp_path / "ingest.db")


def records(ledger: Ledger) -> dict[str, Execution]:
    """Recorded responses by ``cc:<message id>`` (the key also names the copy it came from)."""
    out = {}
    for e in ledger.executions():
        key = (e.dedup_key or "").split("|")[0]
        assert key not in out, f"{key} recorded twice"
        out[key] = e
    return out


def test_reference_lines_give_exactly_the_expected_records(ledger: Ledger) -> None:
    summary = ingest_claude_code(ledger, [REFERENCE])
    got = records(ledger)
    assert set(got) == {
        "cc:msg_01HqX7kz3VbN2mWcT8rLpQ4e",
        "cc:msg_01Tz8Ww2Rr5Yy6Uu7Ii9Oo3P",
        "cc:msg_018vkDifij3YKNQ5gzjtvbXa",
        "cc:e7c1a0d2-0000-4000-8000-000000000001",
    }
    main = got["cc:msg_01HqX7kz3VbN2mWcT8rLpQ4e"]
    assert (main.agent, main.model, main.tier, main.project) == (
        "main",
        "claude-opus-4-6",
        "opus",
        "acme-api",
    )
    assert main.session == SESSION and main.tags == {"branch": "main", "entrypoint": "cli"}
    # 2 in x $5 + 3,120 1h-writes x $10 + 48,211 reads x $0.50 + 187 out x $25, per million
    assert main.cost_usd == Decimal("0.059990500")
    assert main.cache_write_1h_tokens == 3120 and main.cache_write_5m_tokens == 0
    explore = got["cc:msg_01Tz8Ww2Rr5Yy6Uu7Ii9Oo3P"]
    assert (explore.agent, explore.tier, explore.session) == ("Explore", "haiku", SESSION)
    assert explore.tags["agent_id"] == "a3f9c1e07b2d4c85e" and explore.tags["spawn_depth"] == "1"
    assert explore.cost_usd == Decimal("0.018116500")  # 9 x $1 + 14,230 x $1.25 + 64 x $5
    legacy = got["cc:msg_018vkDifij3YKNQ5gzjtvbXa"]
    assert legacy.cost_usd == Decimal("0.017580000") and legacy.price_version == "costUSD"
    error = got["cc:e7c1a0d2-0000-4000-8000-000000000001"]
    assert (error.status, error.cost_nanos, error.model) == ("error", 0, "<synthetic>")
    assert summary.api_errors == 1 and summary.new_records == 4
    assert summary.malformed == 0 and summary.duplicates == 0


def test_cost_modes(tmp_path: Path) -> None:
    costs = {}
    for mode in ("auto", "calculate", "display"):
        with Ledger.open(tmp_path / f"{mode}.db") as led:
            ingest_claude_code(led, [REFERENCE], mode=mode)
            costs[mode] = {k: e.cost_usd for k, e in records(led).items()}
    key = "cc:msg_018vkDifij3YKNQ5gzjtvbXa"
    assert costs["auto"][key] == costs["display"][key] == Decimal("0.017580000")
    # 4 x $3 + 2,210 x $3.75 + 15,400 x $0.30 + 312 x $15, per million
    assert costs["calculate"][key] == Decimal("0.017599500")
    assert costs["display"]["cc:msg_01HqX7kz3VbN2mWcT8rLpQ4e"] == 0


def _line(
    msg_id: str,
    req: str | None,
    *,
    out: int = 10,
    side: bool = False,
    agent: str | None = None,
    ts: str = "2026-09-01T10:00:00.000Z",
    model: str = "claude-sonnet-4-5-20250929",
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "type": "assistant",
        "isSidechain": side,
        "timestamp": ts,
        "sessionId": "s1",
        "cwd": "/w/proj",
        "version": "2.1.229",
        "message": {
            "id": msg_id,
            "model": model,
            "role": "assistant",
            "content": [{"type": "text", "text": "hi"}],
            "usage": {
                "input_tokens": 100,
                "output_tokens": out,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 1000,
            },
        },
    }
    if req:
        line["requestId"] = req
    if agent:
        line["agentId"] = agent
    return line


def _write(path: Path, lines: list[dict[str, Any]], tail: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + tail)


def test_duplicates_across_lines_files_and_replays(tmp_path: Path, ledger: Ledger) -> None:
    proj = tmp_path / "projects" / "-w-proj"
    main = [
        _line("m1", "r1", out=5),  # streaming snapshot, superseded
        _line("m1", "r1", out=50),  # the same response, next content block
        _line("m2", None),  # no requestId: deduped by message id
        _line("m2", None),
        {
            "type": "progress",
            "data": {
                "type": "agent_progress",
                "agentId": "a1",
                "message": {**_line("m3", "r3", side=True, agent="a1")},
            },
        },
    ]
    _write(proj / "s1.jsonl", main)
    sub = proj / "s1" / "subagents"
    _write(sub / "agent-a1.jsonl", [_line("m3", "r3", side=True, agent="a1")])
    (sub / "agent-a1.meta.json").write_text(json.dumps({"agentType": "Plan", "spawnDepth": 2}))
    _write(sub / "agent-abtw.jsonl", [_line("m1", "r-replay", out=50, side=True, agent="abtw")])
    summary = ingest_claude_code(ledger, [tmp_path])
    got = records(ledger)
    assert set(got) == {"cc:m1", "cc:m2", "cc:m3"}
    assert got["cc:m1"].output_tokens == 50 and got["cc:m1"].agent == "main"
    assert got["cc:m3"].agent == "Plan" and got["cc:m3"].tags["spawn_depth"] == "2"
    assert summary.duplicates == 4
    assert summary.usage_lines == 7


def test_torn_tail_is_left_for_the_next_run(tmp_path: Path, ledger: Ledger) -> None:
    path = tmp_path / "projects" / "-w-proj" / "s1.jsonl"
    full = json.dumps(_line("m2", "r2"))
    _write(path, [_line("m1", "r1")], tail=full[:40])
    first = ingest_claude_code(ledger, [tmp_path])
    assert first.new_records == 1 and first.pending_bytes == 40 and first.malformed == 0
    with path.open("a") as fh:
        fh.write(full[40:] + "\n")
    second = ingest_claude_code(ledger, [tmp_path])
    assert second.new_records == 1 and second.files_reread == 0
    assert set(records(ledger)) == {"cc:m1", "cc:m2"}


def test_malformed_lines_are_reported_with_file_and_line(tmp_path: Path, ledger: Ledger) -> None:
    path = tmp_path / "projects" / "-w-proj" / "s1.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(_line("m1", "r1"))
        + "\n"
        + '{"type":"assistant","message":{"usage":{"input_tokens":"lots"}}}\n'
        + '{"type":"user","message":"no usage here"}\n'
        + '{"usage": broken\n'
        + json.dumps(_line("m2", "r2"))
        + "\n"
    )
    with pytest.raises(IngestError, match=r"s1\.jsonl:2"):
        ingest_claude_code(ledger, [tmp_path], strict=True)
    assert ledger.count() == 0
    summary = ingest_claude_code(ledger, [tmp_path])
    assert summary.malformed == 2 and summary.new_records == 2
    lines = [re.search(r"s1\.jsonl:(\d+):", e) for e in summary.malformed_examples]
    assert [m.group(1) for m in lines if m] == ["2", "4"]


def test_incremental_runs_parse_only_appended_bytes(tmp_path: Path, ledger: Ledger) -> None:
    path = tmp_path / "projects" / "-w-proj" / "s1.jsonl"
    _write(path, [_line(f"m{i}", f"r{i}") for i in range(100)])
    assert ingest_claude_code(ledger, [tmp_path]).new_records == 100
    again = ingest_claude_code(ledger, [tmp_path])
    assert (again.new_records, again.files_unchanged, again.bytes_parsed) == (0, 1, 0)
    size = path.stat().st_size
    with path.open("a") as fh:
        fh.write(json.dumps(_line("m100", "r100")) + "\n")
    appended = ingest_claude_code(ledger, [tmp_path])
    assert appended.new_records == 1
    assert appended.bytes_parsed == path.stat().st_size - size
    assert appended.files_reread == 0


def test_a_relative_path_finds_the_state_saved_under_the_absolute_one(
    tmp_path: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state is kept by absolute path: naming the tree relative to another working
    directory does not make every file new (which re-read all of them)."""
    path = tmp_path / "projects" / "-w-proj" / "s1.jsonl"
    _write(path, [_line("m1", "r1")])
    assert ingest_claude_code(ledger, [tmp_path]).new_records == 1
    monkeypatch.chdir(tmp_path.parent)
    again = ingest_claude_code(ledger, [Path(tmp_path.name)])
    assert (again.files_unchanged, again.bytes_parsed) == (1, 0)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert ingest_claude_code(ledger, [Path("..")]).files_unchanged == 1
    paths = [p for (p,) in ledger.query("SELECT path FROM ingest_files")]
    assert paths == [str(path)]


@pytest.mark.parametrize(("span", "prefix"), [(65536, ""), (4096, "2:")])
def test_a_state_saved_by_an_older_version_is_still_appended_to(
    tmp_path: Path, ledger: Ledger, span: int, prefix: str
) -> None:
    """Files fingerprinted by an older version (before 2: 64 KiB hashed, no prefix; 2: 4 KiB at
    each end) are not re-read in full; their new state is saved in the current version."""
    import hashlib

    from sqlalchemy import text

    path = tmp_path / "projects" / "-w-proj" / "s1.jsonl"
    _write(path, [_line(f"m{i}", f"r{i}") for i in range(300)])
    ingest_claude_code(ledger, [tmp_path])
    data = path.read_bytes()
    old = hashlib.blake2b(data[:4096], digest_size=16)
    old.update(data[-span:])
    old.update(str(len(data)).encode())
    with ledger.engine.begin() as conn:
        saved = {"f": prefix + old.hexdigest()}
        conn.execute(text("UPDATE ingest_files SET fingerprint = :f"), saved)
    with path.open("a") as fh:
        fh.write(json.dumps(_line("m300", "r300")) + "\n")
    appended = ingest_claude_code(ledger, [tmp_path])
    assert (appended.files_reread, appended.new_records) == (0, 1)
    assert appended.bytes_parsed == path.stat().st_size - len(data)
    [(now,)] = ledger.query("SELECT fingerprint FROM ingest_files")
    assert now.startswith("3:")


def test_rewritten_or_rotated_files_are_reread_without_double_counting(
    tmp_path: Path, ledger: Ledger
) -> None:
    path = tmp_path / "projects" / "-w-proj" / "s1.jsonl"
    _write(path, [_line(f"m{i}", f"r{i}") for i in range(10)])
    ingest_claude_code(ledger, [tmp_path])
    # rewritten in place: first line changed, then more appended
    _write(path, [_line("m0", "r0", out=11), *[_line(f"m{i}", f"r{i}") for i in range(1, 12)]])
    rewritten = ingest_claude_code(ledger, [tmp_path])
    assert rewritten.files_reread == 1 and rewritten.new_records == 2
    # the state saved after the re-read counts lines from the start of the file
    with path.open("a") as fh:
        fh.write('{"type":"assistant","message":{"usage":{"input_tokens":"lots"}}}\n')
    appended = ingest_claude_code(ledger, [tmp_path])
    assert appended.files_reread == 0 and appended.malformed == 1
    assert appended.malformed_examples[0].startswith(f"{path}:13:")
    # rotated: a new inode with the same name
    rotated = path.with_suffix(".new")
    shutil.copy(path, rotated)
    os.replace(rotated, path)
    assert ingest_claude_code(ledger, [tmp_path]).new_records == 0
    assert ledger.count() == 12


def test_deleted_files_keep_their_records(tmp_path: Path, ledger: Ledger) -> None:
    path = tmp_path / "projects" / "-w-proj" / "s1.jsonl"
    _write(path, [_line("m1", "r1")])
    ingest_claude_code(ledger, [tmp_path])
    path.unlink()
    ingest_claude_code(ledger, [tmp_path])
    assert ledger.count() == 1


def test_spend_by_agent_after_ingest(ledger: Ledger) -> None:
    ingest_claude_code(ledger, [REFERENCE])
    by_agent = {r.key: r for r in spend(ledger, "agent").rows}
    assert set(by_agent) == {"main", "Explore"}
    assert by_agent["Explore"].cost_nanos == 18_116_500


def test_unknown_models_are_kept_at_zero_and_reported(tmp_path: Path, ledger: Ledger) -> None:
    path = tmp_path / "projects" / "-w-proj" / "s1.jsonl"
    _write(
        path, [_line("m1", "r1", model="deepseek-chat"), _line("m2", "r2", model="claude-opus-9")]
    )
    summary = ingest_claude_code(ledger, [tmp_path])
    assert summary.unpriced_models == {"deepseek-chat": 1, "claude-opus-9": 1}
    got = records(ledger)
    assert got["cc:m2"].tier == "opus" and got["cc:m2"].cost_nanos == 0
    assert got["cc:m1"].tier == "unknown"


def test_missing_path_is_a_clear_error(ledger: Ledger, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="does not exist"):
        ingest_claude_code(ledger, [tmp_path / "nope"])


def test_parallel_and_serial_parsing_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gearshift.ingest import parse

    monkeypatch.setattr(parse, "PARALLEL_MIN_BYTES", 0)
    proj = tmp_path / "projects" / "-w-proj"
    for f in range(6):
        _write(proj / f"s{f}.jsonl", [_line(f"m{f}-{i}", f"r{f}-{i}") for i in range(300)])
    totals = []
    for workers in (1, 2, 3):
        with Ledger.open(tmp_path / f"w{workers}.db") as led:
            ingest_claude_code(led, [tmp_path], workers=workers)
            totals.append(spend(led, "day").to_dict())
    assert totals[0] == totals[1] == totals[2] and totals[0]["total"]["executions"] == 1800


def test_a_parser_process_that_fails_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a parser process (never bad data: that is counted) is raised, not lost."""
    from gearshift.ingest import parse

    monkeypatch.setattr(parse, "PARALLEL_MIN_BYTES", 0)
    proj = tmp_path / "projects" / "-w-proj"
    for f in range(4):
        _write(proj / f"s{f}.jsonl", [_line(f"m{f}", f"r{f}")])

    def broken(path: str, *args: object, **kwargs: object) -> object:
        raise RuntimeError(f"bug on {path}")

    monkeypatch.setattr(parse, "parse_file", broken)
    with Ledger.open(tmp_path / "l.db") as led, pytest.raises(RuntimeError, match="bug on"):
        ingest_claude_code(led, [tmp_path], workers=2)


def test_a_response_straddling_two_runs_keeps_its_largest_copy(
    tmp_path: Path, ledger: Ledger
) -> None:
    """The streaming snapshot (12 output tokens) is ingested; the final copy (412) arrives in
    the next run and replaces it, as a one-shot ingest would have kept it."""
    path = tmp_path / "projects" / "-w-proj" / "s1.jsonl"
    _write(path, [_line("mA", "rA", out=12)])
    first = ingest_claude_code(ledger, [tmp_path])
    with path.open("a") as fh:
        fh.write(json.dumps(_line("mA", "rA", out=412)) + "\n")
    second = ingest_claude_code(ledger, [tmp_path])
    (row,) = list(ledger.executions())
    assert row.output_tokens == 412
    assert second.new_records == 0
    assert first.cost_added_nanos + second.cost_added_nanos == row.cost_nanos


def test_keys_do_not_depend_on_which_file_was_read_first(tmp_path: Path, ledger: Ledger) -> None:
    """Two distinct calls sharing a message id (no sidechain): each is recorded exactly once,
    whether they arrive in one run or two, and whatever the file order."""
    proj = tmp_path / "projects" / "-w-proj"
    _write(proj / "s1.jsonl", [_line("mM", "r1", out=10)])
    ingest_claude_code(ledger, [tmp_path])
    _write(proj / "s2.jsonl", [_line("mM", "r2", out=500)])
    _write(proj / "s1.jsonl", [_line("mM", "r1", out=10), _line("mX", "rX")])  # rewritten
    ingest_claude_code(ledger, [tmp_path])
    got = sorted((e.dedup_key, e.output_tokens) for e in ledger.executions())
    assert got == [("cc:mM|r1|m", 10), ("cc:mM|r2|m", 500), ("cc:mX|rX|m", 10)]


def test_a_btw_replay_in_a_later_run_is_still_a_duplicate(tmp_path: Path, ledger: Ledger) -> None:
    proj = tmp_path / "projects" / "-w-proj"
    _write(proj / "s1.jsonl", [_line("mP", "r1", out=50)])
    ingest_claude_code(ledger, [tmp_path])
    replay = _line("mP", "r-replay", out=50, side=True, agent="abtw")
    _write(proj / "s1" / "subagents" / "agent-abtw.jsonl", [replay])
    again = ingest_claude_code(ledger, [tmp_path])
    assert again.new_records == 0 and again.cost_added_nanos == 0
    (row,) = list(ledger.executions())
    assert row.agent == "main"


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_equal_copies_in_two_files_keep_the_same_one_every_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """A resumed session repeats earlier responses in a new file: of two equal copies, every
    run keeps the one from the same file, however the parser processes finish."""
    from gearshift.ingest import parse

    monkeypatch.setattr(parse, "PARALLEL_MIN_BYTES", 0)
    proj = tmp_path / "projects" / "-w-proj"
    shared = [_line(f"m{i}", f"r{i}") for i in range(40)]
    _write(proj / "old.jsonl", shared)
    _write(proj / "resumed.jsonl", [*shared, *[_line(f"n{i}", f"q{i}") for i in range(5)]])
    for i in range(4):
        (proj / f"other{i}.jsonl").write_text(
            "".join(json.dumps(_line(f"o{i}x{j}", "r")) + "\n" for j in range(30))
        )
    sessions = set()
    for run in range(4):
        with Ledger.open(tmp_path / f"run{run}.db") as led:
            ingest_claude_code(led, [tmp_path], workers=workers)
            sessions.add(tuple(sorted((e.dedup_key or "", e.session) for e in led.executions())))
    assert len(sessions) == 1
    (got,) = sessions
    assert {s for k, s in got if k.startswith("cc:m")} == {"resumed"}  # the larger file first


def test_a_line_dated_before_1970_is_recorded_not_fatal(tmp_path: Path, ledger: Ledger) -> None:
    """An odd timestamp (an offset pushing it before the epoch, or year 1) must not stop every
    later ingest: the record keeps its time; only its id's time part is clamped."""
    proj = tmp_path / "projects" / "-w-proj"
    _write(
        proj / "s1.jsonl",
        [
            _line("mA", "rA", ts="1970-01-01T00:30:00+01:00"),
            _line("mB", "rB", ts="0001-01-01T00:00:00Z"),
            _line("mC", "rC"),
        ],
    )
    assert ingest_claude_code(ledger, [tmp_path]).new_records == 3
    got = {e.dedup_key: e for e in ledger.executions()}
    assert got["cc:mA|rA|m"].ts.year == 1969


def test_incremental_ingest_into_postgresql(tmp_path: Path, pg_url: str) -> None:
    """Reconciling with recorded copies and saving file states work on PostgreSQL too: a
    straddling response is replaced, a re-run adds nothing, states commit with the rows."""
    path = tmp_path / "projects" / "-w-proj" / "s1.jsonl"
    _write(path, [_line("mA", "rA", out=12), *[_line(f"m{i}", f"r{i}") for i in range(5)]])
    with Ledger.open(pg_url) as pg:
        assert _ingest(pg, [tmp_path]).new_records == 6
        with path.open("a") as fh:
            fh.write(json.dumps(_line("mA", "rA", out=412)) + "\n")
            fh.write(json.dumps(_line("m5", "r5")) + "\n")
        second = _ingest(pg, [tmp_path])
        assert (second.new_records, second.files_reread) == (1, 0)
        assert _ingest(pg, [tmp_path]).new_records == 0
        rows = {e.dedup_key: e.output_tokens for e in pg.executions()}
        assert len(rows) == 7 and rows["cc:mA|rA|m"] == 412
        (offset,) = pg.query('SELECT "offset" FROM ingest_files')[0]
        assert offset == path.stat().st_size


def _agent_call(msg_id: str, tool_id: str, kind: str) -> dict[str, Any]:
    line = _line(msg_id, f"r-{msg_id}")
    line["message"]["content"] = [
        {"type": "tool_use", "id": tool_id, "name": "Agent", "input": {"subagent_type": kind}}
    ]
    return line


def _agent_result(agent_id: str, tool_id: str, kind: str) -> dict[str, Any]:
    return {
        "type": "user",
        "sessionId": "s1",
        "timestamp": "2026-09-01T10:05:00.000Z",
        "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id}]},
        "toolUseResult": {"agentId": agent_id, "agentType": kind, "usage": {"input_tokens": 1}},
    }


def test_an_incremental_ingest_attributes_as_one_full_ingest(
    tmp_path: Path, ledger: Ledger
) -> None:
    """The parent's lines that name a subagent's type are often read by another run than the
    subagent's: the ``Agent`` call before it, the tool result after it. Runs keep what they
    learn, and re-attribute an agent recorded as ``subagent`` once its type turns up."""
    proj = tmp_path / "projects" / "-w-proj"
    parent, subagents = proj / "s1.jsonl", proj / "s1" / "subagents"
    sub = {"sessionId": "s1"}

    def subagent(agent_id: str, tool_id: str | None, n: int) -> None:
        meta = {"description": "d"} | ({"toolUseId": tool_id} if tool_id else {})
        subagents.mkdir(parents=True, exist_ok=True)
        (subagents / f"agent-{agent_id}.meta.json").write_text(json.dumps(meta))
        _write(subagents / f"agent-{agent_id}.jsonl",
               [_line(f"{agent_id}-{i}", f"r{agent_id}-{i}", side=True, agent=agent_id) | sub
                for i in range(n)])  # fmt: skip

    # Run 1: the parent calls Explore (for a1, not started yet); a2 runs, its type unknown;
    # a3 runs, spawned by a call this run has not seen (written where a later run reads it).
    _write(parent, [_line("p1", "rp1"), _agent_call("p2", "toolu_1", "Explore")])
    subagent("a2", None, 2)
    subagent("a3", "toolu_3", 2)
    first = ingest_claude_code(ledger, [tmp_path])
    assert first.reattributed_agents == 0
    # Run 2: a1's transcript appears (its sidecar names the call); a2's tool result and a3's
    # call arrive.
    subagent("a1", "toolu_1", 3)
    with parent.open("a") as fh:
        fh.write(json.dumps(_agent_result("a2", "toolu_2", "Plan")) + "\n")
        fh.write(json.dumps(_agent_call("p3", "toolu_3", "reviewer")) + "\n")
    second = ingest_claude_code(ledger, [tmp_path])
    assert second.reattributed_agents == 2
    incremental = sorted((e.dedup_key, e.agent) for e in ledger.executions())
    with Ledger.open(tmp_path / "one-shot.db") as whole:
        ingest_claude_code(whole, [tmp_path])
        assert sorted((e.dedup_key, e.agent) for e in whole.executions()) == incremental
    agents = sorted({agent for _, agent in incremental})
    assert agents == ["Explore", "Plan", "main", "reviewer"]
    assert ingest_claude_code(ledger, [tmp_path]).reattributed_agents == 0  # nothing pending


def _append(path: Path, lines: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.writelines(json.dumps(x) + "\n" for x in lines)


def _late_facts(case: str, proj: Path) -> list[Callable[[], None]]:
    """Two runs' worth of writes where what names a subagent's type arrives in the second."""
    sub = proj / "s1" / "subagents"
    s1 = {"sessionId": "s1"}

    def agent_line(msg: str, agent: str) -> dict[str, Any]:
        return _line(msg, f"r{msg}", side=True, agent=agent) | s1

    def meta(agent: str, data: dict[str, str]) -> Callable[[], None]:
        return lambda: (sub / f"agent-{agent}.meta.json").write_text(json.dumps(data))

    if case == "legacy file, result without a type":  # 2.0.x: no sidecar; Task call, then result
        result = _agent_result("a1", "toolu_1", "x")
        del result["toolUseResult"]["agentType"]
        return [
            lambda: (_append(proj / "s1.jsonl", [_line("p1", "rp1"),
                                                 _agent_call("p2", "toolu_1", "Explore")]),
                     _append(proj / "agent-a1.jsonl", [agent_line("a1-1", "a1")])),
            lambda: _append(proj / "s1.jsonl", [result]),
        ]  # fmt: skip
    if case == "late sidecar, no new lines":
        return [
            lambda: _append(sub / "agent-b1.jsonl", [agent_line("b1-1", "b1")]),
            meta("b1", {"agentType": "Plan"}),
        ]
    if case == "late sidecar and new lines":
        return [
            lambda: _append(sub / "agent-c1.jsonl", [agent_line("c1-1", "c1")]),
            lambda: (meta("c1", {"agentType": "Plan"})(),
                     _append(sub / "agent-c1.jsonl", [agent_line("c1-2", "c1")])),
        ]  # fmt: skip
    assert case == "late sidecar naming a call read before"
    return [
        lambda: (_append(proj / "s1.jsonl", [_agent_call("p2", "toolu_4", "Explore")]),
                 _append(sub / "agent-d1.jsonl", [agent_line("d1-1", "d1")])),
        meta("d1", {"toolUseId": "toolu_4"}),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "case",
    [
        "legacy file, result without a type",
        "late sidecar, no new lines",
        "late sidecar and new lines",
        "late sidecar naming a call read before",
    ],
)
def test_a_type_that_turns_up_later_reaches_the_earlier_records(
    tmp_path: Path, ledger: Ledger, case: str
) -> None:
    proj = tmp_path / "corpus" / "projects" / "-w-proj"
    for step in _late_facts(case, proj):
        step()
        ingest_claude_code(ledger, [tmp_path / "corpus"])
    incremental = sorted((e.dedup_key, e.agent) for e in ledger.executions())
    with Ledger.open(tmp_path / "one-shot.db") as whole:
        ingest_claude_code(whole, [tmp_path / "corpus"])
        assert sorted((e.dedup_key, e.agent) for e in whole.executions()) == incremental
    assert "subagent" not in {agent for _, agent in incremental}


def test_concurrent_ingests_of_two_copies_keep_one(tmp_path: Path, ledger_url: str) -> None:
    """Two runs at once, each reading another copy of the same responses (the main thread's
    in one folder, a sidechain replay in the other): each decides what to keep inside its write
    transaction, after the other's commit, so every response is recorded once -- the main
    copy -- whichever run writes first."""
    from gearshift.ledger import Ledger

    main, side = tmp_path / "main", tmp_path / "side"
    ids = [f"mC{i}" for i in range(40)]
    _write(main / "projects" / "-w-proj" / "s1.jsonl", [_line(m, f"r{m}") for m in ids])
    replays = [_line(m, f"x{m}", side=True, agent="abtw") for m in ids]
    _write(side / "projects" / "-w-proj" / "s1" / "subagents" / "agent-abtw.jsonl", replays)
    for attempt in range(8):
        if ledger_url.endswith(".db"):
            url = str(tmp_path / f"l{attempt}.db")
        else:
            url = ledger_url
            with Ledger.open(url) as led, led.write() as conn:
                conn.exec_driver_sql("DELETE FROM executions")
                conn.exec_driver_sql("DELETE FROM ingest_files")
        _ingest_at_once(url, [main, side])
        with Ledger.open(url) as led:
            rows = sorted((e.dedup_key or "", e.agent) for e in led.executions())
        assert rows == sorted((f"cc:{m}|r{m}|m", "main") for m in ids), attempt


def _ingest_at_once(url: str, folders: list[Path]) -> None:
    import threading

    from gearshift.ledger import Ledger

    Ledger.open(url).close()
    start = threading.Barrier(len(folders))
    errors: list[BaseException] = []

    def run(folder: Path) -> None:
        try:
            with Ledger.open(url) as led:
                start.wait()
                ingest_claude_code(led, [folder])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f,)) for f in folders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_a_transcript_that_is_no_regular_file_is_reported_not_waited_on(
    tmp_path: Path, ledger: Ledger
) -> None:
    """A ``*.jsonl`` FIFO with no writer (opening it would block), a link to a device that never
    ends, and a link to a directory: each is reported as unreadable and the run goes on with
    the other files."""
    import os
    import threading

    folder = tmp_path / "projects" / "-w-proj"
    _write(folder / "s1.jsonl", [_line("m1", "r1")])
    os.mkfifo(folder / "fifo.jsonl")
    (folder / "zero.jsonl").symlink_to("/dev/zero")
    (folder / "dir.jsonl").symlink_to(folder)
    done: list[Any] = []
    runner = threading.Thread(
        target=lambda: done.append(ingest_claude_code(ledger, [tmp_path], follow_links=True)),
        daemon=True,
    )
    runner.start()
    runner.join(timeout=30)
    assert done, "the ingest is stuck on a file that is no regular file"
    summary = done[0]
    assert summary.new_records == 1
    problems = sorted(p.rsplit("/", 1)[1] for p in summary.unreadable)
    assert problems == [
        "dir.jsonl: Is a directory",
        "fifo.jsonl: not a regular file (a FIFO, socket or device)",
        "zero.jsonl: not a regular file (a FIFO, socket or device)",
    ]
