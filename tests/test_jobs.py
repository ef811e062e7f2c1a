"""Jobs: tenant_job, the outbox, the dispatcher and sweeper, and a worker killed mid-job.

Real PostgreSQL, real Redis, real ``tessera worker`` processes: nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from arq.connections import create_pool
from arq.constants import job_key_prefix
from arq.worker import Retry, Worker
from sqlalchemy import text

from core.jobs import JobError, JobFailedError, enqueue_job
from core.jobs.outbox import dispatch_pending
from core.jobs.worker import build_worker_settings, collect_jobs, redis_settings
from core.lifecycle.registry import set_status
from core.plugin_api import tenant_job
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from core.plugins.registry import PluginError, PluginRegistry
from core.tenancy import TenantScopeError, tenant_scope
from tests.sample_plugin.hooks import add_note

# a real worker runs here: it must find only this test's work in the outbox
pytestmark = pytest.mark.usefixtures("clean_outbox")

ROOT = Path(__file__).resolve().parent.parent
TESSERA = Path(sys.executable).parent / "tessera"


# -- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture
async def redis(settings):
    pool = await create_pool(redis_settings(settings), default_queue_name=settings.queue_name)
    yield pool
    await pool.aclose()


@pytest.fixture
def ctx(db, redis, settings):
    """The job context a worker passes (first try)."""
    return {"db": db, "redis": redis, "settings": settings, "job_try": 1}


@pytest.fixture
def workers(tmp_path):
    """Start ``tessera worker`` processes; every one is killed at teardown, whatever happens."""
    started: list[tuple[subprocess.Popen, Path]] = []

    def start(**env: str) -> subprocess.Popen:
        log = tmp_path / f"worker-{len(started)}.log"
        proc = subprocess.Popen(
            [str(TESSERA), "worker"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "TESSERA_OUTBOX_POLL": "0.2", **env},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append((proc, log))
        return proc

    start.logs = lambda: "\n".join(f"--- {p.args} pid {p.pid}\n{log.read_text()}" for p, log in started)
    yield start
    for proc, _ in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


async def wait_until(predicate, *, within: float, what: str, logs=None) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting until {what}\n{logs() if logs else ''}")


async def outbox_row(owner_engine, outbox_id) -> dict | None:
    async with owner_engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT * FROM core_outbox WHERE id = :id"), {"id": outbox_id})
        ).first()
    return dict(row._mapping) if row else None


async def notes_with_body(owner_engine, body: str) -> list[uuid.UUID]:
    """The tenants of the notes with this body (owner connection: sees every tenant)."""
    async with owner_engine.connect() as conn:
        result = await conn.execute(text("SELECT tenant_id FROM sample_notes WHERE body = :b"), {"b": body})
        return list(result.scalars())


async def enqueue(db, tenant_id, **kwargs):
    with tenant_scope(tenant_id):
        async with db.session() as session:
            entry = await enqueue_job(session, "sample.add_note", **kwargs)
            await session.commit()
    return entry.id


def marker(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# -- the hook and the worker's assembly ---------------------------------------------------


class JobsPlugin:
    def __init__(self, name: str, jobs: list) -> None:
        self.manifest = Manifest(name=name, version="1.0", title=name.title())
        self._jobs = jobs

    @hookimpl
    def tessera_jobs(self):
        return self._jobs


async def test_hook_tessera_jobs(settings, registry):
    names = {f.name for f in collect_jobs(registry)}
    assert "sample.add_note" in names
    ws = build_worker_settings(settings, registry)
    assert {f.name for f in ws["functions"]} == names | {"core.ping"}
    assert ws["queue_name"] == settings.queue_name
    assert ws["job_timeout"] == settings.job_timeout
    assert ws["redis_settings"].host and callable(ws["on_startup"]) and callable(ws["on_shutdown"])

    @tenant_job("billing.submit")
    async def submit(ctx, session):
        return None

    ok = PluginRegistry()
    ok.load(objects=[JobsPlugin("billing", [submit])], use_entry_points=False)
    assert [f.name for f in collect_jobs(ok)] == ["billing.submit"]

    rogue = PluginRegistry()
    rogue.load(objects=[JobsPlugin("rogue", [submit])], use_entry_points=False)
    with pytest.raises(PluginError, match=r"plugin 'rogue' defines job 'billing.submit'.*'rogue.<job>'"):
        build_worker_settings(settings, rogue)


def test_job_names_must_be_namespaced():
    with pytest.raises(JobError, match=r"must be '<plugin>\.<job>'"):
        tenant_job("submit")


# -- tenant_job --------------------------------------------------------------------------


async def test_tenant_job_refuses_a_call_without_tenant_id(ctx, owner_engine):
    body = marker("no-tenant")
    with pytest.raises(JobError, match="called without tenant_id"):
        await add_note.coroutine(ctx, body=body)
    assert await notes_with_body(owner_engine, body) == []


async def test_tenant_job_runs_in_the_tenants_scope(ctx, make_tenant, owner_engine):
    a, b = await make_tenant(plugins=("sample",)), await make_tenant(plugins=("sample",))
    a1, b1, a2 = marker("a1"), marker("b1"), marker("a2")
    # the job returns the bodies of the notes it can see: only its own tenant's
    assert await add_note.coroutine(ctx, tenant_id=str(a.id), body=a1) == [a1]
    assert await add_note.coroutine(ctx, tenant_id=str(b.id), body=b1) == [b1]
    assert await add_note.coroutine(ctx, tenant_id=str(a.id), body=a2) == sorted([a1, a2])
    assert await notes_with_body(owner_engine, a1) == [a.id]
    assert await notes_with_body(owner_engine, b1) == [b.id]


async def test_a_suspended_tenants_job_does_nothing(ctx, db, make_tenant, owner_engine, redis, settings):
    tenant = await make_tenant(plugins=("sample",))
    async with db.session() as session:
        await set_status(session, tenant, "suspended")
        await session.commit()
    body = marker("suspended")
    outbox_id = await enqueue(db, tenant.id, body=body)
    assert (
        await add_note.coroutine(ctx, tenant_id=str(tenant.id), outbox_id=str(outbox_id), body=body) is None
    )
    assert await notes_with_body(owner_engine, body) == []
    # the work is kept for when the tenant is resumed, and not dispatched meanwhile
    await dispatch_pending(db, redis, queue_name=settings.queue_name)
    row = await outbox_row(owner_engine, outbox_id)
    assert (row["status"], row["attempts"]) == ("pending", 0)


async def test_a_job_of_a_plugin_the_tenant_has_not_enabled_does_nothing(ctx, make_tenant, owner_engine):
    tenant = await make_tenant()
    body = marker("disabled")
    assert await add_note.coroutine(ctx, tenant_id=str(tenant.id), body=body) is None
    assert await notes_with_body(owner_engine, body) == []


async def test_a_retry_after_the_commit_has_no_second_effect(ctx, db, make_tenant, owner_engine):
    """A worker that dies between committing and arq's ack makes arq run the job again."""
    tenant = await make_tenant(plugins=("sample",))
    body = marker("twice")
    outbox_id = await enqueue(db, tenant.id, body=body)
    kwargs = {"tenant_id": str(tenant.id), "outbox_id": str(outbox_id), "body": body}
    assert await add_note.coroutine(ctx, **kwargs) == [body]
    assert await add_note.coroutine({**ctx, "job_try": 2}, **kwargs) is None
    assert await notes_with_body(owner_engine, body) == [tenant.id]
    row = await outbox_row(owner_engine, outbox_id)
    assert row["status"] == "done" and row["finished_at"] is not None


async def test_a_failing_job_records_the_error_type_only_and_gives_up_after_max_tries(
    ctx, db, make_tenant, owner_engine
):
    tenant = await make_tenant(plugins=("sample",))
    body = marker("secret-name")
    outbox_id = await enqueue(db, tenant.id, body=body, fail=True)
    kwargs = {"tenant_id": str(tenant.id), "outbox_id": str(outbox_id), "body": body, "fail": True}
    with pytest.raises(Retry):
        await add_note.coroutine(ctx, **kwargs)
    row = await outbox_row(owner_engine, outbox_id)
    assert (row["status"], row["last_error"]) == ("pending", "ValueError")
    with pytest.raises(JobFailedError) as failed:
        await add_note.coroutine({**ctx, "job_try": add_note.max_tries}, **kwargs)
    assert body not in str(failed.value) and failed.value.__cause__ is None
    row = await outbox_row(owner_engine, outbox_id)
    assert (row["status"], row["last_error"]) == ("failed", "ValueError")
    assert await notes_with_body(owner_engine, body) == []


# -- the outbox --------------------------------------------------------------------------


async def test_enqueue_job_shares_the_callers_transaction(db, make_tenant, owner_engine):
    from tests.sample_plugin.hooks import default_notebook
    from tests.sample_plugin.models import Note

    tenant = await make_tenant(plugins=("sample",))
    rolled, kept = marker("rolled"), marker("kept")
    with tenant_scope(tenant.id):
        async with db.session() as session:
            notebook = await default_notebook(session)
            session.add(Note(notebook_id=notebook.id, body=rolled))
            entry = await enqueue_job(session, "sample.add_note", body=rolled)
            await session.rollback()
        assert await outbox_row(owner_engine, entry.id) is None
        assert await notes_with_body(owner_engine, rolled) == []

        when = uuid.uuid4()
        async with db.session() as session:
            entry = await enqueue_job(session, "sample.add_note", body=kept, ref=when)
            await session.commit()
    row = await outbox_row(owner_engine, entry.id)
    assert row["tenant_id"] == tenant.id
    assert (row["job"], row["status"], row["attempts"]) == ("sample.add_note", "pending", 0)
    assert row["kwargs"] == {"body": kept, "ref": str(when)}
    async with owner_engine.begin() as conn:  # not run by the workers of later tests
        await conn.execute(text("DELETE FROM core_outbox WHERE id = :id"), {"id": entry.id})


async def test_enqueue_job_needs_a_tenant_scope_and_its_own_arguments(db, make_tenant):
    tenant = await make_tenant(plugins=("sample",))
    async with db.session() as session:
        with pytest.raises(TenantScopeError):
            await enqueue_job(session, "sample.add_note", body="x")
    with tenant_scope(tenant.id):
        async with db.session() as session:
            with pytest.raises(JobError, match="tenant_id is set by the outbox"):
                await enqueue_job(session, "sample.add_note", tenant_id=str(uuid.uuid4()))
            with pytest.raises(JobError, match="must be JSON values"):
                await enqueue_job(session, "sample.add_note", body=object())


async def test_dispatcher_and_worker_run_a_job_to_completion(
    settings, registry, db, make_tenant, owner_engine
):
    tenant = await make_tenant(plugins=("sample",))
    body = marker("dispatched")
    outbox_id = await enqueue(db, tenant.id, body=body)
    ws = build_worker_settings(settings.with_(outbox_poll_seconds=0.1), registry)
    worker = Worker(**ws, handle_signals=False, poll_delay=0.1)
    run = asyncio.create_task(worker.async_run())
    try:

        async def done():
            row = await outbox_row(owner_engine, outbox_id)
            return row["status"] == "done"

        await wait_until(done, within=15, what="the outbox row is done")

        # the row commits inside the job; arq then still records the result. Closing the
        # worker before that finishes cancels the job's task, so wait for arq too.
        async def finished():
            return worker.jobs_complete >= 1 and all(t.done() for t in worker.tasks.values())

        await wait_until(finished, within=15, what="arq finished the job")
    finally:
        await worker.close()  # cancels the worker's main task, runs on_shutdown
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
    row = await outbox_row(owner_engine, outbox_id)
    assert row["attempts"] == 1 and row["enqueued_at"] is not None and row["last_error"] is None
    assert await notes_with_body(owner_engine, body) == [tenant.id]


# -- crashes and lost Redis data ----------------------------------------------------------


@pytest.mark.slow
async def test_a_job_whose_worker_is_killed_mid_job_completes_once(
    db, make_tenant, owner_engine, redis, workers
):
    tenant = await make_tenant(plugins=("sample",))
    body, started = marker("killed"), marker("tessera:test:started")
    outbox_id = await enqueue(db, tenant.id, body=body, sleep=2, signal_key=started)
    # arq retries a job whose worker vanished once its in-progress mark expires
    # (job timeout + 10 s); the sweeper is kept out of it with a long stale time.
    env = {"TESSERA_JOB_TIMEOUT": "4", "TESSERA_OUTBOX_STALE": "600"}
    first = workers(**env)

    async def body_started(times: int):
        return int(await redis.get(started) or 0) >= times

    await wait_until(lambda: body_started(1), within=20, what="the job started", logs=workers.logs)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    row = await outbox_row(owner_engine, outbox_id)
    assert row["status"] == "enqueued", "the job must not have finished before the kill"
    assert await notes_with_body(owner_engine, body) == []

    workers(**env)

    async def done():
        return (await outbox_row(owner_engine, outbox_id))["status"] == "done"

    await wait_until(done, within=60, what="the job completed on the second worker", logs=workers.logs)
    assert await notes_with_body(owner_engine, body) == [tenant.id]  # exactly once
    assert int(await redis.get(started)) == 2  # the body ran twice: killed, then completed
    row = await outbox_row(owner_engine, outbox_id)
    assert row["attempts"] == 1 and row["last_error"] is None
    await redis.delete(started)


@pytest.mark.slow
async def test_a_job_lost_from_redis_is_enqueued_again_by_the_sweeper(
    settings, db, make_tenant, owner_engine, redis, workers
):
    tenant = await make_tenant(plugins=("sample",))
    body, started = marker("lost"), marker("tessera:test:started")
    outbox_id = await enqueue(db, tenant.id, body=body, signal_key=started)
    await dispatch_pending(db, redis, queue_name=settings.queue_name)
    row = await outbox_row(owner_engine, outbox_id)
    assert (row["status"], row["attempts"]) == ("enqueued", 1)
    job_id = f"outbox:{outbox_id}"
    assert await redis.exists(job_key_prefix + job_id)

    # Redis loses its data: the queue and the job are gone, the outbox still knows.
    await redis.delete(settings.queue_name, job_key_prefix + job_id)

    workers(TESSERA_OUTBOX_STALE="2")

    async def done():
        return (await outbox_row(owner_engine, outbox_id))["status"] == "done"

    await wait_until(done, within=30, what="the sweeper re-enqueued the lost job", logs=workers.logs)
    row = await outbox_row(owner_engine, outbox_id)
    assert row["attempts"] == 2  # dispatched, then swept
    assert await notes_with_body(owner_engine, body) == [tenant.id]
    assert int(await redis.get(started)) == 1
    await redis.delete(started)
