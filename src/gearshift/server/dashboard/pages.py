"""The dashboard's pages, each rendered from the payloads of the API endpoints it shows
(:mod:`~gearshift.server.dashboard.api`): the page and ``GET /api/...`` cannot disagree.

Charts are inline SVG from :mod:`gearshift.insight.charts`; tables are plain HTML. Every value
from the ledger is escaped on its way into the markup.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from gearshift.budgets.forecast import BurnPoint
from gearshift.fmt import usd_nanos
from gearshift.insight.charts import (
    TIER_COLORS,
    WIDE,
    Bar,
    budget_burn_svg,
    donut_svg,
    hbars_svg,
    series_colors,
    shorten,
    stacked_bars_svg,
)
from gearshift.ledger.queries import TIME_GROUPS
from gearshift.ledger.rollup import DIMENSIONS
from gearshift.server.dashboard.layout import esc, filter_form, href, kpi, shell, table
from gearshift.server.dashboard.params import Query

__all__ = ["agents_page", "execution_page", "executions_page", "live_page", "overview_page"]

#: Series drawn on their own in a stacked chart; the rest are summed as ``other``.
STACKED = 7


def nanos(usd: str | None) -> int:
    """A payload's decimal-string dollars as nano-dollars."""
    return 0 if usd is None else int(Decimal(usd).scaleb(9))


def money(usd: str | None) -> str:
    return "—" if usd is None else usd_nanos(nanos(usd))


def _pct(part: int, whole: int) -> str:
    return f"{Decimal(part * 100) / whole:.1f}%" if whole else "—"


def _rate(rate: str | None) -> str:
    return "—" if rate is None else f"{Decimal(rate) * 100:.1f}%"


# -- overview -----------------------------------------------------------------------------------


def overview_page(base: str, q: Query, by: str, stack: str, data: Mapping[str, Any]) -> str:
    """From :func:`~gearshift.server.dashboard.api.overview_payload`."""
    spend, tiers, summary = data["spend"], data["tiers"], data["summary"]
    total = spend["total"]
    form = filter_form(
        base,
        "/",
        q.given,
        choices=[("by", "by", TIME_GROUPS), ("stack", "stacked by", DIMENSIONS)],
    )
    runs = total["executions"]
    kpis = "".join(
        [
            kpi("spend", money(total["cost_usd"]), f"{runs:,} executions"),
            kpi("per execution", usd_nanos(nanos(total["cost_usd"]) // runs) if runs else "—"),
            kpi("success", _rate(summary.get("success_rate")), "of executions that ended"),
            kpi("escalations", f"{summary.get('escalations', 0):,}", "attempts redone a tier up"),
            kpi("blocked", f"{summary.get('blocked', 0):,}", "requests a budget refused"),
        ]
    )
    chart = _stacked(spend.get("stack"), by, stack)
    split = donut_svg(
        [(r["key"], nanos(r["cost_usd"]), TIER_COLORS.get(r["key"], "#c4c9d4"))
         for r in tiers["rows"]],
        label="Share of spend by tier",
    )  # fmt: skip
    body = [
        form,
        f"<section class='kpis'>{kpis}</section>",
        "<section class='grid'>",
        f"<figure class='card wide' data-chart='spend'><figcaption>Spend per {esc(by)}, "
        f"stacked by {esc(stack)}</figcaption>{chart}</figure>",
        f"<figure class='card' data-chart='tier-split'><figcaption>Tier split</figcaption>"
        f"{split}</figure>",
        _models(data["models"]),
        _drivers(base, q, data["agents"]),
        _budgets(data["budgets"]),
        "</section>",
    ]
    return shell("Overview", "/", "".join(body), base, api="/api/overview?" + _query(q, by, stack))


def _query(q: Query, by: str, stack: str | None) -> str:
    return urlencode(sorted(q.link(by=by, stack=stack).items()))


def _stacked(stacked: Mapping[str, Any] | None, by: str, stack: str) -> str:
    """The stacked chart of a spend payload: the biggest series each drawn, the rest summed
    as ``other``; tiers in their own order and colours."""
    label = f"Spend per {by}, stacked by {stack}"
    if not stacked:
        return stacked_bars_svg([], [], label=label)
    keys = [k or "(none)" for k in stacked["keys"]]
    if stack == "tier":
        order = list(TIER_COLORS)
        keys.sort(key=lambda k: (order.index(k) if k in order else len(order), k))
    shown = keys if len(keys) <= STACKED + 1 else keys[:STACKED]
    periods = []
    for p in stacked["periods"]:
        amounts: dict[str, int] = {}
        for key, usd in p["cost_usd"].items():
            name = key or "(none)"
            name = name if name in shown else "other"
            amounts[name] = amounts.get(name, 0) + nanos(usd)
        periods.append((p["key"], amounts))
    series = series_colors([*shown, *(["other"] if len(shown) < len(keys) else [])])
    return stacked_bars_svg(periods, series, label=label, width=WIDE)


def _drivers(base: str, q: Query, agents: Mapping[str, Any]) -> str:
    """The agents that cost the most: bars, and a table linking to their executions."""
    total = nanos(agents["total"]["cost_usd"])
    top = agents["rows"][:10]
    bars = [
        Bar(
            r["key"],
            nanos(r["cost_usd"]),
            "#3d6fb6",
            f"{r['key']}: {money(r['cost_usd'])}, {r['executions']:,} executions",
        )
        for r in top
    ]
    rows = [
        (
            f"<a href='{href(base, '/executions', q.link(agent=r['key']))}'>"
            f"{esc(shorten(r['key'], 240))}</a>",
            esc(money(r["cost_usd"])),
            esc(_pct(nanos(r["cost_usd"]), total)),
            f"{r['executions']:,}",
        )
        for r in top
    ]
    return (
        "<section class='card wide' id='drivers'><h2>Top cost drivers</h2><div class='split'>"
        f"<div>{hbars_svg(bars, label='Spend per agent')}</div><div>"
        + table(("agent", "spend", "share", "executions"), rows, numeric=(1, 2, 3))
        + "</div></div></section>"
    )


def _models(models: Mapping[str, Any]) -> str:
    total = nanos(models["total"]["cost_usd"])
    rows = [
        (esc(r["key"]), esc(money(r["cost_usd"])), esc(_pct(nanos(r["cost_usd"]), total)),
         f"{r['executions']:,}")
        for r in models["rows"][:8]
    ]  # fmt: skip
    return (
        "<section class='card' id='models'><h2>Spend by model</h2>"
        + table(("model", "spend", "share", "executions"), rows, numeric=(1, 2, 3))
        + "</section>"
    )


class _Burn:
    """A forecast payload, read back for the burn chart (:class:`~charts.ForecastLike`)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.spent_nanos = nanos(data["spent_usd"])
        self.projected_nanos = nanos(data["projected_usd"])
        self.low_nanos = nanos(data["low_usd"])
        self.high_nanos = nanos(data["high_usd"])
        self.amount_nanos = nanos(data["amount_usd"])
        self.period_start = dt.datetime.fromisoformat(data["period_start"])
        self.period_end = dt.datetime.fromisoformat(data["period_end"])
        self.history = [(dt.date.fromisoformat(d), nanos(v)) for d, v in data["history"]]
        self.projection = [(dt.date.fromisoformat(d), nanos(v)) for d, v in data["projection"]]
        self.verdict = str(data["verdict"])

    def burn(self) -> list[BurnPoint]:
        def opt(value: str | None) -> int | None:
            return None if value is None else nanos(value)

        return [
            BurnPoint(
                dt.date.fromisoformat(p["day"]),
                opt(p["actual_usd"]),
                opt(p["expected_usd"]),
                opt(p["low_usd"]),
                opt(p["high_usd"]),
            )
            for p in self.data["burn"]
        ]


def _budgets(budgets: Mapping[str, Any]) -> str:
    if not budgets["budgets"]:
        return (
            "<section class='card wide note' data-note='budgets'><h2>Budgets</h2><p>No budget "
            "is set: <code>gearshift budget set --monthly 500</code> adds one.</p></section>"
        )
    out = []
    for b in budgets["budgets"]:
        title = f"Budget {b['budget']} ({b['scope']}, {b['period']}): {b['status']}"
        out.append(
            f"<figure class='card wide' data-chart='budget-burn' data-status='{esc(b['status'])}'>"
            f"<figcaption>{esc(title)}</figcaption>{budget_burn_svg(_Burn(b))}</figure>"
        )
    if budgets.get("more"):
        out.append(f"<p class='muted wide'>{budgets['more']} more budgets not shown.</p>")
    return "".join(out)


# -- agents -------------------------------------------------------------------------------------


def agents_page(base: str, q: Query, data: Mapping[str, Any]) -> str:
    rows = []
    for a in data["agents"]:
        name = a["agent"]
        tiers = "<br>".join(
            f"<span class='tier t-{esc(t['tier'])}'>{esc(t['tier'])}</span> "
            f"{t['executions']:,} · {esc(_rate(t['success_rate']))} ok"
            + (f" · {t['escalations']:,} esc." if t["escalations"] else "")
            for t in a["tiers"]
        )
        tc = a["true_cost"]
        true = (
            f"{esc(money(tc['true_cost_per_task_usd']))}/task<br>"
            f"<small>{esc(money(tc['monthly_true_cost_usd']))}/month</small>"
            if tc
            else "—"
        )
        odds = (
            "<br>".join(f"{esc(t)} {Decimal(p) * 100:.0f}%" for t, p in a["p_success"].items())
            if a["p_success"]
            else "<span class='muted'>—</span>"
        )
        rows.append(
            (
                f"<a href='{href(base, '/executions', q.link(agent=name))}'>"
                f"{esc(shorten(name, 240))}</a>",
                f"{a['executions']:,}",
                esc(money(a["cost_usd"])),
                tiers,
                true,
                odds,
                _advice(a["recommendations"]),
            )
        )
    note = (
        ""
        if data["predictor"]
        else "<p class='muted'>P(success) per tier appears once a tier predictor is trained.</p>"
    )
    insight = data.get("insight") or {"ready": True, "fresh": True}
    status, refresh = "", None
    if insight.get("error"):
        failed = f"True cost and advice failed: {insight['error']}"
        status = f"<p class='error' id='insight'>{esc(failed)}</p>"
    elif not insight["ready"] or not insight["fresh"]:
        what = "Working out" if not insight["ready"] else "Updating"
        status = (
            f"<p class='muted' id='insight' data-state='working'>{what} true cost and advice "
            "from every execution of the window; this page reloads until they are ready.</p>"
        )
        refresh = 5
    body = (
        filter_form(base, "/agents", q.given)
        + "<section class='card wide'><h2>Agents</h2>"
        + status
        + table(
            ("agent", "executions", "spend", "tiers used", "true cost", "P(success)", "advice"),
            rows,
            numeric=(1, 2),
            cls="agents",
        )
        + note
        + "</section>"
    )
    return shell("Agents", "/agents", body, base, api="/api/agents", refresh=refresh)


def _advice(recs: Sequence[Mapping[str, Any]]) -> str:
    if not recs:
        return "<span class='muted'>nothing to change</span>"
    out = []
    for r in recs:
        saving = (
            f" — saves {money(r['monthly_saving_usd'])}/month" if r["monthly_saving_usd"] else ""
        )
        doubt = "" if r["enough_evidence"] else f" (not enough evidence: {r['needs']})"
        evidence = "".join(f"<li>{esc(e)}</li>" for e in r["evidence"])
        out.append(
            f"<div class='rec'><span class='kind'>{esc(r['kind'])}</span> "
            f"{esc(r['action'] + saving + doubt)}<details><summary>evidence</summary>"
            f"<ul>{evidence}</ul></details></div>"
        )
    return "".join(out)


# -- executions ---------------------------------------------------------------------------------


def _when(ts: str, tz: dt.tzinfo) -> str:
    return (
        dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
        .astimezone(tz)
        .strftime("%Y-%m-%d %H:%M:%S")
    )


def executions_page(base: str, q: Query, data: Mapping[str, Any]) -> str:
    rows = [
        (
            esc(_when(e["ts"], q.tz)),
            esc(shorten(e["agent"], 300)),
            f"<span class='tier t-{esc(e['tier'])}'>{esc(e['tier'])}</span>",
            f"<span class='status s-{esc(e['status'])}'>{esc(e['status'])}</span>",
            str(e["attempt"]),
            esc(money(e["cost_usd"])),
            f"<a class='open' href='{href(base, '/executions/' + e['id'], q.link())}'>"
            f"{esc(shorten(e['task'] or e['task_hash'] or e['id'], 600))}</a>",
        )
        for e in data["executions"]
    ]
    more = (
        f"<a class='more' href='{href(base, '/executions', q.link(before=data['next']))}'>"
        "older →</a>"
        if data["next"]
        else ""
    )
    body = (
        filter_form(base, "/executions", q.given, extra=[("q", "search", "agent, task, id…")])
        + "<section class='card wide'><h2>Executions</h2>"
        + table(
            ("time", "agent", "tier", "status", "try", "cost", "task"),
            rows,
            numeric=(4, 5),
            cls="executions",
        )
        + (more or ("" if rows else "<p class='muted'>No execution matches.</p>"))
        + "</section>"
    )
    return shell("Executions", "/executions", body, base, api="/api/executions")


def execution_page(base: str, q: Query, data: Mapping[str, Any]) -> str:
    e = data["execution"]
    attempts = [
        (
            str(a["attempt"]),
            esc(_when(a["ts"], q.tz)),
            f"<span class='tier t-{esc(a['tier'])}'>{esc(a['tier'])}</span>",
            esc(a["model"]),
            f"<span class='status s-{esc(a['status'])}'>{esc(a['status'])}</span>",
            esc(a["validation"] or "—"),
            esc(a["escalation_reason"] or "—"),
            f"{a['input_tokens'] + a['cache_write_5m_tokens'] + a['cache_write_1h_tokens']:,} / "
            f"{a['cache_read_tokens']:,} / {a['output_tokens']:,}",
            esc(money(a["cost_usd"])),
            "—" if a["latency_ms"] is None else f"{a['latency_ms']:,} ms",
        )
        for a in data["chain"]
    ]
    routing = data["routing"]
    steps = (
        table(
            ("policy", "action", "tier", "reason"),
            [
                (
                    esc(str(s.get("policy", ""))),
                    esc(str(s.get("action", ""))),
                    esc(str(s.get("tier") or "—")),
                    esc(str(s.get("reason", ""))),
                )
                for s in routing["steps"]
                if isinstance(s, dict)
            ],
        )
        if routing
        else "<p class='muted'>No routing decision was stored with this execution.</p>"
    )
    tags = table(("tag", "value"), [(esc(k), esc(str(v))) for k, v in sorted(e["tags"].items())])
    facts = [
        ("agent", e["agent"]),
        ("project", e["project"] or "—"),
        ("session", e["session"] or "—"),
        ("source", e["source"]),
        ("strategy", e["strategy"] or "—"),
        ("chain", e["chain_id"] or "—"),
        ("run", e["run_id"] or "—"),
        ("chain cost", money(data["chain_cost_usd"])),
    ]
    body = (
        f"<section class='card wide' id='execution' data-id='{esc(e['id'])}'>"
        f"<h2>Execution {esc(e['id'])}</h2><dl class='facts'>"
        + "".join(f"<dt>{esc(k)}</dt><dd>{esc(str(v))}</dd>" for k, v in facts)
        + f"</dl><h3>Task</h3><pre class='task'>{esc(e['task'] or '(not stored)')}</pre></section>"
        f"<section class='card wide' id='chain'><h2>Escalation chain</h2>"
        + table(
            (
                "try",
                "time",
                "tier",
                "model",
                "status",
                "validator",
                "escalation reason",
                "in / cached / out",
                "cost",
                "latency",
            ),
            attempts,
            numeric=(0, 7, 8, 9),
        )
        + "</section><section class='card' id='routing'><h2>Routing decision</h2>"
        + steps
        + "</section><section class='card' id='tags'><h2>Tags</h2>"
        + tags
        + f"</section><p><a href='{href(base, '/executions', q.link())}'>← executions</a></p>"
    )
    return shell(f"Execution {e['id']}", "/executions", body, base,
                 api=f"/api/executions/{e['id']}")  # fmt: skip


# -- live ---------------------------------------------------------------------------------------


def live_page(base: str, snap: Mapping[str, Any]) -> str:
    window = snap["window"]
    kpis = "".join(
        [
            kpi("requests / s", snap["requests_per_second"], "last minute", "live-rps"),
            kpi(
                "executions", f"{snap['last_minute']['executions']:,}", "last minute", "live-minute"
            ),
            kpi(
                f"spend, {snap['window_minutes']} min",
                money(window["cost_usd"]),
                f"{window['executions']:,} executions",
                "live-spend",
            ),
            kpi(
                "escalations",
                f"{window['escalations']:,}",
                f"last {snap['window_minutes']} min",
                "live-escalations",
            ),
            kpi(
                "blocked",
                f"{window['blocked']:,}",
                f"last {snap['window_minutes']} min",
                "live-blocked",
            ),
        ]
    )
    recent = table(
        ("time", "agent", "tier", "status", "cost"),
        [
            (esc(r["ts"][11:19]), esc(shorten(r["agent"], 300)), esc(r["tier"]),
             esc(r["status"]), esc(money(r["cost_usd"])))
            for r in snap["recent"]
        ],
        numeric=(4,),
        cls="recent",
    )  # fmt: skip
    minutes = stacked_bars_svg(
        [(m["at"][11:16], {"spend": nanos(m["cost_usd"])}) for m in snap["per_minute"]],
        [("spend", "#3d6fb6")],
        label="Spend per minute",
        width=WIDE,
    )
    body = (
        f"<section class='kpis' id='live' data-at='{esc(snap['at'])}'>{kpis}</section>"
        "<p class='muted' id='live-state'>Updated every second from the ledger.</p>"
        "<section class='grid'>"
        "<figure class='card wide' data-chart='per-minute'><figcaption>Spend per minute"
        f"</figcaption><div id='live-minutes'>{minutes}</div></figure>"
        f"<section class='card wide'><h2>Latest executions</h2><div id='live-recent'>{recent}"
        "</div></section></section>"
    )
    return shell("Live", "/live", body, base, api="/api/live?once=1")
