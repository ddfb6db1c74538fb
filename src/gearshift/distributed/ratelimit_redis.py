"""The shared token buckets in Redis (``gearshift worker --rate-limit-store redis://...``).

One hash per bucket (``tokens``, ``updated``, ``blocked``) under
``gearshift:rl:{<provider key>:<model class>}:<dimension>`` -- the provider key is a hash of the
API key, never the key; the braces keep a call's buckets in one Redis Cluster slot. Every
operation is one Lua script (EVALSHA, loaded on first use), so it is atomic across every worker,
and reads the time from the Redis server (``redis.call('TIME')``), never from a worker. A missing
bucket counts as full (an idle bucket refills to full, then expires): every write sets a TTL of
the time to refill plus any block plus a minute, so the buckets of keys and models no longer used
do not stay behind.

Numbers come back from Lua as strings (Lua numbers become Redis integers otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gearshift.distributed.ratelimit_store import BucketSpec, Settlement, StoreUnavailable
from gearshift.errors import ConfigError
from gearshift.redact import mask_password, scrub

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["PREFIX", "RedisBucketStore", "check_url", "require_redis"]

PREFIX = "gearshift:rl:"

# What a bucket holds now, given ARGV's capacity and refill (``cap``, ``rate``): a missing one is
# full. ``now`` is the server's time in seconds.
_LUA_HEAD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function held(key, cap, rate)
  local h = redis.call('HMGET', key, 'tokens', 'updated', 'blocked')
  local tokens, updated = tonumber(h[1]), tonumber(h[2])
  local blocked = tonumber(h[3]) or 0
  if tokens == nil or updated == nil then return cap, 0 end
  return math.min(cap, tokens + rate * math.max(0, now - updated)), blocked
end
local function put(key, tokens, cap, rate, blocked)
  redis.call('HSET', key, 'tokens', tostring(tokens), 'updated', tostring(now),
             'blocked', tostring(blocked))
  local ttl = cap / rate + math.max(0, blocked - now) + 60
  redis.call('PEXPIRE', key, math.ceil(ttl * 1000))
end
"""
#: KEYS: the buckets; ARGV: capacity, refill per second, cost of each. All debited or none.
_TAKE = (
    _LUA_HEAD
    + """
local wait, have, blocks = 0, {}, {}
for i, key in ipairs(KEYS) do
  local cap, rate, cost = tonumber(ARGV[3*i-2]), tonumber(ARGV[3*i-1]), tonumber(ARGV[3*i])
  local a, blocked = held(key, cap, rate)
  if blocked > now then
    wait = math.max(wait, blocked - now)
  elseif a < cost then
    wait = math.max(wait, (cost - a) / rate)
  end
  have[i], blocks[i] = a, blocked
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  put(key, have[i] - tonumber(ARGV[3*i]), tonumber(ARGV[3*i-2]), tonumber(ARGV[3*i-1]), blocks[i])
end
return '0'
"""
)
#: KEYS: the buckets; ARGV: capacity, refill, refund, remaining ('' when the server said nothing).
_SETTLE = (
    _LUA_HEAD
    + """
for i, key in ipairs(KEYS) do
  local cap, rate = tonumber(ARGV[4*i-3]), tonumber(ARGV[4*i-2])
  local a, blocked = held(key, cap, rate)
  a = math.min(cap, a + tonumber(ARGV[4*i-1]))
  local remaining = tonumber(ARGV[4*i])
  if remaining ~= nil then a = math.min(a, remaining) end
  put(key, a, cap, rate, blocked)
end
return '0'
"""
)
#: KEYS: the buckets; ARGV[1]: seconds blocked, then capacity and refill of each.
_BLOCK = (
    _LUA_HEAD
    + """
local till = now + tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local cap, rate = tonumber(ARGV[2*i]), tonumber(ARGV[2*i+1])
  local _, blocked = held(key, cap, rate)
  put(key, 0, cap, rate, math.max(till, blocked))  -- a shorter 429 never shortens a block
end
return '0'
"""
)

_SCHEMES = ("redis", "rediss", "unix")
_OPTION = "--rate-limit-store"


def require_redis() -> None:
    """Refuse clearly when the Redis client is not installed (it is an optional extra)."""
    try:
        import redis  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"{_OPTION} redis://... needs the redis package, which is not installed",
            hint="pip install 'gearshift[distributed]'",
        ) from None


def check_url(url: str) -> None:
    """A :class:`~gearshift.errors.ConfigError` naming ``--rate-limit-store`` unless ``url`` is
    a Redis URL redis-py can parse (and redis-py is installed); connects to nothing."""
    display = mask_password(url)
    if url.partition("://")[0].lower() not in _SCHEMES or "://" not in url:
        raise ConfigError(
            f"{_OPTION} {display}: not a Redis URL",
            hint="pass redis://[:password@]host:6379/0 (or rediss://, unix://), or 'ledger' "
            "(the default) for the ledger's own database",
        )
    require_redis()
    from redis.asyncio.connection import parse_url

    try:
        parse_url(url)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{_OPTION} {display}: {scrub(str(exc), url)}",
            hint="pass redis://[:password@]host:6379/0",
        ) from None


class RedisBucketStore:
    """Token buckets in Redis (see the module docstring). Connection errors (and a read-only
    replica during a failover) become
    :class:`~gearshift.distributed.ratelimit_store.StoreUnavailable`; messages show the URL
    with its password masked."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = PREFIX,
        timeout_s: float = 5.0,
        max_connections: int = 16,
    ) -> None:
        check_url(url)
        self.display = mask_password(url)
        self._url = url
        from redis.asyncio import BlockingConnectionPool, Redis

        # a bounded pool: hundreds of jobs in flight share a few connections (each script is
        # well under a millisecond) instead of opening one each; a URL's own options win
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
        )
        self.client: Redis = Redis.from_pool(pool)
        self.prefix = prefix
        self._take = self.client.register_script(_TAKE)
        self._settle = self.client.register_script(_SETTLE)
        self._block = self.client.register_script(_BLOCK)

    def key(self, bucket: BucketSpec) -> str:
        """``gearshift:rl:{provider key:model class}:dimension``."""
        head, _, dimension = bucket.key.rpartition(":")
        return f"{self.prefix}{{{head}}}:{dimension}"

    async def take(self, buckets: Sequence[BucketSpec], costs: Sequence[float]) -> float:
        if not buckets:
            return 0.0
        args: list[float] = []
        for bucket, cost in zip(buckets, costs, strict=True):
            args += [bucket.capacity, bucket.refill_per_s, cost]
        wait = await self._run(self._take, [self.key(b) for b in buckets], args)
        return float(wait)

    async def settle(self, settlements: Sequence[Settlement]) -> None:
        if not settlements:
            return
        args: list[float | str] = []
        for s in settlements:
            remaining = "" if s.remaining is None else s.remaining
            args += [s.bucket.capacity, s.bucket.refill_per_s, max(0.0, s.refund), remaining]
        await self._run(self._settle, [self.key(s.bucket) for s in settlements], args)

    async def block(self, buckets: Sequence[BucketSpec], seconds: float) -> None:
        if not buckets:
            return
        args: list[float] = [max(0.0, seconds)]
        for bucket in buckets:
            args += [bucket.capacity, bucket.refill_per_s]
        await self._run(self._block, [self.key(b) for b in buckets], args)

    async def _run(self, script: Any, keys: list[str], args: Sequence[float | str]) -> Any:
        from redis.exceptions import ConnectionError, ReadOnlyError, TimeoutError

        try:
            result = await script(keys=keys, args=[_arg(a) for a in args])
        except (ConnectionError, TimeoutError, ReadOnlyError, OSError) as exc:  # a failover too
            raise StoreUnavailable(
                f"rate-limit store {self.display} is unreachable: {self._reason(exc)}"
            ) from None
        return result.decode() if isinstance(result, bytes) else result

    def _reason(self, exc: BaseException) -> str:
        return scrub(str(exc) or type(exc).__name__, self._url)

    async def check(self) -> None:
        from redis.exceptions import RedisError

        try:
            await self.client.ping()
            await self._take(keys=[], args=[])  # loads the scripts; a Redis without Lua fails
        except (RedisError, OSError) as exc:
            raise ConfigError(
                f"{_OPTION} {self.display}: cannot use Redis: {self._reason(exc)}",
                hint="start Redis or fix the URL (host, port, password), or leave "
                f"{_OPTION} unset to keep the buckets in the ledger",
            ) from None

    async def close(self) -> None:
        await self.client.aclose()


def _arg(value: float | str) -> str:
    """A number as Lua's ``tonumber`` reads it back exactly (``repr``: shortest round trip)."""
    return value if isinstance(value, str) else repr(float(value))
