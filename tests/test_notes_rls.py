"""The notes tables in PostgreSQL, as the app's own database role (no ORM in the way):
isolated per clinic by row-level security, and a signed note or any addendum can be
neither updated nor deleted (the database refuses, not the app)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core.builtin import PROGRESS_NOTE
from core.notes import services
from core.notes.models import ClinicalNote
from core.tenancy import tenant_scope
from tests.test_encounters_api import make_clinic

CONTENT = {"assessment": "Stable.", "plan": "Review in 4 weeks."}


@pytest.fixture
async def app_conn(settings):
    url = make_url(settings.app_url()).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    yield conn
    await conn.close()


async def _as(conn, tenant_id):
    await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant_id))


async def _note(db, clinic, *, signed: bool) -> tuple[uuid.UUID, uuid.UUID | None]:
    """A note of the clinic (signed with one addendum, or a draft): (note id, addendum id)."""
    values = {
        "patient_id": clinic.patient_id,
        "encounter_id": None,
        "content": CONTENT,
        "service_lines": None,
    }
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            note = await services.create_note(session, PROGRESS_NOTE, values, clinic.owner.id)
            addendum = None
            if signed:
                await services.sign_note(session, PROGRESS_NOTE, note, clinic.owner.id)
                addendum = await services.add_addendum(session, note, {"text": "Later."}, clinic.owner.id)
            await session.commit()
            return note.id, addendum.id if addendum else None


async def test_notes_are_isolated_per_clinic(app_conn, db, make_tenant, make_user, owner_engine):
    a = await make_clinic(db, make_tenant, make_user, owner_engine)
    b = await make_clinic(db, make_tenant, make_user, owner_engine)
    note_a, add_a = await _note(db, a, signed=True)
    note_b, _ = await _note(db, b, signed=False)

    async with app_conn.transaction():  # no clinic set: nothing visible
        for table in ("notes", "note_addenda"):
            assert await app_conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    async with app_conn.transaction():
        await _as(app_conn, a.tenant.id)
        assert [r["id"] for r in await app_conn.fetch("SELECT id FROM notes")] == [note_a]
        assert [r["id"] for r in await app_conn.fetch("SELECT id FROM note_addenda")] == [add_a]
        # B's draft is invisible, so not even changeable
        assert await app_conn.execute("UPDATE notes SET version = 9 WHERE id = $1", note_b) == "UPDATE 0"
    async with app_conn.transaction():
        await _as(app_conn, a.tenant.id)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # row-level security's WITH CHECK
            await app_conn.execute(
                "INSERT INTO notes (tenant_id, id, patient_id, template_key, template_version, "
                "template_sha256, author_user_id, content) VALUES ($1, $2, $3, 'core.progress_note', 1, "
                "'x', $4, '{}')",
                b.tenant.id,
                uuid.uuid4(),
                b.patient_id,
                b.owner.id,
            )


async def test_the_app_role_cannot_change_or_delete_a_signed_note(
    app_conn, db, make_tenant, make_user, owner_engine
):
    clinic = await make_clinic(db, make_tenant, make_user, owner_engine)
    signed, addendum = await _note(db, clinic, signed=True)
    draft, _ = await _note(db, clinic, signed=False)
    refused = {
        'UPDATE notes SET content = \'{"plan": "rewritten"}\' WHERE id = $1': signed,
        "UPDATE notes SET status = 'draft', signed_at = NULL, signed_by_user_id = NULL, "
        "content_sha256 = NULL WHERE id = $1": signed,
        "DELETE FROM notes WHERE id = $1": signed,
        "DELETE FROM notes WHERE id = $1 ": draft,  # clinical records are never deleted
        'UPDATE note_addenda SET content = \'{"text": "other"}\' WHERE id = $1': addendum,
        "DELETE FROM note_addenda WHERE id = $1": addendum,
    }
    for sql, row_id in refused.items():
        async with app_conn.transaction():
            await _as(app_conn, clinic.tenant.id)
            with pytest.raises(asyncpg.InsufficientPrivilegeError) as caught:
                await app_conn.execute(sql, row_id)
        reason = str(caught.value)
        assert "signed note cannot be changed" in reason or "permission denied" in reason, (sql, reason)
    # the trigger, not only the grants, refuses the signed row
    async with app_conn.transaction():
        await _as(app_conn, clinic.tenant.id)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="signed note cannot be changed"):
            await app_conn.execute("UPDATE notes SET version = version + 1 WHERE id = $1", signed)
    # a draft is still the app's to save
    async with app_conn.transaction():
        await _as(app_conn, clinic.tenant.id)
        assert await app_conn.execute("UPDATE notes SET version = 2 WHERE id = $1", draft) == "UPDATE 1"
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            note = await session.get(ClinicalNote, (clinic.tenant.id, signed))
            assert note.content == CONTENT and note.status == "signed"
    # the schema owner (migrations, a tenant's purge) still may remove the clinic's records
    async with owner_engine.begin() as conn:
        await conn.execute(text("DELETE FROM note_addenda WHERE id = :id"), {"id": addendum})
        assert (await conn.execute(text("DELETE FROM notes WHERE id = :id"), {"id": signed})).rowcount == 1
