"""`gearshift serve` as a user runs it: refused where it would be unsafe, then a real server
on loopback that answers, stays read-only, and stops on Ctrl-C with a live stream open."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gearshift.ledger import Ledger

GS = [sys.executable, "-m", "gearshift.cli.main"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GS, *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=60
    )


def test_beyond_loopback_without_a_token_is_refused(tmp_path: Path) -> None:
    Ledger.open(tmp_path / "l.db").close()
    out = run("--ledger", str(tmp_path / "l.db"), "serve", "--host", "0.0.0.0")
    assert out.returncode == 2
    assert "needs --auth-token" in out.stderr and "hint:" in out.stderr
    out = run("--ledger", str(tmp_path / "l.db"), "serve", "--host", "0.0.0.0",
              env={"GEARSHIFT_AUTH_TOKEN": "short"})  # fmt: skip
    assert out.returncode == 2 and "shorter than 16" in out.stderr


def test_a_missing_ledger_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    out = run("--ledger", str(missing), "serve")
    assert out.returncode == 1 and "no ledger" in out.stderr
    assert not missing.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_answers_read_only_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    with Ledger.open(path) as ledger:
        ledger.record(agent="test-engineer", model="claude-haiku-4-5", input_tokens=100)
    port = _free_port()
    proc = subprocess.Popen(
        [*GS, "--ledger", str(path), "serve", "--port", str(port), "--tz", "UTC"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if _get(base + "/api/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the server did not start")
        status, body = _get(base + "/api/spend?by=agent")
        assert status == 200 and b"test-engineer" in body
        assert _get(base + "/", "POST")[0] == 405
        stream = urllib.request.urlopen(base + "/api/live", timeout=10)  # left open
        assert stream.readline() == b"retry: 3000\n"
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=15)
        assert time.monotonic() - started < 10
        stream.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert f"http://127.0.0.1:{port}/" in stderr and "read-only" in stderr
    assert "Traceback" not in stderr
    with Ledger.open(path) as ledger:
        assert ledger.count() == 1
