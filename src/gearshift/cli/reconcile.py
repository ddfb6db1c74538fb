"""`gearshift reconcile anthropic|claude-code`: the ledger beside what Anthropic reports.

Both read the Admin API with the key in ``$ANTHROPIC_ADMIN_KEY`` (never an option: it would
land in shell history) at ``--base-url`` / ``$ANTHROPIC_BASE_URL``. Days are UTC days, as the
API's buckets; the default period is the last seven whole days. Exit codes:

* ``0`` -- every row is within tolerance;
* ``5`` -- a row is beyond it (``anthropic``), or a user's Claude Code use is missing from the
  ledger, in part or whole (``claude-code``);
* ``1`` / ``2`` -- an error (the Admin API refused the key, a bad option), as for every command.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated

import typer

from gearshift.cli.common import console, err_console, print_json, state

if TYPE_CHECKING:
    from gearshift.config import Config
    from gearshift.insight.bill import Bill
    from gearshift.insight.claude_code_usage import CodeReconciliation
    from gearshift.insight.reconcile import Reconciliation
    from gearshift.providers.admin import AdminClient, PageEvent
    from gearshift.providers.admin_types import ClaudeCodeRecord
    from gearshift.providers.retry import RetryEvent

EXIT_BEYOND = 5
#: Explanations shown on rows within tolerance too: they point at the catalog, not at traffic.
_NOTABLE = frozenset({"catalog-price", "ledger-price", "unknown-model", "context-tier"})

reconcile_app = typer.Typer(
    help="Compare the ledger with Anthropic's usage and cost reports (Admin API key needed).",
    no_args_is_help=True,
)

SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since", help="First UTC day (YYYY-MM-DD, 7d, yesterday) [default: 7 days ago]."
    ),
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Last UTC day, inclusive [default: yesterday].")
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url", help="API base URL [default: $ANTHROPIC_BASE_URL, else api.anthropic.com]."
    ),
]
PctOpt = Annotated[
    str | None,
    typer.Option("--tolerance-pct", help="Within tolerance up to P% of the bill [default: 1]."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register(app: typer.Typer) -> None:
    app.add_typer(reconcile_app, name="reconcile")


@reconcile_app.command("anthropic")
def anthropic_cmd(
    since: SinceOpt = None,
    until: UntilOpt = None,
    by: Annotated[
        str, typer.Option("--by", help="day-model, day, model, workspace or api-key.")
    ] = "day-model",
    tolerance_pct: PctOpt = None,
    tolerance_usd: Annotated[
        str | None,
        typer.Option("--tolerance-usd", help="... or up to U dollars per row [default: 0.01]."),
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="Compare only ledger records of this source (repeatable)."),
    ] = None,
    tokens_only: Annotated[
        bool, typer.Option("--tokens-only", help="Leave web search and code execution out.")
    ] = False,
    no_save: Annotated[
        bool, typer.Option("--no-save", help="Do not store the result (nor send alerts).")
    ] = False,
    base_url: BaseUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The ledger beside the usage and cost reports: tokens and cost per UTC day and model."""
    import asyncio

    from gearshift.insight.bill import fetch_bill, utc_day_start
    from gearshift.insight.reconcile import GROUPINGS, reconcile
    from gearshift.insight.reconcile_rows import Tolerance
    from gearshift.ledger.queries import daily_model_totals

    if by not in GROUPINGS:
        from gearshift.errors import ConfigError

        raise ConfigError(
            f"--by: cannot group by {by!r}", hint=f"use one of: {', '.join(GROUPINGS)}"
        )
    config = state.config()
    first, end = _period(since, until)
    tolerance = Tolerance(
        _decimal(tolerance_pct, "--tolerance-pct", config.reconcile.tolerance_pct),
        _decimal(tolerance_usd, "--tolerance-usd", config.reconcile.tolerance_usd),
    )
    ledger = state.ledger(create=False)
    sources = tuple(source or ())
    cells = daily_model_totals(
        ledger, utc_day_start(first), utc_day_start(end), sources=sources,
        with_tags=by in ("workspace", "api-key"),
    )  # fmt: skip
    client = _client(base_url)

    async def fetch() -> Bill:
        async with client:
            return await fetch_bill(client, first, end)

    bill = asyncio.run(fetch())
    rec = reconcile(bill, cells, ledger.catalog, by=by, tolerance=tolerance,
                    server_tools=not tokens_only)  # fmt: skip
    if not no_save:
        _store(rec, config)
    if as_json:
        print_json(rec.to_dict())
    else:
        _print_reconciliation(rec)
    if not rec.within:
        raise typer.Exit(EXIT_BEYOND)


@reconcile_app.command("claude-code")
def claude_code_cmd(
    since: SinceOpt = None,
    until: UntilOpt = None,
    tolerance_pct: PctOpt = None,
    base_url: BaseUrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Claude Code analytics per user and day beside what transcript ingestion recorded: which
    users' machines never ran the ingest hook."""
    import asyncio

    from gearshift.insight.bill import utc_day_start
    from gearshift.insight.claude_code_usage import compare_claude_code, fetch_claude_code
    from gearshift.ledger.queries import claude_code_sessions

    config = state.config()
    first, end = _period(since, until)
    pct = _decimal(tolerance_pct, "--tolerance-pct", config.reconcile.tolerance_pct)
    sessions = claude_code_sessions(state.reader(), utc_day_start(first), utc_day_start(end))
    client = _client(base_url)

    async def fetch() -> dict[dt.date, list[ClaudeCodeRecord]]:
        async with client:
            return await fetch_claude_code(client, first, end)

    records = asyncio.run(fetch())
    result = compare_claude_code(
        records,
        sessions,
        mapping=config.reconcile.users,
        tolerance_pct=pct,
        since=first,
        until=end,
    )
    if as_json:
        print_json(result.to_dict())
    else:
        _print_claude_code(result)
    if not result.within:
        raise typer.Exit(EXIT_BEYOND)


# -- shared -------------------------------------------------------------------------------------


def _period(since: str | None, until: str | None) -> tuple[dt.date, dt.date]:
    """``[first, end)`` in UTC days: the API buckets by UTC day, whatever the local zone."""
    from gearshift.errors import ConfigError
    from gearshift.timespec import parse_when

    today = dt.datetime.now(dt.UTC).date()
    end_at = parse_when(until, dt.UTC, end=True, option="--until")
    end = _ceil_day(end_at) if end_at is not None else today
    start_at = parse_when(since, dt.UTC, option="--since")
    first = start_at.date() if start_at is not None else end - dt.timedelta(days=7)
    if first >= end:
        raise ConfigError("--since is not before --until", hint="give a period of whole UTC days")
    if (end - first).days > 366:
        raise ConfigError(
            f"--since .. --until spans {(end - first).days} days",
            hint="reconcile at most a year at a time",
        )
    return first, end


def _ceil_day(moment: dt.datetime) -> dt.date:
    day = moment.date()
    return day if moment.time() == dt.time() else day + dt.timedelta(days=1)


def _decimal(text: str | None, option: str, default: Decimal) -> Decimal:
    from gearshift.errors import ConfigError

    if text is None:
        return default
    try:
        value = Decimal(text.strip().rstrip("%").lstrip("$"))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{option}: {text!r} is not a non-negative number", hint="e.g. 1 or 0.5")
    return value


def _client(base_url: str | None) -> AdminClient:
    from gearshift.providers.admin import AdminClient

    return AdminClient(base_url=base_url, on_page=_on_page, on_retry=_on_retry)


def _on_page(event: PageEvent) -> None:
    err_console().print(
        f"{event.report}: page {event.page} ({event.items} items)", style="dim", markup=False
    )


def _on_retry(event: RetryEvent) -> None:
    err_console().print(
        f"Admin API: {event.error.message}; retrying in {event.delay:.1f} s "
        f"(attempt {event.attempt + 1})",
        style="yellow",
        markup=False,
    )


def _store(rec: Reconciliation, config: Config) -> None:
    from gearshift.budgets.alerts import sinks_from_config
    from gearshift.insight.drift import save, send_drift_alerts

    ledger = state.ledger(create=True)
    save(ledger, rec)
    if config.reconcile.alerts:
        sinks = sinks_from_config(config.alerts, err_console())
        send_drift_alerts(ledger, rec, sinks, config.reconcile)


def _print_reconciliation(rec: Reconciliation) -> None:
    from gearshift.cli.common import plain_table
    from gearshift.fmt import tokens, usd_nanos

    con = console()
    last = rec.until - dt.timedelta(days=1)
    if not rec.rows:
        con.print(
            f"nothing to compare: no usage on the bill nor in the ledger, {rec.since}..{last}"
        )
        return
    wide = con.width >= 200  # tokens by kind on each side: ten more columns
    table = plain_table(
        title=f"ledger vs Anthropic bill, {rec.since}..{last} (UTC days), by {rec.by}",
        show_footer=True,
    )
    keys = [k for k in ("day", "model", "workspace", "api_key") if _used(rec, k)]
    totals = rec.totals()
    for i, k in enumerate(keys):
        table.add_column(k.replace("_", " "), footer="total" if i == 0 else "")
    kinds = (("input", "in"), ("output", "out"), ("cache_write_5m", "w5m"),
             ("cache_write_1h", "w1h"), ("cache_read", "read"))  # fmt: skip
    sides = ("ledger", "bill")
    if wide:
        for side in sides:
            for _, short in kinds:
                table.add_column(f"{side} {short}", justify="right")
    else:
        table.add_column("ledger tokens", justify="right", footer=tokens(totals["ledger_tokens"]))
        table.add_column("bill tokens", justify="right", footer=tokens(totals["bill_tokens"]))
    table.add_column("ledger", justify="right", footer=usd_nanos(totals["ledger_nanos"]))
    table.add_column("bill", justify="right", footer=usd_nanos(totals["bill_nanos"]))
    diff = totals["ledger_nanos"] - totals["bill_nanos"]
    table.add_column("difference", justify="right", footer=usd_nanos(diff))
    table.add_column("", footer="")
    for row in rec.rows:
        cells = [_key_text(row.key, k) for k in keys]
        if wide:
            for counts in (row.ledger_tokens, row.bill_tokens):
                cells += [tokens(counts.get(kind)) for kind, _ in kinds]
        else:
            cells += [tokens(row.ledger_tokens.total), tokens(row.bill_tokens.total)]
        pct = row.difference_pct
        cells += [
            usd_nanos(row.ledger_nanos),
            usd_nanos(row.bill_nanos),
            usd_nanos(row.difference_nanos) + (f" ({pct}%)" if pct is not None else ""),
            "ok" if row.within else "BEYOND",
        ]
        table.add_row(*cells)
    con.print(table)
    tol = rec.tolerance
    verdict = "within tolerance" if rec.within else f"{len(rec.beyond)} rows beyond tolerance"
    con.print(f"{verdict} ({tol.pct}% or ${tol.usd} per row); catalog {rec.price_version}",
              markup=False)  # fmt: skip
    quiet = 0
    for row in rec.rows:
        for e in row.explanations:
            if not row.within or e.kind in _NOTABLE:
                con.print(f"• {row.key.label()} [{e.kind}] {e.message}", markup=False,
                          soft_wrap=True)  # fmt: skip
            else:
                quiet += 1
    if quiet:
        con.print(f"({quiet} more notes on rows within tolerance: --json has them)", markup=False)
    for finding in rec.findings:
        con.print(f"! {finding.message}", style="bold", markup=False, soft_wrap=True)
    if rec.run_id:
        err_console().print(f"stored as run {rec.run_id} (gearshift report shows ledger vs bill)",
                            style="dim", markup=False)  # fmt: skip


def _used(rec: Reconciliation, part: str) -> bool:
    return any(getattr(r.key, part) is not None for r in rec.rows)


def _key_text(key: object, part: str) -> str:
    value = getattr(key, part)
    return value.isoformat() if isinstance(value, dt.date) else str(value or "")


def _print_claude_code(result: CodeReconciliation) -> None:
    from gearshift.cli.common import plain_table
    from gearshift.fmt import tokens

    con = console()
    last = result.until - dt.timedelta(days=1)
    if not result.rows:
        con.print(f"no Claude Code use in the analytics or the ledger, {result.since}..{last}")
        return
    table = plain_table(title=f"Claude Code analytics vs ingested transcripts, {result.since}.."
                        f"{last} (UTC days)")  # fmt: skip
    for col in ("day", "user", "type", "sessions", "tokens", "ledger sessions", "ledger tokens",
                "coverage", "status"):  # fmt: skip
        table.add_column(
            col, justify="left" if col in ("day", "user", "type", "status") else "right"
        )
    for r in result.rows:
        coverage = (
            f"{Decimal(r.ledger.total) * 100 / Decimal(r.api.total):.1f}%" if r.api.total else ""
        )
        table.add_row(
            r.day.isoformat(), r.user, r.customer_type or "", str(r.api_sessions),
            tokens(r.api.total), str(r.ledger_sessions), tokens(r.ledger.total), coverage, r.status,
        )  # fmt: skip
    con.print(table)
    for r in result.rows:
        if r.message:
            con.print(f"• {r.message}", markup=False, soft_wrap=True)
    never = result.never_ingested()
    if never:
        con.print(f"never in the ledger: {', '.join(never)}", style="bold", markup=False)
    verdict = "every user's use is in the ledger" if result.within else (
        f"{len(result.failing)} user-days missing from the ledger, in part or whole")  # fmt: skip
    con.print(f"{verdict} (tolerance {result.tolerance_pct}%)", markup=False)
