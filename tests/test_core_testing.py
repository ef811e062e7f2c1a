"""core.testing's fixtures for plugin authors: signed-in clients per role on a tenant with
the plugin enabled, and the outbox runner, exercised on the sample plugin."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from core.jobs import enqueue_job
from core.tenancy import tenant_scope


@pytest.fixture(scope="session")
def tessera_plugin():
    return "sample"


async def _notes_with_body(owner_engine, body: str) -> list[uuid.UUID]:
    async with owner_engine.connect() as conn:
        result = await conn.execute(text("SELECT tenant_id FROM sample_notes WHERE body = :b"), {"b": body})
        return list(result.scalars())


async def test_run_outbox_runs_a_pending_job_to_completion(plugin_tenant, db, owner_engine, run_outbox):
    body = f"outbox-{uuid.uuid4().hex[:12]}"
    with tenant_scope(plugin_tenant.id):
        async with db.session() as session:
            entry = await enqueue_job(session, "sample.add_note", body=body)
            await session.commit()
    assert await _notes_with_body(owner_engine, body) == []
    assert await run_outbox() >= 1
    assert await _notes_with_body(owner_engine, body) == [plugin_tenant.id]
    async with owner_engine.connect() as conn:
        status = await conn.scalar(text("SELECT status FROM core_outbox WHERE id = :i"), {"i": entry.id})
    assert status == "done"
    assert await run_outbox() == 0  # nothing left


async def test_client_for_role_signs_in_with_that_role_only(client_for_role, plugin_tenant):
    async with await client_for_role("owner") as client:
        assert (await client.get("/users")).status_code == 200
    async with await client_for_role("front_desk") as client:
        assert (await client.get("/users")).status_code == 403
