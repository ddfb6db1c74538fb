"""The dashboard's JSON API and pages over a demo ledger: the numbers are ``spend --json``'s,
the filters are the CLI's, every user string is escaped, nothing but GET/HEAD is answered,
and a token guards it when asked."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gearshift.catalog import load_catalog
from gearshift.cli.entry import main as cli_main
from gearshift.config import Config
from gearshift.errors import LedgerError
from gearshift.ledger import Filters, Ledger, spend
from gearshift.ledger.reprice import unpriced_models
from gearshift.server.dashboard import create_app
from gearshift.server.dashboard.guard import COOKIE, CSP
from gearshift.timespec import parse_zone

PAGES = ("/", "/agents", "/executions", "/live")


def cli_spend(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> object:
    capsys.readouterr()
    cli_main(["--ledger", str(path), "spend", *args, "--json"])
    return json.loads(capsys.readouterr().out)


def days_ago(n: int) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=n)).date().isoformat()


@pytest.mark.parametrize(
    "args",
    [
        ["--by", "day", "--tz", "UTC"],
        ["--by", "day", "--tz", "Asia/Kolkata"],
        ["--by", "week", "--tz", "America/Los_Angeles"],
        ["--by", "month", "--tz", "Europe/Paris"],
        ["--by", "agent"],
        ["--by", "tier", "--project", "acme-web"],
        ["--by", "model", "--agent", "test-engineer", "--since", "DAYS10", "--until", "DAYS3"],
        ["--by", "day", "--tier", "sonnet", "--tz", "Asia/Kathmandu", "--since", "DAYS20"],
        ["--by", "source", "--source", "proxy"],
        ["--by", "project", "--model", "claude-haiku-4-5-20251001"],
        ["--by", "status"],
        ["--by", "session", "--agent", "architect"],
        ["--by", "day", "--tag", "role=main", "--tz", "UTC"],
    ],
)
def test_spend_is_the_clis_to_the_digit(
    client: TestClient, demo_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    args = [days_ago(int(a[4:])) if a.startswith("DAYS") else a for a in args]
    expected = cli_spend(demo_path, capsys, *args)
    params = {args[i].lstrip("-"): args[i + 1] for i in range(0, len(args), 2)}
    got = client.get("/api/spend", params=params)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/json"
    assert got.json() == expected
    assert expected["rows"] or "--tag" in args  # the case is not vacuous


def test_stacked_spend_adds_up_to_the_periods(client: TestClient) -> None:
    plain = client.get("/api/spend", params={"by": "day", "tz": "Europe/Paris"}).json()
    stacked = client.get("/api/spend", params={"by": "day", "stack": "agent",
                                               "tz": "Europe/Paris"}).json()  # fmt: skip
    assert stacked["rows"] == plain["rows"] and stacked["total"] == plain["total"]
    assert stacked["stack"]["by"] == "agent" and stacked["stack"]["keys"][0] == "test-engineer"
    for row, period in zip(plain["rows"], stacked["stack"]["periods"], strict=True):
        assert period["key"] == row["key"]
        parts = sum(int(v.replace(".", "")) for v in period["cost_usd"].values())
        assert parts == int(row["cost_usd"].replace(".", ""))


def test_the_overview_is_its_endpoints(client: TestClient) -> None:
    params = {"since": days_ago(12), "tz": "Asia/Kolkata", "project": "acme-api"}
    overview = client.get("/api/overview", params={**params, "stack": "agent"}).json()
    stacked = {**params, "by": "day", "stack": "agent"}
    assert overview["spend"] == client.get("/api/spend", params=stacked).json()
    for part, by in (("tiers", "tier"), ("agents", "agent"), ("models", "model")):
        alone = client.get("/api/spend", params={**params, "by": by}).json()
        alone.pop("unpriced", None)  # named by /api/spend only (it reads the table for it)
        assert overview[part] == alone
    assert overview["summary"] == client.get("/api/summary", params=params).json()
    budgets = client.get("/api/budgets", params=params).json()["budgets"]
    steady = ("budget", "spent_usd", "amount_usd", "history")  # the rest moves with the clock
    assert [{k: b[k] for k in steady} for b in overview["budgets"]["budgets"]] == [
        {k: b[k] for k in steady} for b in budgets
    ]
    unfiltered = client.get("/api/overview").json()["spend"]["total"]
    month = client.get("/api/spend", params={"since": "30d"}).json()["total"]
    assert unfiltered == month  # the page's default window


def test_summary_counts_outcomes(client: TestClient, reader: Ledger) -> None:
    got = client.get("/api/summary").json()
    (n, ok, bad, blocked, esc) = reader.query(
        "SELECT COUNT(*), SUM(CASE WHEN status = 'success' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status = 'failure' THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN status = 'blocked' THEN 1 ELSE 0 END), COUNT(escalation_reason) "
        "FROM executions"
    )[0]
    assert (got["executions"], got["successes"], got["failures"]) == (n, ok, bad)
    assert (got["blocked"], got["escalations"]) == (blocked, esc) == (3, esc) and esc > 0


def test_budgets_carry_their_forecast_and_burn(client: TestClient) -> None:
    (budget,) = client.get("/api/budgets", params={"tz": "UTC"}).json()["budgets"]
    assert budget["budget"] == "team-monthly" and budget["amount_usd"] == "150.000000000"
    assert budget["status"] in ("ok", "at-risk", "forecast-breach", "breached")
    assert budget["burn"] and "verdict" in budget
    burn = budget["burn"]
    assert burn[0]["actual_usd"] is not None and burn[-1]["expected_usd"] is not None


def test_agents_show_tiers_true_cost_and_advice(client: TestClient, demo: Any) -> None:
    data = client.get("/api/agents").json()
    assert data["predictor"] is False
    agents = {a["agent"]: a for a in data["agents"]}
    tester = agents["test-engineer"]
    assert [t["tier"] for t in tester["tiers"]] == ["haiku", "sonnet"]
    assert tester["tiers"][1]["escalations"] > 0 and tester["p_success"] is None
    assert tester["true_cost"]["home_tier"] == "haiku"
    summarizer = agents["release-summarizer"]
    assert any(r["kind"] == "tiered" and r["evidence"] for r in summarizer["recommendations"])
    assert demo.hostile in agents


def test_a_predictor_fills_p_success(reader: Ledger) -> None:
    def predictor(agent: str) -> dict[str, float] | None:
        return {"haiku": 0.8, "sonnet": 0.95} if agent == "test-engineer" else None

    app = create_app(reader, Config(), load_catalog(), predictor=predictor)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        agents = {a["agent"]: a for a in c.get("/api/agents").json()["agents"]}
        assert agents["test-engineer"]["p_success"] == {"haiku": "0.8000", "sonnet": "0.9500"}
        assert agents["architect"]["p_success"] is None
        assert "P(success)" in c.get("/agents").text and "80%" in c.get("/agents").text


def test_executions_search_page_and_chain(client: TestClient, demo: Any) -> None:
    retries = {"agent": "test-engineer", "tier": "sonnet", "limit": "2"}
    page = client.get("/api/executions", params=retries).json()
    assert len(page["executions"]) == 2 and page["next"]
    older = client.get("/api/executions", params={**retries, "before": page["next"]}).json()
    seen = {e["id"] for e in page["executions"]}
    assert older["executions"] and not seen & {e["id"] for e in older["executions"]}
    assert older["executions"][0]["ts"] <= page["executions"][-1]["ts"]
    retry = page["executions"][0]
    detail = client.get(f"/api/executions/{retry['id']}").json()
    chain = detail["chain"]
    assert [(a["attempt"], a["tier"]) for a in chain] == [(1, "haiku"), (2, "sonnet")]
    assert chain[0]["status"] == "failure" and chain[0]["validation"]
    assert chain[1]["escalation_reason"].startswith("validation failed on haiku")
    assert detail["routing"] is None
    html = client.get(f"/executions/{retry['id']}").text
    assert "validation failed on haiku" in html and "No routing decision" in html
    found = client.get("/api/executions", params={"q": "EVIL"}).json()["executions"]
    assert [e["agent"] for e in found] == [demo.hostile]
    assert client.get("/api/executions", params={"q": "100%_"}).json()["executions"] == []
    assert client.get("/api/executions/nope").status_code == 404
    assert client.get("/executions/nope").status_code == 404


def test_a_stored_routing_decision_is_shown_step_by_step(client: TestClient, demo: Any) -> None:
    detail = client.get("/api/executions/01ROUTEDEXECUTION000000000").json()
    assert detail["routing"] == demo.route
    html = client.get("/executions/01ROUTEDEXECUTION000000000").text
    assert "scores 2+2+1 = 5: sonnet" in html and ">complexity<" in html


def test_every_user_string_is_escaped(client: TestClient, demo: Any) -> None:
    hostile_id = client.get("/api/executions", params={"q": "evil"}).json()["executions"][0]["id"]
    for path in (*PAGES, f"/executions/{hostile_id}", "/executions?q=evil"):
        html = client.get(path).text
        assert "<img" not in html and "<script>alert" not in html, path
        assert "\u202e" not in html, path
        assert "&lt;img src=x onerror=alert(1)&gt;[U+202E]evil" in html, path
    detail = client.get(f"/executions/{hostile_id}").text
    assert "&lt;script&gt;alert(&#x27;task&#x27;)&lt;/script&gt; &amp; [U+202E]txt.exe" in detail
    data = client.get(f"/api/executions/{hostile_id}")
    assert data.json()["execution"]["task"] == demo.hostile_task  # data stays data in JSON
    assert data.headers["x-content-type-options"] == "nosniff"


def test_pages_load_no_inline_script_and_send_a_strict_policy(client: TestClient) -> None:
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert r.headers["content-security-policy"] == CSP and "unsafe" not in CSP
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-store"
        scripts = re.findall(r"<script[^>]*>", r.text)
        assert scripts == ["<script src='/static/app.js' defer>"], path
        assert _handler_attributes(r.text) == [], path
        assert not re.search(r"https?://", r.text.replace("http://www.w3.org", "")), path
    js = client.get("/static/app.js")
    assert js.headers["content-type"].startswith("text/javascript") and "innerHTML" not in js.text
    assert client.get("/static/../app.py").status_code == 404


def _handler_attributes(html: str) -> list[str]:
    """Event-handler attributes (``onerror=``...) anywhere in the markup, as a browser parses
    it: none may exist, whatever the ledger holds."""
    found: list[str] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.extend(f"{tag} {name}" for name, _ in attrs if name.startswith("on"))

    Parser().feed(html)
    return found


def test_only_get_and_head_are_answered(client: TestClient) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        for path in ("/", "/api/spend", "/metrics"):
            r = client.request(method, path)
            assert r.status_code == 405, (method, path)
            assert r.headers["allow"] == "GET, HEAD"
    assert client.head("/api/spend").status_code == 200


def test_the_ledger_is_opened_read_only(demo_path: Path, tmp_path: Path) -> None:
    with Ledger.open_read_only(demo_path) as ledger:
        before = ledger.count()
        with pytest.raises(LedgerError, match=r"readonly|read-only|attempt to write"):
            ledger.record(agent="x", model="claude-haiku-4-5")
        assert ledger.count() == before
    missing = tmp_path / "missing.db"
    with pytest.raises(LedgerError, match="no ledger"):
        Ledger.open_read_only(missing)
    assert not missing.exists()
    old = tmp_path / "old.db"
    Ledger.open(old).close()
    with Ledger.open(old) as ledger:
        ledger.execute_many([("DELETE FROM gearshift_migrations WHERE name = :n",
                              [{"n": "0013_spend_rollup"}])])  # fmt: skip
    with pytest.raises(LedgerError, match="older gearshift") as info:
        Ledger.open_read_only(old)
    assert info.value.hint and "ledger stats" in info.value.hint


@pytest.mark.postgres
def test_postgres_spend_and_read_only(pg_url: str, demo: Any) -> None:
    with Ledger.open(pg_url) as ledger:
        demo.fill(ledger, dt.datetime.now(dt.UTC))
    with Ledger.open_read_only(pg_url) as ledger:
        app = create_app(ledger, Config(), load_catalog(), tz="UTC")
        with TestClient(app, base_url="http://127.0.0.1") as c:
            for params in ({"by": "day", "tz": "Asia/Kolkata"}, {"by": "agent"},
                           {"by": "tier", "project": "acme-api"}):  # fmt: skip
                filters = Filters(project=params.get("project"))
                expected = spend(ledger, params["by"], filters, parse_zone(params.get("tz", "UTC")))
                got = c.get("/api/spend", params=params).json()
                assert got.pop("unpriced") == unpriced_models(ledger, filters)  # as spend's
                assert got == expected.to_dict()
        with pytest.raises(LedgerError):
            ledger.record(agent="x", model="claude-haiku-4-5")


def test_bad_parameters_are_named(client: TestClient) -> None:
    cases = {
        "since=soon": "since",
        "by=weekday": "by",
        "tz=Mars/Base": "tz",
        "tag=team": "tag",
        "stack=colour": "stack",
        "by=agent&stack=tier": "stack",
        "since=2026-03-05&until=2026-03-01": "since",
    }
    for query, name in cases.items():
        r = client.get(f"/api/spend?{query}")
        assert r.status_code == 400 and name in r.json()["error"], query
    assert "limit" in client.get("/api/executions?limit=0").json()["error"]
    assert "before" in client.get("/api/executions?before=junk").json()["error"]
    page = client.get("/?since=soon")
    assert page.status_code == 400 and "since" in page.text


def test_a_token_guards_the_dashboard(reader: Ledger) -> None:
    token = "a-long-enough-secret-token"
    app = create_app(reader, Config(), load_catalog(), token=token)
    with TestClient(app, base_url="http://dash.example:8788", follow_redirects=False) as c:
        r = c.get("/api/spend")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        assert c.get("/metrics").status_code == 401 and c.get("/").status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}
        assert c.get("/api/spend", headers=bearer).status_code == 200
        wrong = {"Authorization": "Bearer a-long-enough-secret-tokex"}
        assert c.get("/api/spend", headers=wrong).status_code == 401
        assert c.get("/?token=guess").status_code == 401
        link = c.get(f"/agents?token={token}&since=7d")
        assert link.status_code == 303 and link.headers["location"] == "/agents?since=7d"
        cookie = link.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and token not in cookie
        value = cookie.split(";")[0].split("=", 1)[1]
        c.cookies.clear()
        assert c.get("/agents", headers={"Cookie": f"{COOKIE}={value}"}).status_code == 200
        forged = {"Cookie": f"{COOKIE}={value[:-1]}{'1' if value[-1] == '0' else '0'}"}
        assert c.get("/agents", headers=forged).status_code == 401
        assert c.get("/agents", headers={"Cookie": f"{COOKIE}={token}"}).status_code == 401


def test_without_a_token_only_localhost_is_served(reader: Ledger) -> None:
    app = create_app(reader, Config(), load_catalog())
    for host, status in (("127.0.0.1:8788", 200), ("localhost", 200), ("[::1]:8788", 200),
                         ("evil.example", 421), ("127.0.0.1.evil.example", 421)):  # fmt: skip
        with TestClient(app, base_url=f"http://{host}") as c:
            assert c.get("/api/health").status_code == status, host


def test_the_live_snapshot_counts_the_last_minutes(client: TestClient, demo_path: Path) -> None:
    before = client.get("/api/live", params={"once": "1"}).json()
    assert before["window"]["blocked"] == 3 and len(before["per_minute"]) == 30
    assert before["recent"][0]["agent"] == "Explore"
    with Ledger.open(demo_path) as writer:
        for _ in range(4):
            writer.record(agent="live-probe", model="claude-haiku-4-5", input_tokens=10,
                          escalation_reason="validation failed")  # fmt: skip
    after = client.get("/api/live", params={"once": "1"}).json()
    assert after["last_minute"]["executions"] == before["last_minute"]["executions"] + 4
    assert after["window"]["escalations"] == before["window"]["escalations"] + 4
    assert after["recent"][0]["agent"] == "live-probe"
    assert float(after["requests_per_second"]) > 0


def test_the_live_stream_pushes_snapshots(client: TestClient) -> None:
    with client.stream("GET", "/api/live") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()
        assert next(lines) == "retry: 3000"
        events = []
        for line in lines:
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if len(events) == 2:
                    break
    assert all("per_minute" in e for e in events) and events[1]["at"] >= events[0]["at"]
