"""`gearshift record` and `gearshift ledger path|stats|export|import`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gearshift.cli.common import console, print_json, state

ledger_app = typer.Typer(
    help="Where the ledger is, what it holds; export and import it.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.command("record")(record)
    app.add_typer(ledger_app, name="ledger")


def _parse_tags(tags: list[str]) -> dict[str, str]:
    from gearshift.errors import ConfigError

    out = {}
    for tag in tags:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise ConfigError(f"--tag {tag!r}: expected KEY=VALUE", hint="e.g. --tag team=payments")
        out[key.strip()] = value.strip()
    return out


def record(
    agent: Annotated[str, typer.Option("--agent", "-a", help="Agent name.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model id or alias (haiku, ...).")],
    input_tokens: Annotated[int, typer.Option("--input-tokens", min=0, help="Uncached input.")],
    output_tokens: Annotated[int, typer.Option("--output-tokens", min=0, help="Output tokens.")],
    task: Annotated[str | None, typer.Option("--task", "-t", help="Task text.")] = None,
    task_type: Annotated[str | None, typer.Option("--task-type", help="Task category.")] = None,
    status: Annotated[str, typer.Option("--status", help="success, failure or error.")] = "success",
    latency_ms: Annotated[int | None, typer.Option("--latency-ms", min=0)] = None,
    cache_read: Annotated[int, typer.Option("--cache-read", min=0, help="Cache-read tokens.")] = 0,
    cache_write_5m: Annotated[int, typer.Option("--cache-write-5m", min=0)] = 0,
    cache_write_1h: Annotated[int, typer.Option("--cache-write-1h", min=0)] = 0,
    project: Annotated[str, typer.Option("--project", "-p", help="Project name.")] = "",
    session: Annotated[str, typer.Option("--session", help="Session id.")] = "",
    batch: Annotated[bool, typer.Option("--batch", help="Priced at Batch API rates.")] = False,
    fast: Annotated[bool, typer.Option("--fast", help="Fast mode.")] = False,
    tag: Annotated[list[str], typer.Option("--tag", help="KEY=VALUE, repeatable.")] = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
) -> None:
    """Record one agent execution by hand and print it with its cost."""
    from gearshift.errors import ConfigError
    from gearshift.fmt import usd

    if status not in ("success", "failure", "error"):
        raise ConfigError(
            f"--status: {status!r} is not a status", hint="use success, failure or error"
        )
    if fast:
        _check_fast(model)
    # typed by hand: a model the prices do not know is most likely a typo, so say so (code that
    # records calls it made, through Ledger.record or track, keeps them unpriced instead)
    state.catalog().resolve(model)
    ledger = state.ledger(create=True)
    execution = ledger.record(
        agent=agent,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_write_5m_tokens=cache_write_5m,
        cache_write_1h_tokens=cache_write_1h,
        cache_read_tokens=cache_read,
        batch=batch,
        fast=fast,
        task=task,
        task_type=task_type,
        status=status,
        latency_ms=latency_ms,
        project=project,
        session=session,
        tags=_parse_tags(tag),
        source="manual",
    )
    if ledger.privacy:  # show what was stored: the task's hash, never its text
        execution.task = None
    if as_json:
        print_json(execution.to_dict())
        return
    from gearshift.catalog.cost import usd_text

    console().print(
        f"recorded {execution.id}: {execution.agent} on {execution.model} ({execution.tier}), "
        f"{execution.input_tokens:,} in / {execution.output_tokens:,} out -> "
        f"{usd(execution.cost_usd)} ({usd_text(execution.cost_nanos)} exact, "
        f"{execution.price_version})",
        markup=False,
    )


def _check_fast(model: str) -> None:
    """``--fast`` on a model without a fast mode would be recorded at its standard price as if
    it were fast: refuse it, naming the models that have one."""
    from gearshift.errors import ConfigError

    catalog = state.catalog()
    chosen = catalog.resolve(model)
    if chosen.period_at(None).fast is not None:
        return
    fast = sorted(m.id for m in catalog.models.values() if m.period_at(None).fast is not None)
    raise ConfigError(
        f"--fast: {chosen.id} has no fast mode in this price catalog",
        hint=f"drop --fast; models with fast mode: {', '.join(fast)}"
        if fast
        else "drop --fast; no model in this price catalog has fast mode",
    )


@ledger_app.command("path")
def path_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print where the ledger is."""
    from gearshift.ledger.urls import resolve_location

    location = resolve_location(state.ledger_url)
    if as_json:
        print_json({"location": location.display, "dialect": location.dialect})
        return
    typer.echo(location.display)


@ledger_app.command("stats")
def stats_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """How many executions, over which dates, from which sources, at what cost."""
    from gearshift.fmt import usd
    from gearshift.ledger import spend

    ledger = state.ledger(create=False)
    by_source = spend(ledger, "source")
    by_day = spend(ledger, "day")
    sources = {r.key: r.executions for r in by_source.rows}
    info: dict[str, object] = {
        "location": ledger.location.display,
        "dialect": ledger.location.dialect,
        "executions": by_source.total.executions,
        "cost_usd": by_source.total.cost_usd,
        "first_day": by_day.rows[0].key if by_day.rows else None,
        "last_day": by_day.rows[-1].key if by_day.rows else None,
        "sources": sources,
        "size_bytes": (
            ledger.location.path.stat().st_size
            if ledger.location.path and ledger.location.path.exists()
            else None
        ),
    }
    if as_json:
        print_json(info)
        return
    con = console()
    con.print(f"ledger     {info['location']} ({info['dialect']})")
    con.print(f"executions {info['executions']:,}  cost {usd(by_source.total.cost_usd)}")
    days = f"{info['first_day']} .. {info['last_day']}" if info["first_day"] else "none yet"
    con.print(f"days       {days}")
    listed = ", ".join(f"{k} {v:,}" for k, v in sources.items()) or "none"
    con.print(f"sources    {listed}")


@ledger_app.command("reprice")
def reprice_cmd(
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only executions from this day (YYYY-MM-DD, 7d, today)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Price the executions recorded without a price (a model the prices did not know then)
    with the prices in use now (--prices); the others are left as they are."""
    from gearshift.cli.spend_run import build_filters
    from gearshift.fmt import usd_nanos
    from gearshift.ledger.reprice import reprice

    filters, _ = build_filters(since, None, None)
    ledger = state.ledger(create=False)
    done = reprice(ledger, since=filters.since)
    if as_json:
        print_json({**done.to_dict(), "prices": ledger.catalog.price_version})
        return
    con = console()
    noun = "execution" if done.repriced == 1 else "executions"
    con.print(
        f"repriced {done.repriced:,} {noun} with prices {ledger.catalog.price_version}: "
        f"{usd_nanos(done.added_nanos)} added",
        markup=False,
    )
    if done.still_unpriced:
        names = ", ".join(f"{m} ({n:,})" for m, n in sorted(done.still_unpriced.items()))
        con.print(
            f"still no price for {names}: add the models to a price file and run again with "
            "--prices FILE",
            style="yellow",
            markup=False,
        )


@ledger_app.command("export")
def export_cmd(
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl or csv.")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write [default: stdout].")
    ] = None,
) -> None:
    """Export every execution as JSONL (re-importable) or CSV."""
    from gearshift.errors import ConfigError
    from gearshift.ledger.transfer import export_csv, export_jsonl

    if fmt not in ("jsonl", "csv"):
        raise ConfigError(f"--format: {fmt!r} is not supported", hint="use jsonl or csv")
    writer = export_jsonl if fmt == "jsonl" else export_csv
    executions = state.ledger(create=False).executions()
    if output is None:
        writer(executions, sys.stdout)
        return
    with output.open("w", encoding="utf-8", newline="") as fh:
        n = writer(executions, fh)
    console().print(f"wrote {n:,} executions to {output}")


@ledger_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="A JSONL file written by `ledger export`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Import a JSONL export; records already in the ledger are skipped."""
    from gearshift.ledger.transfer import import_jsonl

    read, inserted = import_jsonl(state.ledger(create=True), file)
    if as_json:
        print_json({"read": read, "inserted": inserted, "skipped": read - inserted})
        return
    console().print(f"read {read:,} records, inserted {inserted:,}, skipped {read - inserted:,}")
