"""Sign-in throttling: attempts counted in Redis, per (account, site) and per source address,
with exponentially growing waits instead of a lock.

Two counters stand in front of every password or second-factor check:

- **account at this site** — the e-mail address typed (its SHA-256, known account or not, so
  the answer never tells whether an account exists) on one clinic's host (or the platform
  host). Failures at clinic A never slow the same person down at clinic B.
- **source address** — every attempt from one client address, on every site, with a larger
  allowance (a clinic's staff may share one address).

Each counter allows ``free`` attempts; the attempt that reaches it starts a wait of
``backoff`` seconds, and each further attempt (allowed once the wait is over) doubles the
wait, up to ``backoff_max``. A counter is forgotten ``WINDOW`` seconds after its last
attempt. A successful sign-in clears the account counter and gives its own reservation
back to the address counter.

The attempt is counted **before** the slow check (argon2, or the TOTP code), in one Lua
script over both counters, so concurrent requests cannot all pass a "not yet at the limit"
test and then all be checked: Redis runs scripts one at a time, and an attempt refused
by either counter is counted by neither.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

WINDOW = 3600
_PREFIX = "tessera:signin:"

# KEYS: counters; ARGV: now, then (free, backoff, backoff_max) per key, then the window.
# Returns {allowed (0/1), seconds to wait (as text), index of the refusing key or 0,
# the first counter's attempts so far}.
_RESERVE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[#ARGV])
for i, key in ipairs(KEYS) do
  local next_at = tonumber(redis.call('HGET', key, 'next_at') or '0')
  if now < next_at then
    return {0, tostring(next_at - now), i, 0}
  end
end
local first = 0
for i, key in ipairs(KEYS) do
  local free = tonumber(ARGV[3 * i - 1])
  local base = tonumber(ARGV[3 * i])
  local cap = tonumber(ARGV[3 * i + 1])
  local count = redis.call('HINCRBY', key, 'count', 1)
  if i == 1 then first = count end
  if count >= free then
    redis.call('HSET', key, 'next_at', tostring(now + math.min(cap, base * 2 ^ (count - free))))
  end
  redis.call('EXPIRE', key, window)
end
return {1, '0', 0, first}
"""


@dataclass(frozen=True)
class Limits:
    """How many attempts a counter allows before waits begin, and how long they grow."""

    free: int
    backoff: float
    backoff_max: float


@dataclass(frozen=True)
class Reservation:
    """The outcome of asking to make one attempt."""

    allowed: bool
    #: seconds until the next attempt is allowed (when refused)
    wait: float = 0.0
    #: "account" or "address": which counter refused
    by: str | None = None
    #: attempts counted against the account so far, this one included (when allowed)
    attempts: int = 0

    def starts_waiting(self, limits: Limits) -> bool:
        """Is this the attempt after which the account's waits begin?"""
        return self.allowed and self.attempts == limits.free


def account_key(site_key: str, email: str) -> str:
    digest = hashlib.sha256((email or "").strip().lower().encode()).hexdigest()
    return f"{_PREFIX}account:{site_key}:{digest}"


def address_key(address: str | None) -> str:
    return f"{_PREFIX}address:{address or 'unknown'}"


class SignInThrottle:
    def __init__(self, redis, *, account: Limits, address: Limits) -> None:
        self.redis = redis
        self.account = account
        self.address = address
        self._script = redis.register_script(_RESERVE)

    @classmethod
    def from_settings(cls, redis, settings) -> SignInThrottle:
        return cls(
            redis,
            account=Limits(
                settings.signin_free_attempts, settings.signin_backoff, settings.signin_backoff_max
            ),
            address=Limits(
                settings.signin_address_free_attempts,
                settings.signin_backoff,
                settings.signin_backoff_max,
            ),
        )

    async def reserve(self, account: str, address: str | None) -> Reservation:
        """Count one attempt against both counters, unless either makes the caller wait."""
        keys = [account, address_key(address)]
        argv: list[float] = [time.time()]
        for limits in (self.account, self.address):
            argv += [limits.free, limits.backoff, limits.backoff_max]
        argv.append(WINDOW)
        allowed, wait, index, attempts = await self._script(keys=keys, args=argv)
        if allowed:
            return Reservation(True, attempts=int(attempts))
        return Reservation(False, float(wait), ("account", "address")[int(index) - 1])

    async def succeeded(self, account: str, address: str | None) -> None:
        """The attempt was right: forget the account's failures and give the address its
        attempt back (its earlier failures still count)."""
        await self.redis.delete(account)
        key = address_key(address)
        if await self.redis.hincrby(key, "count", -1) <= 0:
            await self.redis.hdel(key, "count")

    async def count(self, account: str) -> int:
        """Attempts counted against ``account`` in the current window (0 when none)."""
        return int(await self.redis.hget(account, "count") or 0)

    async def clear(self, account: str) -> None:
        await self.redis.delete(account)


def wait_message(seconds: float, by: str | None = "account") -> str:
    """What a person is told when a counter makes them wait (the same for an account that
    exists and one that does not)."""
    seconds = max(1, int(seconds + 0.999))
    if seconds < 90:
        amount = f"{seconds} second{'s' if seconds != 1 else ''}"
    else:
        minutes = (seconds + 59) // 60
        amount = f"{minutes} minute{'s' if minutes != 1 else ''}"
    message = f"Too many unsuccessful attempts. Wait {amount} before trying again."
    if by == "account":
        message += " If this is your account, we have e-mailed you a link that lets you sign in now."
    return message
