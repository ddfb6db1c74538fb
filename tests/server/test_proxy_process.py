"""The proxy as a process: hostile input does not bring it down; SIGTERM lets streams finish and
writes every row before it exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gearshift.testing.fake_anthropic import FakeAnthropic

from .conftest import CC_HEADERS, RunningProxy, ledger_rows, turn, wait_for

_HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60).map(
    lambda s: s.strip() or "x"
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.builds(lambda d: json.dumps(d).encode(), st.dictionaries(
            st.sampled_from(["model", "max_tokens", "stream", "messages", "metadata", "system"]),
            st.one_of(st.none(), st.integers(-5, 10**12), st.text(max_size=20), st.booleans(),
                      st.lists(st.integers(), max_size=2)), max_size=6)),
    ),
    headers=st.dictionaries(
        st.sampled_from(["x-claude-code-agent-id", "x-claude-code-session-id", "x-gearshift-agent",
                         "anthropic-beta", "user-agent", "x-claude-code-agent-type"]),
        _HEADER_TEXT, max_size=4),
    path=st.sampled_from(["/v1/messages", "/v1/messages/count_tokens", "/v1/x", "/nope"]),
)  # fmt: skip
def test_no_request_takes_the_proxy_down(
    proxy: RunningProxy, client: httpx2.Client, body: bytes, headers: dict[str, str], path: str
) -> None:
    answer = client.post(f"{proxy.url}{path}", content=body, headers=headers)
    assert answer.status_code < 500 or answer.json()["type"] == "error"
    if answer.status_code >= 400:
        assert answer.json()["type"] == "error"
    assert client.head(f"{proxy.url}/api/hello").status_code == 200


def test_sigterm_lets_the_stream_finish_and_writes_its_row(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    with FakeAnthropic() as fake:
        fake.stream_delay = 0.15
        env = {**os.environ, "GEARSHIFT_CONFIG": ""}
        env.pop("GEARSHIFT_CONFIG")
        with subprocess.Popen(
            [sys.executable, "-m", "gearshift", "--ledger", str(ledger), "proxy", "--port", "0",
             "--upstream", fake.base_url, "--agents-dir", str(tmp_path)],
            env=env, stderr=subprocess.PIPE, text=True,
        ) as process:  # fmt: skip
            try:
                port = _port_of(process.pid)
                url = f"http://127.0.0.1:{port}"
                got: dict[str, object] = {}

                def stream() -> None:
                    with httpx2.Client(timeout=30) as client:
                        response = client.post(
                            f"{url}/v1/messages", content=json.dumps(turn()).encode(),
                            headers=CC_HEADERS,
                        )  # fmt: skip
                        got["status"], got["body"] = response.status_code, response.content

                reader = threading.Thread(target=stream)
                reader.start()
                wait_for(lambda: fake.counts["/v1/messages"] == 1)
                time.sleep(0.2)  # mid-stream
                process.send_signal(signal.SIGTERM)
                reader.join(timeout=30)
                # uvicorn re-raises the signal once it has shut down cleanly
                assert process.wait(timeout=30) in (0, -signal.SIGTERM)
                assert process.stderr is not None
                assert "Traceback" not in process.stderr.read()
            finally:
                if process.poll() is None:
                    process.kill()
    assert got["status"] == 200
    assert isinstance(got["body"], bytes) and got["body"].rstrip().endswith(
        b'{"type": "message_stop"}'
    )
    [row] = ledger_rows(ledger)
    assert row.status == "success" and row.output_tokens > 0


def _port_of(pid: int) -> int:
    """The port a process listens on (the proxy was started on port 0)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] != "0A":  # LISTEN
                continue
            inode = parts[9]
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except FileNotFoundError:
                break
            for fd in fds:
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                        return int(parts[1].split(":")[1], 16)
                except OSError:
                    continue
        time.sleep(0.1)
    raise AssertionError("the proxy did not start listening")
