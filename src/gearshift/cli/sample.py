"""`gearshift sample claude-logs`: write a synthetic Claude Code transcript tree.

Used by tests, the demo and the ingest benchmark; see :mod:`gearshift.samples.claude_logs`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from gearshift.cli.common import console, is_terminal, print_json

__all__ = ["parse_size", "register"]

sample_app = typer.Typer(
    name="sample",
    help="Generate synthetic data for tests, demos and benchmarks.",
    no_args_is_help=True,
)

_SIZE = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?:(?P<p>[kmgt])(?P<i>i)?)?b?", re.IGNORECASE)
_SIZE_HINT = (
    "a number of bytes, or with a unit: 500KB, 200MB, 1GB (KiB, MiB, GiB are powers of 1024)"
)


def register(app: typer.Typer) -> None:
    app.add_typer(sample_app)


def parse_size(text: str) -> int:
    """Bytes from ``1048576``, ``500KB``, ``200MB``, ``1.5GB``, ``64KiB``: KB/MB/GB are powers
    of 1000, KiB/MiB/GiB of 1024, the ``B`` is optional and case does not matter."""
    from gearshift.errors import ConfigError

    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise ConfigError(f"--size: {text!r} is not a size", hint=_SIZE_HINT)
    factor = 1
    if match["p"]:
        factor = (1024 if match["i"] else 1000) ** ("kmgt".index(match["p"].lower()) + 1)
    size = Decimal(match["n"]) * factor
    if size != size.to_integral_value() or size <= 0:
        raise ConfigError(
            f"--size: {text!r} is not a positive whole number of bytes", hint=_SIZE_HINT
        )
    return int(size)


@sample_app.command("claude-logs")
def claude_logs(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Directory to write (usable as CLAUDE_CONFIG_DIR): projects/ and manifest.json.",
            file_okay=False,
        ),
    ],
    size: Annotated[
        str, typer.Option("--size", help="Target size, e.g. 200MB, 1GB, 500KB or 1048576.")
    ],
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same bytes.")],
    days: Annotated[
        int, typer.Option("--days", min=1, help="UTC days the sessions are spread over.")
    ] = 30,
    start: Annotated[
        str | None,
        typer.Option("--start", help="First UTC day, YYYY-MM-DD [default: 2026-08-01]."),
    ] = None,
    divergent: Annotated[
        bool,
        typer.Option(
            "--ccusage-divergent",
            help="Also write lines ccusage 20.0.24 miscounts (null fields, duplicated "
            "responses without a request id); the manifest reports their share.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Write a realistic Claude Code transcript tree with a manifest of its expected usage."""
    import datetime as dt
    import time

    from gearshift.errors import ConfigError
    from gearshift.samples.claude_logs import CorpusManifest, generate_corpus

    target = parse_size(size)
    try:
        first_day = dt.date.fromisoformat(start) if start else None
    except ValueError:
        raise ConfigError(f"--start: {start!r} is not a date", hint="use YYYY-MM-DD") from None
    if first_day is not None and first_day.year > 9000:
        raise ConfigError(f"--start: {start!r} is too late", hint="pick a day before year 9000")
    _check_room(out, target)
    began = time.perf_counter()

    def run(progress: Callable[[int], None] | None) -> CorpusManifest:
        return generate_corpus(
            out,
            size_bytes=target,
            seed=seed,
            start=first_day,
            days=days,
            progress=progress,
            ccusage_divergent=divergent,
        )

    if is_terminal() and not as_json:
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, console=console(), transient=True) as bar:
            task = bar.add_task("claude-logs", total=target)
            manifest = run(lambda n: bar.update(task, completed=min(n, target)))
    else:
        manifest = run(None)
    if as_json:
        print_json(manifest)
        return
    seconds = time.perf_counter() - began
    console().print(
        f"wrote {manifest.files['total']:,} files, {manifest.bytes / 1e6:,.1f} MB, "
        f"{manifest.lines:,} lines to {out} in {seconds:.1f}s: {manifest.api_calls:,} API calls, "
        f"{manifest.duplicate_usage_lines:,} duplicate usage lines, "
        f"{manifest.api_errors:,} API errors; expected usage in {out / 'manifest.json'}",
        markup=False,
        soft_wrap=True,
    )


def _check_room(out: Path, size: int) -> None:
    """Refuse a corpus the disk cannot hold (with 1 GB to spare), before writing any of it."""
    import shutil

    from gearshift.errors import ConfigError

    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if size + 10**9 > free:
        raise ConfigError(
            f"--size: {size / 1e9:,.1f} GB would not fit on the disk ({free / 1e9:,.1f} GB free)",
            hint="pick a smaller --size or another --out",
        )
