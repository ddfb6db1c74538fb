"""The dashboard's door: what it answers, to whom, and with which headers.

An ASGI middleware in front of every route:

* read-only: ``GET`` and ``HEAD`` only, anything else is 405 -- the dashboard changes nothing;
* with a token (any bind beyond loopback needs one): ``Authorization: Bearer TOKEN`` for the
  API, or, for a browser, ``?token=TOKEN`` once -- answered by a redirect to the same address
  without it (so the token leaves the address bar and history) that sets an ``HttpOnly``,
  ``SameSite=Strict`` cookie holding a MAC of the token, never the token itself; every
  comparison in constant time;
* without a token (loopback): only requests whose ``Host`` is loopback, so a web page whose
  name resolves to 127.0.0.1 (DNS rebinding) cannot read the ledger through the visitor's
  browser;
* every response carries a Content-Security-Policy with no inline script (the pages load
  their one script from the package), ``nosniff``, no referrer, no framing, no caching of data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from gearshift.server.security import is_loopback, token_matches

__all__ = ["COOKIE", "CSP", "Guard"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "gearshift_dashboard"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


class Guard:
    """Wraps the dashboard's ASGI app (see the module doc); ``token`` ``None``: loopback mode."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token
        self._cookie = _mac(token) if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
            return
        path = _route_path(scope)
        send = _with_headers(send, static=path.startswith("/static/"))
        if scope["method"] not in ("GET", "HEAD"):
            await _plain(send, 405, "the dashboard is read-only: GET and HEAD only",
                         [(b"allow", b"GET, HEAD")])  # fmt: skip
            return
        headers = _headers(scope)
        if self.token is None:
            if not is_loopback(_host(headers.get("host", ""))):
                await _plain(send, 421, "this dashboard answers to localhost only")
                return
            await self.app(scope, receive, send)
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        given = query.get("token")
        if given is not None:
            await self._accept_link(scope, send, given, query)
            return
        if self._allowed(headers):
            await self.app(scope, receive, send)
            return
        if path.startswith(("/api/", "/metrics")):
            await _plain(send, 401, "authentication required: Authorization: Bearer TOKEN",
                         [(b"www-authenticate", b'Bearer realm="gearshift"')])  # fmt: skip
        else:
            await _plain(send, 401, "authentication required: open this page with ?token=TOKEN")

    def _allowed(self, headers: dict[str, str]) -> bool:
        assert self.token is not None and self._cookie is not None
        auth = headers.get("authorization", "")
        scheme, _, credential = auth.partition(" ")
        if scheme.lower() == "bearer" and token_matches(credential.strip(), self.token):
            return True
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is no credential
            return False
        morsel = jar.get(COOKIE)
        return morsel is not None and token_matches(morsel.value, self._cookie)

    async def _accept_link(
        self, scope: Scope, send: Send, given: str, query: dict[str, str]
    ) -> None:
        """``?token=``: the cookie and a redirect without the token, or 401."""
        assert self.token is not None and self._cookie is not None
        if not token_matches(given, self.token):
            await _plain(send, 401, "wrong token")
            return
        rest = {k: v for k, v in query.items() if k != "token"}
        root = scope.get("root_path", "")
        location = root + _route_path(scope) + ("?" + urlencode(rest) if rest else "")
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{COOKIE}={self._cookie}; Path={root or '/'}; HttpOnly; SameSite=Strict{secure}"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode("latin-1", "replace")),
                    (b"set-cookie", cookie.encode()),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _route_path(scope: Scope) -> str:
    """The path below where the dashboard is mounted (``root_path``: ``/dashboard`` inside
    ``gearshift proxy --dashboard``), as the dashboard's routes see it."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root) :] or "/" if root and path.startswith(root) else path


def _mac(token: str) -> str:
    """What the cookie holds: proof of the token that does not reveal it."""
    return hmac.new(token.encode(), b"gearshift dashboard session", hashlib.sha256).hexdigest()


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        out[name.decode("latin-1").lower()] = value.decode("latin-1")
    return out


def _host(header: str) -> str:
    """The name in a ``Host`` header, without its port (``[::1]:8788`` -> ``::1``)."""
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


def _with_headers(send: Send, *, static: bool) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", ()))
            names = {name.lower() for name, _ in headers}
            headers += [h for h in _HEADERS if h[0] not in names]
            if b"cache-control" not in names:
                headers.append((b"cache-control", b"max-age=300" if static else b"no-store"))
            message["headers"] = headers
        await send(message)

    return wrapped


async def _plain(
    send: Send, status: int, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
