"""`gearshift proxy` refuses unsafe or broken set-ups before it serves, with a message and hint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

GS = [sys.executable, "-m", "gearshift.cli.main"]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "GEARSHIFT_PROXY_TOKEN"} | env
    return subprocess.run([*GS, *args], capture_output=True, text=True, env=full, timeout=120)


def test_beyond_loopback_without_a_token_it_does_not_start(tmp_path: Path) -> None:
    out = run("--ledger", str(tmp_path / "l.db"), "proxy", "--host", "0.0.0.0", "--port", "0")
    assert out.returncode == 2
    assert "access token is required" in out.stderr and "--auth-token" in out.stderr


def test_a_broken_policy_names_its_line(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("agents:\n  Explore: claude-nope\n")
    out = run("--ledger", str(tmp_path / "l.db"), "proxy", "--port", "0", "--policy", str(policy))
    assert out.returncode == 2
    assert f"{policy}:2: agents.Explore: unknown model 'claude-nope'" in out.stderr


def test_a_missing_upstream_key_variable_is_named(tmp_path: Path) -> None:
    out = run("--ledger", str(tmp_path / "l.db"), "proxy", "--port", "0",
              "--upstream-key-env", "GS_NO_SUCH_KEY")  # fmt: skip
    assert out.returncode == 2 and "$GS_NO_SUCH_KEY is empty or not set" in out.stderr
