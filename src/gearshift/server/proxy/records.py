"""The ledger rows of one proxied request.

One row per request, priced by the catalog on the model that *served* it (the response's
``model``, never the alias asked for), with its attribution, routing decision, status, latency
and time to first token as tags. An advisor sub-call reported in ``usage.iterations`` is billed
at the advisor model's rates and not in the top-level totals, so it gets a row of its own
(``part=advisor``, same ``request_id``).

A response Claude Code also writes to its transcript carries the dedup key transcript ingest
gives the same response (``cc:<message id>|<request id>|m`` or ``|s``), so ingesting the
transcripts later does not count it twice.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gearshift.catalog import Catalog, Model, Usage
from gearshift.ledger import Execution
from gearshift.ledger.record import FLAG_BATCH, FLAG_ESTIMATED, FLAG_FAST
from gearshift.server.proxy.attribution import Attribution
from gearshift.server.proxy.usage import ResponseUsage

__all__ = ["Outcome", "rows_for"]

_UNKNOWN = "unknown"


class Outcome(msgspec.Struct, kw_only=True):
    """How a request went, as the relay saw it."""

    status: str
    http_status: int
    latency_ms: int
    requested: str
    served: str
    route_policy: str = ""
    route_reason: str = ""
    edits: tuple[str, ...] = ()
    ttft_ms: int | None = None
    request_id: str = ""
    error: str = ""
    subscription: bool = False


def _usage(raw: dict[str, Any]) -> tuple[Usage, bool]:
    try:
        return Usage.from_api(raw), True
    except (ValueError, TypeError):
        return Usage(), False


def rows_for(
    catalog: Catalog,
    who: Attribution,
    outcome: Outcome,
    usage: ResponseUsage | None,
    *,
    project: str = "",
) -> list[Execution]:
    """The ledger rows of a request (one, plus one per advisor sub-call)."""
    model_name = (usage.model if usage is not None and usage.model else "") or outcome.served
    model = catalog.find(model_name) if model_name else None
    counted, readable = _usage(usage.usage) if usage is not None else (Usage(), True)
    tags = who.tags()
    tags["requested_model"] = outcome.requested
    tags["http_status"] = str(outcome.http_status)
    if outcome.request_id:
        tags["request_id"] = outcome.request_id
    if outcome.route_policy:
        tags["route"] = outcome.route_policy
        tags["route_reason"] = outcome.route_reason[:300]
    if outcome.edits:
        tags["edits"] = ",".join(outcome.edits)
    if outcome.ttft_ms is not None:
        tags["ttft_ms"] = str(outcome.ttft_ms)
    if outcome.subscription:
        tags["billing"] = "subscription"
    if not readable:
        tags["usage"] = "unreadable"
    flags = 0
    if usage is not None and usage.estimated:
        flags |= FLAG_ESTIMATED
        tags["estimated"] = "true"
    main = _row(catalog, model, model_name, counted, who, outcome, tags, flags, project)
    if usage is not None and usage.message_id and outcome.request_id and who.session:
        kind = "s" if who.agent_id else "m"
        main.dedup_key = f"cc:{usage.message_id}|{outcome.request_id}|{kind}"
    rows = [main]
    if usage is not None:
        rows += _advisor_rows(catalog, usage.usage, who, outcome, tags, project)
    return rows


def _row(
    catalog: Catalog,
    model: Model | None,
    model_name: str,
    usage: Usage,
    who: Attribution,
    outcome: Outcome,
    tags: dict[str, str],
    flags: int,
    project: str,
) -> Execution:
    row = Execution(
        model=model.id if model is not None else (model_name or _UNKNOWN)[:200],
        tier=model.tier.value if model is not None else _UNKNOWN,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_write_5m_tokens=usage.cache_write_5m_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        agent=who.agent[:200],
        project=project,
        session=who.session[:200],
        task_type=who.request_class or None,
        latency_ms=outcome.latency_ms,
        status=outcome.status,
        source="proxy",
        validation=outcome.error[:500] or None,
        flags=flags | (FLAG_BATCH if usage.batch else 0) | (FLAG_FAST if usage.fast else 0),
        tags=dict(tags),
    )
    if usage.geo:
        row.tags["geo"] = usage.geo
    if model is not None and not outcome.subscription:
        cost = catalog.cost(model, usage, at=row.ts)
        row.cost_nanos, row.price_version = cost.nanos, cost.price_version
    return row


def _advisor_rows(
    catalog: Catalog,
    raw: dict[str, Any],
    who: Attribution,
    outcome: Outcome,
    tags: dict[str, str],
    project: str,
) -> list[Execution]:
    rows = []
    for item in raw.get("iterations") or ():
        if not isinstance(item, dict) or item.get("type") != "advisor_message":
            continue
        name = item.get("model")
        if not isinstance(name, str):
            continue
        usage, _ = _usage(item)
        extra = {**tags, "part": "advisor"}
        model = catalog.find(name)
        rows.append(_row(catalog, model, name, usage, who, outcome, extra, 0, project))
    return rows
