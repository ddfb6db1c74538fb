"""One ``POST /v1/messages``: attribute, route, reserve, relay, meter.

1. The body is read (up to the size limit) and its head decoded (:mod:`.wire`); a body the
   proxy cannot read gets Anthropic's 400.
2. Attribution (:mod:`.attribution`) and, with a policy, the conversation's sticky route
   (:mod:`.routes`); the route's body edits (:mod:`.edits`).
3. Budgets (:mod:`.gate`): a request no budget covers passes at once; a covered one is reserved;
   a step-down budget moves the conversation one tier down; a blocking one refuses with 429.
4. The request goes upstream and the answer is relayed as it arrives, chunk by chunk, while its
   usage is read on the side (:mod:`.usage`). The client going away cancels the upstream
   request; what was used until then is recorded (estimated, flagged).
5. The ledger rows (:mod:`.records`) go to the meter, which writes them off the request path
   and settles the reservation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import msgspec

from gearshift.budgets import CallScope
from gearshift.catalog import Model, Tier
from gearshift.errors import GearshiftError
from gearshift.server.proxy.attribution import Attribution, attribute, clean, credential_hash
from gearshift.server.proxy.attribution import session_from as _session_from
from gearshift.server.proxy.edits import adapt, splice_model
from gearshift.server.proxy.gate import FREE, Admission, refusal
from gearshift.server.proxy.records import Outcome, rows_for
from gearshift.server.proxy.routes import Conversation, Route, conversation_key
from gearshift.server.proxy.state import Receive, Scope, Send, Shared, respond, respond_error
from gearshift.server.proxy.upstream import forward_headers, is_oauth, response_headers
from gearshift.server.proxy.usage import ResponseUsage, StreamUsage, json_usage
from gearshift.server.proxy.wire import BadRequest, RequestHead, decode_head, local_request_id

__all__ = ["Exchange", "messages", "pick_headers"]

Headers = list[tuple[bytes, bytes]]
log = logging.getLogger("gearshift.proxy")

_WANTED = frozenset(
    {
        b"x-claude-code-session-id",
        b"x-claude-code-agent-id",
        b"x-claude-code-parent-agent-id",
        b"x-claude-code-request-class",
        b"x-claude-code-agent-type",
        b"x-claude-code-prompt-id",
        b"x-claude-code-compaction",
        b"x-gearshift-agent",
        b"user-agent",
        b"x-api-key",
        b"authorization",
    }
)
_SSE = b"text/event-stream"
#: A JSON answer is kept (to read its usage) up to this size; larger ones are relayed unread.
_JSON_KEEP = 64 * 1024 * 1024
_UPSTREAM_LOST = (
    b'event: error\ndata: {"type":"error","error":{"type":"api_error",'
    b'"message":"the connection to the upstream API was lost"}}\n\n'
)


def pick_headers(headers: Headers) -> dict[bytes, bytes]:
    return {name: value for name, value in headers if name in _WANTED}


def credential_of(picked: dict[bytes, bytes]) -> bytes:
    """The client's credential: ``x-api-key``, else the bearer token (the same value in both
    headers is one credential)."""
    key = picked.get(b"x-api-key")
    if key:
        return key
    auth = picked.get(b"authorization", b"")
    return auth[7:] if auth[:7].lower() == b"bearer " else auth


class Exchange:
    """The state of one request as it goes (read after a cancellation too)."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.status = 0
        self.usage: ResponseUsage | None = None
        self.request_id = ""
        self.started = False
        self.cancelled = False
        self.failed = ""
        self.error_type = ""
        self.finished = False


async def messages(sh: Shared, scope: Scope, receive: Receive, send: Send, body: bytes) -> None:
    t0 = time.perf_counter()
    headers: Headers = scope["headers"]
    try:
        head = decode_head(body)
    except BadRequest as exc:
        await respond_error(send, 400, "invalid_request_error", exc.message)
        return
    picked = pick_headers(headers)
    credential = credential_of(picked)
    who = attribute(
        picked,
        body=body,
        session_hint=_session_from(head.metadata.user_id if head.metadata else None),
        credential=credential_hash(sh.hash_key, credential) if credential else "",
        types=sh.agent_types,
    )
    oauth = is_oauth(headers)
    requested = sh.catalog.find(head.model)
    conv = _conversation(sh, who, head, requested)
    route = None
    if conv is not None:
        try:
            route = await _route(sh, conv, body)
        except GearshiftError as exc:  # the ledger is down: serve what was asked for
            log.warning("cannot route (the requested model is served): %s", exc)
    served_name = route.model if route is not None else head.model
    served = sh.catalog.find(served_name)
    admission = FREE
    if not oauth:
        admission, route, served = await _admit(sh, who, conv, route, served, body, head)
    if not admission.admitted:
        await _refuse(sh, send, who, head, served, admission, t0)
        return
    send_body, edits = _edited(sh, body, route, served)
    served_name = route.model if route is not None else head.model
    ours = _our_headers(head.model, served_name, route)
    ex = Exchange(t0)
    fwd = forward_headers(headers, sh.upstream_key, oauth=oauth)
    handler = asyncio.current_task()
    assert handler is not None
    watch = asyncio.ensure_future(_client_gone(receive))
    watch.add_done_callback(lambda _: _gone(ex, handler))
    sh.metrics.in_flight.inc()
    try:
        await _relay(sh, scope, send, fwd, send_body, ours, ex)
    except asyncio.CancelledError:
        if not ex.cancelled:  # cancelled from outside (the server is stopping): record, stop
            ex.cancelled = True
            raise
        handler.uncancel()  # our own cancellation: the client left; the task goes on
    except Exception as exc:  # a bug must not lose the record, nor the connection
        ex.failed = f"{type(exc).__name__}: {exc}"[:500]
        log.exception("proxy error relaying a request")
    finally:
        ex.finished = True
        watch.cancel()
        sh.metrics.in_flight.dec()
        _record(sh, who, head, route, served_name, edits, ex, admission, oauth)


async def _client_gone(receive: Receive) -> None:
    """Returns when the client disconnects (or, once the answer is complete, at once)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _gone(ex: Exchange, handler: asyncio.Task[object]) -> None:
    """The client went away before its answer was finished: stop relaying (which closes the
    upstream connection)."""
    if not ex.finished:
        ex.cancelled = True
        handler.cancel()


def _conversation(
    sh: Shared, who: Attribution, head: RequestHead, requested: Model | None
) -> Conversation | None:
    if sh.router is None or requested is None:
        return None
    if not sh.settings.policy and not sh.gate.budgets and not sh.router:
        return None  # nothing can route it: no policy, no step-down, no route kept
    owner = who.agent_id or who.explicit or who.agent
    session = who.session or who.credential
    return Conversation(
        key=conversation_key(sh.hash_key, session, owner, head.model),
        session=who.session,
        agent=who.agent,
        kind=who.request_class,
        requested=requested,
    )


async def _route(sh: Shared, conv: Conversation, body: bytes) -> Route | None:
    router = sh.router
    assert router is not None
    route = router.cached(conv.key)
    if route is not None or not sh.settings.policy:
        return route
    doc = msgspec.json.decode(body)
    route = await asyncio.to_thread(router.decide, conv, doc, len(body))
    sh.metrics.routed(route.tier, route.policy, changed=route.changed)
    return route


async def _admit(
    sh: Shared,
    who: Attribution,
    conv: Conversation | None,
    route: Route | None,
    served: Model | None,
    body: bytes,
    head: RequestHead,
) -> tuple[Admission, Route | None, Model | None]:
    """Reserve against the budgets, stepping the conversation down while a step-down budget
    asks for it."""
    if not sh.gate.budgets:
        return FREE, route, served
    while True:
        priced = served or sh.catalog.default_for(Tier.OPUS)  # an unknown model is not free
        call = CallScope(
            project=sh.settings.project,
            agent=who.agent,
            model=served.id if served is not None else head.model,
            tier=served.tier.value if served is not None else "",
            tags=who.tags(),
        )
        admission = await sh.gate.admit(call, priced, len(body), head.max_tokens)
        decision = admission.decision
        step = decision.step_to if decision is not None else None
        if admission.action != "step-down" or step is None or conv is None or sh.router is None:
            return admission, route, served
        assert decision is not None
        current = route or Route(head.model, head.model, call.tier, "requested", "")
        why = f"budget: step down to {step.value}; {decision.reason}"
        route = await asyncio.to_thread(
            sh.router.step_down, conv, current, step, why, _history_of(body)
        )
        sh.metrics.routed(route.tier, route.policy, changed=route.changed)
        served = sh.catalog.find(route.model)


def _history_of(body: bytes) -> int:
    doc = msgspec.json.decode(body)
    messages = doc.get("messages") if isinstance(doc, dict) else None
    return max(0, len(messages) - 1) if isinstance(messages, list) else 0


def _edited(
    sh: Shared, body: bytes, route: Route | None, served: Model | None
) -> tuple[bytes, tuple[str, ...]]:
    """The body to send: as received unless the route changes the model."""
    if route is None or served is None or not route.changed:
        return body, ()
    doc: dict[str, Any] = msgspec.json.decode(body)
    edits = adapt(doc, served, strip_before=route.since_message)
    if edits == ["model"]:
        spliced = splice_model(body, served.id)
        if spliced is not None:
            return spliced, ("model",)
    return msgspec.json.encode(doc), tuple(edits)


def _our_headers(requested: str, served: str, route: Route | None) -> Headers:
    out = [
        (b"x-gearshift-requested-model", clean(requested.encode()).encode()),
        (b"x-gearshift-served-model", clean(served.encode()).encode()),
    ]
    if route is not None:
        reason = route.reason or route.policy
        out.append((b"x-gearshift-route-reason", clean(reason[:200].encode()).encode()))
    return [(k, v) for k, v in out if v]


async def _relay(
    sh: Shared,
    scope: Scope,
    send: Send,
    fwd: list[tuple[str, str]],
    body: bytes,
    ours: Headers,
    ex: Exchange,
) -> None:
    path = scope.get("raw_path") or scope["path"].encode()
    try:
        context = sh.upstream.request("POST", path.decode("latin-1"), scope["query_string"],
                                      fwd, body)  # fmt: skip
        async with context as resp:
            ex.status = resp.status
            out = response_headers(resp.raw_headers)
            ex.request_id = resp.headers.get("request-id", "")
            await send({"type": "http.response.start", "status": resp.status,
                        "headers": out + ours})  # fmt: skip
            ex.started = True
            is_sse = resp.headers.get("content-type", "").encode().startswith(_SSE)
            await _pump(send, resp, ex, is_sse)
    except (aiohttp.ClientError, TimeoutError) as exc:
        ex.failed = f"{type(exc).__name__}: {exc}"[:500]
        if not ex.started:
            timeout = isinstance(exc, TimeoutError)
            ex.status = 504 if timeout else 502
            ex.request_id = await respond_error(
                send,
                ex.status,
                "timeout_error" if timeout else "api_error",
                "the upstream API did not answer in time" if timeout
                else "the upstream API cannot be reached",
                [(b"x-should-retry", b"true"), *ours],
            )  # fmt: skip
        elif ex.usage is not None and isinstance(ex.usage, StreamUsage):
            await send({"type": "http.response.body", "body": _UPSTREAM_LOST, "more_body": False})
        else:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _pump(send: Send, resp: aiohttp.ClientResponse, ex: Exchange, is_sse: bool) -> None:
    """Relay the body as it arrives and read its usage on the side."""
    content = resp.content
    if is_sse and resp.status == 200:
        tracker = StreamUsage()
        ex.usage = tracker
        async for chunk in content.iter_any():
            last = content.at_eof()
            await send({"type": "http.response.body", "body": chunk, "more_body": not last})
            tracker.feed(chunk)
            if last:
                return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    kept: list[bytes] = []
    size = 0
    last = False
    async for chunk in content.iter_any():
        last = content.at_eof()
        await send({"type": "http.response.body", "body": chunk, "more_body": not last})
        size += len(chunk)
        if size <= _JSON_KEEP:
            kept.append(chunk)
    if not last:
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    whole = kept[0] if len(kept) == 1 else b"".join(kept)
    if resp.status == 200:
        ex.usage = json_usage(whole)
    else:
        ex.error_type = _error_type(whole)


class _ErrorInner(msgspec.Struct):
    type: str = ""
    message: str = ""


class _ErrorBody(msgspec.Struct):
    error: _ErrorInner | None = None


def _error_type(body: bytes) -> str:
    try:
        found = msgspec.json.decode(body, type=_ErrorBody).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return ""
    return f"{found.type}: {found.message}"[:500] if found is not None else ""


async def _refuse(
    sh: Shared,
    send: Send,
    who: Attribution,
    head: RequestHead,
    served: Model | None,
    admission: Admission,
    t0: float,
) -> None:
    request_id = local_request_id()
    status, headers, body = refusal(admission, request_id)
    reason = "budget" if admission.decision is not None else "budget-unavailable"
    served_name = served.id if served is not None else head.model
    outcome = Outcome(
        status="blocked",
        http_status=status,
        latency_ms=int((time.perf_counter() - t0) * 1000),
        requested=head.model,
        served=served_name,
        request_id=request_id,
        error=f"billing_error: {admission.decision.reason if admission.decision else reason}",
    )
    rows = rows_for(sh.catalog, who, outcome, None, project=sh.settings.project)
    sh.meter.add(rows)  # before answering: a client told "refused" finds the row
    sh.metrics.refused(who.agent, reason)
    sh.metrics.request("messages", who.agent, served_name, rows[0].tier, status)
    await respond(send, status, headers, body)


def _record(
    sh: Shared,
    who: Attribution,
    head: RequestHead,
    route: Route | None,
    served: str,
    edits: tuple[str, ...],
    ex: Exchange,
    admission: Admission,
    oauth: bool,
) -> None:
    usage = ex.usage
    if isinstance(usage, StreamUsage):
        usage.finish()
    if ex.cancelled:
        status = "cancelled"
    elif ex.failed or ex.status >= 400 or (usage is not None and usage.error is not None):
        status = "error"
    else:
        status = "success"
    error = ex.failed or ex.error_type
    if usage is not None and usage.error is not None:
        error = f"{usage.error[0]}: {usage.error[1]}"
    now = time.perf_counter()
    ttft = usage.first_token_at if usage is not None else None
    outcome = Outcome(
        status=status,
        http_status=ex.status or 499,
        latency_ms=int((now - ex.t0) * 1000),
        requested=head.model,
        served=served,
        route_policy=route.policy if route is not None else "",
        route_reason=route.reason if route is not None else "",
        edits=edits,
        ttft_ms=int((ttft - ex.t0) * 1000) if ttft is not None else None,
        request_id=ex.request_id,
        error=error,
        subscription=oauth,
    )
    rows = rows_for(sh.catalog, who, outcome, usage, project=sh.settings.project)
    sh.meter.add(rows, admission.reservation)
    main = rows[0]
    m = sh.metrics
    m.request("messages", who.agent, main.model, main.tier, outcome.http_status)
    for row in rows:
        counts = (row.input_tokens, row.output_tokens, row.cache_write_5m_tokens,
                  row.cache_write_1h_tokens, row.cache_read_tokens)  # fmt: skip
        m.usage(who.agent, row.model, row.tier, counts, row.cost_nanos)
    m.timing("messages", main.model, now - ex.t0, (ttft - ex.t0) if ttft is not None else None)
