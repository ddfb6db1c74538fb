"""Keeping secrets out of what gearshift prints, logs and stores.

Secrets are API keys, passwords in database URLs, and the paths of webhook URLs (a Slack
incoming-webhook URL *is* its credential). They never appear in messages: a URL is shown as its
scheme and host, and any text built from an exception is scrubbed of the secret parts it may
quote (``http.client.InvalidURL`` repeats the path it refused, for one).
"""

from __future__ import annotations

import re
import urllib.parse

__all__ = ["host_only", "mask_password", "scrub"]


def host_only(url: str) -> str:
    """``https://hooks.slack.com/…``: the scheme, host and port of ``url`` and nothing else (no
    user, password, path, query or fragment). Text that is not a URL becomes ``<url>``."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return "<url>"
    if not parts.scheme or not host:
        return "<url>"
    tail = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment) else ""
    port = f":{parts.port}" if _port(parts) is not None else ""
    return f"{parts.scheme}://{host}{port}{tail}"


#: Query parameters that carry a password in a database URL (libpq and its drivers).
_SECRET_PARAMS = re.compile(r"([?&](?:password|sslpassword)=)[^&#]*", re.IGNORECASE)


def mask_password(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part (everything up to the last
    ``@`` before the host, so an unencoded ``@`` in it is masked too) and of any ``password=``
    or ``sslpassword=`` query parameter replaced by ``***``; any other text unchanged. The rest
    of the URL stays, so the text still says which database."""
    head, sep, rest = url.partition("://")
    if not sep:
        return url
    at = rest.partition("?")[0].rfind("@")  # the credentials end at the last "@" before ?
    userinfo = rest[:at] if at > 0 and not rest.startswith("/") else ""  # not a file path
    user, colon, _password = userinfo.partition(":")
    masked = f"{head}://{user}:***@{rest[at + 1 :]}" if colon else url
    return _SECRET_PARAMS.sub(r"\1***", masked)


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with every secret, and the path, query and credentials of every secret that
    is a URL, replaced by ``…``."""
    pieces: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        pieces.add(secret)
        try:
            parts = urllib.parse.urlsplit(secret)
        except ValueError:
            continue
        for piece in (parts.path, parts.query, parts.fragment, parts.password, parts.username):
            if piece and piece != "/":
                for form in (piece, urllib.parse.unquote(piece)):
                    pieces.add(form)
                    pieces.add(repr(form)[1:-1])  # as an error message quotes it
    for piece in list(pieces):
        pieces.add(repr(piece)[1:-1])
    for piece in sorted(pieces, key=len, reverse=True):
        if len(piece) >= 3:
            text = text.replace(piece, "…")
    return text


def _port(parts: urllib.parse.SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None
