"""The API's base URL, checked before any request: a malformed one is a configuration error.

Left to the HTTP client, a base URL without a scheme or with a space fails on every request as
a connection error, which the retry loop would take for a passing network fault and retry. It
is a setting the user has to fix, so it fails once, at once, as :class:`ConfigError`. The
message never repeats the URL (a gateway URL may carry a token in its path).
"""

from __future__ import annotations

import os
import urllib.parse

from gearshift.errors import ConfigError

__all__ = ["BASE_URL_ENV", "base_url"]

BASE_URL_ENV = "ANTHROPIC_BASE_URL"


def base_url(given: str | None, default: str | None = None) -> str | None:
    """``given``, else ``$ANTHROPIC_BASE_URL``, else ``default``; raises :class:`ConfigError`
    when the chosen one is not an ``http(s)://host...`` URL free of spaces and control
    characters."""
    source = "the base URL"
    url = given
    if not url:
        url = os.environ.get(BASE_URL_ENV) or None
        source = BASE_URL_ENV
    if not url:
        return default
    if not _well_formed(url):
        raise ConfigError(
            f"{source} is not a valid URL",
            hint="give a URL such as https://api.anthropic.com (http:// or https://, a host, "
            f"no spaces), or unset {BASE_URL_ENV}",
        )
    return url


def _well_formed(url: str) -> bool:
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return False
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  # raises on a port that is not a number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
