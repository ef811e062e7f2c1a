"""Server-side sessions in Redis.

The cookie carries a random session id; Redis stores the session under the SHA-256 of
that id (so a copy of Redis holds no usable cookies). Each user's sessions are indexed so
they can be listed and ended together (password change, "sign out everywhere").
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis

COOKIE_NAME = "tessera_session"
_PREFIX = "tessera:session:"
_USER_PREFIX = "tessera:user-sessions:"
#: last_seen is written back at most this often (seconds), not on every request
TOUCH_INTERVAL = 15


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass
class SessionData:
    user_id: str
    #: tenant id, or "" for an anonymous pre-login session / "platform" for operators
    tenant_id: str
    created_at: float
    last_seen: float
    csrf_token: str
    mfa_verified: bool = False
    client_ip: str | None = None
    user_agent: str | None = None
    #: emergency-access grants: permission object -> expiry (epoch seconds)
    break_glass: dict[str, float] = field(default_factory=dict)
    #: free-form per-session values (e.g. a pending MFA enrolment secret)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_authenticated(self) -> bool:
        return bool(self.user_id)


class SessionStore:
    def __init__(self, redis: Redis, *, max_lifetime: int = 43200) -> None:
        self.redis = redis
        self.max_lifetime = max_lifetime

    async def create(
        self,
        *,
        user_id: uuid.UUID | None,
        tenant_id: uuid.UUID | str | None,
        mfa_verified: bool = False,
        client_ip: str | None = None,
        user_agent: str | None = None,
        lifetime: int | None = None,
    ) -> tuple[str, SessionData]:
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        data = SessionData(
            user_id=str(user_id) if user_id else "",
            tenant_id=str(tenant_id) if tenant_id else "",
            created_at=now,
            last_seen=now,
            csrf_token=secrets.token_urlsafe(32),
            mfa_verified=mfa_verified,
            client_ip=client_ip,
            user_agent=(user_agent or "")[:512] or None,
        )
        await self._write(session_id, data, lifetime or self.max_lifetime)
        if data.user_id:
            await self.redis.sadd(_USER_PREFIX + data.user_id, _digest(session_id))
        return session_id, data

    async def _write(self, session_id: str, data: SessionData, ttl: int) -> None:
        await self.redis.set(_PREFIX + _digest(session_id), json.dumps(asdict(data)), ex=max(int(ttl), 1))

    async def get(self, session_id: str) -> SessionData | None:
        if not session_id or len(session_id) > 128:
            return None
        raw = await self.redis.get(_PREFIX + _digest(session_id))
        if raw is None:
            return None
        return SessionData(**json.loads(raw))

    async def save(self, session_id: str, data: SessionData) -> None:
        """Write ``data`` back, keeping the session's absolute expiry."""
        ttl = await self.redis.ttl(_PREFIX + _digest(session_id))
        if ttl and ttl > 0:
            await self._write(session_id, data, ttl)

    async def rotate(self, session_id: str, data: SessionData) -> str:
        """Move the session to a new id (same data, same absolute expiry) and end the old
        id: after a privilege change (the second factor passed) a copy of the old cookie,
        or an id fixed by an attacker beforehand, is worth nothing."""
        new_id = secrets.token_urlsafe(32)
        ttl = await self.redis.ttl(_PREFIX + _digest(session_id))
        await self._write(new_id, data, ttl if ttl and ttl > 0 else self.max_lifetime)
        if data.user_id:
            await self.redis.sadd(_USER_PREFIX + data.user_id, _digest(new_id))
        await self.delete(session_id)
        return new_id

    async def touch(
        self, session_id: str, data: SessionData, now: float | None = None, *, idle_limit: float | None = None
    ) -> None:
        """Record activity. Written back at most every TOUCH_INTERVAL seconds, and at least
        four times per idle period, so a short idle limit never ends an active session."""
        now = now or time.time()
        interval = TOUCH_INTERVAL if idle_limit is None else min(TOUCH_INTERVAL, idle_limit / 4)
        if now - data.last_seen >= interval:
            data.last_seen = now
            await self.save(session_id, data)

    async def delete(self, session_id: str) -> None:
        raw = await self.redis.getdel(_PREFIX + _digest(session_id))
        if raw:
            user_id = json.loads(raw).get("user_id")
            if user_id:
                await self.redis.srem(_USER_PREFIX + user_id, _digest(session_id))

    async def list_for_user(self, user_id: uuid.UUID | str) -> list[tuple[str, SessionData]]:
        """The user's live sessions as (digest, data); stale index entries are pruned."""
        key = _USER_PREFIX + str(user_id)
        out = []
        for digest in await self.redis.smembers(key):
            digest = digest.decode() if isinstance(digest, bytes) else digest
            raw = await self.redis.get(_PREFIX + digest)
            if raw is None:
                await self.redis.srem(key, digest)
                continue
            out.append((digest, SessionData(**json.loads(raw))))
        return sorted(out, key=lambda item: item[1].created_at)

    async def delete_by_digest(self, user_id: uuid.UUID | str, digest: str) -> bool:
        removed = await self.redis.delete(_PREFIX + digest)
        await self.redis.srem(_USER_PREFIX + str(user_id), digest)
        return bool(removed)

    async def delete_all_for_user(self, user_id: uuid.UUID | str, *, keep: str | None = None) -> int:
        keep_digest = _digest(keep) if keep else None
        count = 0
        for digest, _ in await self.list_for_user(user_id):
            if digest != keep_digest:
                count += await self.delete_by_digest(user_id, digest)
        return count

    @staticmethod
    def digest(session_id: str) -> str:
        return _digest(session_id)
