"""The files in a model's output, and writing them where a command validator runs.

Model output is data, not instructions: its fenced blocks name the paths they want, and those
paths are checked before anything is written. :func:`write_attempt` writes an attempt's files
all or nothing:

* never outside the directory (an absolute path, ``..``, or a symbolic link pointing out);
* never into ``.git`` at any depth (hooks there run on the next commit);
* when the task declares ``outputs`` (paths and glob patterns), the model's files only there,
  the resolved path as much as the written one (a link cannot lead elsewhere);
* in a task's own ``workdir:`` that declares no ``outputs``, none of the model's files;
* if any file is refused, none is written, and a write that fails midway is undone.

The task's own ``files`` (fixtures from the pipeline, which the user named) win over a model
file at the same path and go through the same checks but for the ``outputs`` list.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

__all__ = ["OutputRefused", "check_patterns", "extract_files", "write_attempt"]

_FENCE = re.compile(r"^(`{3,}|~{3,})([^\n]*)\n(.*?)^\1[ \t]*$", re.M | re.S)
_FILE_COMMENT = re.compile(
    r"^\s*(?:#|//|--|<!--)\s*(?:file|filename|path)\s*:\s*(\S+?)\s*(?:-->)?$"
)
_EXT = {"python": "py", "py": "py", "javascript": "js", "js": "js", "typescript": "ts",
        "ts": "ts", "json": "json", "yaml": "yaml", "yml": "yaml", "toml": "toml", "bash": "sh",
        "sh": "sh", "shell": "sh", "go": "go", "rust": "rs", "sql": "sql", "html": "html",
        "css": "css", "markdown": "md", "md": "md"}  # fmt: skip


class OutputRefused(ValueError):
    """A file of an attempt that may not be written; nothing of the attempt was."""


def extract_files(
    output: str, default_name: str | None = None, *, unnamed: bool = True
) -> dict[str, str]:
    """The fenced code blocks of ``output`` as ``{relative path: content}``.

    A block's path comes from its info string (```` ```python src/app.py ````,
    ```` ```python:src/app.py ````, ```` ```python title="src/app.py" ````) or a first-line
    comment (``# file: src/app.py``, which is dropped). A lone unnamed block is called
    ``default_name`` when given; other unnamed blocks become ``output_<n>.<ext>``, or are left
    out with ``unnamed=False``.
    """
    named: dict[str, str] = {}
    anonymous: list[tuple[str, str]] = []
    for match in _FENCE.finditer(output):
        info, body = match.group(2).strip(), match.group(3)
        path, lang = _path_from_info(info)
        first, _, rest = body.partition("\n")
        comment = _FILE_COMMENT.match(first)
        if path is None and comment:
            path, body = comment.group(1), rest
        if path:
            named[path] = body
        else:
            anonymous.append((lang, body))
    if default_name and len(anonymous) == 1:
        named.setdefault(default_name, anonymous[0][1])
    elif unnamed:
        for i, (lang, body) in enumerate(anonymous, 1):
            named.setdefault(f"output_{i}.{_EXT.get(lang.lower(), 'txt')}", body)
    return named


def _path_from_info(info: str) -> tuple[str | None, str]:
    attr = re.search(r"""(?:title|file|filename|path)\s*=\s*["']?([^"'\s]+)""", info)
    tokens = info.split()
    lang = tokens[0] if tokens else ""
    if ":" in lang:
        lang, _, path = lang.partition(":")
        return path or None, lang
    if attr:
        return attr.group(1), lang
    if lang and ("." in lang or "/" in lang):
        return lang, lang.rsplit(".", 1)[-1]
    if len(tokens) > 1 and ("." in tokens[1] or "/" in tokens[1]):
        return tokens[1], lang
    return None, lang


def check_patterns(patterns: Sequence[str]) -> tuple[str, ...]:
    """``patterns`` (a task's ``outputs``) if each is relative, stays inside and avoids
    ``.git``; else ValueError saying which is not."""
    for pattern in patterns:
        problem = _path_problem(pattern)
        if problem:
            raise ValueError(f"{pattern!r}: {problem}")
    return tuple(patterns)


def write_attempt(
    root: Path,
    model_files: Mapping[str, str],
    task_files: Mapping[str, str],
    outputs: Sequence[str] | None,
) -> None:
    """Write the model's files (where ``outputs`` allows; ``None``: anywhere in ``root``) and
    the task's files (which win at the same path) under ``root``, all or nothing.

    Raises :class:`OutputRefused` naming the first refused path (nothing written), or OSError
    when a write fails (what was written before it is undone)."""
    base = root.resolve()
    plan: dict[Path, str] = {}
    for rel, content in model_files.items():
        if rel in task_files:
            continue
        plan[_target(base, rel, outputs)] = content
    for rel, content in task_files.items():
        plan[_target(base, rel, None)] = content
    _write_all(plan)


def _target(base: Path, rel: str, outputs: Sequence[str] | None) -> Path:
    problem = _path_problem(rel)
    if problem:
        raise OutputRefused(f"{rel}: {problem}")
    target = (base / rel).resolve()
    if not target.is_relative_to(base):
        raise OutputRefused(f"{rel}: a link leads outside the working directory")
    inside = target.relative_to(base)
    if any(part.lower() == ".git" for part in inside.parts):
        raise OutputRefused(f"{rel}: a link leads into .git")
    if outputs is not None:
        for path in {PurePosixPath(rel).as_posix(), inside.as_posix()}:
            if not any(_matches(path, p) for p in outputs):
                declared = ", ".join(outputs) or "none"
                raise OutputRefused(f"{path}: not among the paths the task declares ({declared})")
    return target


def _path_problem(rel: str) -> str | None:
    path = PurePosixPath(rel.replace("\\", "/"))
    if not rel or path.is_absolute() or re.match(r"^[A-Za-z]:", rel):
        return "an absolute path (outside the working directory)"
    if ".." in path.parts:
        return "'..' leads outside the working directory"
    if any(part.lower() == ".git" for part in path.parts):
        return "inside .git, which is never written"
    return None


def _matches(path: str, pattern: str) -> bool:
    """``pattern`` a folder (``src/``) holds ``path``, or it matches as a glob (``*`` may
    cross folders)."""
    pattern = pattern.replace("\\", "/").removeprefix("./")
    if pattern.endswith("/"):
        return path.startswith(pattern)
    return fnmatch.fnmatchcase(path, pattern) or path.startswith(pattern.rstrip("/") + "/")


def _write_all(plan: Mapping[Path, str]) -> None:
    before: list[tuple[Path, bytes | None]] = []
    try:
        for target, content in plan.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            before.append((target, target.read_bytes() if target.is_file() else None))
            target.write_text(content, encoding="utf-8")
    except OSError:
        for target, old in reversed(before):
            if old is None:
                target.unlink(missing_ok=True)
            else:
                target.write_bytes(old)
        raise
