"""`gearshift setup claude-code`: the user's or a project's settings, the diff, --dry-run,
--json, --remove, refusals; and the hooks and status line it writes work as Claude Code runs
them."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[1] / "data" / "claude_code"
PROGRAM = shlex.join([sys.executable, "-m", "gearshift"])
HOOK = f"{PROGRAM} ingest claude-code --hook >/dev/null 2>&1 || true"


def _gearshift(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gearshift", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TZ": "UTC", **(env or {})},
    )


@pytest.fixture
def claude_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "claude"
    folder.mkdir()
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(folder))
    return folder


def test_setup_report_and_idempotence(claude_dir: Path) -> None:
    settings = claude_dir / "settings.json"
    original = (FIXTURES / "settings" / "other_tools.json").read_bytes()
    settings.write_bytes(original)
    done = _gearshift("setup", "claude-code", "--proxy", "http://127.0.0.1:8787/", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["settings"] == str(settings) and report["scope"] == "user"
    assert (report["changed"], report["written"], report["dry_run"]) == (True, True, False)
    assert report["backup"] == str(claude_dir / "settings.json.gearshift.bak")
    assert [(c["entry"], c["action"]) for c in report["changes"]] == [
        ("hooks.Stop", "added"),
        ("hooks.SubagentStop", "added"),
        ("statusLine", "added"),
        ("env.ANTHROPIC_BASE_URL", "added"),
    ]
    assert report["diff"].startswith(f"--- {settings}\n+++ {settings}\n")
    written = json.loads(settings.read_text())
    assert written["hooks"]["Stop"][1] == {"hooks": [{"type": "command", "command": HOOK}]}
    assert written["statusLine"] == {"type": "command", "command": f"{PROGRAM} statusline"}
    assert written["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:8787"
    assert (claude_dir / "settings.json.gearshift.bak").read_bytes() == original

    again = _gearshift("setup", "claude-code", "--proxy", "http://127.0.0.1:8787")
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"nothing to change: {settings} already has gearshift's entries\n"

    removed = _gearshift("setup", "claude-code", "--remove")  # the base URL is known as ours
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.startswith(f"--- {settings}\n")
    assert settings.read_bytes() == original
    again = _gearshift("setup", "claude-code", "--remove")
    assert again.stdout == f"nothing to remove: {settings} holds none of gearshift's entries\n"


def test_dry_run_writes_nothing(claude_dir: Path) -> None:
    done = _gearshift("setup", "claude-code", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"--- /dev/null\n+++ {claude_dir / 'settings.json'}\n")
    assert done.stdout.endswith("dry run: nothing written\n")
    assert list(claude_dir.iterdir()) == []
    assert not (Path.home() / ".local" / "state" / "gearshift").exists()


def test_a_project_gets_its_local_settings(tmp_path: Path, claude_dir: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    done = _gearshift("setup", "claude-code", "--project", str(repo), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["scope"] == "project"
    local = repo / ".claude" / "settings.local.json"
    assert json.loads(local.read_text())["hooks"]["SubagentStop"][0]["hooks"][0]["command"] == HOOK
    assert list(claude_dir.iterdir()) == []  # the user's settings are untouched
    assert _gearshift("setup", "claude-code", "--project", str(repo), "--remove").returncode == 0
    assert not local.exists()  # gearshift made it and it held nothing else
    both = _gearshift("setup", "claude-code", "--user", "--project", str(repo))
    assert both.returncode == 2 and "two different files" in both.stderr


def test_refusals_are_one_line_with_a_hint(claude_dir: Path) -> None:
    settings = claude_dir / "settings.json"
    for fixture, message in (
        ("malformed.json", f"{settings}:5:5: not valid JSON: Expecting ',' delimiter"),
        ("foreign_statusline.json", f"{settings}:2: statusLine already runs"),
    ):
        original = (FIXTURES / "settings" / fixture).read_bytes()
        settings.write_bytes(original)
        done = _gearshift("setup", "claude-code")
        assert done.returncode == 2
        assert message in done.stderr and "hint: " in done.stderr
        assert "Traceback" not in done.stderr
        assert settings.read_bytes() == original
        assert not (claude_dir / "settings.json.gearshift.bak").exists()
    for bad in ("localhost:8787", "ftp://x", "http://user:secret@127.0.0.1:8787"):
        done = _gearshift("setup", "claude-code", "--proxy", bad)
        assert done.returncode == 2 and "--proxy" in done.stderr and "secret" not in done.stderr


def test_the_hooks_and_status_line_it_writes_work(tmp_path: Path, claude_dir: Path) -> None:
    """Run the commands from settings.json as Claude Code would (a shell, the hook payload on
    stdin), outside any virtual environment's PATH: the ingest fills the ledger given to setup,
    and the status line reads it."""
    ledger = tmp_path / "ledger.db"
    done = _gearshift("--ledger", str(ledger), "setup", "claude-code")
    assert done.returncode == 0, done.stderr
    settings = json.loads((claude_dir / "settings.json").read_text())
    hook = settings["hooks"]["Stop"][0]["hooks"][0]["command"]
    status = settings["statusLine"]["command"]
    assert f"--ledger {ledger}" in hook and f"--ledger {ledger}" in status
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ["HOME"], "TZ": "UTC",
           "CLAUDE_CONFIG_DIR": str(FIXTURES / "reference"),
           "XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"]}  # fmt: skip
    ran = subprocess.run(["bash", "-c", hook], input='{"hook_event_name": "Stop"}',
                         capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "", "")
    session = next((FIXTURES / "reference").rglob("*.jsonl")).stem
    line = subprocess.run(["bash", "-c", status], input=json.dumps({"session_id": session}),
                          capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert line.returncode == 0, line.stderr
    assert " session" in line.stdout and line.stdout.count("\n") == 1
    # a hook that fails (a config gearshift cannot read) still exits 0: a Stop hook exiting 2
    # would keep Claude Code going
    env["GEARSHIFT_PRICES"] = str(tmp_path / "missing.toml")
    failed = subprocess.run(["bash", "-c", hook], capture_output=True, text=True, timeout=120,
                            env=env)  # fmt: skip
    assert (failed.returncode, failed.stdout, failed.stderr) == (0, "", "")


def test_a_ledger_url_with_a_password_is_not_written(claude_dir: Path) -> None:
    url = "postgresql://gs:s3cret@db.example.com/ledger"
    done = _gearshift("--ledger", url, "setup", "claude-code")
    assert done.returncode == 0, done.stderr
    assert "s3cret" not in (claude_dir / "settings.json").read_text()
    assert "GEARSHIFT_LEDGER" in done.stderr and "s3cret" not in done.stderr + done.stdout
