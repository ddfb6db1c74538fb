from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import struct
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text

from gearshift.catalog import Usage
from gearshift.errors import ConfigError, LedgerError
from gearshift.ledger import Execution, Filters, Ledger, new_id, spend
from gearshift.ledger.migrations import MIGRATIONS
from gearshift.ledger.schema import EXECUTION_COLUMNS


def test_record_prices_and_stores(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        e = ledger.record(
            agent="test-engineer",
            model="claude-haiku-4-5",
            input_tokens=1250,
            output_tokens=3400,
            task="Generate tests for user auth module",
        )
        assert e.cost_usd == Decimal("0.018250000")
        assert e.tier == "haiku" and e.model == "claude-haiku-4-5-20251001"
        assert e.price_version.startswith("anthropic@")
        (stored,) = list(ledger.executions())
        assert stored.to_dict() == e.to_dict()


def test_schema_has_every_field(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        cols = {c["name"] for c in inspect(ledger.engine).get_columns("executions")}
        assert cols == set(EXECUTION_COLUMNS)
        required = {
            "id",
            "ts_us",
            "project",
            "session",
            "agent",
            "task",
            "task_hash",
            "task_type",
            "model",
            "tier",
            "input_tokens",
            "output_tokens",
            "cache_write_5m_tokens",
            "cache_write_1h_tokens",
            "cache_read_tokens",
            "cost_nanos",
            "price_version",
            "latency_ms",
            "status",
            "attempt",
            "chain_id",
            "strategy",
            "source",
            "tags",
        }
        assert required <= cols
        with ledger.read() as conn:
            names = {r[0] for r in conn.execute(text("SELECT name FROM gearshift_migrations"))}
        assert names == {name for name, _ in MIGRATIONS}


def test_reopen_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    Ledger.open(path).close()
    with Ledger.open(path) as ledger, ledger.read() as conn:
        count = conn.execute(text("SELECT COUNT(*) FROM gearshift_migrations")).scalar_one()
    assert count == len(MIGRATIONS)


@pytest.mark.parametrize("n", [5, 50])  # PostgreSQL: one INSERT up to 32 rows, COPY above
def test_dedup_key_makes_writes_idempotent(ledger_url: str, n: int) -> None:
    with Ledger.open(ledger_url) as ledger:
        rows = [
            ledger.price(agent="a", model="sonnet", usage=Usage(10, 10), dedup_key=f"k{i}")
            for i in range(n)
        ]
        assert ledger.add_many(rows) == n
        again = [
            ledger.price(agent="a", model="sonnet", usage=Usage(10, 10), dedup_key=f"k{i}")
            for i in range(n + 10)
        ]
        assert ledger.add_many(again) == 10
        assert ledger.count() == n + 10
        stored = {e.id: e.to_dict() for e in ledger.executions()}
        assert all(stored[e.id] == e.to_dict() for e in rows)  # every column as written


def test_privacy_mode_keeps_only_the_hash(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "p.db", privacy=True) as ledger:
        ledger.record(agent="a", model="haiku", task="secret customer data")
        (e,) = list(ledger.executions())
    assert e.task is None and e.task_hash and len(e.task_hash) == 16


def test_track_records_success_and_exceptions(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "t.db") as ledger:
        with ledger.track(agent="coder", model="sonnet", task="x") as call:
            call.usage_from(
                {
                    "input_tokens": 5,
                    "output_tokens": 7,
                    "cache_creation_input_tokens": 30,
                    "cache_read_input_tokens": 40,
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": 10,
                        "ephemeral_1h_input_tokens": 20,
                    },
                }
            )
        with pytest.raises(RuntimeError), ledger.track(agent="coder", model="opus"):
            raise RuntimeError("boom")
        ok, bad = list(ledger.executions())
    assert (ok.status, ok.cache_write_5m_tokens, ok.cache_write_1h_tokens) == ("success", 10, 20)
    assert ok.latency_ms is not None and ok.source == "api"
    assert bad.status == "error" and "RuntimeError: boom" in (bad.validation or "")


def test_bad_records_are_refused(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "b.db") as ledger:
        with pytest.raises(ConfigError, match="status"):
            ledger.record(agent="a", model="haiku", status="ok")
        with pytest.raises(ConfigError, match="non-negative"):
            ledger.record(agent="a", model="haiku", input_tokens=-1)
        assert ledger.count() == 0


def test_unopenable_ledgers_say_why(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="does not exist"):
        Ledger.open(tmp_path / "missing" / "l.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LedgerError, match="not a database") as info:
        Ledger.open(junk)
    assert info.value.hint
    with pytest.raises(LedgerError, match="cannot connect to PostgreSQL"):
        Ledger.open("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(LedgerError, match="scheme"):
        Ledger.open("mysql://x/y")


def test_spend_by_day_uses_the_zone(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "z.db") as ledger:
        late = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)
        ledger.record(agent="a", model="haiku", input_tokens=1, ts=late)
        ledger.record(agent="a", model="haiku", input_tokens=1, ts=late - dt.timedelta(hours=12))
        utc = spend(ledger, "day", tz=dt.UTC)
        tokyo = spend(ledger, "day", tz=dt.timezone(dt.timedelta(hours=9)))
        kolkata = spend(ledger, "day", tz=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    assert [(r.key, r.executions) for r in utc.rows] == [("2026-03-01", 2)]
    assert [(r.key, r.executions) for r in tokyo.rows] == [("2026-03-01", 1), ("2026-03-02", 1)]
    assert [(r.key, r.executions) for r in kolkata.rows] == [("2026-03-01", 1), ("2026-03-02", 1)]


def test_spend_filters_and_columns(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        t0 = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
        for i, (agent, model) in enumerate([("a", "haiku"), ("a", "opus"), ("b", "sonnet")]):
            ledger.record(
                agent=agent,
                model=model,
                input_tokens=1000,
                output_tokens=100,
                project="p1" if i < 2 else "p2",
                ts=t0 + dt.timedelta(days=i),
                tags={"team": "x" if i else "y"},
            )
        by_agent = spend(ledger, "agent")
        assert {r.key: r.executions for r in by_agent.rows} == {"a": 2, "b": 1}
        assert by_agent.total.cost_nanos == sum(r.cost_nanos for r in by_agent.rows)
        assert spend(ledger, "tier", Filters(project="p1")).total.executions == 2
        window = Filters(since=t0 + dt.timedelta(days=1), until=t0 + dt.timedelta(days=2))
        assert spend(ledger, "model", window).total.executions == 1
        assert spend(ledger, "agent", Filters(tag=("team", "x"))).total.executions == 2
        with pytest.raises(ConfigError):
            spend(ledger, "colour")


def test_export_import_round_trip(tmp_path: Path) -> None:
    import io

    from gearshift.ledger.transfer import export_jsonl, import_jsonl

    with Ledger.open(tmp_path / "a.db") as a:
        for i in range(20):
            a.record(
                agent=f"x{i % 3}",
                model="sonnet",
                input_tokens=i,
                output_tokens=i,
                tags={"i": str(i)},
            )
        buf = io.StringIO()
        assert export_jsonl(a.executions(), buf) == 20
        before = [e.to_dict() for e in a.executions()]
    dump = tmp_path / "dump.jsonl"
    dump.write_text(buf.getvalue())
    with Ledger.open(tmp_path / "b.db") as b:
        assert import_jsonl(b, dump) == (20, 20)
        assert import_jsonl(b, dump) == (20, 0)
        assert [e.to_dict() for e in b.executions()] == before
    dump.write_text(buf.getvalue() + "{not json\n")
    with Ledger.open(tmp_path / "c.db") as c:
        with pytest.raises(ConfigError, match=r"dump.jsonl:21"):
            import_jsonl(c, dump)
        assert c.count() == 0


def test_import_refuses_a_cost_usd_that_disagrees_with_cost_nanos(tmp_path: Path) -> None:
    """An exported line edited by hand: importing at either value would be a silent guess."""
    from gearshift.ledger.transfer import import_jsonl

    with Ledger.open(tmp_path / "a.db") as a:
        a.record(agent="x", model="sonnet", input_tokens=1000, output_tokens=100)
        (line,) = [e.to_dict() for e in a.executions()]
    dump = tmp_path / "dump.jsonl"
    with Ledger.open(tmp_path / "b.db") as b:
        dump.write_text(json.dumps({**line, "cost_usd": "9.99"}) + "\n")
        with pytest.raises(ConfigError, match=r"dump.jsonl:1: .*disagree"):
            import_jsonl(b, dump)
        assert b.count() == 0
        only_usd = {k: v for k, v in line.items() if k != "cost_nanos"}
        dump.write_text(json.dumps({**only_usd, "id": new_id(), "cost_usd": "0.004500001"}) + "\n")
        assert import_jsonl(b, dump) == (1, 1)
        (got,) = list(b.executions())
        assert got.cost_nanos == 4_500_001
        dump.write_text(json.dumps({**only_usd, "id": new_id(), "cost_usd": "0.0000000001"}) + "\n")
        with pytest.raises(ConfigError, match="nano-dollars"):
            import_jsonl(b, dump)


counts = st.integers(min_value=0, max_value=2_000_000)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["haiku", "sonnet", "opus", "claude-opus-4-6"]),
            counts,
            counts,
            counts,
            counts,
        ),
        min_size=1,
        max_size=8,
    )
)
def test_costs_are_identical_whichever_store_keeps_them(
    ledger_url: str, rows: list[tuple[str, int, int, int, int]]
) -> None:
    """Each store's summed nanos equal the sum of the exact per-record costs, rounded per record."""
    with Ledger.open(ledger_url) as ledger:
        run = Execution(model="x", tier="haiku").id  # a unique marker for this example
        expected = 0
        for model, i, o, w, r in rows:
            expected += ledger.catalog.cost(model, Usage(i, o, w, 0, r)).nanos
            ledger.record(
                agent=run,
                model=model,
                input_tokens=i,
                output_tokens=o,
                cache_write_5m_tokens=w,
                cache_read_tokens=r,
            )
        assert spend(ledger, "agent", Filters(agent=run)).total.cost_nanos == expected
        assert spend(ledger, "day", Filters(agent=run)).total.cost_nanos == expected


def test_tag_filters_are_exact(ledger_url: str) -> None:
    with Ledger.open(ledger_url) as ledger:
        for team in ("ML", "mxl", "équipe", "m_l", "50%"):
            ledger.record(agent="a", model="haiku", input_tokens=1, tags={"team": team})

        def count(value: str) -> int:
            return spend(ledger, "agent", Filters(tag=("team", value))).total.executions

        assert [count(v) for v in ("ML", "ml", "m_l", "équipe", "50%", "5")] == [1, 0, 1, 1, 1, 0]


def test_connections_the_server_ended_are_replaced(pg_url: str) -> None:
    """A pooled connection whose backend was ended (a server restart, an idle timeout) is
    replaced at checkout, without a failed command."""
    import psycopg

    with Ledger.open(pg_url) as ledger:
        ledger.record(agent="a", model="haiku", input_tokens=1, output_tokens=1)
        with ledger.read() as one, ledger.read() as two:  # two pooled connections
            pids = [c.execute(text("SELECT pg_backend_pid()")).scalar() for c in (one, two)]
        plain = pg_url.replace("postgresql+psycopg://", "postgresql://").split("?")[0]
        with psycopg.connect(plain, autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        for _ in range(3):
            assert ledger.count() == 1
        ledger.record(agent="a", model="haiku", input_tokens=1, output_tokens=1)
        with ledger.read() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() not in pids
        assert ledger.count() == 2


def test_a_checkout_sends_nothing_unless_the_connection_was_idle(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The liveness check reads what has arrived; only a connection idle for longer than
    IDLE_CHECK_S costs a SELECT 1 (pool_pre_ping sent one on every checkout)."""
    import psycopg

    from gearshift.ledger import connect

    sent: list[str] = []
    real = psycopg.Connection.execute

    def counting(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(str(query))
        return real(self, query, *args, **kwargs)

    with Ledger.open(pg_url) as ledger:
        ledger.count()
        monkeypatch.setattr(psycopg.Connection, "execute", counting)
        for _ in range(5):
            ledger.count()
        assert sent == []
        monkeypatch.setattr(connect, "IDLE_CHECK_S", 0.2)
        with ledger.read() as conn:
            time.sleep(0.3)  # held, not idle: idle time counts from its return
            conn.execute(text("SELECT 2"))
        ledger.count()
        assert sent == []
        time.sleep(0.3)  # idle now
        ledger.count()
        assert sent == ["SELECT 1"]


class _VanishingProxy:
    """TCP between the ledger and PostgreSQL that can forget its connections without a word,
    as a NAT or load balancer's idle timeout does: the client learns it (a reset) only when it
    next writes."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.vanished: set[socket.socket] = set()
        self.clients: list[socket.socket] = []
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.clients.append(client)
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        client = src if from_client else dst
        try:
            while data := src.recv(65536):
                if client in self.vanished:
                    if from_client:  # the peer is gone: answer with a reset
                        reset = struct.pack("ii", 1, 0)
                        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, reset)
                        client.close()
                    return
                dst.sendall(data)
        except OSError:
            return

    def vanish(self) -> None:
        self.vanished.update(self.clients)

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:  # the pump threads end with them
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_an_idle_connection_whose_peer_vanished_is_replaced(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing arrives from a peer that vanished silently: a connection idle for longer than
    IDLE_CHECK_S answers a SELECT 1 before it is used, and is replaced when it cannot."""
    from sqlalchemy.engine import make_url

    from gearshift.ledger import connect

    url = make_url(pg_url)
    proxy = _VanishingProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        with Ledger.open(through) as ledger:
            ledger.record(agent="a", model="haiku", input_tokens=1, output_tokens=1)
            proxy.vanish()
            monkeypatch.setattr(connect, "IDLE_CHECK_S", 0.0)  # as if idle for a long time
            time.sleep(0.01)
            assert ledger.count() == 1
    finally:
        proxy.close()


def test_the_liveness_check_works_with_descriptors_above_1024(pg_url: str) -> None:
    """select() cannot watch a descriptor of 1024 or more; a busy process (the gateway, a
    worker) has them."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = len(os.listdir("/proc/self/fd")) + 1300  # what is open already, and 1,100 more
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"this machine allows fewer than {want} open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    held: list[int] = []
    try:
        while len(held) < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        with Ledger.open(pg_url) as ledger:
            ledger.record(agent="a", model="haiku", input_tokens=1, output_tokens=1)
            with ledger.read() as conn:
                raw = conn.connection.driver_connection
                assert raw is not None and raw.pgconn.socket >= 1024
            for _ in range(3):
                assert ledger.count() == 1
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
