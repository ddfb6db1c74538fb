"""The one error wrapper every command runs under: gearshift errors become a message, a hint
and an exit code; tracebacks only with ``--debug``."""

from __future__ import annotations

import sys
from collections.abc import Callable

from gearshift.cli.common import err_console, state

__all__ = ["run_guarded"]


def run_guarded(command: Callable[[], object]) -> None:
    """Run ``command``; turn gearshift errors into a message, a hint and an exit code."""
    from gearshift.errors import GearshiftError

    try:
        command()
    except GearshiftError as exc:
        if state.debug:
            raise
        _report(f"error: {exc.message}", exc.hint)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _report("interrupted", None)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as exc:  # the machine said no: permissions, a full or read-only disk
        if state.debug:
            raise
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        _report(
            f"error: {exc.strerror or exc}{where}", "check the path, its permissions and free space"
        )
        sys.exit(1)
    except Exception as exc:
        if state.debug:
            raise
        _report(
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a bug in gearshift; run again with --debug for the traceback and report it",
        )
        sys.exit(70)
    finally:
        state.close()


def _report(message: str, hint: str | None) -> None:
    con = err_console()
    con.print(message, style="bold red", markup=False, soft_wrap=True)
    if hint:
        con.print(f"hint: {hint}", style="yellow", markup=False, soft_wrap=True)
