"""The outbox: work that must not be lost, written in the transaction that caused it.

* ``enqueue_job(session, "<plugin>.<job>", **kwargs)`` adds an ``OutboxEntry`` (status
  ``pending``) to the caller's transaction, in the current tenant's scope. Roll back and the
  job was never asked for; commit and it will run. ``_not_before=<aware datetime>`` delays
  it: the row waits, ``pending``, until that instant (a reminder two days before a visit).
* ``withdraw_job(session, entry_id)`` calls off an entry that has not run (status
  ``withdrawn``, in the caller's transaction); the job wrapper skips withdrawn entries.
* The dispatcher (``dispatch_pending``) claims due ``pending`` rows of every tenant with
  ``FOR UPDATE SKIP LOCKED`` (so several workers share the work), enqueues each to arq with
  job id ``outbox:<id>`` (arq refuses a second job with the same id while the first exists)
  and marks it ``enqueued`` (``attempts + 1``, ``enqueued_at``).
* The sweeper (``sweep_stale``) enqueues again rows still ``enqueued`` after
  ``TESSERA_OUTBOX_STALE`` seconds: arq alone loses jobs when Redis loses data. When the job
  is still queued arq's id check makes this a no-op; a row that is being worked on is locked
  by its job and skipped. A delayed row is ``pending`` until it is due, so it is never stale. After the job's ``max_tries`` enqueues the row is ``failed``.
* The job wrapper (``core.jobs.tenant_job``) marks the row ``done`` in the same transaction
  as the job's own writes, and skips rows already ``done``: each job's effect happens once.

Rows of suspended tenants are left alone until the tenant is resumed. The dispatcher and
sweeper run inside ``unscoped("outbox dispatch")``: the platform role may read and update
``core_outbox`` across tenants, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.session import Database
from core.jobs.models import OutboxEntry
from core.jobs.tenant_job import RESERVED_KWARGS, JobError, check_job_name
from core.tenancy.context import require_tenant_id, unscoped, unscoped_reason
from core.tenancy.models import Tenant

log = logging.getLogger("tessera.jobs.outbox")

DISPATCH_REASON = "outbox dispatch"
BATCH_SIZE = 100


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


async def enqueue_job(
    session: AsyncSession, job_name: str, *, _not_before: dt.datetime | None = None, **kwargs: Any
) -> OutboxEntry:
    """Ask for ``job_name`` to run for the current tenant once ``session`` commits.

    Must be called inside ``tenant_scope()`` (requests and jobs already are); the entry is
    stamped with that tenant and the job receives it as ``tenant_id``. ``kwargs`` must be
    JSON values (UUIDs and dates are converted to strings): ids, not PHI. The entry is
    flushed, not committed: it shares the fate of the caller's transaction.

    ``_not_before`` (a timezone-aware datetime) keeps the entry from being dispatched
    before that instant; the leading underscore keeps it apart from the job's own
    arguments. Keep the returned entry's ``id`` to ``withdraw_job`` it later.
    """
    tenant_id = require_tenant_id()
    check_job_name(job_name)
    if _not_before is not None and (
        not isinstance(_not_before, dt.datetime) or _not_before.utcoffset() is None
    ):
        raise JobError(f"job {job_name!r}: _not_before must be a timezone-aware datetime")
    clash = RESERVED_KWARGS & kwargs.keys()
    if clash:
        raise JobError(f"job {job_name!r}: {', '.join(sorted(clash))} is set by the outbox, not by you")
    try:
        stored = json.loads(json.dumps(kwargs, default=_jsonable))
    except (TypeError, ValueError) as exc:
        raise JobError(f"job {job_name!r}: arguments must be JSON values ({exc})") from None
    entry = OutboxEntry(
        tenant_id=tenant_id,
        job=job_name,
        kwargs=stored,
        status="pending",
        attempts=0,
        not_before=_not_before,
    )
    session.add(entry)
    await session.flush()
    return entry


async def withdraw_job(session: AsyncSession, entry_id: uuid.UUID) -> bool:
    """Call off an outbox entry of the current tenant that has not run; returns whether it
    was withdrawn (in the caller's transaction: roll back and it stands).

    A ``pending`` or ``enqueued`` entry becomes ``withdrawn``; the job wrapper skips such
    entries even when arq already holds the job. An entry whose job is running right now
    is locked by that job: it is left alone rather than waited for (``False``), so the
    caller's own change (an appointment cancelled, say) must be what makes that job do
    nothing, which the job sees as soon as the caller commits. Finished entries stay as
    they are (``False``).
    """
    require_tenant_id()
    entry = await session.scalar(
        select(OutboxEntry)
        .where(OutboxEntry.id == entry_id, OutboxEntry.status.in_(("pending", "enqueued")))
        .with_for_update(skip_locked=True)
    )
    if entry is None:
        return False
    await session.execute(
        update(OutboxEntry)
        .where(OutboxEntry.tenant_id == entry.tenant_id, OutboxEntry.id == entry.id)
        .values(status="withdrawn", finished_at=dt.datetime.now(dt.UTC), last_error=None)
        .execution_options(synchronize_session="fetch")
    )
    return True


async def _inactive_tenants(db: Database) -> list[uuid.UUID]:
    """Suspended tenants, read from the global registry with no scope (the app role may;
    the platform role used inside ``unscoped`` may not), in a context of its own."""

    async def read() -> list[uuid.UUID]:
        async with db.session() as session:
            return list(await session.scalars(select(Tenant.id).where(Tenant.status != "active")))

    return await asyncio.create_task(read(), context=contextvars.Context())


def _dispatch_scope():
    # The dispatcher loop enters unscoped() once (one log line, not one per pass).
    return contextlib.nullcontext() if unscoped_reason() == DISPATCH_REASON else unscoped(DISPATCH_REASON)


async def _enqueue(redis: ArqRedis, queue_name: str, entry: OutboxEntry) -> bool:
    job = await redis.enqueue_job(
        entry.job,
        _job_id=entry.arq_job_id,
        _queue_name=queue_name,
        tenant_id=str(entry.tenant_id),
        outbox_id=str(entry.id),
        **entry.kwargs,
    )
    return job is not None


async def dispatch_pending(
    db: Database,
    redis: ArqRedis,
    *,
    queue_name: str,
    jobs: Iterable[str] | None = None,
    batch_size: int = BATCH_SIZE,
) -> int:
    """One dispatcher pass: enqueue ``pending`` rows that are due (``not_before`` unset or
    past, by the database's clock); returns how many were enqueued.

    ``jobs``: the job names this worker knows (others stay pending for a worker that does).
    """
    inactive = await _inactive_tenants(db)
    with _dispatch_scope():
        async with db.session() as session, session.begin():
            query = select(OutboxEntry).where(
                OutboxEntry.status == "pending",
                or_(OutboxEntry.not_before.is_(None), OutboxEntry.not_before <= func.now()),
            )
            if jobs is not None:
                query = query.where(OutboxEntry.job.in_(list(jobs)))
            if inactive:
                query = query.where(OutboxEntry.tenant_id.not_in(inactive))
            query = query.order_by(func.coalesce(OutboxEntry.not_before, OutboxEntry.created_at)).limit(
                batch_size
            )
            entries = list(await session.scalars(query.with_for_update(skip_locked=True)))
            now = dt.datetime.now(dt.UTC)
            for entry in entries:
                # Enqueued before the row is marked: a crash in between leaves it pending, and
                # the next pass enqueues the same job id again, which arq ignores.
                await _enqueue(redis, queue_name, entry)
                await session.execute(
                    update(OutboxEntry)
                    .where(OutboxEntry.tenant_id == entry.tenant_id, OutboxEntry.id == entry.id)
                    .values(status="enqueued", attempts=OutboxEntry.attempts + 1, enqueued_at=now)
                )
    if entries:
        log.info("outbox: enqueued %d job(s)", len(entries))
    return len(entries)


async def sweep_stale(
    db: Database,
    redis: ArqRedis,
    *,
    queue_name: str,
    stale_seconds: float,
    max_tries: Mapping[str, int],
    batch_size: int = BATCH_SIZE,
) -> tuple[int, int]:
    """One sweeper pass over rows ``enqueued`` longer than ``stale_seconds`` ago.

    Enqueues each again (a no-op in arq while the job still exists there) or, once it has
    been enqueued ``max_tries[job]`` times, marks it ``failed``. Rows locked by a running job
    are skipped. Returns ``(re-enqueued, failed)``.
    """
    inactive = await _inactive_tenants(db)
    requeued = failed = 0
    with _dispatch_scope():
        async with db.session() as session, session.begin():
            now = dt.datetime.now(dt.UTC)
            query = select(OutboxEntry).where(
                OutboxEntry.status == "enqueued",
                or_(
                    OutboxEntry.enqueued_at.is_(None),
                    OutboxEntry.enqueued_at < now - dt.timedelta(seconds=stale_seconds),
                ),
                OutboxEntry.job.in_(list(max_tries)),
            )
            if inactive:
                query = query.where(OutboxEntry.tenant_id.not_in(inactive))
            query = query.order_by(OutboxEntry.enqueued_at).limit(batch_size)
            entries = list(await session.scalars(query.with_for_update(skip_locked=True)))
            for entry in entries:
                where = (OutboxEntry.tenant_id == entry.tenant_id, OutboxEntry.id == entry.id)
                if entry.attempts >= max_tries[entry.job]:
                    await session.execute(
                        update(OutboxEntry)
                        .where(*where)
                        .values(
                            status="failed", finished_at=now, last_error=entry.last_error or "NotFinished"
                        )
                    )
                    failed += 1
                    continue
                if await _enqueue(redis, queue_name, entry):
                    requeued += 1
                await session.execute(
                    update(OutboxEntry)
                    .where(*where)
                    .values(attempts=OutboxEntry.attempts + 1, enqueued_at=now)
                )
    if requeued or failed:
        log.warning("outbox sweeper: %d job(s) enqueued again, %d given up", requeued, failed)
    return requeued, failed


class OutboxDispatcher:
    """The dispatcher and sweeper loop of one worker process (started in its on_startup)."""

    def __init__(
        self,
        db: Database,
        redis: ArqRedis,
        *,
        queue_name: str,
        max_tries: Mapping[str, int],
        poll_seconds: float,
        stale_seconds: float,
    ) -> None:
        self.db = db
        self.redis = redis
        self.queue_name = queue_name
        self.max_tries = dict(max_tries)
        self.poll_seconds = max(poll_seconds, 0.05)
        self.stale_seconds = stale_seconds
        # Sweep a few times per stale period, but not more often than every poll.
        self.sweep_every = max(self.poll_seconds, min(stale_seconds / 4, 60.0))
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="tessera-outbox-dispatcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def run_once(self, *, sweep: bool = True) -> None:
        if not self.max_tries:
            return
        await dispatch_pending(self.db, self.redis, queue_name=self.queue_name, jobs=self.max_tries)
        if sweep:
            await sweep_stale(
                self.db,
                self.redis,
                queue_name=self.queue_name,
                stale_seconds=self.stale_seconds,
                max_tries=self.max_tries,
            )

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = 0.0
        with unscoped(DISPATCH_REASON):  # logged once per worker, not once per pass
            while True:
                try:
                    sweep = loop.time() >= next_sweep
                    await self.run_once(sweep=sweep)
                    if sweep:
                        next_sweep = loop.time() + self.sweep_every
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # keep dispatching; the database or Redis may come back
                    log.warning("outbox dispatcher pass failed: %s", type(exc).__name__)
                await asyncio.sleep(self.poll_seconds)
