"""gearshift proxy: added latency and throughput over going direct, beside LiteLLM's proxy.

    .venv/bin/python bench/proxy_bench.py              # everything (installs LiteLLM once)
    .venv/bin/python bench/proxy_bench.py --quick      # fewer requests, no LiteLLM

Three kinds of process, each on its own: a fake upstream (uvloop + httptools, canned Messages
answers: JSON, or an SSE stream of a realistic turn), the proxy under test (``gearshift proxy``
with a fresh SQLite ledger, one worker; LiteLLM's proxy with a pass-through model to the same
upstream), and a load generator (aiohttp, closed loop). The upstream's own capacity is measured
first and printed: it must serve at least 2,000 requests/s so it is not what limits a proxy.

* added latency: one request at a time, direct and through the proxy in alternating rounds; the
  table gives the median over rounds of each percentile's difference;
* throughput at saturation: 64 requests in flight, the proxy's rate over the direct rate (the
  median over as many rounds);
* memory: the proxy's resident size every 10,000 requests over ``--memory-requests``;
* a realistic upstream (``--service-ms``, 30 by default: a real API takes far longer) at
  ``--slow-concurrency`` requests in flight, where the upstream bounds the rate and the proxy's
  job is to keep up: the same ratio, in a row of its own.

``--variant NAME=SRC`` (repeatable) measures gearshift from other source trees (``SRC`` is put
first on ``PYTHONPATH``) in the same run, each step taken for every variant in turn, so that two
versions are compared under the same machine load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
LITELLM_VENV = CACHE / "litellm-venv"
MODEL = "claude-sonnet-4-5"
#: wrk (C, epoll) as the load generator when it can be had; an aiohttp client otherwise.
WRK = False
#: The key clients send (LiteLLM's proxy refuses to start without a master key; it is this).
KEY = "sk-bench-6f1d0c2a9b8e7d6c5b4a39281706f5e4"

# -- the fake upstream ---------------------------------------------------------------------------

_USAGE = {"input_tokens": 2100, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 18000,
          "output_tokens": 42}  # fmt: skip
_MESSAGE = {"id": "msg_bench", "type": "message", "role": "assistant", "model": MODEL,
            "content": [{"type": "text", "text": "Listed 14 files; the entry point is cli.py."}],
            "stop_reason": "end_turn", "stop_sequence": None, "usage": _USAGE}  # fmt: skip


def _sse_body() -> bytes:
    start = dict(_MESSAGE, content=[], stop_reason=None, usage=dict(_USAGE, output_tokens=1))
    events = [("message_start", {"type": "message_start", "message": start}),
              ("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}}),
              ("ping", {"type": "ping"})]  # fmt: skip
    for word in [
        "Listed",
        "14",
        "files;",
        "the",
        "entry",
        "point",
        "is",
        "cli.py",
        "and",
        "tests",
        "mirror",
        "src.",
    ]:
        delta = {"type": "text_delta", "text": word + " "}
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": delta}))  # fmt: skip
    events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
               ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                "stop_sequence": None}, "usage": {"output_tokens": 42}}),
               ("message_stop", {"type": "message_stop"})]  # fmt: skip
    return "".join(f"event: {e}\ndata: {json.dumps(d)}\n\n" for e, d in events).encode()


def _response(status: str, ctype: bytes, body: bytes, *, chunked: bool) -> bytes:
    head = (
        b"HTTP/1.1 " + status.encode() + b"\r\ncontent-type: " + ctype
        + b"\r\nrequest-id: req_bench_1\r\nanthropic-ratelimit-requests-remaining: 3999\r\n"
    )  # fmt: skip
    if not chunked:
        return head + b"content-length: %d\r\n\r\n" % len(body) + body
    return head + b"transfer-encoding: chunked\r\n\r\n%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"


def run_upstream(port: int, service_ms: float = 0.0) -> None:
    import httptools
    import uvloop

    json_answer = _response("200 OK", b"application/json", json.dumps(_MESSAGE).encode(),
                            chunked=False)  # fmt: skip
    sse_answer = _response("200 OK", b"text/event-stream", _sse_body(), chunked=True)

    class Upstream(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport: asyncio.Transport = transport  # type: ignore[assignment]
            self.parser = httptools.HttpRequestParser(self)
            self.body = bytearray()

        def data_received(self, data: bytes) -> None:
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError:
                self.transport.close()

        def on_body(self, body: bytes) -> None:
            self.body += body

        def on_message_complete(self) -> None:
            stream = b'"stream": true' in self.body or b'"stream":true' in self.body
            answer = sse_answer if stream else json_answer
            if delay:
                loop.call_later(delay, self._answer, answer)
            else:
                self.transport.write(answer)
            self.body = bytearray()

        def _answer(self, answer: bytes) -> None:
            if not self.transport.is_closing():
                self.transport.write(answer)

    delay = service_ms / 1000
    loop: asyncio.AbstractEventLoop

    async def main() -> None:
        nonlocal loop
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Upstream, "127.0.0.1", port, backlog=4096)
        await server.serve_forever()

    uvloop.run(main())


# -- the load generator --------------------------------------------------------------------------


def _request_body(stream: bool) -> bytes:
    """A Claude Code turn of ~30 kB: system blocks, tools, a few turns of history."""
    history = []
    for i in range(6):
        history.append({"role": "user", "content": [{"type": "text", "text": f"step {i} " * 200}]})
        history.append({"role": "assistant", "content": [{"type": "text", "text": "ok " * 300}]})
    history.append({"role": "user", "content": [{"type": "text", "text": "List the files."}]})
    body = {"model": MODEL, "max_tokens": 8192, "stream": stream,
            "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.280;"},
                       {"type": "text", "text": "You are Claude Code. " * 200}],
            "tools": [{"name": f"Tool{i}", "description": "d " * 50,
                       "input_schema": {"type": "object"}} for i in range(10)],
            "messages": history}  # fmt: skip
    return json.dumps(body).encode()


def run_load(url: str, stream: bool, count: int, concurrency: int) -> None:
    import aiohttp
    import uvloop

    body = _request_body(stream)
    headers = {
        "content-type": "application/json",
        "x-api-key": KEY,
        "anthropic-version": "2023-06-01",
        "x-claude-code-session-id": "bench-session",
    }

    async def main() -> dict[str, float]:
        latencies: list[int] = []
        errors = 0
        left = count
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def worker() -> None:
                nonlocal left, errors
                while left > 0:
                    left -= 1
                    t = time.perf_counter_ns()
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        if resp.status != 200:
                            errors += 1
                    latencies.append(time.perf_counter_ns() - t)

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - start
        latencies.sort()
        return {"rps": len(latencies) / elapsed, "errors": errors,
                "p50": latencies[len(latencies) // 2] / 1e6,
                "p99": latencies[int(len(latencies) * 0.99)] / 1e6}  # fmt: skip

    print(json.dumps(uvloop.run(main())))


# -- orchestration -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(
    port: int, seconds: float = 60, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server on {port} exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


_WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = io.open("{body}", "rb"):read("*a")
wrk.headers["content-type"] = "application/json"
wrk.headers["x-api-key"] = "{key}"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.headers["x-claude-code-session-id"] = "bench-session"
"""


def ensure_wrk() -> str | None:
    """wrk (Debian's package; installed here when running as root), else ``None``."""
    import shutil

    found = shutil.which("wrk")
    if found is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True)
        found = shutil.which("wrk")
    return found


def _ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def wrk_load(url: str, *, stream: bool, seconds: float, concurrency: int) -> dict[str, float]:
    """One wrk run: requests/s and the p50/p99 latency (ms)."""
    with tempfile.TemporaryDirectory() as tmp:
        body = Path(tmp) / "body.json"
        body.write_bytes(_request_body(stream))
        script = Path(tmp) / "post.lua"
        script.write_text(_WRK_SCRIPT.format(body=body, key=KEY))
        threads = 1 if concurrency == 1 else 2
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{int(seconds)}s", "--latency", "-s",
             str(script), url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    result: dict[str, float] = {"errors": 0.0}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            result["rps"] = float(parts[1])
        elif parts[:1] == ["50.000%"] or parts[:1] == ["50%"]:
            result["p50"] = _ms(parts[1])
        elif parts[:1] == ["99.000%"] or parts[:1] == ["99%"]:
            result["p99"] = _ms(parts[1])
        elif " requests in " in line:
            result["requests"] = float(parts[0])
        elif line.strip().startswith("Socket errors:"):
            result["timeouts"] = float(parts[-1])
        elif line.strip().startswith("Non-2xx"):
            result["errors"] = float(parts[-1])
    return result


def load(url: str, *, stream: bool, count: int, concurrency: int) -> dict[str, float]:
    if WRK:
        rate = 600.0 if concurrency == 1 else 2000.0
        return wrk_load(url, stream=stream, seconds=max(3, round(count / rate)),
                        concurrency=concurrency)  # fmt: skip
    out = subprocess.run(
        [sys.executable, __file__, "_load", url, "1" if stream else "0", str(count),
         str(concurrency)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout)
    return result


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_gearshift(
    upstream: str, workdir: Path, src: str = ""
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "XDG_DATA_HOME": str(workdir), "XDG_CONFIG_HOME": str(workdir)}
    env.pop("GEARSHIFT_CONFIG", None)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH", "")]))
    process = subprocess.Popen(
        [sys.executable, "-m", "gearshift", "--ledger", str(workdir / "ledger.db"), "proxy",
         "--port", str(port), "--upstream", upstream, "--agents-dir", str(workdir)],
        env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _wait_port(port, 60, process)
    return process, f"http://127.0.0.1:{port}"


def ensure_litellm() -> Path | None:
    python = LITELLM_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
    check = subprocess.run([str(python), "-c", "import litellm.proxy.proxy_server"],
                           capture_output=True)  # fmt: skip
    if check.returncode != 0:
        print("installing litellm[proxy] into bench/.cache (once)...", file=sys.stderr)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "litellm[proxy]"], check=True)
    return LITELLM_VENV / "bin" / "litellm"


def start_litellm(upstream: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: anthropic/{MODEL}\n"
        f"      api_base: {upstream}\n"
        "      api_key: sk-bench\n"
        "litellm_settings:\n  telemetry: false\n  drop_params: false\n"
        f"general_settings:\n  master_key: {KEY}\n"
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR",
           "ANTHROPIC_API_BASE": upstream, "ANTHROPIC_API_KEY": "sk-bench"}  # fmt: skip
    binary = ensure_litellm()
    assert binary is not None
    process = subprocess.Popen(
        [str(binary), "--config", str(config), "--port", str(port), "--num_workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _wait_port(port, 300, process)
    time.sleep(2)
    return process, f"http://127.0.0.1:{port}"


def latency_rounds(
    direct: str, proxies: list[str], *, stream: bool, count: int, rounds: int
) -> list[dict[str, float]]:
    """For each proxy, the median over rounds of its added p50 and p99 (ms): each round runs
    direct, then every proxy, one request at a time."""
    add50: list[list[float]] = [[] for _ in proxies]
    add99: list[list[float]] = [[] for _ in proxies]
    for _ in range(rounds):
        d = load(direct, stream=stream, count=count, concurrency=1)
        for i, proxied in enumerate(proxies):
            p = load(proxied, stream=stream, count=count, concurrency=1)
            add50[i].append(p["p50"] - d["p50"])
            add99[i].append(p["p99"] - d["p99"])
    return [{"add_p50": statistics.median(a), "add_p99": statistics.median(b)}
            for a, b in zip(add50, add99, strict=True)]  # fmt: skip


def throughput(
    direct: str, proxies: list[str], *, stream: bool, count: int, concurrency: int = 64
) -> tuple[float, list[float]]:
    """Requests/s at ``concurrency`` in flight: direct, then each proxy."""
    d = load(direct, stream=stream, count=count, concurrency=concurrency)
    rates = []
    for proxied in proxies:
        p = load(proxied, stream=stream, count=count, concurrency=concurrency)
        if p.get("timeouts") or p.get("errors"):
            print(
                f"  {proxied}: {p.get('timeouts', 0):.0f} answers over wrk's 2 s timeout, "
                f"{p.get('errors', 0):.0f} errors (not counted)",
                file=sys.stderr,
            )
        rates.append(p["rps"])
    return d["rps"], rates


def measure(
    names: list[str], bases: list[str], upstream: str, rounds: int, count: int
) -> list[str]:
    rows = []
    for stream in (False, True):
        kind = "SSE" if stream else "JSON"
        lats = latency_rounds(f"{upstream}/v1/messages", [f"{b}/v1/messages" for b in bases],
                              stream=stream, count=count, rounds=rounds)  # fmt: skip
        runs = [throughput(f"{upstream}/v1/messages", [f"{b}/v1/messages" for b in bases],
                           stream=stream, count=count * 4) for _ in range(rounds)]  # fmt: skip
        direct_rps = statistics.median(d for d, _ in runs)
        rates = [statistics.median(r[i] for _, r in runs) for i in range(len(bases))]
        for name, lat, proxy_rps in zip(names, lats, rates, strict=True):
            rows.append(
                f"| {name} | {kind} | {lat['add_p50']:.2f} | {lat['add_p99']:.2f} | "
                f"{direct_rps:,.0f} | {proxy_rps:,.0f} | {proxy_rps / direct_rps:.2f} |"
            )
            print(rows[-1], file=sys.stderr)
    return rows


def measure_slow(
    names: list[str], bases: list[str], upstream: str, count: int, concurrency: int
) -> list[str]:
    """Saturation behind a realistic upstream: the rate is the upstream's to set."""
    rows = []
    for stream in (False, True):
        kind = "SSE" if stream else "JSON"
        direct_rps, rates = throughput(f"{upstream}/v1/messages",
                                       [f"{b}/v1/messages" for b in bases], stream=stream,
                                       count=count, concurrency=concurrency)  # fmt: skip
        for name, proxy_rps in zip(names, rates, strict=True):
            rows.append(f"| {name} | {kind} | {concurrency} | {direct_rps:,.0f} | "
                        f"{proxy_rps:,.0f} | {proxy_rps / direct_rps:.2f} |")  # fmt: skip
            print(rows[-1], file=sys.stderr)
    return rows


def memory(base: str, pid: int, total: int) -> list[tuple[int, float]]:
    """(requests served, resident MB) samples until ``total`` requests have been served."""
    series = [(0, rss_mb(pid))]
    done = 0
    while done < total:
        if WRK:
            done += int(wrk_load(f"{base}/v1/messages", stream=False, seconds=10,
                                 concurrency=32).get("requests", 0))  # fmt: skip
        else:
            load(f"{base}/v1/messages", stream=False, count=10_000, concurrency=32)
            done += 10_000
        series.append((done, rss_mb(pid)))
        print(f"  rss after {done:,} requests: {series[-1][1]:.1f} MB", file=sys.stderr)
    return series


def _variants(given: list[str]) -> list[tuple[str, str]]:
    """(name, source folder) of each gearshift measured; this tree's when none is given."""
    out = []
    for item in given:
        name, _, src = item.partition("=")
        out.append((name, str(Path(src).resolve()) if src else ""))
    return out or [("gearshift", "")]


def _start_upstream(service_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, __file__, "_upstream", str(port), str(service_ms)])
    _wait_port(port, 60, proc)
    return proc, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per latency run")
    parser.add_argument("--rounds", type=int, default=5, help="paired latency rounds")
    parser.add_argument(
        "--litellm-requests",
        type=int,
        default=300,
        help="requests per LiteLLM latency run (it serves ~40/s)",
    )
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--quick", action="store_true", help="500 requests, 3 rounds, no LiteLLM")
    parser.add_argument("--python-load", action="store_true", help="aiohttp, even with wrk")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=SRC",
                        help="a gearshift source tree to measure (repeatable)")  # fmt: skip
    parser.add_argument("--service-ms", type=float, default=30.0,
                        help="the realistic upstream's ms per answer (0: no such row)")  # fmt: skip
    parser.add_argument("--slow-concurrency", default="16,64,256",
                        help="in flight behind the realistic upstream (comma list)")  # fmt: skip
    parser.add_argument("--slow-requests", type=int, default=20_000)
    args = parser.parse_args()
    global WRK
    WRK = not args.python_load and ensure_wrk() is not None
    print(f"load generator: {'wrk' if WRK else 'aiohttp (python)'}; "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    if args.quick:
        args.requests, args.rounds, args.no_litellm, args.memory_requests = 500, 3, True, 20_000
    variants = _variants(args.variant)
    names = [name for name, _ in variants]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        upstream_proc, upstream = _start_upstream(0)
        procs.append(upstream_proc)
        own = load(f"{upstream}/v1/messages", stream=False, count=10_000, concurrency=64)
        print(f"fake upstream alone: {own['rps']:,.0f} requests/s (JSON, 64 in flight)")
        if own["rps"] < 2000:
            print("WARNING: the upstream serves under 2,000 requests/s here", file=sys.stderr)
        with tempfile.TemporaryDirectory() as tmp:
            started = [start_gearshift(upstream, Path(tmp) / name, src) for name, src in variants]
            procs += [proc for proc, _ in started]
            bases = [url for _, url in started]
            rows = measure(names, bases, upstream, args.rounds, args.requests)
            slow_rows: list[str] = []
            if args.service_ms > 0:
                slow_proc, slow = _start_upstream(args.service_ms)
                procs.append(slow_proc)
                levels = [int(c) for c in args.slow_concurrency.split(",")]
                own_slow = load(f"{slow}/v1/messages", stream=False, count=args.slow_requests,
                                concurrency=max(levels))  # fmt: skip
                print(f"realistic upstream alone ({args.service_ms:g} ms per answer): "
                      f"{own_slow['rps']:,.0f} requests/s (JSON, {max(levels)} in "
                      f"flight)")  # fmt: skip
                behind = [start_gearshift(slow, Path(tmp) / f"{name}-slow", src)
                          for name, src in variants]  # fmt: skip
                procs += [proc for proc, _ in behind]
                for level in levels:
                    slow_rows += measure_slow(names, [url for _, url in behind], slow,
                                              args.slow_requests, level)  # fmt: skip
            memories = []
            if args.memory_requests > 0:
                for name, (proc, url) in zip(names, started, strict=True):
                    memories.append((name, memory(url, proc.pid, args.memory_requests)))
            if not args.no_litellm:
                ll, ll_url = start_litellm(upstream, Path(tmp))
                procs.append(ll)
                rows += measure(["LiteLLM"], [ll_url], upstream, args.rounds,
                                args.litellm_requests)  # fmt: skip
        print()
        print("| proxy | answer | added p50 ms | added p99 ms | direct req/s | proxied req/s"
              " | ratio |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        print("\n".join(rows))
        if slow_rows:
            print()
            print(f"Behind an upstream taking {args.service_ms:g} ms per answer:")
            print("| proxy | answer | in flight | direct req/s | proxied req/s | ratio |")
            print("|---|---|---|---|---|---|")
            print("\n".join(slow_rows))
        print()
        for name, series in memories:
            growth = series[-1][1] - series[1][1] if len(series) > 2 else 0.0
            shown = ", ".join(f"{n // 1000}k: {mb:.1f}" for n, mb in series)
            print(
                f"{name} resident MB by requests served: {shown}; "
                f"growth after the first sample {growth:+.1f} MB"
            )
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_upstream":
        run_upstream(int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
    elif len(sys.argv) > 1 and sys.argv[1] == "_load":
        run_load(sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
