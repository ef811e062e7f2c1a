"""The audit sealer: chains committed audit events into one SHA-256 chain per tenant.

Requests only INSERT audit rows (in the transaction of the access they record), so no
request waits for another. Shortly after, the sealer — a separate database role that may
read every tenant's rows and update only the chain columns — gives each committed,
unsealed event the next position of its tenant's chain:

* ``seal_seq``  1, 2, 3, ... per tenant, in the order events are sealed (within one pass:
  by ``(occurred_at, id)``). An event whose transaction commits late simply gets a later
  position; the chain records the order of sealing, ``occurred_at`` the time of access.
* ``prev_hash`` the ``hash`` of the event at ``seal_seq - 1`` (32 zero bytes for the first).
* ``hash``      ``SHA-256(prev_hash || canonical_bytes(event, seal_seq))``.
* ``sealed_at`` when it was sealed (not covered by the hash).

Canonical bytes: a JSON object with the keys of ``CHAINED_FIELDS`` plus ``seal_seq``,
sorted keys, separators ``","`` and ``":"``, ASCII only (``ensure_ascii``), UTF-8:

* UUIDs as lowercase hyphenated strings; NULL as ``null``; booleans as ``true``/``false``;
* timestamps in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fraction digits);
* ``detail`` (JSONB) as the JSON value PostgreSQL returns, re-encoded with sorted keys;
* other values (text) as JSON strings.

Two sealers never interleave on one tenant: each batch runs in one transaction holding a
per-tenant transaction-level advisory lock, reads the chain head, reads up to
``batch_size`` unsealed rows and writes them all with one ``UPDATE ... FROM unnest(...)``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from core.audit.models import CHAINED_FIELDS
from core.settings import Settings

log = logging.getLogger("tessera.audit.seal")

GENESIS = bytes(32)
#: first key of the two-key advisory lock; the second is hashtext(tenant id)
LOCK_CLASS = 0x7E55E1
BATCH_SIZE = 2000

_COLUMNS = ", ".join(CHAINED_FIELDS)


def _canonical_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("audit timestamps must be timezone-aware")
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def canonical_bytes(event: Mapping[str, Any], seal_seq: int) -> bytes:
    """The bytes the chain hash covers for ``event`` (a mapping with every CHAINED_FIELDS key)."""
    doc = {name: _canonical_value(event[name]) for name in CHAINED_FIELDS}
    if isinstance(doc["detail"], str | bytes):  # a driver without a JSONB codec
        doc["detail"] = json.loads(doc["detail"])
    doc["seal_seq"] = int(seal_seq)
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def chain_hash(prev_hash: bytes, event: Mapping[str, Any], seal_seq: int) -> bytes:
    return hashlib.sha256(bytes(prev_hash) + canonical_bytes(event, seal_seq)).digest()


@dataclass
class SealResult:
    tenants: int = 0
    sealed: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sealed / self.seconds if self.seconds > 0 else 0.0


def sealer_engine(settings: Settings, **kw: Any) -> AsyncEngine:
    """An engine that connects as the sealer role (``TESSERA_SEALER_DATABASE_URL``)."""
    kw.setdefault("pool_size", 2)
    return create_async_engine(settings.sealer_url(), **kw)


_HEAD = text(
    "SELECT seal_seq, hash FROM audit_events WHERE tenant_id = :tenant AND seal_seq IS NOT NULL "
    "ORDER BY seal_seq DESC LIMIT 1"
)
_UNSEALED = text(
    f"SELECT {_COLUMNS} FROM audit_events WHERE tenant_id = :tenant AND seal_seq IS NULL "
    "ORDER BY occurred_at, id LIMIT :limit"
)
_WRITE = text(
    "UPDATE audit_events AS a SET seal_seq = v.seq, prev_hash = v.prev, hash = v.h, "
    "sealed_at = clock_timestamp() "
    "FROM unnest(CAST(:ids AS uuid[]), CAST(:seqs AS bigint[]), CAST(:prevs AS bytea[]), "
    "CAST(:hashes AS bytea[])) AS v(id, seq, prev, h) "
    "WHERE a.tenant_id = :tenant AND a.id = v.id AND a.seal_seq IS NULL"
)
_LOCK = text("SELECT pg_advisory_xact_lock(:cls, hashtext(:tenant))")
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(:cls, hashtext(:tenant))")
_PENDING_TENANTS = text("SELECT DISTINCT tenant_id FROM audit_events WHERE seal_seq IS NULL")


async def _seal_batch(conn: AsyncConnection, tenant_id: uuid.UUID, batch_size: int, wait: bool) -> int | None:
    """Seal up to ``batch_size`` events of one tenant in the connection's transaction.

    Returns how many were sealed, or None when another sealer holds the tenant.
    """
    params = {"cls": LOCK_CLASS, "tenant": str(tenant_id)}
    if wait:
        await conn.execute(_LOCK, params)
    elif not await conn.scalar(_TRY_LOCK, params):
        return None
    head = (await conn.execute(_HEAD, {"tenant": tenant_id})).first()
    seq, prev = (int(head.seal_seq), bytes(head.hash)) if head else (0, GENESIS)
    rows = (await conn.execute(_UNSEALED, {"tenant": tenant_id, "limit": batch_size})).mappings().all()
    if not rows:
        return 0
    ids, seqs, prevs, hashes = [], [], [], []
    for row in rows:
        seq += 1
        digest = chain_hash(prev, row, seq)
        ids.append(row["id"])
        seqs.append(seq)
        prevs.append(prev)
        hashes.append(digest)
        prev = digest
    result = await conn.execute(
        _WRITE, {"tenant": tenant_id, "ids": ids, "seqs": seqs, "prevs": prevs, "hashes": hashes}
    )
    if result.rowcount != len(ids):  # cannot happen under the lock; refuse to leave a hole
        raise RuntimeError(f"sealing tenant {tenant_id}: wrote {result.rowcount} of {len(ids)} rows")
    return len(ids)


async def pending_tenants(engine: AsyncEngine) -> list[uuid.UUID]:
    async with engine.connect() as conn:
        return list(await conn.scalars(_PENDING_TENANTS))


async def seal_tenant(
    engine: AsyncEngine, tenant_id: uuid.UUID, *, batch_size: int = BATCH_SIZE, wait: bool = True
) -> int:
    """Seal every committed, unsealed event of one tenant; returns how many were sealed.

    ``wait=False`` skips the tenant (returning 0) while another sealer works on it.
    """
    total = 0
    while True:
        async with engine.begin() as conn:
            count = await _seal_batch(conn, tenant_id, batch_size, wait)
        if not count:
            return total
        total += count
        if count < batch_size:
            return total


async def seal_all(
    engine: AsyncEngine,
    *,
    tenant_id: uuid.UUID | None = None,
    batch_size: int = BATCH_SIZE,
    wait: bool = True,
) -> SealResult:
    """One sealing pass over every tenant with unsealed events (or just ``tenant_id``)."""
    started = time.perf_counter()
    tenants = [tenant_id] if tenant_id is not None else await pending_tenants(engine)
    result = SealResult()
    for tid in tenants:
        count = await seal_tenant(engine, tid, batch_size=batch_size, wait=wait)
        if count:
            result.tenants += 1
            result.sealed += count
    result.seconds = time.perf_counter() - started
    return result


class AuditSealer:
    """The sealing loop of one worker process (started in the worker's on_startup).

    Several workers may run it at once: a tenant another worker is sealing is skipped.
    """

    def __init__(self, settings: Settings, *, interval: float | None = None) -> None:
        self.settings = settings
        self.interval = max(interval if interval is not None else settings.audit_seal_interval, 0.05)
        self.engine: AsyncEngine | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self.engine = sealer_engine(self.settings)
            self._task = asyncio.create_task(self._loop(), name="tessera-audit-sealer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        engine, self.engine = self.engine, None
        if engine is not None:
            await engine.dispose()

    async def _loop(self) -> None:
        failing = False
        while True:
            try:
                result = await seal_all(self.engine, wait=False)
                if result.sealed:
                    log.debug("sealed %d audit event(s) of %d tenant(s)", result.sealed, result.tenants)
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep going; the database may come back
                if not failing:
                    log.warning("audit sealer pass failed: %s", type(exc).__name__)
                failing = True
            await asyncio.sleep(self.interval)
