"""The Claude Code status line: what this session, its subagents, today and the tightest budget
cost, in one short line.

Claude Code runs the status line command after each assistant message (at most every 300 ms) and
pipes it a JSON description of the session on stdin (:func:`read_payload`). The line is made of
the ledger's figures (:func:`gather`: the session's spend by agent, today's spend, the tier the
gearshift proxy routes the session to), the tightest budget (a :class:`BudgetGlance`, computed
apart: see :mod:`gearshift.budgets.glance`), and a few fields of the payload, as named text
fields (:func:`line_fields`) that a template (``--format``) or the default line
(:func:`default_line`) arranges.

Everything shown is as fresh as the ledger: transcripts reach it when the ingest hook runs (the
end of each turn and of each subagent), proxy records as requests finish.

Names in the line come from transcripts and the network (agent types, model names, tiers), so
:func:`printable` escapes what a terminal would act on: control characters (an escape sequence
could rewrite the screen) and invisible format characters (a bidi override could reorder it).
This module is on the path of every status line: it loads nothing it does not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gearshift import _json

if TYPE_CHECKING:
    from gearshift.budgets.glance import BudgetGlance
    from gearshift.ledger.glance import AgentSpend, Glance

__all__ = [
    "FIELDS",
    "Figures",
    "Payload",
    "default_line",
    "gather",
    "line_fields",
    "printable",
    "read_payload",
    "render",
    "usd",
]

#: The fields a ``--format`` template can name, with what each holds.
FIELDS = {
    "session_cost": "this session's cost, subagents included ($1.23)",
    "top_agent": "the most expensive subagent type and its cost (Explore $0.40)",
    "top_agent_name": "that subagent type",
    "top_agent_cost": "its cost",
    "subagents_cost": "what all the session's subagents cost",
    "today": "everything recorded today, in your zone",
    "budget": "the tightest budget: spent and forecast share (team 62%→91%)",
    "budget_name": "its name",
    "budget_used": "its spend so far, as a share of the amount (62%)",
    "budget_forecast": "where its forecast ends the period (91%)",
    "budget_status": "ok, at-risk, forecast-breach or breached",
    "tier": "the tier the gearshift proxy routes this session to",
    "model": "the model's name, as Claude Code shows it",
    "model_id": "the model's id",
    "cc_cost": "Claude Code's own estimate of the session's cost",
    "context": "how full the context window is (42%)",
    "limit_5h": "how much of the plan's 5-hour limit is used (Pro and Max plans)",
    "limit_7d": "how much of the plan's 7-day limit is used",
    "session_id": "the session id's first 8 characters",
    "project": "the project folder's name",
    "version": "Claude Code's version",
}

_SEP = " · "
_NAME_MAX = 32


class Payload:
    """What the status line uses of Claude Code's JSON: every field optional."""

    __slots__ = (
        "cc_cost",
        "context_percent",
        "limit_5h",
        "limit_7d",
        "model",
        "model_id",
        "project",
        "session_id",
        "version",
    )

    def __init__(
        self,
        session_id: str = "",
        model: str = "",
        model_id: str = "",
        cc_cost: float | None = None,
        context_percent: float | None = None,
        project: str = "",
        version: str = "",
        limit_5h: float | None = None,
        limit_7d: float | None = None,
    ) -> None:
        self.session_id = session_id
        self.model = model
        self.model_id = model_id
        self.cc_cost = cc_cost
        self.context_percent = context_percent
        self.project = project
        self.version = version
        self.limit_5h = limit_5h
        self.limit_7d = limit_7d


def read_payload(data: bytes | str) -> Payload:
    """The payload in ``data``; anything missing, unknown or of the wrong type is left out (an
    empty or unreadable input gives an empty payload): a status line never fails on its input."""
    try:
        doc = _json.loads(data) if data.strip() else None
    except (ValueError, RecursionError):  # json's errors (decoding ones are ValueErrors too)
        doc = None
    if not isinstance(doc, dict):
        return Payload()
    model = _dict(doc, "model")
    cost = _dict(doc, "cost")
    context = _dict(doc, "context_window")
    workspace = _dict(doc, "workspace")
    limits = _dict(doc, "rate_limits")
    folder = _text(workspace, "project_dir") or _text(workspace, "current_dir") or _text(doc, "cwd")
    return Payload(
        session_id=_text(doc, "session_id"),
        model=_text(model, "display_name"),
        model_id=_text(model, "id"),
        cc_cost=_number(cost, "total_cost_usd"),
        context_percent=_number(context, "used_percentage"),
        project=folder.rstrip("/").rpartition("/")[2],
        version=_text(doc, "version"),
        limit_5h=_number(_dict(limits, "five_hour"), "used_percentage"),
        limit_7d=_number(_dict(limits, "seven_day"), "used_percentage"),
    )


def _dict(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    return value if isinstance(value, str) else ""


def _number(doc: dict[str, Any], key: str) -> float | None:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if abs(number) < float("inf") else None  # NaN compares false too


class Figures:
    """What the ledger says: the session's spend by agent (``None``: no session to look up),
    everything since the start of today, and the proxy's tier for the session."""

    __slots__ = ("agents", "tier", "today_nanos")

    def __init__(self, agents: list[AgentSpend] | None, today_nanos: int, tier: str | None) -> None:
        self.agents = agents
        self.today_nanos = today_nanos
        self.tier = tier

    @property
    def session_nanos(self) -> int | None:
        return None if self.agents is None else sum(cost for _, cost, _ in self.agents)

    @property
    def subagents(self) -> list[AgentSpend]:
        """The session's subagent types (every agent but ``main``), most expensive first."""
        return [a for a in self.agents or () if a[0] != "main"]


def gather(glance: Glance, session_id: str, since_us: int) -> Figures:
    """The ledger's figures for ``session_id`` ("" for none) and everything since ``since_us``
    (the start of today in the user's zone)."""
    agents = glance.session_spend(session_id) if session_id else None
    tier = glance.routed_tier(session_id) if session_id else None
    return Figures(agents, glance.spend_since(since_us), tier)


def line_fields(
    payload: Payload, figures: Figures | None, budget: BudgetGlance | None
) -> dict[str, str]:
    """Every field of :data:`FIELDS` as text ("" when unknown), names made :func:`printable`."""
    out = dict.fromkeys(FIELDS, "")
    if figures is not None:
        session = figures.session_nanos
        if session is not None:
            out["session_cost"] = usd(session)
            subagents = figures.subagents
            if subagents:
                name, cost, _ = subagents[0]
                out["top_agent_name"] = printable(name)
                out["top_agent_cost"] = usd(cost)
                out["top_agent"] = f"{out['top_agent_name']} {out['top_agent_cost']}"
                out["subagents_cost"] = usd(sum(c for _, c, _ in subagents))
        out["today"] = usd(figures.today_nanos)
        out["tier"] = printable(figures.tier or "")
    if budget is not None:
        out["budget_name"] = printable(budget.name)
        out["budget_used"] = f"{budget.used_percent}%"
        out["budget_forecast"] = f"{budget.forecast_percent}%"
        out["budget_status"] = printable(budget.status)
        out["budget"] = f"{out['budget_name']} {out['budget_used']}→{out['budget_forecast']}"
    out["model"] = printable(payload.model)
    out["model_id"] = printable(payload.model_id)
    if payload.cc_cost is not None:
        out["cc_cost"] = f"${payload.cc_cost:.2f}"
    for name, percent in (
        ("context", payload.context_percent),
        ("limit_5h", payload.limit_5h),
        ("limit_7d", payload.limit_7d),
    ):
        if percent is not None:
            out[name] = f"{percent:.0f}%"
    out["session_id"] = printable(payload.session_id[:8])
    out["project"] = printable(payload.project)
    out["version"] = printable(payload.version)
    return out


def default_line(fields: dict[str, str]) -> str:
    """``$1.23 session (Explore $0.40) · $8.12 today · team 62%→91% · sonnet via proxy``,
    leaving out what is unknown."""
    parts = []
    if fields["session_cost"]:
        top = f" ({fields['top_agent']})" if fields["top_agent"] else ""
        parts.append(f"{fields['session_cost']} session{top}")
    if fields["today"]:
        parts.append(f"{fields['today']} today")
    if fields["budget"]:
        parts.append(fields["budget"])
    if fields["tier"]:
        parts.append(f"{fields['tier']} via proxy")
    return _SEP.join(parts)


def render(template: str, fields: dict[str, str]) -> str:
    """``template`` with its ``{field}`` names filled in; ``ValueError`` names a field the
    template asks for that does not exist, or what is wrong with the template."""
    try:
        line = template.format_map(fields)
    except KeyError as exc:
        raise ValueError(f"no field {{{exc.args[0]}}}") from None
    except (ValueError, IndexError, AttributeError, TypeError) as exc:
        raise ValueError(f"bad template: {exc}") from None
    return line.replace("\n", " ").replace("\r", " ")


def printable(text: str, limit: int = _NAME_MAX) -> str:
    """``text`` safe to print on a terminal: every character that is not printable -- controls
    (ESC starts a terminal sequence), format characters (bidi overrides and isolates, zero-width
    joiners), separators other than the space -- written as a visible ``\\uXXXX`` escape, and
    cut to ``limit`` characters with an ellipsis."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else _escape(c) for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def usd(nanos: int) -> str:
    """Nano-dollars for a status line: ``$0.00``, ``<$0.01``, ``$12.34``, ``$1,234`` (cents
    rounded half up; whole dollars from $1,000)."""
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if 0 < nanos < 5_000_000:
        return f"{sign}<$0.01"
    cents = (nanos + 5_000_000) // 10_000_000
    if cents >= 100_000:
        return f"{sign}${(nanos + 500_000_000) // 1_000_000_000:,}"
    return f"{sign}${cents // 100:,}.{cents % 100:02d}"
