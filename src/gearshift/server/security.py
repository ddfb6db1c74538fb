"""What every gearshift HTTP service checks before it serves: where it listens, and the token.

A service bound to loopback is reachable only from this machine and runs without a token; any
other address exposes the ledger (agent names, task texts, spend) to the network, so it needs
``--auth-token``. Tokens are compared in constant time (:func:`hmac.compare_digest`), so the
time a refusal takes says nothing about how much of a guess was right.
"""

from __future__ import annotations

import hmac
import ipaddress

from gearshift.errors import ConfigError

__all__ = ["MIN_TOKEN_LENGTH", "is_loopback", "require_safe_bind", "token_matches"]

#: Shorter tokens are refused: a token guards the ledger on the network.
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only: ``localhost``, ``127.0.0.0/8`` or ``::1``."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def require_safe_bind(host: str, token: str | None) -> None:
    """Refuse to listen on ``host`` unless it is loopback or a token of at least
    :data:`MIN_TOKEN_LENGTH` characters guards it; raises :class:`ConfigError`."""
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"--auth-token is shorter than {MIN_TOKEN_LENGTH} characters: too short to protect "
            "a service on the network",
            hint="use a long random token, e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`",
        )
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"--host {host} is reachable from other machines: an access token is required "
            "(it needs --auth-token)",
            hint="pass --auth-token TOKEN (or set GEARSHIFT_AUTH_TOKEN for serve, "
            "GEARSHIFT_PROXY_TOKEN for the proxy), or bind 127.0.0.1",
        )


def token_matches(given: str | None, expected: str) -> bool:
    """Whether ``given`` is ``expected``, compared in constant time; ``None`` never matches."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
