"""A real proxy for tests: uvicorn (httptools, uvloop) on a random loopback port, in a thread,
in front of the fake Anthropic server; and the request shapes Claude Code sends."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn

from gearshift.catalog import load_catalog
from gearshift.config import Config
from gearshift.ledger import Execution, Ledger
from gearshift.server.proxy import ProxyApp, ProxySettings, bind_socket, build_app
from gearshift.server.proxy.serve import uvicorn_options
from gearshift.testing.fake_anthropic import FakeAnthropic

SESSION = "9f1c2d3e-0000-4000-8000-00000000c0de"
CC_HEADERS = {
    "anthropic-version": "2023-06-01",
    "anthropic-beta": (
        "claude-code-20250219,interleaved-thinking-2025-05-14,brand-new-beta-2027-01-01"
    ),
    "x-api-key": "sk-ant-test-key-0123456789",
    "x-claude-code-session-id": SESSION,
    "user-agent": "claude-cli/2.1.280 (external, cli)",
    "x-app": "cli",
    "x-claude-code-future-header": "kept",
}


class RunningProxy:
    """A proxy served by uvicorn in a thread; ``url`` is its base URL."""

    def __init__(self, app: ProxyApp, settings: ProxySettings) -> None:
        self.app = app
        self.settings = settings
        self._sock = bind_socket("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        options = uvicorn_options(settings) | {"port": self._sock.getsockname()[1]}
        self.server = uvicorn.Server(uvicorn.Config(app, **options))
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            await self.server.serve(sockets=[self._sock])

        asyncio.run(main())

    def start(self) -> RunningProxy:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the proxy did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)
        self._sock.close()
        self.app.shared.ledger.close()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's event loop and return its result."""
        assert self.loop is not None

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def idle(self) -> bool:
        """Whether no request is in flight (each has handed its rows to the meter)."""
        return bool(self.call(lambda: self.app.shared.metrics.in_flight._value.get() == 0))

    def flush(self) -> None:
        """Write what the meter holds once every request in flight has finished."""
        assert self.loop is not None
        wait_for(self.idle)
        asyncio.run_coroutine_threadsafe(self.app.shared.meter.flush(), self.loop).result(10)

    def rows(self) -> list[Execution]:
        self.flush()
        return list(self.app.shared.ledger.executions())


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server


ProxyFactory = Callable[..., RunningProxy]


@pytest.fixture
def make_proxy(tmp_path: Path, fake: FakeAnthropic) -> Iterator[ProxyFactory]:
    """Start proxies in front of ``fake``: ``make_proxy(config=..., **settings)``."""
    running: list[RunningProxy] = []

    def make(config: Config | None = None, **fields: Any) -> RunningProxy:
        fields.setdefault("upstream", fake.base_url)
        fields.setdefault("ledger", str(tmp_path / "ledger.db"))
        fields.setdefault("agents_dirs", ())
        fields.setdefault("flush_ms", 50)
        settings = ProxySettings(**fields)
        app = build_app(settings, config or Config(), catalog=load_catalog())
        proxy = RunningProxy(app, settings).start()
        running.append(proxy)
        return proxy

    yield make
    for proxy in running:
        proxy.stop()


@pytest.fixture
def proxy(make_proxy: ProxyFactory) -> RunningProxy:
    return make_proxy()


@pytest.fixture
def client() -> Iterator[httpx2.Client]:
    with httpx2.Client(timeout=20) as c:
        yield c


def turn(
    text: str = "List the files in src/ and summarise them.",
    *,
    model: str = "claude-opus-4-8",
    stream: bool = True,
    history: int = 0,
    system: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A Messages body as Claude Code builds one: a system prompt of several blocks (its
    attribution block first), tools, adaptive thinking, and ``history`` earlier turns."""
    messages: list[dict[str, Any]] = []
    for i in range(history):
        messages.append({"role": "user", "content": [{"type": "text", "text": f"step {i}"}]})
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": f"thought {i}", "signature": "sig" * 10},
                    {"type": "text", "text": f"done {i}"},
                ],
            }
        )
    messages.append({"role": "user", "content": [{"type": "text", "text": text}]})
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": 32000,
        "stream": stream,
        "system": system
        or [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.280.abc; cch=1;"},
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
        ],
        "tools": [
            {
                "name": "Bash",
                "description": "Run a shell command",
                "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
            }
        ],
        "messages": messages,
        "thinking": {"type": "adaptive"},
        "metadata": {"user_id": json.dumps({"session_id": SESSION})},
    }
    body.update(extra)
    return body


def post(
    client: httpx2.Client, proxy: RunningProxy, body: dict[str, Any] | bytes, **headers: str
) -> httpx2.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {**CC_HEADERS, "content-type": "application/json", **headers}
    return client.post(f"{proxy.url}/v1/messages?beta=true", content=data, headers=sent)


def wait_for(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def ledger_rows(path: Path) -> list[Execution]:
    with Ledger.open(path) as ledger:
        return list(ledger.executions())
