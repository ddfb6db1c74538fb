"""No command prints a ledger password or an API key: every ``--help`` and the main commands
run with a marker password in the ledger URL and marker keys in the environment, and their
output is searched for the markers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from gearshift.cli.main import app
from gearshift.redact import mask_password
from gearshift.testing.fake_anthropic import FakeAnthropic

GS = [sys.executable, "-m", "gearshift.cli.main"]
PASSWORD = "pw-MARKER-7c1f"
API_KEY = "sk-ant-MARKER-41d9"
ADMIN_KEY = "sk-ant-admin-MARKER-93ab"
MARKERS = ("MARKER",)


def with_password(url: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user.split(':')[0]}:{PASSWORD}@{host}"


def command_paths(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from command_paths(sub, (*prefix, name))


def leaks(text: str) -> list[str]:
    return [m for m in (PASSWORD, API_KEY, ADMIN_KEY, *MARKERS) if m in text]


def test_mask_password() -> None:
    assert (
        mask_password("postgresql://u:p%40ss@h:5432/db?x=1") == "postgresql://u:***@h:5432/db?x=1"
    )
    assert mask_password("postgresql://u@h/db") == "postgresql://u@h/db"
    # a password in the query, an unencoded "@" or "/" in the password: masked too
    assert mask_password("postgresql://u@h/db?password=s3cret&x=1") == (
        "postgresql://u@h/db?password=***&x=1"
    )
    assert mask_password("postgresql://u:p@ss@h/db?sslpassword=k") == (
        "postgresql://u:***@h/db?sslpassword=***"
    )
    assert mask_password("postgresql://u:a/b@h/db") == "postgresql://u:***@h/db"
    assert mask_password("sqlite:///a/b:c@d/ledger.db") == "sqlite:///a/b:c@d/ledger.db"
    assert mask_password("/a/b:c@d/ledger.db") == "/a/b:c@d/ledger.db"


@pytest.mark.postgres
def test_no_command_prints_the_password_or_a_key(pg_url: str, tmp_path: Path) -> None:
    url = with_password(pg_url)
    env = {**os.environ, "ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_ADMIN_KEY": ADMIN_KEY,
           "COLUMNS": "200"}  # fmt: skip

    def run(*args: str, from_env: bool = False) -> subprocess.CompletedProcess[str]:
        argv = [*GS, *args] if from_env else [*GS, "--ledger", url, *args]
        extra = {"GEARSHIFT_LEDGER": url} if from_env else {}
        out = subprocess.run(argv, capture_output=True, text=True, env={**env, **extra},
                             timeout=120, cwd=tmp_path)  # fmt: skip
        assert not leaks(out.stdout + out.stderr), (args, out.stdout, out.stderr)
        return out

    for path in command_paths(typer.main.get_command(app)):
        assert run(*path, "--help").returncode == 0, path
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("tasks:\n  - {id: one, task: 'Rename variable v in module m'}\n")
    record = ["record", "--agent", "a", "--model", "haiku", "--input-tokens", "10",
              "--output-tokens", "5", "--task", "t"]  # fmt: skip
    assert run(*record).returncode == 0
    assert run(*record, "--json").returncode == 0
    for args in (["spend"], ["spend", "--json"], ["report"], ["report", "--json"],
                 ["route", "Rename a variable"], ["route", "Rename a variable", "--json"],
                 ["run", str(pipeline), "--dry-run"], ["budget", "list"],
                 ["ledger", "path"], ["ledger", "path", "--json"], ["ledger", "stats"],
                 ["statusline"], ["statusline", "--json"]):  # fmt: skip
        assert run(*args).returncode == 0, args
        assert run(*args, from_env=True).returncode == 0, args
    with FakeAnthropic(admin_key="sk-ant-admin-the-right-one") as server:
        out = run("reconcile", "anthropic", "--base-url", server.base_url, "--no-save")
        assert out.returncode != 0
    for from_env in (False, True):
        out = run("run", str(pipeline), "--provider", "sim", "--time-scale", "0", "--json",
                  from_env=from_env)  # fmt: skip
        assert out.returncode == 0, out.stderr
        resume = json.loads(out.stdout)["resume"]
        assert ("--ledger" in resume) is not from_env
        if not from_env:
            assert mask_password(url) in resume
