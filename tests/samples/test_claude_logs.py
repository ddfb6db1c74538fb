"""The synthetic Claude Code corpus: determinism, every quirk of the reference, and a manifest
that an independent, naive re-parse of the written tree reproduces exactly."""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from gearshift.catalog import load_catalog
from gearshift.errors import ConfigError
from gearshift.samples.claude_logs import (
    DEFAULT_START,
    CorpusManifest,
    generate_corpus,
    project_key,
)
from gearshift.samples.corpus import DIVERGENT_QUIRKS, FORCED_QUIRKS

CCUSAGE_NULL = re.compile(
    rb'"(id|cwd|model|speed|costUSD|version|sessionId|requestId|isApiErrorMessage|'
    rb'cache_read_input_tokens|cache_creation_input_tokens)":null'
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusManifest]:
    out = tmp_path_factory.mktemp("corpus")
    return out, generate_corpus(out, size_bytes=6_000_000, seed=11)


@pytest.fixture(scope="module")
def divergent(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusManifest]:
    out = tmp_path_factory.mktemp("divergent")
    return out, generate_corpus(out, size_bytes=3_000_000, seed=5, ccusage_divergent=True)


# ---------------------------------------------------------------------- a naive, independent reader


@dataclass
class Line:
    path: Path
    raw: bytes
    obj: dict[str, Any]


@dataclass
class Tree:
    files: list[Path]
    lines: list[Line]
    torn: list[tuple[Path, bytes]]
    metas: dict[tuple[str, str], dict[str, Any]]


def read_tree(out: Path) -> Tree:
    root = out / "projects"
    files = sorted(p for p in root.rglob("*") if p.is_file())
    lines, torn = [], []
    for path in files:
        if path.suffix != ".jsonl":
            continue
        *complete, tail = path.read_bytes().split(b"\n")
        lines += [Line(path, raw, json.loads(raw)) for raw in complete]
        if tail:
            torn.append((path, tail))
    metas = {}
    for path in files:
        if path.name.endswith(".meta.json"):
            session = path.relative_to(root).parts[1]
            agent_id = path.name.removeprefix("agent-").removesuffix(".meta.json")
            metas[(session, agent_id)] = json.loads(path.read_text())
    return Tree(files, lines, torn, metas)


def naive_groups(out: Path) -> tuple[dict[tuple[str, ...], Counter[str]], int, int]:
    """Re-derive the manifest's groups from the files alone: stdlib json, a dict dedup."""
    tree = read_tree(out)
    root = out / "projects"
    subagent_type_of_call: dict[str, str] = {}
    call_of_agent: dict[str, str] = {}
    for line in tree.lines:
        msg = line.obj.get("message")
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), list):
            continue
        for block in msg["content"]:
            if block.get("type") == "tool_use" and "subagent_type" in block["input"]:
                subagent_type_of_call[block["id"]] = block["input"]["subagent_type"]
            if block.get("type") == "tool_result" and "agentId" in (
                line.obj.get("toolUseResult") or {}
            ):
                call_of_agent[line.obj["toolUseResult"]["agentId"]] = block["tool_use_id"]

    copies: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in tree.lines:
        o = line.obj
        parts = line.path.relative_to(root).parts
        project = parts[0]
        if o.get("type") == "assistant" and "usage" in o.get("message", {}):
            rec, sidechain = o, bool(o.get("isSidechain"))
        elif o.get("type") == "progress" and "usage" in (
            o["data"].get("message", {}).get("message", {})
        ):
            rec, sidechain = o["data"]["message"], bool(o["data"]["message"].get("isSidechain"))
        else:
            continue
        if len(parts) == 2 and not parts[1].startswith("agent-"):
            session = parts[1].removesuffix(".jsonl")
            meta_key = (session, o["data"]["agentId"]) if rec is not o else None
            agent = tree.metas[meta_key]["agentType"] if meta_key else "main"
        elif len(parts) == 2:
            session = o["sessionId"]
            agent = subagent_type_of_call[call_of_agent[o["agentId"]]]
        else:
            session = parts[1]
            meta = tree.metas.get((session, line.path.stem.removeprefix("agent-")))
            agent = meta["agentType"] if meta else o.get("attributionAgent", "unknown")
        usage = rec["message"]["usage"]
        split = usage.get("cache_creation")
        c5 = split["ephemeral_5m_input_tokens"] if split else usage["cache_creation_input_tokens"]
        c1 = split["ephemeral_1h_input_tokens"] if split else 0
        copies[rec["message"]["id"]].append(
            {
                "rid": rec.get("requestId"),
                "sidechain": sidechain,
                "key": (rec["timestamp"][:10], project, session, agent, rec["message"]["model"]),
                "tokens": Counter(
                    input=usage["input_tokens"],
                    output=usage["output_tokens"],
                    cache_5m=c5,
                    cache_1h=c1,
                    cache_read=usage["cache_read_input_tokens"],
                ),
            }
        )
    groups: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
    errors = n_copies = 0
    for same_id in copies.values():
        n_copies += len(same_id)
        by_rid: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
        for c in same_id:
            by_rid[c["rid"]].append(c)
        calls = [same_id] if len(by_rid) > 1 and any(c["sidechain"] for c in same_id) else []
        for call in calls or list(by_rid.values()):
            kept = max(call, key=lambda c: (not c["sidechain"], c["tokens"].total()))
            if kept["key"][4] == "<synthetic>":
                errors += 1
                continue
            groups[kept["key"]] += kept["tokens"]
            groups[kept["key"]]["calls"] += 1
    return groups, errors, n_copies


@pytest.mark.parametrize("which", ["corpus", "divergent"])
def test_manifest_matches_a_naive_reparse(which: str, request: pytest.FixtureRequest) -> None:
    out, manifest = request.getfixturevalue(which)
    groups, errors, n_copies = naive_groups(out)
    expected = {
        k: Counter({f: v for f, v in t.to_dict().items() if v}) for k, t in manifest.groups.items()
    }
    assert {k: +v for k, v in groups.items()} == expected
    assert errors == manifest.api_errors > 0
    assert n_copies == manifest.usage_lines
    assert sum(t["calls"] for t in groups.values()) == manifest.api_calls
    assert manifest.duplicate_usage_lines > manifest.api_calls // 4


def test_manifest_counts_files_lines_and_bytes(corpus: tuple[Path, CorpusManifest]) -> None:
    out, m = corpus
    tree = read_tree(out)
    assert len(tree.files) == m.files["total"]
    assert sum(p.stat().st_size for p in tree.files) == m.bytes
    assert len(tree.lines) == m.lines
    assert len(tree.torn) == m.torn_lines == m.quirks["torn_tail"] > 0
    assert abs(m.bytes - m.size_target) < m.size_target * 0.05
    transcripts = [p for p in tree.files if p.suffix == ".jsonl" and p.name != "journal.jsonl"]
    assert len(transcripts) == m.files["transcripts"]
    share = m.files["subagent_transcripts"] / m.files["transcripts"]
    assert 0.65 < share < 0.9


def test_manifest_json_round_trips(corpus: tuple[Path, CorpusManifest]) -> None:
    out, m = corpus
    saved = json.loads((out / "manifest.json").read_text())
    assert saved == json.loads(json.dumps(m.to_dict()))
    again = CorpusManifest.from_dict(saved)
    assert again.to_dict() == m.to_dict()
    assert saved["totals"]["calls"] == m.api_calls
    assert sum(d["calls"] for d in saved["by_day"].values()) == m.api_calls
    assert {r["agent"] for r in saved["by_agent"]} >= {"main", "Explore", "workflow-subagent"}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    def tree(out: Path, seed: int) -> dict[str, bytes]:
        generate_corpus(out, size_bytes=1_000_000, seed=seed)
        return {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    first = tree(tmp_path / "a", 3)
    assert first == tree(tmp_path / "b", 3)
    assert first != tree(tmp_path / "c", 4)


def test_every_forced_quirk_is_present(
    corpus: tuple[Path, CorpusManifest], divergent: tuple[Path, CorpusManifest]
) -> None:
    common = {"huge_snapshot_file", "legacy_cost_usd", "no_cache_creation", "workflow_agent"}
    common |= {"tool:Agent", "tool:Task", "progress_copy", "multi_line_response", "agent_result"}
    common |= {"attribution_agent", "system:compact_boundary"}
    assert not (FORCED_QUIRKS | common) - set(corpus[1].quirks)
    assert not (FORCED_QUIRKS | DIVERGENT_QUIRKS) - set(divergent[1].quirks)
    assert not DIVERGENT_QUIRKS & set(corpus[1].quirks)


# ---------------------------------------------------------------------- quirks, seen in the files


def assistant_lines(tree: Tree) -> list[Line]:
    return [
        line
        for line in tree.lines
        if line.obj.get("type") == "assistant" and "usage" in line.obj["message"]
    ]


def test_both_envelope_orders(corpus: tuple[Path, CorpusManifest]) -> None:
    orders = Counter()
    for line in assistant_lines(read_tree(corpus[0])):
        keys = list(line.obj)
        orders[keys.index("message") < keys.index("cwd")] += 1
        if keys.index("message") < keys.index("cwd"):
            assert line.obj["version"].startswith("2.1.2")
    assert orders[True] and orders[False]


def test_subagents_link_to_their_parent_calls(corpus: tuple[Path, CorpusManifest]) -> None:
    out, _ = corpus
    tree = read_tree(out)
    root = out / "projects"
    calls = {}
    for line in tree.lines:
        for block in line.obj.get("message", {}).get("content", []) or []:
            if isinstance(block, dict) and block.get("name") in ("Agent", "Task"):
                calls[block["id"]] = (block["name"], block["input"]["subagent_type"], line.path)
    types, depths, names = Counter(), Counter(), Counter()
    for (session, agent_id), meta in tree.metas.items():
        types[meta["agentType"]] += 1
        depths[meta["spawnDepth"]] += 1
        path = next(p for p in tree.files if p.name == f"agent-{agent_id}.jsonl")
        assert path.parts[-2] == "subagents" or path.parts[-3] == "workflows"
        if meta["agentType"] == "workflow-subagent":
            assert "toolUseId" not in meta and path.parent.name.startswith("wf_")
            continue
        name, kind, parent = calls[meta["toolUseId"]]
        names[name] += 1
        assert kind == meta["agentType"]
        assert session in parent.parts or parent.name == f"{session}.jsonl"
        if meta["spawnDepth"] > 1:
            assert parent.name == f"agent-{meta['parentAgentId']}.jsonl"
        records = [json.loads(raw) for raw in path.read_bytes().split(b"\n")[:-1]]
        assert all(r["isSidechain"] and r["sessionId"] == session for r in records if "uuid" in r)
        assert records[0]["parentUuid"] is None
    assert {"Explore", "Plan", "general-purpose", "workflow-subagent"} <= set(types)
    assert {"test-engineer", "code-reviewer", "style-enforcer", "architect"} <= set(types)
    assert set(depths) == {1, 2, 3} and depths[1] > 10 * depths[2]
    assert names["Agent"] and names["Task"]
    legacy = [p for p in tree.files if p.parent.parent == root and p.name.startswith("agent-")]
    assert legacy and all(re.fullmatch(r"agent-[0-9a-f]{7}\.jsonl", p.name) for p in legacy)
    results = [line.obj["toolUseResult"] for line in tree.lines if "toolUseResult" in line.obj]
    linked = {r["agentId"] for r in results if "agentId" in r}
    assert {p.stem.removeprefix("agent-") for p in legacy} <= linked
    assert any("usage" in r and "agentType" in r for r in results)


def test_duplicates_progress_btw_snapshots_and_missing_request_ids(
    corpus: tuple[Path, CorpusManifest],
) -> None:
    tree = read_tree(corpus[0])
    by_key: dict[tuple[str, str | None], list[Line]] = defaultdict(list)
    rids: dict[str, set[str | None]] = defaultdict(set)
    for line in assistant_lines(tree):
        msg = line.obj["message"]
        by_key[(msg["id"], line.obj.get("requestId"))].append(line)
        rids[msg["id"]].add(line.obj.get("requestId"))
    assert max(len(v) for v in by_key.values()) >= 3
    snapshots = [
        lines
        for lines in by_key.values()
        if any(line.obj["message"]["stop_reason"] is None for line in lines)
    ]
    assert snapshots
    for lines in snapshots:
        outputs = [line.obj["message"]["usage"]["output_tokens"] for line in lines]
        assert lines[0].obj["message"]["stop_reason"] is None and outputs[0] < max(outputs)
    btw = [mid for mid, r in rids.items() if len(r) > 1]
    assert btw
    for mid in btw:
        sides = [line for (m, _), ls in by_key.items() if m == mid for line in ls]
        assert {line.obj["isSidechain"] for line in sides} == {True, False}
    assert any(rid is None for (_, rid) in by_key)
    progress = [line for line in tree.lines if line.obj.get("type") == "progress"]
    nested = [
        p.obj["data"]["message"] for p in progress if p.obj["data"]["type"] == "agent_progress"
    ]
    assert nested and {p.obj["data"]["type"] for p in progress} >= {"hook_progress"}
    torn = b"".join(tail for _, tail in tree.torn)
    for n in nested:
        key = (n["message"]["id"], n["requestId"])
        assert key in by_key or key[0].encode() in torn


def test_errors_legacy_cost_and_cache_splits(corpus: tuple[Path, CorpusManifest]) -> None:
    tree = read_tree(corpus[0])
    errors = [
        line.obj for line in assistant_lines(tree) if line.obj["message"]["model"] == "<synthetic>"
    ]
    assert errors and all(not any(e["message"]["usage"].values()) for e in errors)
    assert any("usage limit reached|" in e["message"]["content"][0]["text"] for e in errors)
    splits = Counter()
    for line in assistant_lines(tree):
        o = line.obj
        if "costUSD" in o:
            major, minor, patch = map(int, o["version"].split("."))
            assert (major, minor) == (1, 0) and patch < 9 and isinstance(o["costUSD"], float)
        cc = o["message"]["usage"].get("cache_creation")
        if cc is None:
            splits["none"] += 1
        else:
            splits[(cc["ephemeral_5m_input_tokens"] > 0, cc["ephemeral_1h_input_tokens"] > 0)] += 1
    assert (
        splits["none"] and splits[(True, False)] and splits[(False, True)] and splits[(True, True)]
    )


def test_tokens_models_and_speed(corpus: tuple[Path, CorpusManifest]) -> None:
    catalog_ids = {model.id for model in load_catalog()}
    models, fast = set(), set()
    for line in assistant_lines(read_tree(corpus[0])):
        msg = line.obj["message"]
        u = msg["usage"]
        prompt = u["input_tokens"] + u["cache_creation_input_tokens"] + u["cache_read_input_tokens"]
        assert prompt <= 170_000
        assert u["output_tokens"] <= 3_000
        models.add(msg["model"])
        if u.get("speed") == "fast":
            fast.add(msg["model"])
    assert models - {"<synthetic>"} <= catalog_ids
    assert {"claude-haiku-4-5-20251001", "claude-opus-5", "claude-sonnet-4-20250514"} <= models
    assert fast and all("opus" in m for m in fast)


def test_attribution_agent_only_on_subagent_lines(corpus: tuple[Path, CorpusManifest]) -> None:
    tree = read_tree(corpus[0])
    root = corpus[0] / "projects"
    seen = 0
    for line in tree.lines:
        if "attributionAgent" in line.obj:
            seen += 1
            session = line.path.relative_to(root).parts[1]
            meta = tree.metas[(session, line.obj["agentId"])]
            assert line.obj["isSidechain"] and line.obj["attributionAgent"] == meta["agentType"]
    assert seen


def test_torn_tails_timestamps_and_sidecars(corpus: tuple[Path, CorpusManifest]) -> None:
    out, _ = corpus
    tree = read_tree(out)
    for _path, tail in tree.torn:
        with pytest.raises(json.JSONDecodeError):
            json.loads(tail)
    stamps: dict[Path, list[dt.datetime]] = defaultdict(list)
    for line in tree.lines:
        if "timestamp" in line.obj and "uuid" in line.obj:
            stamps[line.path].append(dt.datetime.fromisoformat(line.obj["timestamp"]))
    back = [(a - b).total_seconds() for ts in stamps.values() for a, b in pairwise(ts) if b < a]
    assert back and max(back) <= 60
    first = min(min(ts) for ts in stamps.values())
    assert first.date() >= DEFAULT_START
    assert max(max(ts) for ts in stamps.values()).date() <= DEFAULT_START + dt.timedelta(days=31)
    kinds = Counter(line.obj["type"] for line in tree.lines)
    for kind in ("summary", "file-history-snapshot", "queue-operation", "attachment", "system"):
        assert kinds[kind], kind
    huge = max(
        (p for p in tree.files if p.suffix == ".jsonl"),
        key=lambda p: sum(
            len(line.raw)
            for line in tree.lines
            if line.path == p and line.obj["type"] == "file-history-snapshot"
        ),
    )
    snapshot = [line for line in tree.lines if line.path == huge]
    assert (
        sum(len(line.raw) for line in snapshot if line.obj["type"] == "file-history-snapshot") * 2
        > huge.stat().st_size
    )
    assert all(
        b'"usage"' not in line.raw
        for line in snapshot
        if line.obj["type"] == "file-history-snapshot"
    )


def test_line_sizes_follow_the_profile(corpus: tuple[Path, CorpusManifest]) -> None:
    sizes = [
        len(line.raw)
        for line in read_tree(corpus[0]).lines
        if line.obj["type"] in ("assistant", "user")
    ]
    assert 1_800 <= statistics.median(sizes) <= 4_200
    assert sum(8_000 <= s <= 20_000 for s in sizes) > len(sizes) // 60
    assert any(48_000 <= s <= 90_000 for s in sizes)


def test_projects_and_sessions(corpus: tuple[Path, CorpusManifest]) -> None:
    out, m = corpus
    root = out / "projects"
    assert {p.name for p in root.iterdir()} == set(m.projects)
    assert any(len(key) > 200 for key in m.projects)
    for key, cwd in m.projects.items():
        assert project_key(cwd) == key
    for s in m.sessions:
        path = out / s.path
        assert path.name == f"{s.session}.jsonl" and path.parent.name == s.project
        heads = [json.loads(raw) for raw in path.read_bytes().split(b"\n")[:-1]]
        assert all(h["sessionId"] == s.session and h["cwd"] == s.cwd for h in heads if "uuid" in h)
    assert {s.entrypoint for s in m.sessions} >= {None, "cli", "sdk-cli"}


def test_project_key_rule() -> None:
    assert project_key("/home/dev/acme-api") == "-home-dev-acme-api"
    assert project_key("/Users/ana/My Project.v2") == "-Users-ana-My-Project-v2"
    long = "/x" * 150
    key = project_key(long)
    assert key.startswith("-x" * 100) and len(key) > 201 and key[200] == "-"
    assert re.fullmatch(r"[0-9a-z]+", key[201:])


def test_ccusage_null_patterns_only_when_asked(
    corpus: tuple[Path, CorpusManifest], divergent: tuple[Path, CorpusManifest]
) -> None:
    assert not any(CCUSAGE_NULL.search(line.raw) for line in read_tree(corpus[0]).lines)
    assert corpus[1].divergent_by_day == {}
    hits = [line for line in read_tree(divergent[0]).lines if CCUSAGE_NULL.search(line.raw)]
    assert hits and all(line.obj["type"] == "assistant" for line in hits)
    dropped = sum(t.calls for t in divergent[1].divergent_by_day.values())
    assert dropped >= divergent[1].quirks["null_field"] > 0


def test_progress_is_reported_in_bytes(tmp_path: Path) -> None:
    seen: list[int] = []
    m = generate_corpus(tmp_path, size_bytes=2_500_000, seed=1, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == m.bytes and len(seen) >= 2


def test_refuses_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        generate_corpus(tmp_path, size_bytes=0, seed=1)
    with pytest.raises(ConfigError):
        generate_corpus(tmp_path, size_bytes=1000, seed=1, days=0)
    (tmp_path / "projects" / "x").mkdir(parents=True)
    with pytest.raises(ConfigError, match="not empty"):
        generate_corpus(tmp_path, size_bytes=100_000, seed=1)


# ---------------------------------------------------------------------- the command


@pytest.fixture
def cli() -> typer.Typer:
    from gearshift.cli import sample as sample_cli

    app = typer.Typer()
    app.callback()(lambda: None)
    sample_cli.register(app)
    return app


def test_cli_writes_a_corpus_and_prints_the_manifest(cli: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "logs"
    result = CliRunner().invoke(
        cli, ["sample", "claude-logs", "--out", str(out), "--size", "1MB", "--seed", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["seed"] == 3 and data["size_target"] == 1_000_000
    assert data == json.loads((out / "manifest.json").read_text())
    again = CliRunner().invoke(
        cli,
        ["sample", "claude-logs", "--out", str(tmp_path / "b"), "--size", "300KB", "--seed", "3"],
    )
    assert again.exit_code == 0 and "API calls" in again.stdout


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", 1_048_576), ("500KB", 500_000), ("200MB", 200_000_000), ("1GB", 10**9),
     ("1.5gb", 1_500_000_000), ("64KiB", 65_536), ("2 MiB", 2_097_152), ("10k", 10_000)],
)  # fmt: skip
def test_parse_size(text: str, size: int) -> None:
    from gearshift.cli.sample import parse_size

    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "abc", "-5MB", "0", "12XB", "1.5", "MB"])
def test_parse_size_rejects(text: str) -> None:
    from gearshift.cli.sample import parse_size

    with pytest.raises(ConfigError) as info:
        parse_size(text)
    assert info.value.hint


def test_cli_bad_size_exits_2_with_a_hint(tmp_path: Path) -> None:
    """Through the real entry point, in a subprocess (registering the group there if
    ``cli/main.py`` does not list it yet, without touching this process's app)."""
    script = (
        "from gearshift.cli import main, sample\n"
        "if 'sample' not in {g.name for g in main.app.registered_groups}:\n"
        "    sample.register(main.app)\n"
        "main.main()\n"
    )
    args = ["sample", "claude-logs", "--out", str(tmp_path), "--size", "lots", "--seed", "1"]
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "--size" in done.stderr and "hint:" in done.stderr
    assert not (tmp_path / "projects").exists()
