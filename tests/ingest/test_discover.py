"""The discover stage: every transcript and subagent sidecar under the roots, each file once,
in path order, with the stat of what a link names; what cannot be read is passed over."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from gearshift.errors import IngestError
from gearshift.ingest.discover import discover, transcript_file


def touch(path: Path | str, data: bytes = b"{}\n") -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(data)


# ------------------------------------------------------------------------------------------------
# Trees


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A projects/ tree with every kind of entry the walk tells apart."""
    top = tmp_path / "projects"
    app = top / "-home-u-app"
    touch(app / "sess1.jsonl", b'{"a":1}\n')
    touch(app / "agent-legacy.jsonl")
    touch(app / "sess1" / "subagents" / "agent-x.jsonl", b"x" * 100)
    touch(app / "sess1" / "subagents" / "agent-x.meta.json")
    touch(app / "sess1" / "subagents" / "workflows" / "wf_1" / "agent-y.jsonl")
    touch(app / "sess1" / "subagents" / "workflows" / "wf_1" / "agent-y.meta.json")
    touch(app / "sess1" / "tool-results" / "t.jsonl")  # skipped dir
    touch(app / "sess1" / "tool-results" / "agent-z.meta.json")
    touch(app / "sess1" / "tool-results" / "deeper" / "u.jsonl")
    k2 = top / "k2"
    k2.mkdir()
    (k2 / "linkdir").symlink_to("../-home-u-app")  # a link to a directory: not entered
    (k2 / "link.jsonl").symlink_to("../-home-u-app/sess1.jsonl")  # listed, target's stat
    (k2 / "broken.jsonl").symlink_to("nowhere.jsonl")  # stat fails: left out
    (k2 / "agent-b.meta.json").symlink_to("nowhere.json")  # a sidecar is not stat'ed
    (k2 / "dirlink.jsonl").symlink_to("../-home-u-app")  # not a directory by lstat: listed
    touch(k2 / "d.jsonl" / "inner.jsonl")  # a directory named *.jsonl: entered, not listed
    touch(k2 / "x.jsonl.bak")
    touch(k2 / "agent-.meta.json.tmp")
    touch(k2 / "agent-w.meta.json.bak")
    touch(k2 / "agent-.meta.json")  # the shortest sidecar name
    touch(k2 / "agent-meta.json")  # not "agent-*.meta.json"
    touch(k2 / "meta.json")
    touch(k2 / ".jsonl")
    touch(k2 / "notes.txt")
    os.mkfifo(k2 / "fifo.jsonl")  # not a directory: listed (stat does not open it)
    base = os.fsencode(k2)
    for raw in (b"\xff.jsonl", b"agent-\xfe\xfd.meta.json", b"caf\xc3\xa9.jsonl"):
        with open(base + b"/" + raw, "wb") as fh:
            fh.write(b"{}\n")
    os.mkdir(base + b"/\xfe-dir")
    with open(base + b"/\xfe-dir/in.jsonl", "wb") as fh:
        fh.write(b"{}\n")
    (top / "empty").mkdir()
    return top


EXPECTED_TRANSCRIPTS = {
    "-home-u-app/sess1.jsonl",
    "-home-u-app/agent-legacy.jsonl",
    "-home-u-app/sess1/subagents/agent-x.jsonl",
    "-home-u-app/sess1/subagents/workflows/wf_1/agent-y.jsonl",
    "k2/link.jsonl",
    "k2/dirlink.jsonl",
    "k2/d.jsonl/inner.jsonl",
    "k2/.jsonl",
    "k2/fifo.jsonl",
    "k2/\udcff.jsonl",
    "k2/café.jsonl",
    "k2/\udcfe-dir/in.jsonl",
}
EXPECTED_SIDECARS = {
    "-home-u-app/sess1/subagents/agent-x.meta.json",
    "-home-u-app/sess1/subagents/workflows/wf_1/agent-y.meta.json",
    "k2/agent-b.meta.json",
    "k2/agent-.meta.json",
    "k2/agent-\udcfe\udcfd.meta.json",
}


def test_every_transcript_and_sidecar_once_in_path_order(mixed: Path) -> None:
    found = discover([mixed])
    prefix = str(mixed) + "/"
    paths = [f.path for f in found.files]
    assert paths == sorted(paths)
    # k2/link.jsonl names -home-u-app/sess1.jsonl: one file, listed under its first path
    assert {p[len(prefix) :] for p in paths} == EXPECTED_TRANSCRIPTS - {"k2/link.jsonl"}
    assert {p[len(prefix) :] for p in found.sidecars.values()} == EXPECTED_SIDECARS
    assert set(found.sidecars) == {"x", "y", "b", "", "\udcfe\udcfd"}
    by_path = {f.path: f for f in found.files}
    assert by_path[prefix + "-home-u-app/sess1/subagents/agent-x.jsonl"].size == 100
    assert found.total_bytes == sum(f.size for f in found.files)
    (link,) = [
        f
        for f in discover([mixed / "k2"], follow_links=True).files
        if f.path.endswith("/link.jsonl")
    ]
    target = os.stat(mixed / "-home-u-app" / "sess1.jsonl")
    assert (link.size, link.mtime_ns, link.device, link.inode) == (
        target.st_size,
        target.st_mtime_ns,
        target.st_dev,
        target.st_ino,
    )


def test_the_path_says_project_session_agent_and_workflow(mixed: Path) -> None:
    for root in (mixed, mixed.parent):  # the projects/ folder, or the config folder above it
        by_name = {
            os.path.relpath(f.path, mixed): transcript_file(f)[1:5] for f in discover([root]).files
        }
        assert by_name["-home-u-app/sess1.jsonl"] == ("-home-u-app", "sess1", None, None)
        assert by_name["-home-u-app/agent-legacy.jsonl"] == ("-home-u-app", None, "legacy", None)
        assert by_name["-home-u-app/sess1/subagents/agent-x.jsonl"] == (
            "-home-u-app",
            "sess1",
            "x",
            None,
        )
        assert by_name["-home-u-app/sess1/subagents/workflows/wf_1/agent-y.jsonl"] == (
            "-home-u-app",
            "sess1",
            "y",
            "wf_1",
        )


def test_roots_are_absolute_and_a_file_reached_twice_is_listed_once(
    mixed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = discover([mixed])
    twice = discover([mixed, mixed / "-home-u-app", mixed / "-home-u-app" / "sess1.jsonl"])
    assert twice.files == whole.files
    monkeypatch.chdir(mixed.parent)
    relative = discover(["projects/"])
    assert relative.roots == [str(mixed)] and relative.files == whole.files
    (mixed.parent / "top-link").symlink_to(mixed)  # a root that is a link is followed
    assert len(discover([mixed.parent / "top-link"]).files) == len(whole.files)
    one = discover([mixed / "-home-u-app" / "sess1.jsonl"])
    assert [transcript_file(f)[1:3] for f in one.files] == [("-home-u-app", "sess1")]


def test_a_missing_root_is_an_error_only_when_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(IngestError, match="does not exist"):
        discover([tmp_path / "nope"])
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    assert discover().roots == []  # no default root exists: nothing found, no error
    (tmp_path / ".claude" / "projects").mkdir(parents=True)
    assert discover().roots == [str(tmp_path / ".claude")]
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", f"{tmp_path / 'a'}, {tmp_path / 'b'}")
    with pytest.raises(IngestError, match="does not exist"):
        discover()


_AS_NOBODY = r"""
import json, os, sys
from gearshift.ingest.discover import discover, transcript_file
if os.geteuid() == 0:  # root reads any directory: walk as nobody
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
found = discover([sys.argv[1]])
json.dump([[f.path for f in found.files], sorted(found.sidecars.values())], sys.stdout)
"""


def test_unreadable_directories_are_passed_over() -> None:
    base = tempfile.mkdtemp(prefix="gearshift-walk-")  # outside pytest's 0700 tmp dirs
    try:
        top = Path(base)
        top.chmod(0o755)
        touch(top / "a" / "ok.jsonl")
        touch(top / "a" / "agent-ok.meta.json")
        touch(top / "locked" / "hidden.jsonl")  # cannot be opened
        touch(top / "locked" / "sub" / "hidden.jsonl")
        touch(top / "unsearchable" / "hidden.jsonl")  # can be listed, nothing in it stat'ed
        touch(top / "unsearchable" / "agent-listed.meta.json")
        touch(top / "unsearchable" / "sub" / "hidden.jsonl")
        for d in ("", "a", "a/ok.jsonl", "a/agent-ok.meta.json"):
            (top / d).chmod(0o755)
        (top / "locked").chmod(0)
        (top / "unsearchable").chmod(0o644)
        out = subprocess.run(
            [sys.executable, "-c", _AS_NOBODY, base], capture_output=True, text=True, check=True
        ).stdout
        assert json.loads(out) == [
            [f"{base}/a/ok.jsonl"],
            [f"{base}/a/agent-ok.meta.json", f"{base}/unsearchable/agent-listed.meta.json"],
        ]
    finally:
        for d in ("a", "locked", "unsearchable"):
            (Path(base) / d).chmod(0o755)
        shutil.rmtree(base)


def test_a_link_out_of_the_roots_is_skipped_and_named(tmp_path: Path) -> None:
    """A transcript tree is not the user's choice of every file its links point to: a linked
    ``*.jsonl`` or sidecar whose target is outside the roots is left out (and listed), one whose
    target is inside is read, and ``follow_links`` reads them all."""
    outside = tmp_path / "elsewhere"
    touch(outside / "secret.jsonl", b'{"a":1}\n')
    touch(outside / "agent-o.meta.json", b"{}")
    top = tmp_path / "claude" / "projects" / "-w-p"
    touch(top / "s1.jsonl", b'{"a":1}\n')
    (top / "out.jsonl").symlink_to(outside / "secret.jsonl")
    (top / "agent-o.meta.json").symlink_to(outside / "agent-o.meta.json")
    (top / "in.jsonl").symlink_to(top / "s1.jsonl")  # inside: the same file, listed once
    (top / "rel.jsonl").symlink_to("../../../elsewhere/secret.jsonl")  # relative, still out
    found = discover([tmp_path / "claude"])
    assert [Path(f.path).name for f in found.files] == ["in.jsonl"]  # s1.jsonl's inode, once
    assert sorted(Path(p).name for p in found.skipped_links) == [
        "agent-o.meta.json",
        "out.jsonl",
        "rel.jsonl",
    ]
    assert found.sidecars == {}
    everything = discover([tmp_path / "claude"], follow_links=True)
    assert sorted(Path(f.path).name for f in everything.files) == ["in.jsonl", "out.jsonl"]
    assert everything.skipped_links == [] and "o" in everything.sidecars
    # a root named on the command line is the user's choice, link or not
    (tmp_path / "named.jsonl").symlink_to(outside / "secret.jsonl")
    assert len(discover([tmp_path / "named.jsonl"]).files) == 1
