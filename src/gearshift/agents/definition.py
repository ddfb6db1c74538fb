"""One agent definition, whatever file it came from.

Claude Code subagent files, the article's YAML agent specs and Claude Agent SDK / ``claude
--agents`` JSON all describe the same thing: a named agent with a description (used to decide
when to delegate to it), a system prompt, a tool list and a model. :class:`AgentDefinition` is
that common shape, plus what gearshift adds per agent: sampling options (temperature,
``max_tokens``, a *tight* or *creative* mode), an escalation ladder and validator specs, which
the execution engine uses.

``model`` is one of three things, because Claude Code accepts all three:

* a :class:`~gearshift.catalog.Tier` (``haiku``, ``sonnet``, ``opus``): the tier's current model;
* a full model id such as ``claude-sonnet-4-5-20250929``: that exact model;
* :data:`INHERIT`: whatever model the parent conversation runs on.

When a file has no ``model`` key the loader fills in a configurable default and sets
``model_declared = False``, so routing can tell a deliberate choice from a default.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gearshift.catalog.tiers import Tier
from gearshift.errors import ConfigError

if TYPE_CHECKING:
    from gearshift.catalog import Catalog

__all__ = [
    "DEFAULT_PRESETS",
    "INHERIT",
    "AgentDefinition",
    "Mode",
    "ModePresets",
    "Sampling",
    "SourceFormat",
]

#: The ``model`` value meaning "use the parent conversation's model".
INHERIT = "inherit"


class Mode(enum.Enum):
    """The article's two variants of one agent: deterministic and short, or freer and longer."""

    TIGHT = "tight"
    CREATIVE = "creative"

    @classmethod
    def parse(cls, value: str | Mode) -> Mode:
        if isinstance(value, Mode):
            return value
        try:
            return cls(value.strip().lower())
        except ValueError:
            raise ConfigError(f"unknown mode {value!r}", hint="use tight or creative") from None


class SourceFormat(enum.Enum):
    """Which kind of file a definition was read from (decides how audit can rewrite it)."""

    CLAUDE_MD = "claude-md"
    YAML_SPEC = "yaml-spec"
    AGENTS_JSON = "agents-json"
    PYTHON = "python"


@dataclass(frozen=True, slots=True)
class Sampling:
    """Temperature and output cap for a call; ``None`` leaves the provider's default."""

    temperature: float | None = None
    max_tokens: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}


@dataclass(frozen=True, slots=True)
class ModePresets:
    """What ``mode: tight`` and ``mode: creative`` mean; pass your own to change them.

    Tight mode lowers temperature and caps tokens: more deterministic, shorter, cheaper output,
    which is what a cheap tier needs on a mechanical task. Creative mode gives room for novel work.
    """

    tight: Sampling = Sampling(temperature=0.2, max_tokens=1024)
    creative: Sampling = Sampling(temperature=1.0, max_tokens=8192)

    def for_mode(self, mode: Mode) -> Sampling:
        return self.tight if mode is Mode.TIGHT else self.creative


DEFAULT_PRESETS = ModePresets()


@dataclass(frozen=True, slots=True)
class AgentDefinition:
    """A named agent: prompt, tools, model and the options gearshift adds.

    ``source`` and ``line`` locate the definition; ``model_line`` is the line of its ``model:``
    key (``None`` when absent), which :mod:`gearshift.insight.audit` rewrites;
    ``validators_line`` that of its ``validators:`` key.
    ``validators`` are kept as raw specs (mappings or strings) for the execution engine.
    ``extra`` keeps every field gearshift does not interpret (``permissionMode``, ``maxTurns``...).
    """

    name: str
    description: str = ""
    role: str = ""
    instructions: str = ""
    tools: tuple[str, ...] | None = None
    model: Tier | str = Tier.SONNET
    model_declared: bool = False
    color: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    mode: Mode | None = None
    escalation: tuple[Tier, ...] = ()
    validators: tuple[Any, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    source: Path | None = None
    line: int | None = None
    model_line: int | None = None
    validators_line: int | None = None
    format: SourceFormat = SourceFormat.PYTHON

    @property
    def prompt(self) -> str:
        """The system prompt (the SDK's name for :attr:`instructions`)."""
        return self.instructions

    @property
    def inherits(self) -> bool:
        return self.model == INHERIT

    def tier(self, catalog: Catalog | None = None) -> Tier | None:
        """The tier this agent runs on; ``None`` for ``inherit``.

        A full model id needs ``catalog`` to know its tier.
        """
        if isinstance(self.model, Tier):
            return self.model
        if self.model == INHERIT:
            return None
        if catalog is None:
            raise ConfigError(
                f"agent {self.name!r}: a catalog is needed to know {self.model}'s tier"
            )
        return catalog.resolve(self.model).tier

    def model_id(self, catalog: Catalog) -> str | None:
        """The concrete model id, or ``None`` for ``inherit``."""
        if isinstance(self.model, Tier):
            return catalog.default_for(self.model).id
        if self.model == INHERIT:
            return None
        return catalog.resolve(self.model).id

    def sampling(self, presets: ModePresets = DEFAULT_PRESETS) -> Sampling:
        """Effective sampling: the mode's preset, with explicit per-agent values winning."""
        base = presets.for_mode(self.mode) if self.mode is not None else Sampling()
        return Sampling(
            temperature=self.temperature if self.temperature is not None else base.temperature,
            max_tokens=self.max_tokens if self.max_tokens is not None else base.max_tokens,
        )

    @property
    def model_text(self) -> str:
        """``model`` as written in a file: tier name, model id or ``inherit``."""
        return self.model.value if isinstance(self.model, Tier) else self.model

    def where(self) -> str:
        """``"path:line"`` of the definition (or just the name when built in code)."""
        if self.source is None:
            return f"<agent {self.name}>"
        return f"{self.source}:{self.line}" if self.line else str(self.source)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "role": self.role,
            "model": self.model_text,
            "model_declared": self.model_declared,
            "tools": list(self.tools) if self.tools is not None else None,
            "color": self.color,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "mode": self.mode.value if self.mode else None,
            "escalation": [t.value for t in self.escalation],
            "validators": list(self.validators),
            "source": str(self.source) if self.source else None,
            "line": self.line,
            "model_line": self.model_line,
            "format": self.format.value,
        }

    def to_agents_json(self) -> dict[str, Any]:
        """The entry for ``claude --agents`` JSON (and the SDK's ``AgentDefinition``)."""
        entry: dict[str, Any] = {"description": self.description, "prompt": self.instructions}
        if self.tools is not None:
            entry["tools"] = list(self.tools)
        if self.model_declared:
            entry["model"] = self.model_text
        return entry
