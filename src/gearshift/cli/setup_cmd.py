"""`gearshift setup claude-code`: wire Claude Code to gearshift (hooks, status line, proxy)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gearshift.cli.common import print_json, state

if TYPE_CHECKING:
    from gearshift.claude_settings import SettingsEdit

setup_app = typer.Typer(help="Wire gearshift into the tools you use.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(setup_app, name="setup")


@setup_app.command("claude-code")
def claude_code(
    user: Annotated[bool, typer.Option("--user", help="Your own settings (the default).")] = False,
    project: Annotated[
        Path | None,
        typer.Option(
            "--project",
            metavar="DIR",
            help="A project's settings: DIR/.claude/settings.local.json (yours, not committed).",
            file_okay=False,
        ),
    ] = None,
    proxy: Annotated[
        str | None,
        typer.Option(
            "--proxy",
            metavar="URL",
            help="Point Claude Code at a running `gearshift proxy` (env.ANTHROPIC_BASE_URL).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the diff; write nothing.")
    ] = False,
    remove: Annotated[
        bool, typer.Option("--remove", help="Take gearshift's entries out again.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a status line or base URL that is not gearshift's."),
    ] = False,
    no_statusline: Annotated[
        bool, typer.Option("--no-statusline", help="Leave the status line alone.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Report what was done as JSON.")] = False,
) -> None:
    """Add gearshift to Claude Code's settings.json: the ingest hooks (Stop, SubagentStop), the
    status line and, with --proxy, the base URL of a gearshift proxy.

    Shows the diff and changes nothing else in the file; a backup of the file is written beside
    it (<name>.gearshift.bak) before any change. Running it again changes nothing.
    """
    from gearshift import claude_settings as cs
    from gearshift.errors import ConfigError

    if user and project is not None:
        raise ConfigError("--user and --project are two different files", hint="choose one")
    if proxy is not None:
        proxy = _checked_url(proxy)
    path = cs.settings_path(project)
    record = cs.load_record(path)
    notes: list[str] = []
    if remove:
        edit = cs.plan_remove(path, proxy=proxy, owned_proxy=record.proxy, created=record.created)
        if edit.changed:
            notes.extend(_kept_base_url(edit, record.proxy, proxy))
    else:
        program = _program(notes)
        edit = cs.plan_setup(
            path,
            program,
            proxy=proxy,
            statusline=not no_statusline,
            force=force,
            owned_proxy=record.proxy,
        )
    backup = cs.backup_path(path) if edit.before is not None else None
    written = edit.changed and not dry_run
    if written:
        cs.apply_edit(edit, backup)
        if remove:
            cs.save_record(path, None)
        else:
            created = record.created or edit.before is None
            cs.save_record(path, cs.SetupRecord(proxy or record.proxy, created))
    if as_json:
        print_json(_report(edit, "remove" if remove else "setup", project, written, dry_run,
                           backup if written else None, notes))  # fmt: skip
        return
    _print(edit, remove, written, dry_run, backup if written else None, notes)


def _program(notes: list[str]) -> list[str]:
    """How the hooks and the status line run this gearshift: the absolute path of the running
    executable (so it works outside its virtual environment), or this Python with ``-m
    gearshift``; with this command's ``--ledger`` and ``--prices`` (made absolute), unless the
    ledger URL holds a password, which must not be written into a settings file."""
    argv0 = sys.argv[0]
    if os.path.basename(argv0) in ("gearshift", "gearshift.exe") and os.path.isfile(argv0):
        program = [os.path.abspath(argv0)]
    else:
        program = [sys.executable, "-m", "gearshift"]
    if state.ledger_url:
        from gearshift.ledger.urls import resolve_location

        location = resolve_location(state.ledger_url)
        if location.file is not None:
            program += ["--ledger", os.path.abspath(location.file)]
        elif location.display != location.url:
            notes.append(
                "the ledger URL holds a password, so it is not written into the settings: "
                "set GEARSHIFT_LEDGER where Claude Code runs"
            )
        else:
            program += ["--ledger", state.ledger_url]
    if state.prices:
        prices = state.prices
        program += ["--prices", os.path.abspath(prices) if os.path.isfile(prices) else prices]
    return program


def _checked_url(url: str) -> str:
    from urllib.parse import urlsplit

    from gearshift.errors import ConfigError

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"--proxy: {url!r} is not an http(s) URL",
            hint="the address `gearshift proxy` listens on, e.g. http://127.0.0.1:8787",
        )
    if parts.username or parts.password:
        raise ConfigError(
            "--proxy: the URL holds credentials, which must not go into a settings file",
            hint="give the proxy's address alone",
        )
    return url.rstrip("/")


def _kept_base_url(edit: SettingsEdit, owned: str | None, given: str | None) -> list[str]:
    import json

    try:
        env = json.loads(edit.after or "{}").get("env", {})
    except ValueError:
        return []
    url = env.get("ANTHROPIC_BASE_URL") if isinstance(env, dict) else None
    if isinstance(url, str) and url not in (owned, given):
        return [
            f"env.ANTHROPIC_BASE_URL ({url}) was not set by gearshift and stays: "
            "pass --proxy URL to take it out too"
        ]
    return []


def _report(
    edit: SettingsEdit,
    action: str,
    project: Path | None,
    written: bool,
    dry_run: bool,
    backup: Path | None,
    notes: list[str],
) -> dict[str, Any]:
    return {
        "action": action,
        "scope": "user" if project is None else "project",
        "settings": str(edit.path),
        "changed": edit.changed,
        "written": written,
        "dry_run": dry_run,
        "backup": str(backup) if backup else None,
        "changes": [c.to_dict() for c in edit.changes],
        "diff": edit.diff(),
        "notes": notes,
    }


def _print(
    edit: SettingsEdit,
    remove: bool,
    written: bool,
    dry_run: bool,
    backup: Path | None,
    notes: list[str],
) -> None:
    if not edit.changed:
        if remove:
            typer.echo(f"nothing to remove: {edit.path} holds none of gearshift's entries")
        else:
            typer.echo(f"nothing to change: {edit.path} already has gearshift's entries")
    else:
        typer.echo(edit.diff(), nl=False)
        if dry_run:
            typer.echo("dry run: nothing written")
        elif written:
            saved = f" (the previous file is in {backup})" if backup else ""
            typer.echo(f"wrote {edit.path}{saved}")
            if not remove:
                typer.echo(
                    "New Claude Code sessions use it (a running one asks you to review hook "
                    "changes in /hooks)."
                )
    for note in notes:
        typer.echo(f"note: {note}", err=True)
