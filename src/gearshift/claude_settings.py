"""gearshift's entries in Claude Code's settings.json, put in and taken out, touching nothing else.

Three things wire Claude Code to gearshift:

* the ingest hooks -- ``Stop`` (each turn) and ``SubagentStop`` (each subagent) run
  ``gearshift ingest claude-code --hook`` quietly, so the ledger follows the session (``--hook``:
  a ledger another writer holds is not waited for beyond 1.5 s; the next run catches up);
* the status line -- ``statusLine`` runs ``gearshift statusline``;
* with a proxy, the environment -- ``env.ANTHROPIC_BASE_URL`` points Claude Code at a running
  ``gearshift proxy``.

:func:`plan_setup` and :func:`plan_remove` work out the new text of a settings file and what
changed, as a :class:`SettingsEdit` (with its unified diff); :func:`apply_edit` writes it. The
edits keep every byte they do not change (:mod:`gearshift.jsontext`): other hooks, env entries,
permissions, key order and indentation stay as they were, and removing gearshift's entries gives
back the file they were added to. A status line or base URL gearshift did not set is never
replaced without ``force``. A file that is not valid JSON is reported with its line and column and
never written.

The hook commands end with ``|| true``: a ``Stop`` hook that exits with status 2 makes Claude Code
carry on instead of stopping, and gearshift's configuration errors exit with 2.
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gearshift.errors import ConfigError
from gearshift.jsontext import JsonText, Span

__all__ = [
    "HOOK_EVENTS",
    "Change",
    "SettingsEdit",
    "SetupRecord",
    "apply_edit",
    "backup_path",
    "gearshift_args",
    "hook_command",
    "load_record",
    "plan_remove",
    "plan_setup",
    "save_record",
    "settings_path",
    "statusline_command",
]

#: The hook events that run the ingest.
HOOK_EVENTS = ("Stop", "SubagentStop")
BASE_URL = "ANTHROPIC_BASE_URL"
_QUIET = " >/dev/null 2>&1 || true"


def settings_path(project: str | os.PathLike[str] | None = None) -> Path:
    """The settings file to edit: for a project, ``DIR/.claude/settings.local.json`` (Claude
    Code's per-person project settings, which it keeps out of git: the entries name this
    machine's gearshift); else the user's, ``$CLAUDE_CONFIG_DIR/settings.json`` or
    ``~/.claude/settings.json``."""
    if project is not None:
        return Path(project).expanduser().absolute() / ".claude" / "settings.local.json"
    base = os.environ.get("CLAUDE_CONFIG_DIR")
    root = Path(base).expanduser() if base else Path.home() / ".claude"
    return root.absolute() / "settings.json"


@dataclass(frozen=True, slots=True)
class Change:
    """What happened to one entry: ``added``, ``updated``, ``replaced`` (a foreign one, with
    ``force``), ``removed``, ``unchanged`` or ``absent`` (nothing to remove)."""

    entry: str
    action: str
    value: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"entry": self.entry, "action": self.action, "value": self.value}


@dataclass(slots=True)
class SettingsEdit:
    """The edit of one settings file: its text before (``None``: no file) and after (``None``:
    delete the file), and the entries it changes."""

    path: Path
    before: str | None
    after: str | None
    changes: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        """A unified diff of the edit (``/dev/null`` for a file created or deleted)."""
        return "".join(
            difflib.unified_diff(
                (self.before or "").splitlines(keepends=True),
                (self.after or "").splitlines(keepends=True),
                fromfile=str(self.path) if self.before is not None else "/dev/null",
                tofile=str(self.path) if self.after is not None else "/dev/null",
            )
        )


def gearshift_args(command: object) -> list[str] | None:
    """The arguments of a gearshift command line after its global options (``gearshift``
    anywhere on disk, or ``python -m gearshift``), or ``None`` if ``command`` runs something
    else."""
    if not isinstance(command, str):
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if not words:
        return None
    program = os.path.basename(words[0])
    if program in ("gearshift", "gearshift.exe"):
        rest = words[1:]
    elif program.startswith("python") and words[1:3] == ["-m", "gearshift"]:
        rest = words[3:]
    else:
        return None
    while rest and rest[0].startswith("-"):
        rest = rest[2:] if rest[0] in ("--ledger", "--prices") else rest[1:]
    return rest


def _is_ingest(command: object) -> bool:
    args = gearshift_args(command)
    return args is not None and args[:2] == ["ingest", "claude-code"]


def _is_statusline(value: object) -> bool:
    args = gearshift_args(value.get("command")) if isinstance(value, dict) else None
    return args is not None and args[:1] == ["statusline"]


def hook_command(program: Sequence[str]) -> str:
    """The ingest hook's command for ``program`` (the gearshift command and its global
    options)."""
    return shlex.join([*program, "ingest", "claude-code", "--hook"]) + _QUIET


def statusline_command(program: Sequence[str]) -> str:
    return shlex.join([*program, "statusline"])


def plan_setup(
    path: Path,
    program: Sequence[str],
    *,
    proxy: str | None = None,
    statusline: bool = True,
    force: bool = False,
    owned_proxy: str | None = None,
) -> SettingsEdit:
    """The edit that puts gearshift's entries into ``path``.

    ``program`` is how to run gearshift (e.g. ``["/opt/venv/bin/gearshift"]``); ``proxy`` the
    base URL of a running proxy; ``statusline=False`` leaves the status line alone. A status line
    that is not gearshift's, or a base URL other than ``proxy`` and ``owned_proxy`` (the one an
    earlier setup wrote), is replaced only with ``force``; otherwise :class:`ConfigError`.
    """
    before = _read(path)
    bom, doc = _parse(path, before)
    edit = SettingsEdit(path, before, None)
    command = hook_command(program)
    for event in HOOK_EVENTS:
        edit.changes.append(_put_hook(doc, path, event, command))
    if statusline:
        edit.changes.append(_put_statusline(doc, path, statusline_command(program), force))
    if proxy is not None:
        edit.changes.append(_put_proxy(doc, path, proxy, owned_proxy, force))
    edit.after = bom + doc.text if _touched(edit) else before
    return edit


def _touched(edit: SettingsEdit) -> bool:
    return any(c.action not in ("unchanged", "absent") for c in edit.changes)


def plan_remove(
    path: Path, *, proxy: str | None = None, owned_proxy: str | None = None, created: bool = False
) -> SettingsEdit:
    """The edit that takes gearshift's entries out of ``path``: its ingest hooks (and what
    holds only them), its status line, and ``env.ANTHROPIC_BASE_URL`` when it is ``proxy`` or
    ``owned_proxy``. With ``created`` (gearshift made the file), a file left empty is deleted."""
    before = _read(path)
    edit = SettingsEdit(path, before, before)
    if before is None:
        edit.changes = [Change(e, "absent") for e in ("hooks", "statusLine")]
        return edit
    bom, doc = _parse(path, before)
    removed = sum(_drop_hooks(doc, event) for event in HOOK_EVENTS)
    edit.changes.append(Change("hooks", "removed" if removed else "absent"))
    statusline = doc.find("statusLine")
    if statusline is not None and _is_statusline(statusline.value):
        _drop_member(doc, (), "statusLine")
        edit.changes.append(Change("statusLine", "removed"))
    else:
        edit.changes.append(Change("statusLine", "absent"))
    url = doc.find("env", BASE_URL)
    if url is not None and url.value in {proxy, owned_proxy} - {None}:
        _drop_member(doc, ("env",), BASE_URL)
        _drop_if_empty(doc, (), "env")
        edit.changes.append(Change(f"env.{BASE_URL}", "removed", url.value))
    if _touched(edit):
        edit.after = None if created and doc.root().value == {} else bom + doc.text
    return edit


# -- putting entries in ---------------------------------------------------------------------


def _put_hook(doc: JsonText, path: Path, event: str, command: str) -> Change:
    entry = f"hooks.{event}"
    group = {"hooks": [{"type": "command", "command": command}]}
    hooks = doc.find("hooks")
    if hooks is None:
        doc.add(doc.root(), {event: [group]}, key="hooks")
        return Change(entry, "added", command)
    _expect(doc, path, hooks, dict, "hooks", "an object of hook events")
    groups = doc.find("hooks", event)
    if groups is None:
        doc.add(hooks, [group], key=event)
        return Change(entry, "added", command)
    _expect(doc, path, groups, list, entry, "a list of matcher groups")
    ours = [
        (g, h)
        for g, item in enumerate(groups.value)
        if isinstance(item, dict) and isinstance(item.get("hooks"), list)
        for h, hook in enumerate(item["hooks"])
        if isinstance(hook, dict) and _is_ingest(hook.get("command"))
    ]
    if any(groups.value[g]["hooks"][h]["command"] == command for g, h in ours):
        return Change(entry, "unchanged", command)
    if ours:  # an older form of gearshift's hook (a bare `gearshift`, another path): renew it
        g, h = ours[0]
        found = doc.find("hooks", event, g, "hooks", h, "command")
        assert found is not None
        doc.replace(found, command)
        return Change(entry, "updated", command)
    doc.add(groups, group)
    return Change(entry, "added", command)


def _put_statusline(doc: JsonText, path: Path, command: str, force: bool) -> Change:
    wanted = {"type": "command", "command": command}
    current = doc.find("statusLine")
    if current is None:
        doc.add(doc.root(), wanted, key="statusLine")
        return Change("statusLine", "added", command)
    if _is_statusline(current.value):
        found = _command_of(current.value)
        if found == command or gearshift_args(found) != ["statusline"]:
            return Change("statusLine", "unchanged", found)  # as it is, or as you made it
        at = doc.find("statusLine", "command")  # another gearshift, plain: this one
        assert at is not None
        doc.replace(at, command)
        return Change("statusLine", "updated", command)
    if not force:
        shown = _command_of(current.value) or json.dumps(current.value)
        raise ConfigError(
            f"{path}:{doc.line_of(current)}: statusLine already runs {shown!r}",
            hint="--force replaces it (the file is backed up first), --no-statusline leaves it; "
            "or show gearshift's figures in your own line: gearshift statusline --format ...",
        )
    doc.replace(current, wanted)
    return Change("statusLine", "replaced", command)


def _put_proxy(doc: JsonText, path: Path, url: str, owned: str | None, force: bool) -> Change:
    entry = f"env.{BASE_URL}"
    env = doc.find("env")
    if env is None:
        doc.add(doc.root(), {BASE_URL: url}, key="env")
        return Change(entry, "added", url)
    _expect(doc, path, env, dict, "env", "an object of environment variables")
    current = doc.find("env", BASE_URL)
    if current is None:
        doc.add(env, url, key=BASE_URL)
        return Change(entry, "added", url)
    if current.value == url:
        return Change(entry, "unchanged", url)
    if current.value != owned and not force:
        raise ConfigError(
            f"{path}:{doc.line_of(current)}: {entry} already points at {current.value!r}",
            hint="--force replaces it (the file is backed up first)",
        )
    doc.replace(current, url)
    return Change(entry, "updated" if current.value == owned else "replaced", url)


def _command_of(value: object) -> str | None:
    command = value.get("command") if isinstance(value, dict) else None
    return command if isinstance(command, str) else None


def _expect(doc: JsonText, path: Path, span: Span, kind: type, name: str, what: str) -> None:
    if not isinstance(span.value, kind):
        raise ConfigError(
            f"{path}:{doc.line_of(span)}: {name} must be {what}",
            hint="fix the file by hand (Claude Code reads it the same way); nothing was changed",
        )


# -- taking them out ------------------------------------------------------------------------


def _drop_hooks(doc: JsonText, event: str) -> int:
    """Take gearshift's ingest hooks out of ``hooks.<event>``, with the groups, the event and
    the ``hooks`` object they leave empty; return how many went."""
    groups = doc.find("hooks", event)
    if groups is None or not isinstance(groups.value, list):
        return 0
    removed = 0
    # From the last group and hook back, so the positions of those still to visit hold.
    for g in reversed(range(len(groups.value))):
        group = groups.value[g]
        if not (isinstance(group, dict) and isinstance(group.get("hooks"), list)):
            continue
        hooks = group["hooks"]
        mine = [
            h
            for h, hook in enumerate(hooks)
            if isinstance(hook, dict) and _is_ingest(hook.get("command"))
        ]
        removed += len(mine)
        if mine and len(mine) == len(hooks):  # a group with no hook left does nothing
            container = doc.find("hooks", event)
            assert container is not None
            doc.remove(container, g)
            continue
        for h in reversed(mine):
            inner = doc.find("hooks", event, g, "hooks")
            assert inner is not None
            doc.remove(inner, h)
    if removed:
        _drop_if_empty(doc, ("hooks",), event)
        _drop_if_empty(doc, (), "hooks")
    return removed


def _drop_member(doc: JsonText, at: tuple[str | int, ...], key: str) -> None:
    container = doc.find(*at)
    assert container is not None
    doc.remove(container, doc.index_of(container, key))


def _drop_if_empty(doc: JsonText, at: tuple[str | int, ...], key: str) -> bool:
    """Take member ``key`` out of the object at ``at`` when it holds an empty object or list;
    whether it did."""
    value = doc.find(*at, key)
    if value is None or value.value not in ({}, []):
        return False
    _drop_member(doc, at, key)
    return True


# -- the file -------------------------------------------------------------------------------


def _read(path: Path) -> str | None:
    """The file's text (``None`` when there is none)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start})", hint="Claude Code reads UTF-8 JSON"
        ) from None


def _parse(path: Path, text: str | None) -> tuple[str, JsonText]:
    """``text`` to edit, and the byte order mark it starts with ("" for none): no file, or
    only white space, is an empty object."""
    if text is None or not text.strip():
        return "", JsonText("{}\n")
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    try:
        doc = JsonText(text[len(bom) :])
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}",
            hint="fix the file first (Claude Code cannot read it either); nothing was changed",
        ) from None
    if not isinstance(doc.root().value, dict):
        raise ConfigError(f"{path}: the settings must be a JSON object", hint="nothing was changed")
    return bom, doc


def apply_edit(edit: SettingsEdit, backup: Path | None) -> None:
    """Write ``edit`` (create, replace or delete the file), refusing if the file changed since
    the edit was planned. The file's previous bytes go to ``backup`` first (if there were
    any); the new text replaces the file in one step, keeping its permissions, and a symbolic
    link (a dotfiles repository) is followed, not replaced."""
    path = Path(os.path.realpath(edit.path))
    if _read(path) != edit.before:
        raise ConfigError(
            f"{edit.path}: changed while gearshift was editing it; nothing written",
            hint="run the command again",
        )
    if edit.before is not None and backup is not None:
        _write(backup, edit.before.encode("utf-8"), _mode(path))
    if edit.after is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, edit.after.encode("utf-8"), _mode(path))


def backup_path(settings: Path) -> Path:
    """Where the copy of ``settings`` made before an edit goes: beside the file (the real one,
    when ``settings`` is a symbolic link), named ``<name>.gearshift.bak``."""
    real = Path(os.path.realpath(settings))
    return real.with_name(real.name + ".gearshift.bak")


def _mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _write(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- what an earlier setup did ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetupRecord:
    """What gearshift's last setup of one settings file did that the file itself cannot tell:
    the base URL it set (so a later ``--remove`` knows that ``env.ANTHROPIC_BASE_URL`` is
    gearshift's) and whether it created the file (so removing everything deletes it)."""

    proxy: str | None = None
    created: bool = False


def record_path() -> Path:
    """``$XDG_STATE_HOME/gearshift/claude-code-setup.json`` (``~/.local/state`` when unset)."""
    base = os.environ.get("XDG_STATE_HOME")
    root = Path(base) if base else Path.home() / ".local" / "state"
    return root / "gearshift" / "claude-code-setup.json"


def load_record(settings: Path) -> SetupRecord:
    """The record for ``settings`` (an empty one when there is none or it cannot be read)."""
    entry = _records().get(str(settings), {})
    if not isinstance(entry, dict):
        return SetupRecord()
    proxy = entry.get("proxy")
    return SetupRecord(proxy if isinstance(proxy, str) else None, entry.get("created") is True)


def save_record(settings: Path, record: SetupRecord | None) -> None:
    """Keep ``record`` for ``settings`` (``None``: forget it)."""
    records = _records()
    if record is None:
        records.pop(str(settings), None)
    else:
        records[str(settings)] = {"proxy": record.proxy, "created": record.created}
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, (json.dumps(records, indent=2, sort_keys=True) + "\n").encode("utf-8"), 0o600)


def _records() -> dict[str, Any]:
    try:
        records = json.loads(record_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return records if isinstance(records, dict) else {}
