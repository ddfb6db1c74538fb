"""The C walk (extension ``gearshift.ingest._walk``) lists what a plain os.scandir/os.stat walk
lists: on trees with links, skipped and oddly named entries, undecodable names, deep chains,
paths beyond PATH_MAX, many files and old mtimes -- from several threads at once, with a bounded
number of fds, and with the GIL released."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

_walk = pytest.importorskip(
    "gearshift.ingest._walk",
    reason="the C extension gearshift.ingest._walk is not built "
    "(pip install -e . needs a C compiler and the Python headers)",
)
walk = _walk.walk

SKIP = "tool-results"
Transcript = tuple[str, int, int, int, int]
Listing = tuple[list[Transcript], list[str]]


# ------------------------------------------------------------------------------------------------
# The reference: os.scandir + os.stat, fd-relative (as the C walk) so paths beyond PATH_MAX work


def reference(top: str, skip: str = SKIP) -> Listing:
    transcripts: list[Transcript] = []
    sidecars: list[str] = []
    try:
        fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return [], []
    _reference_dir(fd, top, skip, transcripts, sidecars)
    return sorted(transcripts), sorted(sidecars)


def _join(path: str, name: str) -> str:
    return path + name if path.endswith("/") else f"{path}/{name}"


def _reference_dir(
    fd: int, path: str, skip: str, transcripts: list[Transcript], sidecars: list[str]
) -> None:
    try:
        try:
            with os.scandir(fd) as it:
                entries = list(it)
        except OSError:
            return
        subdirs = []
        for entry in entries:
            name = entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if name != skip:
                    subdirs.append(name)
            elif name.endswith(".jsonl"):
                try:
                    st = os.stat(name, dir_fd=fd)
                except OSError:
                    continue
                full = _join(path, name)
                transcripts.append((full, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino))
            elif name.startswith("agent-") and name.endswith(".meta.json"):
                sidecars.append(_join(path, name))
        for name in subdirs:
            try:
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:
                continue
            _reference_dir(sub, _join(path, name), skip, transcripts, sidecars)
    finally:
        os.close(fd)


def sorted_walk(top: str, skip: str = SKIP) -> Listing:
    transcripts, sidecars = walk(top, skip)
    return sorted(transcripts), sorted(sidecars)


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


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Listing]:
    """20,000 transcripts and 2,000 sidecars in 400 directories (buffer growth, threads, GIL);
    mostly hard links (creating files is slow on some file systems, linking is not)."""
    base = tmp_path_factory.mktemp("big")
    top = base / "projects"
    source = base / "source.jsonl"
    source.write_bytes(b"{}\n")
    for k in range(20):
        for s in range(20):
            d = top / f"key-{k:02d}" / f"session-{s:02d}" / "subagents"
            d.mkdir(parents=True)
            (d / f"session-{s:02d}.jsonl").write_bytes(b"{}\n" * s)  # an inode of its own
            for f in range(49):
                os.link(source, d / f"agent-{f:03d}-{'x' * 40}.jsonl")
            for f in range(5):
                os.link(source, d / f"agent-{f:03d}.meta.json")
    return str(top), reference(str(top))


# ------------------------------------------------------------------------------------------------
# Tests


def test_matches_reference(mixed: Path) -> None:
    top = str(mixed)
    transcripts, sidecars = got = sorted_walk(top)
    assert got == reference(top)
    prefix = top + "/"
    assert all(p.startswith(prefix) for p in [t[0] for t in transcripts] + sidecars)
    assert {t[0][len(prefix) :] for t in transcripts} == EXPECTED_TRANSCRIPTS
    assert {p[len(prefix) :] for p in sidecars} == EXPECTED_SIDECARS
    by_path = {t[0]: t[1:] for t in transcripts}
    target = os.stat(mixed / "-home-u-app" / "sess1.jsonl")
    assert by_path[prefix + "k2/link.jsonl"] == (
        target.st_size,
        target.st_mtime_ns,
        target.st_dev,
        target.st_ino,
    )
    assert by_path[prefix + "-home-u-app/sess1/subagents/agent-x.jsonl"][0] == 100


def test_discovery_lists_the_same_with_either_walk(
    mixed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """discovery's own Python walk (used where the extension is not built, or with
    GEARSHIFT_PURE_PYTHON=1) and the C walk give the same transcripts and sidecars."""
    from gearshift.ingest import discovery

    assert discovery._native_listing is _walk.listing
    native = discovery.discover([mixed])
    monkeypatch.setenv("GEARSHIFT_PURE_PYTHON", "1")
    pure = discovery.discover([mixed])
    assert native.files == pure.files and native.files
    assert native.meta_paths == pure.meta_paths and native.meta_paths
    top = str(mixed)
    python_listing = discovery._walk(top)
    assert (sorted(python_listing[0]), sorted(python_listing[1])) == sorted_walk(top)


def _first_per_file(transcripts: list[Transcript]) -> list[Transcript]:
    """Sorted by path, each (device, inode) once: under its first path."""
    seen: set[tuple[int, int]] = set()
    out = []
    for t in sorted(transcripts):
        if (t[3], t[4]) not in seen:
            seen.add((t[3], t[4]))
            out.append(t)
    return out


def test_listing_is_the_walk_in_path_order_with_each_file_once(big: tuple[str, Listing]) -> None:
    top, (transcripts, sidecars) = big
    entries, pairs, ordered = _walk.listing(top, SKIP, len(top) + 1, True)
    assert ordered
    want = _first_per_file(transcripts)
    assert len(want) == 401  # 400 sessions, and the one file 19,600 hard links name
    assert entries == [(*t, len(top) + 1) for t in want]
    assert [p for _, p in pairs] == sorted(sidecars)
    assert all(p.endswith(f"/agent-{i}.meta.json") for i, p in pairs)
    assert [(t, p) for t, p, _ in [_walk.listing(top + "/missing", SKIP, 0, True)]] == [([], [])]


def test_listing_leaves_trees_it_cannot_order_by_bytes_to_the_caller(mixed: Path) -> None:
    """Undecodable names (surrogateescape sorts them apart from their bytes), or a filesystem
    encoding other than UTF-8: everything as walked, for the caller to sort."""
    top = str(mixed)
    entries, pairs, ordered = _walk.listing(top, SKIP, 0, True)
    assert not ordered
    assert sorted(t[:5] for t in entries) == reference(top)[0]
    assert {t[5] for t in entries} == {0}
    assert sorted(p for _, p in pairs) == reference(top)[1]
    assert ("\udcfe\udcfd", top + "/k2/agent-\udcfe\udcfd.meta.json") in pairs
    assert ("", top + "/k2/agent-.meta.json") in pairs
    clean = str(mixed / "-home-u-app")
    assert _walk.listing(clean, SKIP, 0, True)[2]
    entries, _, ordered = _walk.listing(clean, SKIP, 0, False)
    assert not ordered and sorted(t[:5] for t in entries) == reference(clean)[0]


def test_discovery_lists_the_same_with_either_walk_where_the_c_walk_orders(
    big: tuple[str, Listing], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gearshift.ingest import discovery

    native = discovery.discover([big[0]])
    monkeypatch.setenv("GEARSHIFT_PURE_PYTHON", "1")
    pure = discovery.discover([big[0]])
    assert native.listing == pure.listing and len(native.listing) == 401
    assert native.meta_paths == pure.meta_paths and len(native.meta_paths) == 5
    both = discovery.discover([big[0], big[0] + "/key-00"])  # two roots, one tree twice
    monkeypatch.delenv("GEARSHIFT_PURE_PYTHON")
    assert discovery.discover([big[0], big[0] + "/key-00"]).listing == both.listing
    assert both.listing == pure.listing


def test_skip_name_is_a_parameter(mixed: Path) -> None:
    top = str(mixed)
    transcripts, sidecars = sorted_walk(top, "subagents")
    assert (transcripts, sidecars) == reference(top, "subagents")
    names = {os.path.basename(t[0]) for t in transcripts}
    assert {"t.jsonl", "u.jsonl"} <= names  # tool-results entered now
    assert "agent-x.jsonl" not in names
    assert sorted_walk(top, "") == reference(top, "")  # no directory has an empty name


def test_undecodable_names_round_trip(mixed: Path) -> None:
    transcripts, sidecars = walk(str(mixed), SKIP)
    raw = {os.fsencode(p) for p in [t[0] for t in transcripts] + sidecars}
    base = os.fsencode(mixed / "k2")
    assert base + b"/\xff.jsonl" in raw
    assert base + b"/agent-\xfe\xfd.meta.json" in raw
    assert base + b"/\xfe-dir/in.jsonl" in raw
    assert base + "/café.jsonl".encode() in raw
    assert all(os.path.lexists(p) for p in raw)


def test_trailing_slash_and_odd_tops(
    mixed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = str(mixed)
    got = sorted_walk(top + "/")
    assert got == reference(top + "/")
    assert got[0] and all(t[0].startswith(top + "/") and "//" not in t[0] for t in got[0])
    assert [t[1:] for t in got[0]] == [t[1:] for t in sorted_walk(top)[0]]
    assert sorted_walk(top + "//")[0][0][0].startswith(top + "//")  # as os.path.join would
    (tmp_path / "top-link").symlink_to(mixed)  # the top itself is followed, as os.scandir does
    assert sorted_walk(str(tmp_path / "top-link")) == reference(str(tmp_path / "top-link"))
    monkeypatch.chdir(tmp_path)  # a relative top
    assert sorted_walk("projects") == reference("projects")
    assert sorted_walk("projects")[0][0][0].startswith("projects/")


def test_missing_or_unopenable_top(tmp_path: Path) -> None:
    assert walk(str(tmp_path / "nope"), SKIP) == ([], [])
    assert walk("", SKIP) == ([], [])
    touch(tmp_path / "file.jsonl")
    assert walk(str(tmp_path / "file.jsonl"), SKIP) == ([], [])  # ENOTDIR
    (tmp_path / "dangling").symlink_to("nope")
    assert walk(str(tmp_path / "dangling"), SKIP) == ([], [])
    assert walk(str(tmp_path / "nope" / "deeper"), SKIP) == ([], [])


_AS_NOBODY = r"""
import json, os, sys
from gearshift.ingest._walk import walk
if os.geteuid() == 0:  # root reads any directory: walk as nobody
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
json.dump([sorted(x) for x in walk(sys.argv[1], "tool-results")], sys.stdout)
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
            [sys.executable, "-c", _AS_NOBODY, base],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        transcripts, sidecars = json.loads(out)
        assert [t[0] for t in transcripts] == [f"{base}/a/ok.jsonl"]
        assert sidecars == [
            f"{base}/a/agent-ok.meta.json",
            f"{base}/unsearchable/agent-listed.meta.json",
        ]
        (top / "a").chmod(0)
        out = subprocess.run(
            [sys.executable, "-c", _AS_NOBODY, f"{base}/a"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert json.loads(out) == [[], []]
    finally:
        for d in ("a", "locked", "unsearchable"):
            (Path(base) / d).chmod(0o755)
        shutil.rmtree(base)


def test_argument_errors() -> None:
    with pytest.raises(TypeError):
        walk(b"/tmp", SKIP)
    with pytest.raises(TypeError):
        walk("/tmp")
    with pytest.raises(ValueError):
        walk("/tmp\0x", SKIP)
    with pytest.raises(ValueError):
        walk("/tmp", "a\0b")


MTIMES_NS = [
    0,
    1,
    999_999_999,
    -1,  # 1969-12-31T23:59:59.999999999
    -1_500_000_000_123_456_789,  # 1922
    -2_000_000_000_000_000_001,  # 1906
    1_700_000_000_123_456_789,
    9_223_372_035_999_999_999,  # the last second on the fast (long long) path
    9_223_372_036_999_999_999,  # past it: computed with Python ints (2262)
    10**19 + 7,  # 2286
]


def test_mtimes_exact(tmp_path: Path) -> None:
    for i, ns in enumerate(MTIMES_NS):
        path = tmp_path / f"{i}.jsonl"
        touch(path)
        os.utime(path, ns=(ns, ns))
    got = {t[0]: t[2] for t in walk(str(tmp_path), SKIP)[0]}
    assert len(got) == len(MTIMES_NS)
    for i, ns in enumerate(MTIMES_NS):
        name = str(tmp_path / f"{i}.jsonl")
        assert got[name] == os.stat(name).st_mtime_ns
        if abs(ns) < 2**62:  # within what every Linux file system here keeps
            assert got[name] == ns


def test_deep_chain(tmp_path: Path) -> None:
    chain = tmp_path.joinpath(*["c"] * 200)
    chain.mkdir(parents=True)
    touch(chain / "bottom.jsonl")
    touch(chain / "agent-bottom.meta.json")
    touch(tmp_path.joinpath(*["c"] * 100, "middle.jsonl"))
    touch(tmp_path.joinpath(*["c"] * 100, SKIP, "no.jsonl"))
    transcripts, sidecars = got = sorted_walk(str(tmp_path))
    assert got == reference(str(tmp_path))
    assert {os.path.basename(t[0]) for t in transcripts} == {"bottom.jsonl", "middle.jsonl"}
    assert sidecars == [str(chain / "agent-bottom.meta.json")]


def _mkdir_chain(top: str, names: list[str]) -> int:
    """mkdir top/names[0]/names[1]/... by dir fds (the full path may exceed PATH_MAX); returns
    an fd of the last one."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for name in names:
        os.mkdir(name, dir_fd=fd)
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = sub
    return fd


def _write_at(fd: int, name: str, data: bytes = b"{}\n") -> None:
    out = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    try:
        os.write(out, data)
    finally:
        os.close(out)


def test_paths_longer_than_path_max(tmp_path: Path) -> None:
    names = [f"{i:02d}" + "d" * 240 for i in range(30)]  # ~7,300 bytes below tmp_path
    fd = _mkdir_chain(str(tmp_path), names)
    try:
        _write_at(fd, "deep.jsonl", b"x" * 7)
        _write_at(fd, "agent-deep.meta.json")
        os.mkdir(SKIP, dir_fd=fd)
        os.symlink("deep.jsonl", "link.jsonl", dir_fd=fd)
    finally:
        os.close(fd)
    fd = _mkdir_chain(str(tmp_path), ["short"])
    os.close(fd)
    touch(tmp_path / names[0] / "shallow.jsonl")
    transcripts, sidecars = got = sorted_walk(str(tmp_path))
    assert got == reference(str(tmp_path))
    deep = "/".join([str(tmp_path), *names, "deep.jsonl"])
    assert len(os.fsencode(deep)) > 4096
    by_path = {t[0]: t for t in transcripts}
    assert set(by_path) == {deep, deep[: -len("deep.jsonl")] + "link.jsonl"} | {
        str(tmp_path / names[0] / "shallow.jsonl")
    }
    assert by_path[deep][1] == 7
    assert sidecars == [deep[: -len("deep.jsonl")] + "agent-deep.meta.json"]


_BOUNDED_FDS = r"""
import json, os, resource, sys
from gearshift.ingest._walk import walk
top, headroom = sys.argv[1], int(sys.argv[2])
limit = max(int(fd) for fd in os.listdir("/proc/self/fd")) + 1 + headroom
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
transcripts, sidecars = walk(top, "tool-results")
json.dump([sorted(transcripts), sorted(sidecars)], sys.stdout)
"""


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_open_fds_are_bounded(tmp_path: Path) -> None:
    """A comb 300 deep -- each level a chain link and two more subdirectories, so every level
    still has siblings to enter while its chain child is walked -- with the walk given 48 free
    fds: holding one per level would run out (EMFILE, and subtrees silently missed)."""
    level = tmp_path / "comb"
    for i in range(300):
        for side in ("a", "z"):
            touch(level / side / f"{i}.jsonl")
        touch(level / f"agent-{i}.meta.json")
        level /= "n"
    level.mkdir()
    touch(level / "end.jsonl")
    top = str(tmp_path / "comb")
    expected = reference(top)
    assert len(expected[0]) == 601
    out = subprocess.run(
        [sys.executable, "-c", _BOUNDED_FDS, top, "48"],
        capture_output=True,
        text=True,
        check=True,
        errors="surrogateescape",
    ).stdout
    transcripts, sidecars = json.loads(out)
    assert [tuple(t) for t in transcripts] == expected[0]
    assert sidecars == expected[1]
    assert sorted_walk(top) == expected


def test_many_files(big: tuple[str, Listing]) -> None:
    top, expected = big
    transcripts, sidecars = got = sorted_walk(top)
    assert len(transcripts) == 20_000
    assert len(sidecars) == 2_000
    assert got == expected


def test_threads_at_once(big: tuple[str, Listing], mixed: Path) -> None:
    top, expected = big
    barrier = threading.Barrier(4)

    def run(i: int) -> Listing:
        barrier.wait()
        return sorted_walk(top) if i % 2 else sorted_walk(str(mixed))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, range(8)))
    small = reference(str(mixed))
    for i, got in enumerate(results):
        assert got == (expected if i % 2 else small)


def test_gil_released(big: tuple[str, Listing]) -> None:
    """With forced GIL switches off (a huge switch interval), the main thread's counter can move
    while another thread is inside walk() only if walk() released the GIL: without that, the
    count before and after each call is the same, on every attempt, however the threads are
    scheduled. (With it, one attempt of 20 in which the main thread got to run suffices.)"""
    top, _ = big
    state = {"counter": 0}
    advanced: list[int] = []
    done = threading.Event()

    def worker() -> None:
        try:
            for _ in range(20):
                before = state["counter"]
                walk(top, SKIP)
                advanced.append(state["counter"] - before)
                if advanced[-1] > 0:
                    break
        finally:
            done.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        thread = threading.Thread(target=worker)
        thread.start()
        while not done.is_set():
            state["counter"] += 1
            time.sleep(0.0001)  # lets the worker take the GIL back when walk() returns
        thread.join()
    finally:
        sys.setswitchinterval(old)
    assert advanced
    assert max(advanced) > 0, advanced


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_no_leaks(mixed: Path, tmp_path: Path) -> None:
    """Neither memory (tracemalloc sees the PyMem_Raw buffers) nor fds, also on failed opens."""
    top = str(mixed)
    walk(top, SKIP)
    fds = _open_fds() if os.path.isdir("/proc/self/fd") else 0
    tracemalloc.start()
    try:
        walk(top, SKIP)
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            walk(top, SKIP)
            walk(str(tmp_path / "nope"), SKIP)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 20_000
    if fds:
        assert _open_fds() == fds


def test_allocation_failures(mixed: Path) -> None:
    """Each allocation in turn made to fail: a MemoryError (no crash, no fd left open) or the
    right result; and the walk works afterwards."""
    testcapi = pytest.importorskip("_testcapi")
    top = str(mixed)
    expected = reference(top)
    fds = _open_fds() if os.path.isdir("/proc/self/fd") else 0
    outcomes = []
    for k in range(400):
        testcapi.set_nomemory(k, k + 1)
        try:
            result = walk(top, SKIP)
        except MemoryError:
            result = None
        finally:
            testcapi.remove_mem_hooks()
        outcomes.append(result is not None)
        if result is not None:
            assert (sorted(result[0]), sorted(result[1])) == expected
    assert not all(outcomes)
    assert outcomes[-1]  # past the walk's allocations
    assert sorted_walk(top) == expected
    if fds:
        assert _open_fds() == fds
