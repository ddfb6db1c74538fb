"""The pipeline file, declared: what each key may hold, as msgspec Structs.

:func:`gearshift.engine.pipeline.load_pipeline` checks a whole file against
:class:`PipelineFile` before anything is built, so a misspelt key or a value of the wrong kind is
reported at its ``file:line`` by :func:`gearshift.formats.structs.convert`, and ``gearshift schema
pipeline`` gives editors the same description. The article's shapes name their stages freely
(``stage-1-generate``, ``subtask-2-implementation``), so a shape is a mapping whose stages share
one Struct holding every key a stage of that shape may have; which stage may hold which keys
follows from its position and is checked when the shape is translated
(:mod:`gearshift.engine.pipeline_shapes`), against the narrower Structs here. What a type cannot
say -- agents and models that must exist, dependencies, thresholds in order -- is checked when
the jobs are built (:mod:`gearshift.engine.pipeline_fields`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from gearshift.agents.fields import AgentFields
from gearshift.engine.validator_specs import Validators
from gearshift.routing.rules import RuleList

__all__ = [
    "STRATEGY_NAMES",
    "BatchOptimization",
    "BatchValidation",
    "ConfidenceStage",
    "EscalateStage",
    "GenerationStage",
    "PipelineFile",
    "RouteBranch",
    "StageOfTestPipeline",
    "TaskDefaults",
    "TaskSpec",
    "Thresholds",
    "ValidateStage",
]

_Text = Annotated[str, msgspec.Meta(min_length=1)] | int | float  # YAML may read it as a number
_Note = str | int | float | bool
_Count = Annotated[int, msgspec.Meta(ge=0)]
_Share = Annotated[float, msgspec.Meta(ge=0, le=1)]
_Ids = str | int | list[str | int]


# Names read without regard to case (``High``, ``high``): strings, whose usual values an
# editor offers.
_Priority = Annotated[str, msgspec.Meta(examples=["low", "normal", "high", "critical"])]
_Complexity = Annotated[str, msgspec.Meta(examples=["low", "medium", "high"])]
_Objective = Annotated[str, msgspec.Meta(examples=["cost", "quality", "speed"])]
_Mode = Annotated[str, msgspec.Meta(examples=["tight", "creative"])]
_Duration = Annotated[str, msgspec.Meta(examples=["90s", "10m", "1h", "1d"])]

STRATEGY_NAMES = ("tiered", "single", "confidence", "batch", "exemplar")
_Strategy = Literal["tiered", "single", "confidence", "batch", "exemplar"]
_Model = Annotated[str, msgspec.Meta(min_length=1, examples=["haiku", "sonnet", "opus"])]


class Item(msgspec.Struct, kw_only=True):
    """One item of a batch: its ``text`` (and an ``id``; other keys are kept for the task)."""

    text: str
    id: str | int | None = None


class _Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The task fields that may have a default, but ``files`` (which a batch reads otherwise)."""

    agent: str | None = None
    model: _Model | int | float | None = None
    priority: _Priority | None = None
    complexity: _Complexity | None = None
    scores: str | list[int | str] | dict[str, int | str] | None = None
    type: _Text | None = None
    tags: str | list[str] | None = None
    tokens: _Count | None = None
    token_estimate: _Count | None = None
    objective: _Objective | None = None
    session: _Text | None = None
    strategy: _Strategy | None = None
    validators: Validators | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    temperature: _Share | None = None
    mode: _Mode | None = None
    ladder_top: _Model | int | float | None = None
    options: dict[str, Any] | None = None
    cache_ttl: _Count | _Duration | None = None
    cache_system: bool | None = None
    system: _Text | None = None
    workdir: _Text | None = None
    outputs: str | list[str] | None = None
    cost: _Note | None = None
    expected_cost: _Note | None = None
    alternative_with_sonnet: _Note | None = None
    notes: _Note | None = None
    condition: _Note | None = None


class TaskDefaults(_Settings, kw_only=True):
    """The task fields a file's ``defaults:`` may set for every task."""

    files: dict[str, str] | None = None


class _Task(_Settings, kw_only=True):
    id: _Text | None = None
    task: str | None = None
    text: str | None = None
    prompt: str | None = None
    description: str | None = None
    depends_on: _Ids | None = None


class TaskSpec(_Task, kw_only=True):
    """One task: its text (``task``, ``text``, ``prompt`` or ``description``) and its fields."""

    files: dict[str, str] | None = None
    items: list[str | Item] | None = None


# -- test-pipeline -------------------------------------------------------------------------------


class StageOfTestPipeline(TaskSpec, kw_only=True):
    """A test-pipeline stage: the first generates (task fields), the second validates (with
    ``criteria`` for its judge), the third names the model escalation may reach."""

    criteria: _Text | None = None


class ValidateStage(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The second test-pipeline stage: its ``validators``, else a judge on its model."""

    agent: str | None = None
    model: _Model | None = None
    task: str | None = None
    description: str | None = None
    condition: _Note | None = None
    validators: Validators | None = None
    criteria: _Text | None = None


class EscalateStage(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The third test-pipeline stage: the model at the top of the ladder."""

    model: _Model
    agent: str | None = None
    task: str | None = None
    description: str | None = None
    condition: _Note | None = None


#: Stages by name, plus ``id``, ``depends_on`` and ``description``.
TestPipeline = dict[str, StageOfTestPipeline | _Text | list[str | int] | None]

#: Subtasks by name (task fields each), plus ``feature``, ``task`` and ``description``.
FeatureImplementation = dict[str, TaskSpec | _Text | None]


# -- batch-optimization --------------------------------------------------------------------------


class BatchValidation(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The article's checks (always done by the batch strategy) and more validators."""

    check_all_files_processed: bool | None = None
    check_no_files_corrupted: bool | None = None
    check_all_items_processed: bool | None = None
    validators: Validators | None = None


#: Items: a count of synthetic ones, or the list (texts or ``{id, text}``).
_BatchItems = (
    Annotated[int, msgspec.Meta(ge=1)] | Annotated[list[str | Item], msgspec.Meta(min_length=1)]
)


class BatchOptimization(_Task, kw_only=True):
    """One batch job: the task once per item (``items``, or ``files`` -- a list or a count),
    ``parallelization`` at once, failures re-run on the tier ``if_validation_fails`` names."""

    items: _BatchItems | None = None
    files: _BatchItems | dict[str, str] | None = None
    parallelization: str | int | None = None
    validation: BatchValidation | None = None
    if_validation_fails: _Text | None = None
    use_batch_api: bool | None = None
    batch_api: bool | None = None


# -- confidence-escalation -----------------------------------------------------------------------


class RouteBranch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One branch of the routing stage: ``if``/``else_if`` a confidence condition, ``then`` an
    action (a tier named in it is where escalation goes), or ``else``."""

    if_: _Text | None = msgspec.field(default=None, name="if")
    else_if: _Text | None = None
    elif_: _Text | None = msgspec.field(default=None, name="elif")
    then: _Text | None = None
    else_: _Text | None = msgspec.field(default=None, name="else")


class Thresholds(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Confidence at or above ``accept`` is accepted; from ``review`` it is reviewed."""

    accept: _Share | None = None
    review: _Share | None = None


class GenerationStage(TaskSpec, kw_only=True):
    """The first confidence-escalation stage: a task whose answer states its confidence."""

    output_includes: _Text | None = None


class ConfidenceStage(GenerationStage, kw_only=True):
    """A confidence-escalation stage: the generation (task fields), the routing written as one
    mapping (``if``, ``then``, ``else_if``, ``else``), or ``thresholds``."""

    if_: _Text | None = msgspec.field(default=None, name="if")
    else_if: _Text | None = None
    elif_: _Text | None = msgspec.field(default=None, name="elif")
    then: _Text | None = None
    else_: _Text | None = msgspec.field(default=None, name="else")
    accept: _Share | None = None
    review: _Share | None = None


#: Stages by name, branch lists, ``thresholds``, plus ``id``, ``depends_on`` and ``description``.
ConfidenceEscalation = dict[str, ConfidenceStage | _Text | list[RouteBranch | str | int] | None]


# -- the file ------------------------------------------------------------------------------------

_AgentPath = Annotated[str, msgspec.Meta(min_length=1)]


class PipelineFile(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A pipeline: task lists (``tasks``, ``dispatch``) and the article's shapes, with the
    agents, rules and defaults they share."""

    name: _Text | None = None
    description: _Note | None = None
    agents: (
        _AgentPath | dict[str, AgentFields] | list[_AgentPath | dict[str, AgentFields]] | None
    ) = None
    rules: str | None = None
    task_router: RuleList | None = msgspec.field(default=None, name="task-router")
    defaults: TaskDefaults | None = None
    tasks: list[TaskSpec] | None = None
    dispatch: list[TaskSpec] | None = None
    test_pipeline: TestPipeline | None = msgspec.field(default=None, name="test-pipeline")
    feature_implementation: FeatureImplementation | None = msgspec.field(
        default=None, name="feature-implementation"
    )
    batch_optimization: BatchOptimization | None = msgspec.field(
        default=None, name="batch-optimization"
    )
    confidence_escalation: ConfidenceEscalation | None = msgspec.field(
        default=None, name="confidence-escalation"
    )
