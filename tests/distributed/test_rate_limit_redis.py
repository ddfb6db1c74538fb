"""The Redis bucket store: several processes sharing one bucket hold the rate, a 429 blocks
every client, keys are hashed and expire, and a bad or unreachable Redis is one clear error
(the password never shown) while calls wait for it rather than run unmetered."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.distributed.conftest import REDIS_URL, gearshift

from gearshift.distributed.ratelimit import RateLimits, SharedRateLimiter, provider_key
from gearshift.distributed.ratelimit_redis import RedisBucketStore, require_redis
from gearshift.errors import ConfigError

RATE = 10  # requests per second, a bucket holding one second of it

# One client process: take a request from the shared bucket as fast as it may for `seconds`,
# print the (local, same host) times it got one.
_CLIENT = """
import asyncio, json, sys, time
from gearshift.distributed.ratelimit import RateLimits, SharedRateLimiter
from gearshift.distributed.ratelimit_redis import RedisBucketStore

async def main(url, prefix, rate, start, seconds):
    store = RedisBucketStore(url, prefix=prefix)
    limiter = SharedRateLimiter(store, "sim", RateLimits(rate * 60, burst_s=1))
    await asyncio.sleep(max(0.0, start - time.time()))
    got = []
    while time.time() < start + seconds:
        await limiter.acquire("haiku", {"requests": 1})
        got.append(time.time())
    await store.close()
    print(json.dumps(got))

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]),
                 float(sys.argv[5])))
"""


def _busiest(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))


def test_processes_sharing_a_bucket_hold_the_rate(redis_prefix: str) -> None:
    seconds, procs = 3.0, 4
    start = time.time() + 1.5  # every process imported and waiting
    argv = [sys.executable, "-c", _CLIENT, REDIS_URL, redis_prefix]
    argv += [str(RATE), str(start), str(seconds)]
    clients = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(procs)]
    times: list[float] = []
    for client in clients:
        out, _ = client.communicate(timeout=30)
        assert client.returncode == 0
        times += json.loads(out)
    # any one-second window: at most a second of the rate plus one full bucket
    assert _busiest(times) <= RATE + RATE, _busiest(times)
    # and the rate is held, not starved: one bucket, then about RATE a second
    assert RATE + RATE * seconds * 0.8 <= len(times) <= RATE + RATE * seconds + procs + 1


def test_a_429_blocks_every_client(redis_prefix: str) -> None:
    async def main() -> None:
        stores = [RedisBucketStore(REDIS_URL, prefix=redis_prefix) for _ in range(5)]
        limiters = [SharedRateLimiter(s, "sim", RateLimits(6000, burst_s=1)) for s in stores]
        try:
            assert await limiters[0].take("haiku", {"requests": 1}) == 0
            await limiters[3].block("haiku", 2.0)  # one client saw a 429, retry-after 2
            waits = await asyncio.gather(*(lim.take("haiku", {"requests": 1}) for lim in limiters))
            assert all(1.5 < w <= 2.0 for w in waits), waits
            await asyncio.sleep(1.0)
            waits = await asyncio.gather(*(lim.take("haiku", {"requests": 1}) for lim in limiters))
            assert all(0.5 < w <= 1.0 for w in waits), waits
            # acquire holds every client until retry-after has passed, then lets them through
            begin = time.monotonic()
            await asyncio.gather(*(lim.acquire("haiku", {"requests": 1}) for lim in limiters))
            assert 0.7 < time.monotonic() - begin < 1.5
        finally:
            for store in stores:
                await store.close()

    asyncio.run(main())


def test_keys_are_hashed_and_expire(redis_prefix: str) -> None:
    import redis

    secret = "sk-ant-api03-not-a-real-key"

    async def main() -> None:
        store = RedisBucketStore(REDIS_URL, prefix=redis_prefix)
        key = provider_key("anthropic", secret)
        limiter = SharedRateLimiter(store, key, RateLimits(600, 6000, burst_s=2))
        try:
            assert await limiter.take("sonnet", {"requests": 1, "input_tokens": 10}) == 0
            await limiter.block("sonnet", 30.0)
        finally:
            await store.close()

    asyncio.run(main())
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        keys = sorted(client.scan_iter(match=f"{redis_prefix}*"))
        assert len(keys) == 2 and not any(secret in k for k in keys), keys
        assert keys[0].startswith(f"{redis_prefix}{{anthropic:")
        assert keys[0].endswith("}:input_tokens")
        for key in keys:
            ttl = client.pttl(key)
            # refill time (2 s) + the block (30 s) + a minute: an idle bucket goes
            assert 85_000 < ttl <= 92_000, (key, ttl)
    finally:
        client.close()


def test_an_unreachable_redis_is_one_clear_error_and_calls_wait() -> None:
    url = "redis://:hunter2@127.0.0.1:1/0"

    async def main() -> None:
        store = RedisBucketStore(url, timeout_s=0.5)
        try:
            with pytest.raises(ConfigError) as caught:
                await store.check()
            message = f"{caught.value.message} {caught.value.hint}"
            assert "--rate-limit-store" in message and "***" in message
            assert "hunter2" not in message
            # fail closed: a call waits for the store instead of running unmetered
            limiter = SharedRateLimiter(store, "sim", RateLimits(600, burst_s=1))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(limiter.acquire("haiku", {"requests": 1}), 1.5)
            await limiter.settle("haiku", {"requests": 1})  # dropped, not raised
        finally:
            await store.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    "url", ["http://user:hunter2@example.com/", "redis://:hunter2@host:notaport/0"]
)
def test_a_bad_url_is_refused_before_connecting(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RedisBucketStore(url)
    assert "--rate-limit-store" in caught.value.message
    assert "hunter2" not in f"{caught.value.message} {caught.value.hint}"


def test_without_redis_installed_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigError) as caught:
        require_redis()
    assert caught.value.hint == "pip install 'gearshift[distributed]'"


@pytest.mark.parametrize(
    ("url", "expect"),
    [
        ("foo://u:hunter2@host/0", "not a Redis URL"),
        ("redis://:hunter2@127.0.0.1:1/0", "cannot use Redis"),
    ],
)
def test_the_worker_cli_says_one_line(
    url: str, expect: str, request: pytest.FixtureRequest
) -> None:
    if expect == "cannot use Redis":  # it gets as far as the ledger first
        ledger = request.getfixturevalue("dist_db")
    else:
        ledger = "postgresql://nobody@127.0.0.1:1/none"  # refused before any connection
    proc = subprocess.run(
        gearshift("worker", "--ledger", ledger, "--rpm", "60", "--rate-limit-store", url),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert expect in out and "--rate-limit-store" in out
    assert "hunter2" not in out and "Traceback" not in out


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_server(port: int, tmp: str) -> subprocess.Popen[bytes]:
    import redis

    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", tmp],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    for _ in range(50):
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.1)
    client.close()
    return proc


def test_calls_wait_while_redis_is_down_and_go_on_when_it_is_back(tmp_path: Path) -> None:
    """Fail closed and recover: with Redis stopped, acquire waits; once it is back (empty: a
    restarted Redis without persistence), the next acquire goes through on fresh buckets."""
    import shutil

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (.ci/run starts the shared one)")
    port = _free_port()
    server = _redis_server(port, str(tmp_path))

    async def main() -> None:
        nonlocal server
        store = RedisBucketStore(f"redis://127.0.0.1:{port}/0", timeout_s=0.5)
        limiter = SharedRateLimiter(store, "sim", RateLimits(600, burst_s=1))
        try:
            await store.check()
            assert await limiter.take("haiku", {"requests": 1}) == 0
            server.terminate()
            server.wait(10)
            pending = asyncio.ensure_future(limiter.acquire("haiku", {"requests": 1}))
            await asyncio.sleep(1.5)
            assert not pending.done()  # no call while the limit cannot be checked
            server = _redis_server(port, str(tmp_path))
            await asyncio.wait_for(pending, 10)  # back: the waiting call goes through
            assert await limiter.take("haiku", {"requests": 1}) == 0
        finally:
            await store.close()

    try:
        asyncio.run(main())
    finally:
        server.terminate()
        server.wait(10)
