"""What routing needs to know about a task, and how tasks are read from files.

A task is a text plus what the dispatcher knows: the agent it is for, a priority, an explicit
``model`` override, rubric scores or a complexity label when someone already judged it, a type,
tags, a token estimate, the session it continues and its objective (cost, quality or speed — the
article's triangle: pick two, and the third decides ties).

Tasks come from code, from ``route --batch`` JSONL (one object per line) or from the article's
``dispatch:`` YAML lists, each entry declared by :class:`TaskFields` (a msgspec Struct checked by
:func:`gearshift.formats.structs.convert`). Errors name the file and line.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec

from gearshift.catalog.tiers import Tier
from gearshift.errors import ConfigError, DefinitionError
from gearshift.formats.structs import convert
from gearshift.formats.yamlsrc import YamlMap, load_yaml
from gearshift.routing.rubric import Label, Scores

__all__ = ["Objective", "Priority", "Task", "TaskFields", "load_tasks", "parse_tasks_jsonl"]


class Priority(enum.Enum):
    """Dispatch priority; ``rank`` orders them (low < normal < high < critical)."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]

    @classmethod
    def parse(cls, value: str | Priority) -> Priority:
        if isinstance(value, Priority):
            return value
        key = str(value).strip().lower()
        key = {"medium": "normal", "urgent": "critical", "p0": "critical", "p1": "high"}.get(
            key, key
        )
        try:
            return cls(key)
        except ValueError:
            raise ConfigError(
                f"unknown priority {value!r}", hint="use low, normal, high or critical"
            ) from None


_PRIORITY_RANK = {p: i for i, p in enumerate(Priority)}


class Objective(enum.Enum):
    """What a task favours when the rubric is on the fence between two tiers."""

    COST = "cost"
    QUALITY = "quality"
    SPEED = "speed"

    @classmethod
    def parse(cls, value: str | Objective) -> Objective:
        if isinstance(value, Objective):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ConfigError(
                f"unknown objective {value!r}", hint="use cost, quality or speed"
            ) from None


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of agent work, as routing sees it.

    ``model`` is an explicit override (tier name or model id). ``min_tier`` is the escalation
    floor: the engine sets it when a failed attempt escalates, and no policy may route below it.
    """

    text: str
    agent: str | None = None
    priority: Priority = Priority.NORMAL
    model: str | None = None
    scores: Scores | None = None
    complexity: Label | None = None
    type: str | None = None
    tags: tuple[str, ...] = ()
    token_estimate: int | None = None
    session: str | None = None
    objective: Objective | None = None
    min_tier: Tier | None = None
    id: str | None = None

    @property
    def tokens(self) -> int:
        """The token estimate, or about four characters per token when none was given."""
        if self.token_estimate is not None:
            return self.token_estimate
        return (len(self.text) + 3) // 4

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "agent": self.agent,
            "priority": self.priority.value,
            "model": self.model,
            "scores": self.scores.to_dict() if self.scores else None,
            "complexity": self.complexity.value if self.complexity else None,
            "type": self.type,
            "tags": list(self.tags),
            "token_estimate": self.token_estimate,
            "session": self.session,
            "objective": self.objective.value if self.objective else None,
            "min_tier": self.min_tier.value if self.min_tier else None,
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "<task>") -> Task:
        """Build a task from a JSON/YAML object; ``where`` prefixes error messages.

        ``text`` may also be spelled ``task`` (the article's dispatch lists) or ``prompt``;
        ``token_estimate`` may be ``tokens``.
        """
        source = data.source if isinstance(data, YamlMap) else where
        fields = convert(data, TaskFields, source=source, error=DefinitionError)
        text = next((t for t in (fields.text, fields.task, fields.prompt) if t is not None), None)
        if not text or not text.strip():
            raise DefinitionError(f"{where}: a task needs a non-empty 'text' (or 'task')")
        tokens = fields.token_estimate if fields.token_estimate is not None else fields.tokens
        try:
            return cls(
                text=text,
                agent=_opt_str(fields.agent),
                priority=Priority.parse(fields.priority or "normal"),
                model=_opt_str(fields.model),
                scores=Scores.parse(fields.scores) if fields.scores is not None else None,
                complexity=Label.parse(fields.complexity) if fields.complexity else None,
                type=_opt_str(fields.type),
                tags=_tags(fields.tags),
                token_estimate=tokens,
                session=_opt_str(fields.session),
                objective=Objective.parse(fields.objective) if fields.objective else None,
                min_tier=Tier.parse(fields.min_tier) if fields.min_tier else None,
                id=_opt_str(fields.id),
            )
        except ConfigError as exc:
            raise DefinitionError(f"{where}: {exc.message}", hint=exc.hint) from None


_Text = str | int | float  # a name or text that JSON or YAML may read as a number
_Count = Annotated[int, msgspec.Meta(ge=0)]


class TaskFields(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A task as a JSONL line or a dispatch entry writes it."""

    id: _Text | None = None
    text: str | None = None
    task: str | None = None
    prompt: str | None = None
    agent: _Text | None = None
    priority: (
        Annotated[str, msgspec.Meta(examples=["low", "normal", "high", "critical"])] | None
    ) = None
    model: _Text | None = None
    scores: str | list[int | str] | dict[str, int | str] | None = None
    complexity: Annotated[str, msgspec.Meta(examples=["low", "medium", "high"])] | None = None
    type: _Text | None = None
    tags: str | list[_Text] | None = None
    token_estimate: _Count | None = None
    tokens: _Count | None = None
    session: _Text | None = None
    objective: Annotated[str, msgspec.Meta(examples=["cost", "quality", "speed"])] | None = None
    min_tier: Annotated[str, msgspec.Meta(examples=["haiku", "sonnet", "opus"])] | None = None


def _opt_str(value: _Text | None) -> str | None:
    return None if value is None else str(value)


def _tags(value: str | list[_Text] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    return tuple(str(t) for t in value)


def parse_tasks_jsonl(text: str, source: str = "<stdin>") -> list[Task]:
    """One JSON object per line; blank lines and ``#`` comments are skipped."""
    tasks = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise DefinitionError(f"{source}:{number}: invalid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise DefinitionError(f"{source}:{number}: each line must be a JSON object")
        tasks.append(Task.from_mapping(data, f"{source}:{number}"))
    return tasks


def load_tasks(path: Path | str) -> list[Task]:
    """Tasks from a ``.jsonl`` file or a YAML file holding the article's ``dispatch:`` list."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise DefinitionError(f"{path}: not UTF-8 text", hint="name a YAML or JSONL file") from None
    if path.suffix.lower() not in {".yaml", ".yml"}:
        return parse_tasks_jsonl(text, str(path))
    data = load_yaml(text, source=str(path))
    items = data.get("dispatch") if isinstance(data, Mapping) else data
    if not isinstance(items, list):
        raise DefinitionError(
            f"{path}:1: expected a 'dispatch:' list of tasks",
            hint="e.g. dispatch: [{task: 'Write unit tests', agent: test-engineer}]",
        )
    tasks = []
    for index, item in enumerate(items):
        where = item.at() if isinstance(item, YamlMap) else f"{path}: item {index + 1}"
        if not isinstance(item, Mapping):
            raise DefinitionError(f"{where}: each dispatch entry must be a mapping")
        tasks.append(Task.from_mapping(item, where))
    return tasks
