"""Validators from YAML-shaped specs (``{type: command, run: "pytest -q", timeout: 60}``).

Every problem raises DefinitionError naming the offending key, so a pipeline file's author
sees which validator of which task is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from gearshift.engine.validators import (
    AllValidator,
    CallableValidator,
    CommandValidator,
    ConfidenceValidator,
    JsonSchemaValidator,
    JudgeValidator,
    RegexValidator,
    Validator,
)
from gearshift.errors import ConfigError, DefinitionError

__all__ = ["build", "validator_from_spec"]


_ALIASES = {"jsonschema": "json_schema", "json-schema": "json_schema", "schema": "json_schema",
            "python": "callable", "llm_judge": "judge", "llm-judge": "judge"}  # fmt: skip
_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "command": ({"run"}, {"timeout", "files", "from_output", "default_file", "shell", "env"}),
    "json_schema": ({"schema"}, set()),
    "regex": (set(), {"must_match", "must_not_match", "flags"}),
    "callable": ({"function"}, set()),
    "confidence": (set(), {"min"}),
    "judge": (set(), {"model", "criteria", "min_score", "max_tokens"}),
    "all": ({"of"}, set()),
}


def build(spec: Any, *, where: str = "validator") -> Validator:
    """A validator from a YAML-shaped dict such as ``{type: command, run: "pytest -q"}``.

    Raises DefinitionError whose message starts with the offending key (``where`` prefixes it,
    e.g. ``tasks[2].validator``), so file loaders can point at the line.
    """
    if not isinstance(spec, Mapping):
        raise DefinitionError(f"{where}: a validator must be a mapping with a 'type'")
    raw_kind = spec.get("type")
    kind = _ALIASES.get(str(raw_kind), str(raw_kind))
    if kind not in _KEYS:
        raise DefinitionError(
            f"{where}.type: unknown validator type {raw_kind!r}",
            hint=f"use one of: {', '.join(sorted(_KEYS))}",
        )
    required, optional = _KEYS[kind]
    for key in spec:
        if key != "type" and key not in required | optional:
            allowed = ", ".join(sorted(required | optional))
            raise DefinitionError(
                f"{where}.{key}: unknown key for a {kind} validator",
                hint=f"allowed keys: {allowed}",
            )
    for key in sorted(required - spec.keys()):
        raise DefinitionError(f"{where}.{key}: required for a {kind} validator")
    try:
        return _BUILDERS[kind](spec, where)
    except DefinitionError:
        raise
    except ConfigError as err:
        raise DefinitionError(f"{where}: {err.message}", hint=err.hint) from None


_REQUIRED: Any = object()


def _get(spec: Mapping[str, Any], key: str, kind: Any, where: str, default: Any = _REQUIRED) -> Any:
    """``spec[key]`` checked against ``kind`` (a type or tuple; booleans only where asked)."""
    if key not in spec and default is not _REQUIRED:
        return default
    value = spec[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise DefinitionError(f"{where}.{key}: expected {expected}, got {type(value).__name__}")
    return value


def _strings(spec: Mapping[str, Any], key: str, where: str) -> list[str]:
    if key not in spec:
        return []
    value = spec[key]
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise DefinitionError(f"{where}.{key}: expected a string or a list of strings")
    return items


def _number(spec: Mapping[str, Any], key: str, where: str, default: float | None) -> Any:
    value = _get(spec, key, (int, float), where, default)
    return None if value is None else float(value)


def _command(spec: Mapping[str, Any], where: str) -> Validator:
    run = spec["run"]
    if not isinstance(run, str) and not (
        isinstance(run, list) and run and all(isinstance(v, str) for v in run)
    ):
        raise DefinitionError(f"{where}.run: expected a command string or a list of strings")
    timeout = _number(spec, "timeout", where, 60.0)
    if timeout <= 0:
        raise DefinitionError(f"{where}.timeout: must be positive seconds")
    files = _get(spec, "files", dict, where, {})
    env = _get(spec, "env", dict, where, None)
    for key, mapping in (("files", files), ("env", env or {})):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
            raise DefinitionError(f"{where}.{key}: expected a mapping of strings to strings")
    return CommandValidator(
        run,
        timeout=timeout,
        files=files,
        from_output=_get(spec, "from_output", bool, where, True),
        default_file=_get(spec, "default_file", str, where, None),
        shell=_get(spec, "shell", bool, where, False),
        env=env,
    )


def _regex(spec: Mapping[str, Any], where: str) -> Validator:
    must, must_not = _strings(spec, "must_match", where), _strings(spec, "must_not_match", where)
    if not must and not must_not:
        raise DefinitionError(f"{where}.must_match: give must_match and/or must_not_match")
    for key, patterns in (("must_match", must), ("must_not_match", must_not)):
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as err:
                raise DefinitionError(f"{where}.{key}: bad pattern {pattern!r}: {err}") from None
    return RegexValidator(must, must_not, flags=_get(spec, "flags", str, where, ""))


def _judge(spec: Mapping[str, Any], where: str) -> Validator:
    return JudgeValidator(
        _get(spec, "model", str, where, "opus"),
        criteria=_get(spec, "criteria", str, where, ""),
        min_score=_number(spec, "min_score", where, None),
        max_tokens=_get(spec, "max_tokens", int, where, 1024),
    )


def _all(spec: Mapping[str, Any], where: str) -> Validator:
    items = _get(spec, "of", list, where)
    if not items:
        raise DefinitionError(f"{where}.of: list at least one validator")
    return AllValidator([build(v, where=f"{where}.of[{i}]") for i, v in enumerate(items)])


_BUILDERS: dict[str, Callable[[Mapping[str, Any], str], Validator]] = {
    "command": _command,
    "json_schema": lambda s, w: JsonSchemaValidator(_get(s, "schema", dict, w)),
    "regex": _regex,
    "callable": lambda s, w: CallableValidator(_get(s, "function", str, w)),
    "confidence": lambda s, w: ConfidenceValidator(_number(s, "min", w, 0.9)),
    "judge": _judge,
    "all": _all,
}


def validator_from_spec(spec: Any, *, where: str = "validator") -> Validator:
    """Build a validator from a YAML-shaped spec; problems raise DefinitionError naming
    ``where`` and the key."""
    return build(spec, where=where)
