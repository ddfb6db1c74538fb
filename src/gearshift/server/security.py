"""What a gearshift HTTP service checks before serving: where it binds and who may call it.

A service answers only on loopback unless it is given an access token; with one, every request
must carry it (compared in constant time, so the comparison leaks nothing through its timing).
"""

from __future__ import annotations

import hmac
import ipaddress

from gearshift.errors import ConfigError

__all__ = ["is_loopback", "require_safe_bind", "token_matches"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is loopback only."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def require_safe_bind(host: str, token: str | None) -> None:
    """Refuse to bind anywhere but loopback without an access token (``ConfigError``).

    ``0.0.0.0``, a LAN address or a host name are reachable by others: serving there without a
    token would let anyone on the network spend through the service's credentials.
    """
    if is_loopback(host):
        return
    if not token:
        raise ConfigError(
            f"--host {host} is reachable from other machines: an access token is required",
            hint="pass --auth-token (or set GEARSHIFT_PROXY_TOKEN), or bind 127.0.0.1",
        )
    if len(token) < 16:
        raise ConfigError(
            "the access token is too short to protect a service on the network",
            hint="use at least 16 random characters, e.g. from `openssl rand -hex 24`",
        )


def token_matches(given: str | None, expected: str) -> bool:
    """Whether ``given`` is ``expected``, compared in constant time (``None`` never matches)."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
