"""``/metrics`` scraped and parsed as Prometheus parses it: the counters are the ledger's
totals, labels stay bounded, and a hostile agent name stays one label value."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from gearshift.catalog import load_catalog
from gearshift.config import Config
from gearshift.ledger import Ledger
from gearshift.server.dashboard import create_app
from gearshift.server.dashboard.collector import LedgerCollector


def scrape(client: TestClient) -> dict[str, list[Any]]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(r.text):
        out.setdefault(family.name, []).extend(family.samples)
    return out


def test_the_counters_are_the_ledgers_totals(client: TestClient, reader: Ledger, demo: Any) -> None:
    metrics = scrape(client)
    executions = metrics["gearshift_executions"]
    by_status: dict[str, float] = {}
    for s in executions:
        by_status[s.labels["status"]] = by_status.get(s.labels["status"], 0) + s.value
    expected = dict(reader.query("SELECT status, COUNT(*) FROM executions GROUP BY status"))
    assert by_status == {k: expected.get(k, 0) for k in ("success", "failure", "error", "blocked")}
    cost = sum(s.value for s in metrics["gearshift_cost_usd"])
    (nanos,) = reader.query("SELECT SUM(cost_nanos) FROM executions")[0]
    assert abs(cost - nanos / 1e9) < 1e-6
    tokens = {s.labels["kind"] for s in metrics["gearshift_tokens"]}
    assert tokens == {"input", "output", "cache_write_5m", "cache_write_1h", "cache_read"}
    (esc,) = reader.query("SELECT COUNT(escalation_reason) FROM executions")[0]
    assert sum(s.value for s in metrics["gearshift_escalations"]) == esc > 0
    assert sum(s.value for s in metrics["gearshift_blocked"]) == 3
    routed = {s.labels["tier"] for s in metrics["gearshift_routing_decisions"] if s.value}
    assert routed >= {"haiku", "sonnet", "opus"}
    (ratio,) = metrics["gearshift_budget_used_ratio"]
    assert ratio.labels == {"budget": "team-monthly"} and ratio.value >= 0
    agents = {s.labels["agent"] for s in executions}
    assert demo.hostile in agents  # escaped in the text, whole again once parsed
    assert all(s.name.endswith("_total") for s in executions)


def test_labels_are_bounded_and_scrapes_are_cached(reader: Ledger) -> None:
    collector = LedgerCollector(reader, Config(), max_agents=2, max_models=1, ttl=60)
    families = {f.name: f for f in collector.collect()}
    samples = families["gearshift_executions"].samples
    assert {s.labels["agent"] for s in samples} == {"test-engineer", "style-enforcer", "other"}
    assert len({s.labels["model"] for s in samples}) == 2  # the busiest and "other"
    total = sum(s.value for s in samples)
    (count,) = reader.query(
        "SELECT COUNT(*) FROM executions WHERE status IN ('success', 'failure', 'error', 'blocked')"
    )[0]
    assert total == count
    calls = []
    original = reader.query

    def counting(sql: str, params: Any = None) -> Any:
        calls.append(sql)
        return original(sql, params)

    reader.query = counting  # type: ignore[method-assign]
    try:
        list(collector.collect())
    finally:
        del reader.query
    assert calls == []  # within the ttl: no read


def test_metrics_need_the_token_when_one_is_set(reader: Ledger) -> None:
    app = create_app(reader, Config(), load_catalog(), token="x" * 32)
    with TestClient(app, base_url="http://10.0.0.5:8788") as c:
        assert c.get("/metrics").status_code == 401
        assert scrape_ok(c.get("/metrics", headers={"Authorization": "Bearer " + "x" * 32}).text)


def scrape_ok(text: str) -> bool:
    return any(f.name == "gearshift_executions" for f in text_string_to_metric_families(text))
