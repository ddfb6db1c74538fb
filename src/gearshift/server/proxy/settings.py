"""What one proxy server is told: where to listen, where to send, what to record and enforce.

Settings are a msgspec Struct so that ``--workers N`` can hand them to each worker process as
JSON in :data:`SETTINGS_ENV` (secrets are not in it: the upstream key is read from the
environment variable the settings name, the access token from :data:`TOKEN_ENV`).
"""

from __future__ import annotations

import os

import msgspec

from gearshift.errors import ConfigError

__all__ = [
    "DEFAULT_UPSTREAM",
    "HASH_KEY_ENV",
    "SETTINGS_ENV",
    "TOKEN_ENV",
    "ProxySettings",
    "settings_from_env",
]

DEFAULT_UPSTREAM = "https://api.anthropic.com"
#: The access token clients must send (``x-gearshift-token``) when the proxy listens beyond
#: loopback; also what ``--auth-token`` defaults to.
TOKEN_ENV = "GEARSHIFT_PROXY_TOKEN"
#: The key credentials are hashed with for attribution (a random one is made and kept otherwise).
HASH_KEY_ENV = "GEARSHIFT_PROXY_HASH_KEY"
#: How the server hands its settings to worker processes.
SETTINGS_ENV = "GEARSHIFT_PROXY_SETTINGS"


class ProxySettings(msgspec.Struct, frozen=True, kw_only=True):
    """One proxy's settings; the CLI documents each option.

    ``fail_closed``: when the ledger cannot be reached to check a *blocking* budget, refuse the
    request (the default) rather than let it through unchecked. Budgets that only alert or step
    down always fail open.
    """

    host: str = "127.0.0.1"
    port: int = 8787
    upstream: str = DEFAULT_UPSTREAM
    upstream_key_env: str | None = None
    ledger: str | None = None
    prices: str | None = None
    config_path: str | None = None
    policy: str | None = None
    agents_dirs: tuple[str, ...] | None = None
    project: str = ""
    max_body_bytes: int = 32 * 1024 * 1024
    fail_closed: bool = True
    flush_ms: int = 200
    flush_rows: int = 500
    workers: int = 1
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 600.0
    drain_timeout_s: float = 600.0
    budget_refresh_s: float = 2.0
    #: Also serve the dashboard under ``/dashboard`` (one worker only: see ``cli/proxy.py``).
    dashboard: bool = False

    def auth_token(self) -> str | None:
        """The access token clients must present, from :data:`TOKEN_ENV` (``None``: none)."""
        return os.environ.get(TOKEN_ENV) or None

    def upstream_key(self) -> str | None:
        """The key that replaces clients' credentials upstream, if one is configured."""
        if self.upstream_key_env is None:
            return None
        key = os.environ.get(self.upstream_key_env)
        if not key:
            raise ConfigError(
                f"${self.upstream_key_env} is empty or not set",
                hint="export the upstream API key in that variable, or drop --upstream-key-env",
            )
        return key

    def to_env(self) -> str:
        return msgspec.json.encode(self).decode()


def settings_from_env() -> ProxySettings:
    """The settings a worker process was started with (see :data:`SETTINGS_ENV`)."""
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        raise ConfigError(f"${SETTINGS_ENV} is not set", hint="start workers with gearshift proxy")
    return msgspec.json.decode(raw, type=ProxySettings)
