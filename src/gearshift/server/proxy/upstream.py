"""The one door to the upstream API: a pooled aiohttp session and the header rules.

Requests go up with every client header except the hop-by-hop ones, the proxy's own
(``x-gearshift-*``) and the body length (recomputed): every ``anthropic-*`` header is forwarded
verbatim -- no allowlist of beta values, which would break the next Claude Code release. The
client's credential (``x-api-key`` or ``Authorization``) goes up as it came, unless an upstream
key is configured: then both are replaced by it, except on OAuth (claude.ai login) requests,
whose bearer token and OAuth beta must reach the API together. ``accept-encoding`` is sent as
``identity`` so that the bytes relayed are the bytes metered.

Answers come back with their status, body and headers unchanged (``request-id``,
``retry-after``, ``x-should-retry``, every ``anthropic-ratelimit-*``), minus hop-by-hop headers.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import aiohttp
from yarl import URL

__all__ = [
    "HOP_BY_HOP",
    "Upstream",
    "forward_headers",
    "is_oauth",
    "response_headers",
]

Headers = list[tuple[bytes, bytes]]

#: Headers that describe one connection, never forwarded (RFC 9110 7.6.1), plus the ones the
#: proxy sets itself.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
        b"accept-encoding",
        b"expect",
    }
)
_CREDENTIALS = (b"x-api-key", b"authorization")
_OURS = b"x-gearshift-"


def is_oauth(headers: Headers) -> bool:
    """Whether the request carries a claude.ai login (an ``oauth-*`` beta value)."""
    return any(name == b"anthropic-beta" and b"oauth-" in value for name, value in headers)


def forward_headers(
    headers: Headers, upstream_key: str | None, *, oauth: bool
) -> list[tuple[str, str]]:
    """The request headers to send upstream (see the module doc)."""
    swap = upstream_key is not None and not oauth
    out = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in headers
        if name not in HOP_BY_HOP
        and not name.startswith(_OURS)
        and not (swap and name in _CREDENTIALS)
    ]
    if swap:
        assert upstream_key is not None
        out.append(("x-api-key", upstream_key))
    out.append(("accept-encoding", "identity"))
    return out


_RESPONSE_DROP = HOP_BY_HOP - {b"content-length"}


def response_headers(raw: tuple[tuple[bytes, bytes], ...]) -> Headers:
    """The upstream answer's headers to relay (lower-cased names, values as sent)."""
    out = []
    for name, value in raw:
        lower = name.lower()
        if lower not in _RESPONSE_DROP:
            out.append((lower, value))
    return out


class Upstream:
    """A pooled session to ``base_url`` (keep-alive connections reused across requests)."""

    def __init__(
        self, base_url: str, *, connect_timeout_s: float = 10.0, read_timeout_s: float = 600.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout_s, sock_read=read_timeout_s
        )
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=0, keepalive_timeout=30, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self.timeout,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Content-Type"),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def request(
        self,
        method: str,
        path: str,
        query: bytes,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
        """The upstream request, as an ``async with`` context that yields the response.
        ``path`` and ``query`` are sent as the client encoded them."""
        if self._session is None:
            raise RuntimeError("the upstream session is not started")
        url = self.base_url + path
        if query:
            url += "?" + query.decode("latin-1")
        return self._session.request(
            method,
            URL(url, encoded=True),
            headers=headers,
            data=body or None,
            allow_redirects=False,
        )
