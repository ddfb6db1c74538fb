"""The article's pipeline shapes, translated into native task entries.

The article writes the same idea five ways (``dispatch:``, ``test-pipeline:``,
``feature-implementation:``, ``batch-optimization:``, ``confidence-escalation:``). Rather than
five job builders, each shape is rewritten here into :class:`Entry` objects -- the native
``tasks:`` form, with the file line of every field -- and :mod:`gearshift.engine.pipeline_fields`
builds and checks every entry the same way. So a bad ``model:`` is reported identically
wherever it is written, and a shape only says what is particular to it:

* ``dispatch``: a list of tasks (``task``, ``agent``, ``model``, ``priority``, ...);
* ``test-pipeline``: generate / validate / escalate stages -> ONE ``tiered`` job that starts on
  the generator's model, is checked by the validate stage (its ``validators``, else an LLM judge
  on the validate stage's model with its task as the criteria -- plus the generating agent's own
  validators) and escalates up to the escalation stage's model (``ladder_top``);
* ``feature-implementation``: subtasks in order, each depending on the previous one (or on its
  own ``depends_on``), each on its own agent and model -- the hybrid decomposition DAG;
* ``batch-optimization``: one ``batch`` job over ``items`` (or ``files: N`` synthetic items, or a
  count read from the task text such as "500 files"), with ``parallelization: "10 concurrent"``
  and ``if_validation_fails: "re-run failures with sonnet"`` as its options;
* ``confidence-escalation``: one ``confidence`` job; the ``if: confidence_score > 0.9`` /
  ``else_if: confidence_score > 0.6`` conditions become its accept / review thresholds and the
  tiers named in the actions its ladder top.

The file was checked against :class:`~gearshift.engine.pipeline_format.PipelineFile` before it
gets here; a shape only narrows its stages by position (the validate stage of a test-pipeline
takes fewer keys than the generate stage) against the Structs of
:mod:`gearshift.engine.pipeline_format`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gearshift.catalog import Tier
from gearshift.engine.pipeline_format import (
    EscalateStage,
    GenerationStage,
    RouteBranch,
    TaskSpec,
    Thresholds,
    ValidateStage,
)
from gearshift.errors import ConfigError, DefinitionError
from gearshift.formats.structs import convert
from gearshift.formats.yamlsrc import YamlMap

__all__ = ["NOTE_KEYS", "SHAPES", "Entry", "entries_of", "slug", "task_text"]

#: Fields whose values are notes for people (the article's cost estimates); kept, never run.
NOTE_KEYS = frozenset({"cost", "expected_cost", "alternative_with_sonnet", "notes", "condition"})


@dataclass(slots=True)
class Entry:
    """One task in native form, with the file line of each field (for errors)."""

    source: str
    line: int
    fields: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    shape: str = "tasks"
    notes: dict[str, str] = field(default_factory=dict)
    #: validators given here are added to the agent's own instead of replacing them
    keep_agent_validators: bool = False

    @classmethod
    def of(cls, data: Any, source: str, shape: str, fallback_line: int = 1) -> Entry:
        """An entry holding a copy of mapping ``data`` (a :class:`YamlMap` knows its lines)."""
        line = data.line if isinstance(data, YamlMap) else fallback_line
        entry = cls(source, line, shape=shape)
        for key, value in data.items():
            entry.put(str(key), value, _line(data, key, line))
        return entry

    def put(self, key: str, value: Any, line: int | None = None) -> None:
        self.fields[key] = value
        self.lines[key] = line if line is not None else self.line

    def default(self, key: str, value: Any, line: int | None = None) -> None:
        if key not in self.fields:
            self.put(key, value, line)

    def at(self, key: str | None = None) -> str:
        """``"file:line"`` of ``key`` (or of the entry), the prefix of every error."""
        return f"{self.source}:{self.lines.get(key, self.line) if key else self.line}"


def slug(text: str, limit: int = 40) -> str:
    """A readable, stable job id from a task text ("Write unit tests" -> "write-unit-tests")."""
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:limit].rstrip("-") or "task"


def _line(data: Any, key: Any, fallback: int) -> int:
    return data.line_of(key) if isinstance(data, YamlMap) else fallback


def _where(data: Any, source: str, key: Any = None) -> str:
    return data.at(key) if isinstance(data, YamlMap) else source


def _narrow(data: Any, type_: type[Any], path: str, source: str) -> None:
    """Check a stage against the Struct of its position (``path`` is its key path)."""
    convert(data, type_, source=source, prefix=path, error=DefinitionError)


def _stages(
    data: YamlMap, extra: set[str], what: str, skip: frozenset[str] = frozenset()
) -> list[tuple[str, YamlMap]]:
    """The mapping-valued keys of ``data`` in file order, but ``skip``; other keys must be in
    ``extra``."""
    stages: list[tuple[str, YamlMap]] = []
    for key, value in data.items():
        if str(key) in skip:
            continue
        if isinstance(value, YamlMap):
            stages.append((str(key), value))
        elif str(key) not in extra:
            raise DefinitionError(
                f"{data.at(key)}: {key!r} in {what} must be a stage (a mapping of fields)",
                hint=f"besides stages, {what} may hold: {', '.join(sorted(extra))}",
            )
    return stages


def _tier_in(text: Any, where: str, what: str) -> Tier:
    """The tier named in free text ("re-run failures with sonnet" -> sonnet)."""
    found = re.findall(r"\b(haiku|sonnet|opus)\b", str(text).lower())
    if not found:
        raise DefinitionError(
            f"{where}: {what} names no model tier", hint="name haiku, sonnet or opus in it"
        )
    return Tier(found[-1])


def _copy_shape_keys(entry: Entry, data: YamlMap, keys: tuple[str, ...]) -> None:
    for key in keys:
        if key in data:
            entry.put(key, data[key], data.line_of(key))


# -- dispatch -----------------------------------------------------------------------------------
def dispatch(data: Any, source: str, line: int) -> list[Entry]:
    """``dispatch:`` (and native ``tasks:``): a list of task mappings."""
    return [Entry.of(item, source, "dispatch", line) for item in data]


# -- test-pipeline ------------------------------------------------------------------------------
_STAGE_HEAD = {"id", "depends_on", "description"}


def test_pipeline(data: YamlMap, source: str, line: int) -> list[Entry]:
    """generate -> validate -> escalate-on-failure: one tiered job (see the module docstring)."""
    stages = _stages(data, _STAGE_HEAD, "test-pipeline")
    if not 2 <= len(stages) <= 3:
        raise DefinitionError(
            f"{data.at()}: test-pipeline needs 2 or 3 stages (generate, validate[, escalate])",
            hint="e.g. stage-1-generate on haiku, stage-2-validate, stage-3 on sonnet",
        )
    (name, gen), (check_name, check) = stages[0], stages[1]
    _narrow(gen, TaskSpec, f"test-pipeline.{name}", source)
    _narrow(check, ValidateStage, f"test-pipeline.{check_name}", source)
    entry = Entry.of(gen, source, "test-pipeline")
    entry.put("id", data.get("id", "test-pipeline"), data.line_of("id"))
    _copy_shape_keys(entry, data, ("depends_on",))
    entry.default("strategy", "tiered")
    if "validators" in check:
        entry.put("validators", check["validators"], check.line_of("validators"))
    else:
        criteria = str(check.get("criteria") or check.get("task") or "the output does the task")
        judge = {"type": "judge", "model": check.get("model", "haiku"), "criteria": criteria}
        entry.put("validators", [judge], check.line_of("model"))
        entry.notes["validator_agent"] = str(check.get("agent", ""))
    entry.keep_agent_validators = True
    if len(stages) == 3:
        up_name, up = stages[2]
        _narrow(up, EscalateStage, f"test-pipeline.{up_name}", source)
        entry.put("ladder_top", up["model"], up.line_of("model"))
        if "task" in up:
            entry.notes["escalation_task"] = str(up["task"])
    else:
        entry.default("ladder_top", gen.get("model", "opus"), gen.line_of("model"))
    return [entry]


# -- feature-implementation ---------------------------------------------------------------------
def feature_implementation(data: YamlMap, source: str, line: int) -> list[Entry]:
    """Subtasks in file order, each after the previous: the hybrid decomposition DAG."""
    head = {"feature", "task", "description"}
    stages = _stages(data, head, "feature-implementation")
    if not stages:
        raise DefinitionError(f"{data.at()}: feature-implementation has no subtasks")
    feature = str(data.get("feature") or data.get("task") or "").strip()
    entries: list[Entry] = []
    for name, sub in stages:
        entry = Entry.of(sub, source, "feature-implementation")
        entry.default("id", name, sub.line)
        text = sub.get("task") or sub.get("description")
        if not text:
            step = re.sub(r"^(sub)?task-?\d*-?", "", name).replace("-", " ").strip() or name
            text = step.capitalize() + (f" for: {feature}" if feature else "")
        elif feature:
            text = f"{text}\n\nFeature: {feature}"
        entry.fields.pop("description", None)
        entry.put("task", text, sub.line_of("task") if "task" in sub else sub.line)
        if entries and "depends_on" not in sub:
            entry.put("depends_on", [entries[-1].fields["id"]], sub.line)
        entries.append(entry)
    return entries


# -- batch-optimization -------------------------------------------------------------------------
def batch_optimization(data: YamlMap, source: str, line: int) -> list[Entry]:
    """One ``batch`` job: the task once per item, validated, failures re-run one tier up."""
    entry = Entry.of(data, source, "batch-optimization")
    entry.default("id", "batch-optimization", data.line)
    entry.put("strategy", "batch", data.line)
    options: dict[str, Any] = {}
    options["items"] = _items(entry)
    if "parallelization" in entry.fields:
        value = entry.fields.pop("parallelization")
        found = re.search(r"\d+", str(value))
        if found is None or int(found.group()) < 1:
            raise DefinitionError(
                f"{entry.at('parallelization')}: parallelization must be a number of concurrent "
                f"calls, not {value!r}",
                hint='e.g. parallelization: "10 concurrent"',
            )
        options["concurrency"] = int(found.group())
    files = entry.fields.get("files")
    if files is not None and not isinstance(files, Mapping):
        raise DefinitionError(
            f"{entry.at('files')}: with items: given, files is a mapping of relative path -> "
            "file content"
        )
    if "validation" in entry.fields:
        checks = entry.fields.pop("validation") or {}
        if "validators" in checks:
            entry.put("validators", checks["validators"], _line(checks, "validators", line))
    if "if_validation_fails" in entry.fields:
        action = entry.fields.pop("if_validation_fails")
        tier = _tier_in(action, entry.at("if_validation_fails"), "if_validation_fails")
        options["retry_tier"] = tier.value
    for key in ("use_batch_api", "batch_api"):
        flag = entry.fields.pop(key, None)
        if flag is not None:
            options["use_batch_api"] = flag
    given = entry.fields.pop("options", None) or {}
    entry.put("options", {**options, **given}, entry.lines.get("options"))
    return [entry]


def _items(entry: Entry) -> list[Any]:
    """``items: [...]``, ``files: [...]``, ``files: 500`` or "500 files" in the task text."""
    for key in ("items", "files"):
        if key not in entry.fields:
            continue
        value = entry.fields.pop(key)
        if isinstance(value, int):
            return _synthetic(value, "file" if key == "files" else "item")
        if isinstance(value, list):
            return [dict(v) if isinstance(v, Mapping) else v for v in value]
        raise DefinitionError(f"{entry.at(key)}: {key} must be a positive count or a list")
    text = str(entry.fields.get("task") or entry.fields.get("text") or "")
    counted = re.search(r"\b(\d+)\s+(files?|items?|endpoints?|records?)\b", text)
    if counted is None:
        raise DefinitionError(
            f"{entry.at()}: batch-optimization needs its items",
            hint="give items: [...], files: [...] or a count such as files: 500",
        )
    return _synthetic(int(counted.group(1)), counted.group(2).rstrip("s"))


def _synthetic(count: int, noun: str) -> list[dict[str, str]]:
    width = len(str(count))
    return [
        {"id": f"{noun}-{i:0{width}d}", "text": f"{noun} {i:0{width}d} of {count}"}
        for i in range(1, count + 1)
    ]


# -- confidence-escalation ----------------------------------------------------------------------
_CONDITION = re.compile(r"confidence(?:_score)?\s*(>=|>|≥)\s*(\d+(?:\.\d+)?)\s*(%?)", re.I)
_DUPLICATE_THEN_HINT = (
    "the article's stage-2-dynamic-routing repeats 'then:', which YAML cannot hold; write it as "
    "a list: [{if: confidence_score > 0.9, then: Pass to production}, "
    "{else_if: confidence_score > 0.6, then: Sonnet review}, {else: Sonnet regenerate}]"
)


def confidence_escalation(data: YamlMap, source: str, line: int) -> list[Entry]:
    """Stage 1 generates and states a confidence; stage 2's thresholds route the answer."""
    routing = [(k, v) for k, v in data.items() if isinstance(v, list)]
    listed = {str(k) for k, _ in routing}
    head = _STAGE_HEAD | listed | {"thresholds"}
    stages = _stages(data, head, "confidence-escalation", skip=frozenset({"thresholds"}))
    if not stages:
        raise DefinitionError(f"{data.at()}: confidence-escalation needs a generation stage")
    name, gen = stages[0]
    _narrow(gen, GenerationStage, f"confidence-escalation.{name}", source)
    entry = Entry.of(gen, source, "confidence-escalation")
    entry.fields.pop("output_includes", None)
    entry.put("id", data.get("id", "confidence-escalation"), data.line_of("id"))
    _copy_shape_keys(entry, data, ("depends_on",))
    entry.put("strategy", "confidence", data.line)
    rules: list[tuple[Any, int]] = []
    if len(stages) > 1:
        route_name, route = stages[1]
        _narrow(route, RouteBranch, f"confidence-escalation.{route_name}", source)
        rules = [(route, route.line)]
    for key, items in routing:
        rules += [(item, _line(item, "if", data.line_of(key))) for item in items]
    thresholds = _thresholds(rules, data)
    entry.put("options", thresholds, data.line)
    tiers = [_tier_in(text, "", "") for text in _actions(rules) if _names_tier(text)]
    start = gen.get("model")
    if tiers:
        entry.put("ladder_top", max(tiers).value, data.line)
    elif isinstance(start, str) and start.lower() in {t.value for t in Tier}:
        up = Tier(start.lower()).up()
        entry.put("ladder_top", (up or Tier.OPUS).value, data.line)
    return [entry]


def _names_tier(text: str) -> bool:
    return re.search(r"\b(haiku|sonnet|opus)\b", text.lower()) is not None


def _actions(rules: list[tuple[Any, int]]) -> list[str]:
    return [
        str(rule[key])
        for rule, _ in rules
        if isinstance(rule, Mapping)
        for key in ("then", "else")
        if key in rule
    ]


def _thresholds(rules: list[tuple[Any, int]], data: YamlMap) -> dict[str, float]:
    """``accept`` and ``review`` from the ``if``/``else_if`` conditions, or ``thresholds:``."""
    found: list[float] = []
    for rule, line in rules:
        if not isinstance(rule, Mapping):
            raise DefinitionError(f"{data.source}:{line}: each routing rule must be a mapping")
        for key in ("if", "else_if", "elif"):
            if key in rule:
                match = _CONDITION.search(str(rule[key]))
                if match is None:
                    raise DefinitionError(
                        f"{_where(rule, data.source, key)}: cannot read a threshold from "
                        f"{rule[key]!r}",
                        hint="write it as confidence_score > 0.9",
                    )
                value = float(match.group(2)) / (100 if match.group(3) else 1)
                found.append(value)
    given = data.get("thresholds") or {}
    if given:
        _narrow(given, Thresholds, "confidence-escalation.thresholds", data.source)
    accept = float(_given(given, "accept", found[0] if found else 0.9))
    review = float(_given(given, "review", found[1] if len(found) > 1 else 0.6))
    if not 0 <= review <= accept <= 1:
        raise DefinitionError(
            f"{data.at('thresholds' if given else None)}: thresholds must satisfy "
            f"0 <= review ({review}) <= accept ({accept}) <= 1"
        )
    return {"accept": accept, "review": review}


def _given(data: Any, key: str, default: float) -> Any:
    value = data.get(key)
    return default if value is None else value


def duplicate_then_hint(error: ConfigError) -> str | None:
    """The hint for the article's literal confidence-escalation YAML (two ``then:`` keys)."""
    return _DUPLICATE_THEN_HINT if "duplicate key 'then'" in error.message else None


#: top-level key -> translator ``(data, source, line) -> entries``
SHAPES = {
    "tasks": dispatch,
    "dispatch": dispatch,
    "test-pipeline": test_pipeline,
    "feature-implementation": feature_implementation,
    "batch-optimization": batch_optimization,
    "confidence-escalation": confidence_escalation,
}


# -- the file's entries -------------------------------------------------------------------------
def entries_of(data: YamlMap) -> list[Entry]:
    """Every shape's entries in file order, with unique ids (given, stage names or slugs)."""
    entries: list[Entry] = []
    for key, value in data.items():
        if key in SHAPES:
            for entry in SHAPES[key](value, data.source, data.line_of(key)):
                entry.shape = str(key)
                entries.append(entry)
    given: dict[str, Entry] = {}
    for entry in entries:
        if "id" in entry.fields:
            job_id = entry.fields["id"]
            if not isinstance(job_id, str | int) or isinstance(job_id, bool) or not str(job_id):
                raise DefinitionError(f"{entry.at('id')}: id must be a non-empty text")
            if str(job_id) in given:
                first = given[str(job_id)].at("id")
                raise DefinitionError(f"{entry.at('id')}: id {job_id!r} is already used at {first}")
            given[str(job_id)] = entry
    taken = set(given)
    for entry in entries:
        if "id" not in entry.fields:
            base = slug(task_text(entry)[0])
            job_id, n = base, 1
            while job_id in taken:
                n += 1
                job_id = f"{base}-{n}"
            taken.add(job_id)
            entry.put("id", job_id)
        entry.fields["id"] = str(entry.fields["id"])
    return entries


def task_text(entry: Entry) -> tuple[str, str]:
    """The task's text and the key it was written under (task, text, prompt or description)."""
    for key in ("task", "text", "prompt", "description"):
        value = entry.fields.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip(), key
    raise DefinitionError(
        f"{entry.at()}: a task needs its text", hint="give task: (or text:, prompt:, description:)"
    )
