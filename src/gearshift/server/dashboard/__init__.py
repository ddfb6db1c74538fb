"""The dashboard: pages, a JSON API, a live stream and Prometheus metrics over the ledger.

``create_app(ledger, config, catalog, ...)`` returns the ASGI app (``gearshift serve`` runs it
with uvicorn; another server may mount it). See :mod:`~gearshift.server.dashboard.app`.
"""

from __future__ import annotations

from gearshift.server.dashboard.app import create_app

__all__ = ["create_app"]
