"""Delayed outbox entries (``_not_before``) and withdrawing an entry before it runs.

Real PostgreSQL and Redis: the dispatcher, sweeper and job wrapper are the real ones.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from arq.connections import create_pool
from arq.constants import job_key_prefix
from sqlalchemy import text

from core.jobs import JobError, enqueue_job
from core.jobs.outbox import dispatch_pending, sweep_stale, withdraw_job
from core.jobs.worker import redis_settings
from core.tenancy import tenant_scope
from tests.sample_plugin.hooks import add_note


@pytest.fixture
async def redis(settings):
    pool = await create_pool(redis_settings(settings), default_queue_name=settings.queue_name)
    yield pool
    await pool.aclose()


async def row(owner_engine, entry_id) -> dict:
    async with owner_engine.connect() as conn:
        found = (
            await conn.execute(text("SELECT * FROM core_outbox WHERE id = :id"), {"id": entry_id})
        ).first()
    return dict(found._mapping)


async def enqueue(db, tenant_id, **kwargs) -> uuid.UUID:
    with tenant_scope(tenant_id):
        async with db.session() as session:
            entry = await enqueue_job(session, "sample.add_note", **kwargs)
            await session.commit()
            return entry.id


async def test_a_delayed_entry_waits_until_it_is_due(db, make_tenant, owner_engine, redis, settings):
    tenant = await make_tenant(plugins=("sample",))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    delayed = await enqueue(db, tenant.id, body=f"later-{uuid.uuid4().hex}", _not_before=later)
    now = await enqueue(db, tenant.id, body=f"now-{uuid.uuid4().hex}")
    assert (await row(owner_engine, delayed))["not_before"] == later
    assert "_not_before" not in (await row(owner_engine, delayed))["kwargs"]

    await dispatch_pending(db, redis, queue_name=settings.queue_name)
    assert (await row(owner_engine, now))["status"] == "enqueued"
    assert (await row(owner_engine, delayed))["status"] == "pending"
    assert not await redis.exists(job_key_prefix + f"outbox:{delayed}")

    # a sweeper pass that considers everything stale still leaves the waiting row alone
    await sweep_stale(
        db, redis, queue_name=settings.queue_name, stale_seconds=0, max_tries={"sample.add_note": 5}
    )
    waiting = await row(owner_engine, delayed)
    assert (waiting["status"], waiting["attempts"]) == ("pending", 0)

    # once due (moved into the past here), the next pass dispatches it
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("UPDATE core_outbox SET not_before = now() - interval '1 second' WHERE id = :id"),
            {"id": delayed},
        )
    await dispatch_pending(db, redis, queue_name=settings.queue_name)
    due = await row(owner_engine, delayed)
    assert (due["status"], due["attempts"]) == ("enqueued", 1)
    assert await redis.exists(job_key_prefix + f"outbox:{delayed}")


async def test_not_before_must_be_an_aware_datetime(db, make_tenant):
    tenant = await make_tenant(plugins=("sample",))
    with tenant_scope(tenant.id):
        async with db.session() as session:
            with pytest.raises(JobError, match="timezone-aware"):
                await enqueue_job(session, "sample.add_note", body="x", _not_before=dt.datetime(2030, 1, 1))
            with pytest.raises(JobError, match="timezone-aware"):
                await enqueue_job(session, "sample.add_note", body="x", _not_before="tomorrow")


async def test_a_withdrawn_entry_is_neither_dispatched_nor_run(
    db, make_tenant, owner_engine, redis, settings
):
    tenant = await make_tenant(plugins=("sample",))
    body = f"withdrawn-{uuid.uuid4().hex}"
    entry_id = await enqueue(db, tenant.id, body=body)
    with tenant_scope(tenant.id):
        async with db.session() as session:
            assert await withdraw_job(session, entry_id) is True
            await session.rollback()  # the withdrawal shares the caller's transaction
    assert (await row(owner_engine, entry_id))["status"] == "pending"
    with tenant_scope(tenant.id):
        async with db.session() as session:
            assert await withdraw_job(session, entry_id) is True
            await session.commit()
    withdrawn = await row(owner_engine, entry_id)
    assert withdrawn["status"] == "withdrawn" and withdrawn["finished_at"] is not None

    await dispatch_pending(db, redis, queue_name=settings.queue_name)
    assert (await row(owner_engine, entry_id))["status"] == "withdrawn"
    # even a job already in arq when it was withdrawn does nothing
    ctx = {"db": db, "redis": redis, "settings": settings, "job_try": 1}
    assert await add_note.coroutine(ctx, tenant_id=str(tenant.id), outbox_id=str(entry_id), body=body) is None
    async with owner_engine.connect() as conn:
        assert (
            await conn.execute(text("SELECT count(*) FROM sample_notes WHERE body = :b"), {"b": body})
        ).scalar() == 0
    # withdrawing twice, or a finished entry, reports False
    with tenant_scope(tenant.id):
        async with db.session() as session:
            assert await withdraw_job(session, entry_id) is False


async def test_withdrawing_an_enqueued_entry_and_another_clinics_entry(
    db, make_tenant, owner_engine, redis, settings
):
    a, b = await make_tenant(plugins=("sample",)), await make_tenant(plugins=("sample",))
    a_entry = await enqueue(db, a.id, body=f"a-{uuid.uuid4().hex}")
    await dispatch_pending(db, redis, queue_name=settings.queue_name)
    assert (await row(owner_engine, a_entry))["status"] == "enqueued"
    # another clinic cannot see, let alone withdraw, a's entry
    with tenant_scope(b.id):
        async with db.session() as session:
            assert await withdraw_job(session, a_entry) is False
            await session.commit()
    assert (await row(owner_engine, a_entry))["status"] == "enqueued"
    with tenant_scope(a.id):
        async with db.session() as session:
            assert await withdraw_job(session, a_entry) is True
            await session.commit()
    assert (await row(owner_engine, a_entry))["status"] == "withdrawn"


async def test_withdrawing_an_entry_whose_job_is_running_does_not_wait(db, make_tenant, owner_engine):
    """The running job holds the row's lock; withdraw_job reports False at once instead of
    blocking the caller (who may hold locks the job needs)."""
    tenant = await make_tenant(plugins=("sample",))
    entry_id = await enqueue(db, tenant.id, body=f"running-{uuid.uuid4().hex}")
    with tenant_scope(tenant.id):
        async with db.session() as job_session, job_session.begin():
            await job_session.execute(
                text("SELECT 1 FROM core_outbox WHERE id = :id FOR UPDATE"), {"id": entry_id}
            )
            async with db.session() as session:
                assert await withdraw_job(session, entry_id) is False
    assert (await row(owner_engine, entry_id))["status"] == "pending"
