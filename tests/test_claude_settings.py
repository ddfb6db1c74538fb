"""gearshift's entries in Claude Code's settings.json: put in beside other tools' entries, found
again, never clobbering a foreign status line or base URL, taken out to the byte."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gearshift.claude_settings import (
    SettingsEdit,
    SetupRecord,
    apply_edit,
    backup_path,
    gearshift_args,
    hook_command,
    load_record,
    plan_remove,
    plan_setup,
    save_record,
    settings_path,
)
from gearshift.errors import ConfigError

FIXTURES = Path(__file__).parent / "data" / "claude_code" / "settings"
PROGRAM = ["/opt/gear shift/bin/gearshift"]
HOOK = "'/opt/gear shift/bin/gearshift' ingest claude-code --hook >/dev/null 2>&1 || true"
STATUS = "'/opt/gear shift/bin/gearshift' statusline"
PROXY = "http://127.0.0.1:8787"


def _copy(tmp_path: Path, name: str) -> Path:
    path = tmp_path / "settings.json"
    path.write_bytes((FIXTURES / name).read_bytes())
    return path


def _setup(path: Path, **kw: object) -> SettingsEdit:
    edit = plan_setup(path, PROGRAM, **kw)  # type: ignore[arg-type]
    apply_edit(edit, backup_path(path))
    return edit


def test_beside_other_tools_only_gearshift_entries_are_added(tmp_path: Path) -> None:
    path = _copy(tmp_path, "other_tools.json")
    edit = _setup(path, proxy=PROXY)
    assert path.read_text() == (FIXTURES / "other_tools.after.json").read_text()
    assert [(c.entry, c.action) for c in edit.changes] == [
        ("hooks.Stop", "added"),
        ("hooks.SubagentStop", "added"),
        ("statusLine", "added"),
        ("env.ANTHROPIC_BASE_URL", "added"),
    ]
    assert backup_path(path).read_bytes() == (FIXTURES / "other_tools.json").read_bytes()


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    path = _copy(tmp_path, "other_tools.json")
    _setup(path, proxy=PROXY)
    written = path.read_bytes()
    again = plan_setup(path, PROGRAM, proxy=PROXY)
    assert not again.changed and again.diff() == ""
    assert {c.action for c in again.changes} == {"unchanged"}
    assert path.read_bytes() == written


def test_remove_gives_back_the_original_bytes(tmp_path: Path) -> None:
    path = _copy(tmp_path, "other_tools.json")
    _setup(path, proxy=PROXY)
    edit = plan_remove(path, owned_proxy=PROXY)
    apply_edit(edit, backup_path(path))
    assert path.read_bytes() == (FIXTURES / "other_tools.json").read_bytes()
    assert [(c.entry, c.action) for c in edit.changes] == [
        ("hooks", "removed"),
        ("statusLine", "removed"),
        ("env.ANTHROPIC_BASE_URL", "removed"),
    ]
    assert not plan_remove(path, owned_proxy=PROXY).changed  # nothing of gearshift's is left


def test_remove_takes_only_gearshift_entries_out_of_a_changed_file(tmp_path: Path) -> None:
    path = _copy(tmp_path, "other_tools.json")
    _setup(path)
    settings = json.loads(path.read_text())
    settings["hooks"]["SubagentStop"][0]["hooks"].append({"type": "command", "command": "log"})
    settings["hooks"]["Stop"][1]["matcher"] = ""
    settings["includeCoAuthoredBy"] = False
    path.write_text(json.dumps(settings, indent=2) + "\n")
    apply_edit(plan_remove(path), None)
    left = json.loads(path.read_text())
    assert left["hooks"]["SubagentStop"] == [{"hooks": [{"type": "command", "command": "log"}]}]
    assert (
        left["hooks"]["Stop"]
        == json.loads((FIXTURES / "other_tools.json").read_text())["hooks"]["Stop"]
    )
    assert "statusLine" not in left and left["includeCoAuthoredBy"] is False


def test_gearshift_hooks_from_the_old_readme_are_renewed_not_doubled(tmp_path: Path) -> None:
    path = _copy(tmp_path, "gearshift_readme.json")
    edit = _setup(path)
    assert path.read_text() == (FIXTURES / "gearshift_readme.after.json").read_text()
    assert [c.action for c in edit.changes] == ["updated", "updated", "added"]


@pytest.mark.parametrize("content", [None, b"", b"  \n"])
def test_a_missing_or_empty_file(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "deep" / "settings.json"
    if content is not None:
        path.parent.mkdir()
        path.write_bytes(content)
    edit = _setup(path)
    assert json.loads(path.read_text()) == {
        "hooks": {
            "Stop": [{"hooks": [{"type": "command", "command": HOOK}]}],
            "SubagentStop": [{"hooks": [{"type": "command", "command": HOOK}]}],
        },
        "statusLine": {"type": "command", "command": STATUS},
    }
    assert path.read_text().startswith('{\n  "hooks": {\n    "Stop": [\n      {\n')
    assert edit.diff().startswith("--- /dev/null" if content is None else f"--- {path}")
    removal = plan_remove(path, created=content is None)
    apply_edit(removal, None)
    if content is None:
        assert not path.exists()  # gearshift made it, and it held nothing else
    else:
        assert path.read_text() == "{}\n"


def test_gearshift_status_line_elsewhere_is_renewed_and_a_custom_one_kept(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(
        '{"statusLine": {"type": "command", "command": "/old/venv/bin/gearshift statusline"}}'
    )
    edit = _setup(path)
    assert edit.changes[-1].action == "updated"
    assert json.loads(path.read_text())["statusLine"]["command"] == STATUS
    custom = "/old/bin/gearshift statusline --format '{model} {today}'"
    path.write_text(json.dumps({"statusLine": {"type": "command", "command": custom}}))
    edit = _setup(path)
    assert edit.changes[-1].action == "unchanged"
    assert json.loads(path.read_text())["statusLine"]["command"] == custom


def test_a_foreign_status_line_is_not_clobbered(tmp_path: Path) -> None:
    path = _copy(tmp_path, "foreign_statusline.json")
    with pytest.raises(ConfigError, match=r"settings.json:2: statusLine already runs") as info:
        plan_setup(path, PROGRAM)
    assert "--force" in (info.value.hint or "") and "--no-statusline" in (info.value.hint or "")
    kept = plan_setup(path, PROGRAM, statusline=False)
    assert [c.entry for c in kept.changes] == ["hooks.Stop", "hooks.SubagentStop"]
    forced = _setup(path, force=True)
    assert forced.changes[-1].action == "replaced"
    settings = json.loads(path.read_text())
    assert settings["statusLine"] == {"type": "command", "command": STATUS}
    assert settings["alwaysThinkingEnabled"] is True
    assert path.read_text().startswith('{\n    "statusLine": {\n        "type": "command",\n')
    assert backup_path(path).read_bytes() == (FIXTURES / "foreign_statusline.json").read_bytes()


def test_a_foreign_base_url_is_not_clobbered(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"env": {"ANTHROPIC_BASE_URL": "https://gateway.example.com"}}\n')
    with pytest.raises(ConfigError, match=r"already points at 'https://gateway\.example\.com'"):
        plan_setup(path, PROGRAM, proxy=PROXY)
    forced = plan_setup(path, PROGRAM, proxy=PROXY, force=True)
    assert forced.changes[-1].action == "replaced"
    # one gearshift set earlier is its own to change
    moved = plan_setup(path, PROGRAM, proxy=PROXY, owned_proxy="https://gateway.example.com")
    assert moved.changes[-1].action == "updated"
    # and --remove leaves a base URL gearshift did not set
    assert plan_remove(path).after == path.read_text()


def test_a_malformed_file_is_reported_with_its_line_and_never_written(tmp_path: Path) -> None:
    path = _copy(tmp_path, "malformed.json")
    before = path.read_bytes()
    for plan in (lambda: plan_setup(path, PROGRAM), lambda: plan_remove(path)):
        with pytest.raises(ConfigError, match=r"settings.json:5:5: not valid JSON"):
            plan()
    assert path.read_bytes() == before
    assert not backup_path(path).exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "must be a JSON object"),
        ('{"hooks": []}', r":1: hooks must be an object"),
        ('{\n"hooks": {"Stop": {}}}', r":2: hooks.Stop must be a list"),
        ('{"env": "x"}', "env must be an object"),
    ],
)
def test_settings_of_the_wrong_shape_are_refused(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "settings.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        plan_setup(path, PROGRAM, proxy=PROXY)


def test_a_compact_file_stays_compact(tmp_path: Path) -> None:
    path = _copy(tmp_path, "compact.json")
    _setup(path)
    text = path.read_text()
    assert "\n" not in text
    head = '{"model":"sonnet","hooks":{"Stop":[{"hooks":[{"type":"command","command":"notify"}]},'
    assert text.startswith(head + '{"hooks":[{"type":"command","command":')
    apply_edit(plan_remove(path), None)
    assert path.read_bytes() == (FIXTURES / "compact.json").read_bytes()


def test_crlf_and_a_byte_order_mark_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    original = '\ufeff{\r\n    "model": "opus"\r\n}\r\n'.encode()
    path.write_bytes(original)
    _setup(path)
    text = path.read_bytes().decode()
    assert text.startswith('\ufeff{\r\n    "model": "opus",\r\n    "hooks": {\r\n')
    assert "\n" not in text.replace("\r\n", "")
    apply_edit(plan_remove(path), None)
    assert path.read_bytes() == original


def test_a_symbolic_link_is_followed(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "claude-settings.json"
    real.write_text('{"model": "opus"}\n')
    os.chmod(real, 0o640)
    link = tmp_path / "settings.json"
    link.symlink_to(real)
    _setup(link)
    assert link.is_symlink() and "statusLine" in real.read_text()
    assert (real.stat().st_mode & 0o777) == 0o640
    assert backup_path(link) == dotfiles / "claude-settings.json.gearshift.bak"
    assert backup_path(link).read_text() == '{"model": "opus"}\n'


def test_a_file_changed_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    path = _copy(tmp_path, "other_tools.json")
    edit = plan_setup(path, PROGRAM)
    path.write_text('{"model": "haiku"}\n')
    with pytest.raises(ConfigError, match="changed while"):
        apply_edit(edit, backup_path(path))
    assert path.read_text() == '{"model": "haiku"}\n'


def test_user_and_project_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_path() == Path.home() / ".claude" / "settings.json"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "cc"))
    assert settings_path() == tmp_path / "cc" / "settings.json"
    assert settings_path(tmp_path / "repo") == tmp_path / "repo" / ".claude" / "settings.local.json"


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("gearshift ingest claude-code >/dev/null 2>&1", ["ingest", "claude-code", ">/dev/null",
                                                          "2>&1"]),
        (HOOK, ["ingest", "claude-code", "--hook", ">/dev/null", "2>&1", "||", "true"]),
        ("/usr/bin/python3 -m gearshift --ledger x.db --debug statusline", ["statusline"]),
        ("~/.local/bin/gearshift --prices=article statusline --format '{today}'",
         ["statusline", "--format", "{today}"]),
        ("ccusage statusline", None),
        ("bash ~/.claude/statusline.sh", None),
        ("echo 'unbalanced", None),
        ("", None),
        (42, None),
    ],
)  # fmt: skip
def test_gearshift_commands_are_recognised(command: object, args: list[str] | None) -> None:
    assert gearshift_args(command) == args


def test_hook_commands_quote_the_program() -> None:
    assert hook_command(PROGRAM) == HOOK
    assert hook_command(["/usr/bin/python3", "-m", "gearshift", "--ledger", "/l b.db"]) == (
        "/usr/bin/python3 -m gearshift --ledger '/l b.db' ingest claude-code --hook "
        ">/dev/null 2>&1 || true"
    )


def test_the_setup_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = tmp_path / "settings.json"
    assert load_record(path) == SetupRecord()
    save_record(path, SetupRecord(PROXY, True))
    assert load_record(path) == SetupRecord(PROXY, True)
    record_file = tmp_path / "state" / "gearshift" / "claude-code-setup.json"
    assert (record_file.stat().st_mode & 0o777) == 0o600
    save_record(path, None)
    assert load_record(path) == SetupRecord()
    record_file.write_text("{not json")
    assert load_record(path) == SetupRecord()
