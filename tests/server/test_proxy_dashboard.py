"""``gearshift proxy --dashboard``: the dashboard's pages and API under ``/dashboard/`` of a
running proxy, over the ledger the proxy writes, read-only, with its own way of checking the
access token (a browser cannot send the proxy's header)."""

from __future__ import annotations

import httpx2
import pytest

from gearshift.config import Config
from gearshift.errors import ConfigError
from gearshift.server.proxy import ProxySettings, serve

from .conftest import ProxyFactory, post, turn, wait_for

TOKEN = "d" * 24


def test_the_dashboard_shows_what_the_proxy_records(
    make_proxy: ProxyFactory, client: httpx2.Client
) -> None:
    proxy = make_proxy(dashboard=True)
    assert post(client, proxy, turn(stream=False)).status_code == 200
    proxy.flush()

    def spend() -> list[dict[str, object]]:
        got = client.get(f"{proxy.url}/dashboard/api/spend?by=source&since=1d")
        assert got.status_code == 200, got.text
        return list(got.json()["rows"])

    wait_for(lambda: any(r["key"] == "proxy" for r in spend()))
    page = client.get(f"{proxy.url}/dashboard/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/dashboard/static/app.css" in page.text  # links stay under the mount
    assert client.get(f"{proxy.url}/dashboard/static/app.css").status_code == 200
    assert client.get(f"{proxy.url}/dashboard/executions").status_code == 200
    # read-only, and nothing else of the proxy moved
    assert client.post(f"{proxy.url}/dashboard/api/spend").status_code == 405
    assert client.get(f"{proxy.url}/metrics").status_code == 200
    assert client.get(f"{proxy.url}/dashboardx").status_code == 404


def test_without_the_option_there_is_no_dashboard(
    make_proxy: ProxyFactory, client: httpx2.Client
) -> None:
    proxy = make_proxy()
    assert client.get(f"{proxy.url}/dashboard/").status_code == 404


def test_with_a_token_the_page_takes_it_once_and_the_api_a_bearer(
    make_proxy: ProxyFactory, client: httpx2.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEARSHIFT_PROXY_TOKEN", TOKEN)
    proxy = make_proxy(dashboard=True)
    assert client.get(f"{proxy.url}/dashboard/").status_code == 401
    assert client.get(f"{proxy.url}/dashboard/api/summary").status_code == 401
    link = client.get(f"{proxy.url}/dashboard/agents?token={TOKEN}")
    assert link.status_code == 303
    assert link.headers["location"] == "/dashboard/agents"  # the token leaves the address
    assert "Path=/dashboard;" in link.headers["set-cookie"]
    assert TOKEN not in link.headers["set-cookie"]
    bearer = {"authorization": f"Bearer {TOKEN}"}
    assert client.get(f"{proxy.url}/dashboard/api/summary", headers=bearer).status_code == 200
    # the proxy's own endpoints still want their header, not the dashboard's credentials
    assert post(client, proxy, turn(), **bearer).status_code == 401
    assert post(client, proxy, turn(), **{"x-gearshift-token": TOKEN}).status_code == 200


def test_the_dashboard_runs_beside_one_worker_only() -> None:
    settings = ProxySettings(workers=2, dashboard=True)
    with pytest.raises(ConfigError, match="one worker"):
        serve(settings, Config())
