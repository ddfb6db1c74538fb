"""Validators: does a model's output do the task? Each answers with a :class:`ValidationResult`.

Every validator is a small class behind the :class:`Validator` Protocol
(``await v.validate(output, context)``), so strategies treat them alike and feed ``evidence`` --
why it failed, in a few lines -- into the next attempt:

=================  =========================================================================
``command``        write the output's fenced code blocks (and given files) into a directory,
                   run e.g. ``pytest -q``; pass = exit 0 within the timeout
``json_schema``    the output (or its first JSON block) validates against a JSON Schema
``regex``          patterns that must match / must not match
``callable``       a Python function ``module:function`` decides
``confidence``     the confidence the model was asked to state (``confidence: 0.82``, ``82%``)
                   is at least ``min``; ``score`` carries it for confidence-based routing
``judge``          a reviewer model (through a Provider, on a chosen tier) gives a verdict
``all``            every listed validator passes (stops at the first failure)
=================  =========================================================================

A judge's model call is returned in ``ValidationResult.calls`` so the ledger can meter it.
:mod:`gearshift.engine.validator_specs` builds validators from YAML-shaped dicts and raises
DefinitionError naming the offending key.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import json
import os
import re
import shlex
import signal
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from gearshift.engine.output_files import OutputRefused, extract_files, write_attempt
from gearshift.errors import ConfigError
from gearshift.providers.base import ModelRequest, ModelResult, Provider

__all__ = [
    "AllValidator",
    "CallableValidator",
    "CommandValidator",
    "ConfidenceValidator",
    "JsonSchemaValidator",
    "JudgeValidator",
    "RegexValidator",
    "ValidationContext",
    "ValidationResult",
    "Validator",
    "command_env",
    "extract_files",
    "parse_confidence",
]

_TAIL = 3000
_FENCE = re.compile(r"^(`{3,}|~{3,})([^\n]*)\n(.*?)^\1[ \t]*$", re.M | re.S)
_CONFIDENCE = re.compile(
    r"confidence(?:\s+(?:score|level))?\s*(?:is|[:=])\s*\**\s*(\d+(?:\.\d+)?)\s*(%|/\s*10{1,2}\b)?",
    re.I,
)
_VERDICT = re.compile(
    r"verdict\s*[:=]\s*\**\s*(pass|fail|accept|reject|approve|revise|yes|no)\b", re.I
)
_SCORE = re.compile(r"^\s*score\s*[:=]\s*(\d+(?:\.\d+)?)", re.I | re.M)


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """``passed``; ``score`` in [0, 1] when the validator has one; ``evidence`` says why."""

    passed: bool
    score: float | None = None
    evidence: str = ""
    calls: tuple[ModelResult, ...] = ()


@dataclass(frozen=True, slots=True)
class ValidationContext:
    """What a validator may need besides the output.

    ``files`` are the task's own (its tests): they win over anything the model wrote at the
    same path. ``workdir`` is used as is (files are written into it); without one, each run
    gets a fresh temporary directory. ``outputs`` are the paths and patterns the model's files
    may take; ``None`` means anywhere in a fresh directory, none in a ``workdir``.
    """

    task: str = ""
    workdir: Path | None = None
    outputs: tuple[str, ...] | None = None
    files: Mapping[str, str] = field(default_factory=dict)
    provider: Provider | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Validator(Protocol):
    async def validate(self, output: str, context: ValidationContext) -> ValidationResult: ...


def _tail(text: str, limit: int = _TAIL) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


# -- command ------------------------------------------------------------------------------------
class CommandValidator:
    """Run a command on the output's files; pass = exit status 0 before ``timeout`` seconds.

    The command gets a minimal environment (:func:`command_env`: ``PATH``, ``HOME``, the
    locale, the temporary folder; no API key), plus the variables ``env`` names (a list of
    names passed from gearshift's environment) or sets (a mapping of names to values). Files
    are written by :func:`gearshift.engine.output_files.write_attempt`: in a fresh temporary
    folder, or in the context's ``workdir`` only at the paths its ``outputs`` declare.
    """

    def __init__(
        self,
        run: str | Sequence[str],
        *,
        timeout: float = 60.0,
        files: Mapping[str, str] | None = None,
        from_output: bool = True,
        default_file: str | None = None,
        shell: bool = False,
        env: Mapping[str, str] | Sequence[str] | None = None,
    ) -> None:
        self.run = run
        self.timeout = timeout
        self.files = dict(files or {})
        self.from_output = from_output
        self.default_file = default_file
        self.shell = shell
        self.env = env

    async def validate(self, output: str, context: ValidationContext) -> ValidationResult:
        outputs = context.outputs
        if outputs is None and context.workdir is not None:
            outputs = ()  # the task's own folder: only what it declares
        model = {}
        if self.from_output:
            model = extract_files(output, self.default_file, unnamed=outputs is None)
        files = {**self.files, **context.files}
        if context.workdir is not None:
            return await self._run_in(context.workdir, model, files, outputs)
        with tempfile.TemporaryDirectory(prefix="gearshift-validate-") as tmp:
            return await self._run_in(Path(tmp), model, files, outputs)

    async def _run_in(
        self,
        workdir: Path,
        model: Mapping[str, str],
        files: Mapping[str, str],
        outputs: Sequence[str] | None,
    ) -> ValidationResult:
        try:
            write_attempt(workdir, model, files, outputs)
        except OutputRefused as err:
            return ValidationResult(
                False, evidence=f"refused to write the output's files (none written): {err}"
            )
        except OSError as err:
            return ValidationResult(False, evidence=f"could not write the output's files: {err}")
        common: dict[str, Any] = {
            "cwd": workdir,
            "env": command_env(self.env),
            "start_new_session": True,
            "stdout": asyncio.subprocess.PIPE,
            "stderr": asyncio.subprocess.STDOUT,
        }
        try:
            if self.shell:
                proc = await asyncio.create_subprocess_shell(_as_text(self.run), **common)
            else:
                argv = shlex.split(self.run) if isinstance(self.run, str) else list(self.run)
                proc = await asyncio.create_subprocess_exec(*argv, **common)
        except OSError as err:
            return ValidationResult(False, evidence=f"cannot run {_as_text(self.run)!r}: {err}")
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            if not isinstance(exc, TimeoutError):
                raise
            return ValidationResult(
                False, evidence=f"{_as_text(self.run)!r} timed out after {self.timeout:g}s"
            )
        text = _tail(out.decode("utf-8", "replace"))
        code = proc.returncode
        head = f"$ {_as_text(self.run)}  (exit {code})"
        return ValidationResult(code == 0, evidence=f"{head}\n{text}" if text else head)


def _as_text(run: str | Sequence[str]) -> str:
    return run if isinstance(run, str) else shlex.join(run)


#: What every command gets from gearshift's environment: where programs and home are, the
#: locale, the temporary folder (and their Windows names). Never a key or a password.
BASE_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM",
            "TMPDIR", "TEMP", "TMP", "VIRTUAL_ENV", "SYSTEMROOT", "COMSPEC", "PATHEXT",
            "WINDIR", "USERPROFILE")  # fmt: skip


def command_env(env: Mapping[str, str] | Sequence[str] | None = None) -> dict[str, str]:
    """The environment of a command: :data:`BASE_ENV` and ``LC_*`` from this process, then the
    variables ``env`` names (passed from this process when set) or sets (a mapping)."""
    base = {k: v for k, v in os.environ.items() if k in BASE_ENV or k.startswith("LC_")}
    if isinstance(env, Mapping):
        return {**base, **env}
    if isinstance(env, str):
        env = [env]
    return {**base, **{k: os.environ[k] for k in env or () if k in os.environ}}


# -- JSON Schema, regex, callable ----------------------------------------------------------------
def _find_json(output: str) -> Any:
    candidates = [output.strip()]
    candidates += [m.group(3) for m in _FENCE.finditer(output) if "json" in m.group(2).lower()]
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = output.find(opener), output.rfind(closer)
        if 0 <= start < end:
            candidates.append(output[start : end + 1])
    for text in candidates:
        with contextlib.suppress(ValueError):
            return json.loads(text)
    raise ValueError("no JSON document found in the output")


class JsonSchemaValidator:
    """The output's JSON (whole, first ```json block, or outermost braces) fits ``schema``."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        try:
            self._jsonschema: Any = importlib.import_module("jsonschema")
        except ImportError:
            raise ConfigError(
                "the json_schema validator needs jsonschema", hint="pip install jsonschema"
            ) from None
        cls = self._jsonschema.validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except self._jsonschema.SchemaError as err:
            raise ConfigError(f"invalid JSON Schema: {err.message}") from None
        self._validator = cls(schema)

    async def validate(self, output: str, context: ValidationContext) -> ValidationResult:
        try:
            document = _find_json(output)
        except ValueError as err:
            return ValidationResult(False, evidence=str(err))
        errors = sorted(self._validator.iter_errors(document), key=lambda e: str(e.json_path))
        if not errors:
            return ValidationResult(True, evidence="valid against the schema")
        lines = [f"at {e.json_path}: {e.message}" for e in errors[:10]]
        more = f"\n... and {len(errors) - 10} more" if len(errors) > 10 else ""
        return ValidationResult(False, evidence="\n".join(lines) + more)


class RegexValidator:
    """Every ``must_match`` pattern is found and no ``must_not_match`` one is (``re.search``)."""

    def __init__(
        self,
        must_match: Sequence[str] = (),
        must_not_match: Sequence[str] = (),
        *,
        flags: str = "",
    ) -> None:
        bits = {"i": re.I, "m": re.M, "s": re.S, "x": re.X}
        value = 0
        for letter in flags:
            if letter not in bits:
                raise ConfigError(f"unknown regex flag {letter!r}", hint="use i, m, s or x")
            value |= bits[letter]
        self.must = [re.compile(p, value) for p in must_match]
        self.must_not = [re.compile(p, value) for p in must_not_match]

    async def validate(self, output: str, context: ValidationContext) -> ValidationResult:
        problems = [f"missing: /{p.pattern}/" for p in self.must if not p.search(output)]
        for pattern in self.must_not:
            found = pattern.search(output)
            if found:
                problems.append(f"forbidden: /{pattern.pattern}/ matched {found.group(0)[:80]!r}")
        return ValidationResult(not problems, evidence="\n".join(problems) or "all patterns ok")


class CallableValidator:
    """``module:function(output, context)`` returns a bool, ``(bool, evidence)`` or a result.

    The function may be async. An exception it raises is a failed validation with the
    exception as evidence (``assert`` statements make convenient validators).
    """

    def __init__(self, target: str | Callable[..., Any]) -> None:
        self.target = target if isinstance(target, str) else getattr(target, "__name__", "fn")
        self.function = _import_function(target) if isinstance(target, str) else target

    async def validate(self, output: str, context: ValidationContext) -> ValidationResult:
        try:
            value = self.function(output, context)
            if inspect.isawaitable(value):
                value = await value
        except Exception as err:
            return ValidationResult(False, evidence=f"{self.target}: {type(err).__name__}: {err}")
        if isinstance(value, ValidationResult):
            return value
        if isinstance(value, tuple) and len(value) == 2:
            return ValidationResult(bool(value[0]), evidence=str(value[1]))
        return ValidationResult(bool(value), evidence=f"{self.target} returned {value!r}")


def _import_function(target: str) -> Callable[..., Any]:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{target!r} must look like 'package.module:function'")
    try:
        function = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"cannot import {target}: {err}") from err
    if not callable(function):
        raise ConfigError(f"{target} is not callable")
    return function  # type: ignore[no-any-return]


# -- confidence and the LLM judge ----------------------------------------------------------------
def parse_confidence(text: str) -> float | None:
    """The last stated confidence in ``text`` as a fraction in [0, 1], or ``None``.

    Understands ``confidence: 0.82``, ``Confidence: 82%``, ``confidence score = 8/10`` and a bare
    ``confidence: 82`` (read as a percentage).
    """
    value = None
    for match in _CONFIDENCE.finditer(text):
        number, unit = float(match.group(1)), (match.group(2) or "").replace(" ", "")
        if unit in {"%", "/100"} or (not unit and number > 1):
            number /= 100
        elif unit == "/10":
            number /= 10
        if 0.0 <= number <= 1.0:
            value = number
    return value


class ConfidenceValidator:
    """Passes when the stated confidence is at least ``min``; ``score`` is the confidence."""

    def __init__(self, min: float = 0.9) -> None:
        if not 0.0 <= min <= 1.0:
            raise ConfigError(f"confidence min must be within 0..1, not {min}")
        self.min = min

    async def validate(self, output: str, context: ValidationContext) -> ValidationResult:
        value = parse_confidence(output)
        if value is None:
            return ValidationResult(False, evidence="the output states no confidence score")
        verdict = "at least" if value >= self.min else "below"
        return ValidationResult(
            value >= self.min, value, f"stated confidence {value:.2f} is {verdict} {self.min:.2f}"
        )


JUDGE_SYSTEM = (
    "You are a strict reviewer. Decide whether the OUTPUT correctly and completely does the "
    "TASK{criteria}. Reply with a line `verdict: PASS` or `verdict: FAIL`, then a line "
    "`score: <0.0-1.0>`, then the concrete problems the author must fix, if any."
)


class JudgeValidator:
    """An LLM judge: a reviewer call on ``model`` through ``provider`` (or the context's).

    Passes on ``verdict: PASS`` (or accept/approve/yes) and, with ``min_score``, a stated score
    at least that high. Provider errors propagate: a judge that could not run has not judged.
    """

    def __init__(
        self,
        model: str = "opus",
        *,
        criteria: str = "",
        provider: Provider | None = None,
        min_score: float | None = None,
        max_tokens: int = 1024,
    ) -> None:
        self.model = model
        self.criteria = criteria
        self.provider = provider
        self.min_score = min_score
        self.max_tokens = max_tokens

    def request(self, output: str, context: ValidationContext) -> ModelRequest:
        criteria = f", judged by these criteria: {self.criteria}" if self.criteria else ""
        prompt = f"TASK:\n{context.task or '(not given)'}\n\nOUTPUT:\n{output}"
        return ModelRequest.user(
            prompt,
            model=self.model,
            system=JUDGE_SYSTEM.format(criteria=criteria),
            max_tokens=self.max_tokens,
            metadata={**context.metadata, "role": "judge"},
        )

    async def validate(self, output: str, context: ValidationContext) -> ValidationResult:
        provider = self.provider or context.provider
        if provider is None:
            raise ConfigError(
                "the judge validator needs a provider",
                hint="pass provider= or set ValidationContext.provider",
            )
        result = await provider.complete(self.request(output, context))
        verdicts = _VERDICT.findall(result.text)
        scores = _SCORE.findall(result.text)
        score = min(1.0, float(scores[-1])) if scores else parse_confidence(result.text)
        evidence = _tail(result.text, 2000)
        if not verdicts:
            return ValidationResult(
                False, score, f"the judge gave no verdict:\n{evidence}", (result,)
            )
        passed = verdicts[-1].lower() in ("pass", "accept", "approve", "yes")
        if passed and self.min_score is not None and (score is None or score < self.min_score):
            passed = False
        return ValidationResult(passed, score, evidence, (result,))


class AllValidator:
    """Every validator passes; runs in order and stops at the first failure."""

    def __init__(self, validators: Sequence[Validator]) -> None:
        self.validators = list(validators)

    async def validate(self, output: str, context: ValidationContext) -> ValidationResult:
        evidence: list[str] = []
        calls: list[ModelResult] = []
        scores: list[float] = []
        for validator in self.validators:
            result = await validator.validate(output, context)
            evidence.append(result.evidence)
            calls.extend(result.calls)
            if result.score is not None:
                scores.append(result.score)
            if not result.passed:
                return ValidationResult(False, result.score, result.evidence, tuple(calls))
        score = min(scores) if scores else None
        return ValidationResult(True, score, "\n".join(e for e in evidence if e), tuple(calls))
