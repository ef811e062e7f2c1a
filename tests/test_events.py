"""Durable events: published in the change's transaction, delivered afterwards as a tenant
job per consuming plugin the tenant enabled, retried, never undoing the change."""

from __future__ import annotations

import pytest
from arq import create_pool
from arq.worker import Retry
from sqlalchemy import select, text

from core.jobs.tenant_job import JobFailedError
from core.jobs.worker import redis_settings
from core.lifecycle.plugins import enable_plugin
from core.lifecycle.registry import get_tenant
from core.plugins.events import EventConsumer, deliver_event, fan_out_event, publish_event
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from core.plugins.registry import PluginRegistry
from core.tenancy import require_tenant_id, tenant_scope
from tests.sample_plugin.hooks import default_notebook
from tests.sample_plugin.models import Note

EVENT = "sample.note_added"


class Listener:
    """Consumes ``sample.note_added``; fails the first ``fail_times`` deliveries."""

    def __init__(self, name: str, fail_times: int = 0):
        self.manifest = Manifest(name=name, version="1.0", title=name.title())
        self.fail_times = fail_times
        self.heard: list[tuple] = []

    async def on_note(self, session, payload):
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("the consumer's service is down")
        # inside the tenant's scope, reading through the delivery's session
        bodies = list(await session.scalars(select(Note.body)))
        self.heard.append((require_tenant_id(), payload["note"], bodies))

    @hookimpl
    def tessera_event_consumers(self):
        return [EventConsumer(EVENT, self.on_note), EventConsumer("sample.other", self.on_note)]


@pytest.fixture
async def redis(settings):
    pool = await create_pool(redis_settings(settings), default_queue_name=settings.queue_name)
    yield pool
    await pool.aclose()


async def entries(owner_engine, tenant_id, job):
    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT id, kwargs, status, last_error FROM core_outbox WHERE tenant_id = :t AND job = :j"),
            {"t": tenant_id, "j": job},
        )
        return [dict(r._mapping) for r in rows]


async def test_hook_tessera_event_consumers(db, redis, settings, make_tenant, owner_engine):
    """Per-tenant filtering, the tenant's scope inside the consumer, a failure that neither
    undoes the change nor stops the retry from delivering."""
    on, off = Listener("listener", fail_times=1), Listener("deaf")
    registry = PluginRegistry()
    registry.load(objects=[on, off], use_entry_points=False)
    tenant = await make_tenant(plugins=("sample",))
    async with db.session() as session:
        row = await get_tenant(session, tenant.slug)
        await enable_plugin(session, registry, row, "listener")  # "deaf" stays off here
        await session.commit()

    # the change and its event commit together
    with tenant_scope(tenant.id):
        async with db.session() as session:
            notebook = await default_notebook(session)
            note = Note(notebook_id=notebook.id, body="event body")
            session.add(note)
            await session.flush()
            await publish_event(session, EVENT, {"note": note.id})
            await session.commit()
    # a rolled-back change announces nothing
    with tenant_scope(tenant.id):
        async with db.session() as session:
            await publish_event(session, EVENT, {"note": "never"})
            await session.rollback()
    published = await entries(owner_engine, tenant.id, "core.fan_out_event")
    assert [e["kwargs"]["payload"]["note"] for e in published] == [str(note.id)]

    ctx = {"db": db, "redis": redis, "settings": settings, "registry": registry, "job_try": 1}
    kwargs = {"tenant_id": str(tenant.id), "outbox_id": str(published[0]["id"]), **published[0]["kwargs"]}
    assert await fan_out_event.coroutine(ctx, **kwargs) == 1  # only the enabled consumer
    deliveries = await entries(owner_engine, tenant.id, "core.deliver_event")
    assert [d["kwargs"]["plugin"] for d in deliveries] == ["listener"]
    delivery = {"tenant_id": str(tenant.id), "outbox_id": str(deliveries[0]["id"]), **deliveries[0]["kwargs"]}

    # the first delivery fails: retried later, the note is still there, the failure counted
    with pytest.raises(Retry):
        await deliver_event.coroutine(ctx, **delivery)
    assert (await entries(owner_engine, tenant.id, "core.deliver_event"))[0]["last_error"] == "RuntimeError"
    async with owner_engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM sample_notes WHERE body = 'event body'")) == 1
        assert (
            await conn.scalar(
                text(
                    "SELECT failures FROM core_plugin_failures WHERE tenant_id = :t AND plugin = 'listener' "
                    "AND hook = 'event sample.note_added'"
                ),
                {"t": tenant.id},
            )
            == 1
        )
    # the retry delivers, in the tenant's scope, seeing the committed note
    assert await deliver_event.coroutine({**ctx, "job_try": 2}, **delivery) is True
    assert on.heard == [(tenant.id, str(note.id), ["event body"])]
    assert off.heard == []
    assert (await entries(owner_engine, tenant.id, "core.deliver_event"))[0]["status"] == "done"
    # a retry after success does nothing twice
    assert await deliver_event.coroutine({**ctx, "job_try": 3}, **delivery) is None
    assert len(on.heard) == 1


async def test_a_delivery_to_a_plugin_disabled_since_is_dropped(db, redis, settings, make_tenant):
    listener = Listener("listener")
    registry = PluginRegistry()
    registry.load(objects=[listener], use_entry_points=False)
    tenant = await make_tenant()
    ctx = {"db": db, "redis": redis, "settings": settings, "registry": registry, "job_try": 1}
    payload = {"tenant_id": str(tenant.id), "plugin": "listener", "event": EVENT, "payload": {"note": "x"}}
    assert await deliver_event.coroutine(ctx, **payload) is False
    assert listener.heard == []


async def test_a_consumer_that_keeps_failing_gives_up_after_its_tries(
    db, redis, settings, make_tenant, owner_engine
):
    listener = Listener("listener", fail_times=100)
    registry = PluginRegistry()
    registry.load(objects=[listener], use_entry_points=False)
    tenant = await make_tenant()
    async with db.session() as session:
        await enable_plugin(session, registry, await get_tenant(session, tenant.slug), "listener")
        await session.commit()
    with tenant_scope(tenant.id):
        async with db.session() as session:
            from core.jobs.outbox import enqueue_job

            entry = await enqueue_job(
                session, "core.deliver_event", plugin="listener", event=EVENT, payload={"note": "n"}
            )
            await session.commit()
    ctx = {"db": db, "redis": redis, "settings": settings, "registry": registry}
    delivery = {
        "tenant_id": str(tenant.id),
        "outbox_id": str(entry.id),
        "plugin": "listener",
        "event": EVENT,
        "payload": {"note": "n"},
    }
    with pytest.raises(JobFailedError):
        await deliver_event.coroutine({**ctx, "job_try": deliver_event.max_tries}, **delivery)
    (row,) = await entries(owner_engine, tenant.id, "core.deliver_event")
    assert (row["status"], row["last_error"]) == ("failed", "RuntimeError")
