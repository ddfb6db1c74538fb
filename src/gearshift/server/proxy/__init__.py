"""``gearshift proxy``: an Anthropic-compatible gateway that meters, routes and caps requests.

Point Claude Code (``ANTHROPIC_BASE_URL=http://127.0.0.1:8787``) or any Anthropic client at it:
every request is relayed to the API as it arrives, recorded in the ledger against its session
and agent, routed by a policy when one is given, and refused when a blocking budget would be
breached. docs/proxy.md describes what it edits, the headers and how it fails.

* :class:`ProxySettings` -- what one server is told;
* :func:`build_app` -- the ASGI application for some settings (tests run it in-process);
* :func:`serve` -- run it (uvicorn, several workers if asked).
"""

from gearshift.server.proxy.app import ProxyApp
from gearshift.server.proxy.serve import bind_socket, build_app, serve, uvicorn_options
from gearshift.server.proxy.settings import ProxySettings

__all__ = ["ProxyApp", "ProxySettings", "bind_socket", "build_app", "serve", "uvicorn_options"]
