"""Which files may make gearshift run a program: the ones the user named.

A ``command`` validator (``shell: true`` or not) runs a program on this machine, and a
``callable`` one imports and calls Python code. The pipeline file the user runs, its inline
agents and the agent files or folders named with ``--agents-dir`` are the user's choice. Agent
files found by search (``./.claude/agents``, ``~/.claude/agents``) or included by the
pipeline's ``agents:`` key came with a repository, maybe one cloned a minute ago: their
validators that run code are refused when the pipeline is loaded, naming the file and line
that asked, unless the user allows them (``gearshift run --allow-commands``, or
``allow_commands = true`` under ``[run]`` in the config file).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gearshift.engine.validators import AllValidator, CallableValidator, CommandValidator, Validator
from gearshift.errors import DefinitionError

__all__ = ["ALLOW_HINT", "CommandTrust", "runs_code"]

ALLOW_HINT = (
    "read that file; if you trust it, name it with --agents-dir, pass --allow-commands, or set "
    "allow_commands = true under [run] in the config file"
)


@dataclass(frozen=True, slots=True)
class CommandTrust:
    """``allow``: every file may run code; else only files at or under ``named``."""

    allow: bool = False
    named: tuple[Path, ...] = ()

    @classmethod
    def of(cls, allow: bool, named: Iterable[Path]) -> CommandTrust:
        return cls(allow, tuple(p.expanduser().resolve() for p in named))

    def trusts(self, source: Path | None) -> bool:
        """Whether a definition from ``source`` may run code (``None``: built in code)."""
        if self.allow or source is None:
            return True
        file = source.expanduser().resolve()
        return any(file == p or file.is_relative_to(p) for p in self.named)

    def check(self, validator: Validator, source: Path | None, where: str, label: str) -> None:
        """DefinitionError at ``where`` when ``validator`` runs code and ``source`` is not
        trusted."""
        what = runs_code(validator)
        if what is None or self.trusts(source):
            return
        raise DefinitionError(
            f"{where}: {label}: refused to run {what}: this agent file was found by search or "
            "included by the pipeline, not named by you",
            hint=ALLOW_HINT,
        )


def runs_code(validator: Validator) -> str | None:
    """What ``validator`` would run (``command 'pytest -q'``), or ``None`` if it runs nothing."""
    if isinstance(validator, CommandValidator):
        run = validator.run if isinstance(validator.run, str) else " ".join(validator.run)
        shell = " (shell: true)" if validator.shell else ""
        return f"the command {run[:200]!r}{shell}"
    if isinstance(validator, CallableValidator):
        return f"the Python function {validator.target!r}"
    if isinstance(validator, AllValidator):
        return next(filter(None, map(runs_code, validator.validators)), None)
    return None
