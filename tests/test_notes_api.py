"""JSON API of clinical notes: drafts, optimistic locking (409 on a stale version), signing
(the SHA-256 of the canonical content, 409 twice), addenda, bad input (422 naming the
field, nothing saved), roles, another clinic's ids (404), audit of every access, the
worklist's "Notes to sign"."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid

import pytest
from sqlalchemy import text

from tests.audit_helpers import assert_audited
from tests.test_encounters_api import client_with_role, make_clinic, role_headers
from tests.test_practice_api import bearer, errors_of

SOAP = {
    "subjective": "Knee pain on stairs, 4/10.",
    "objective": "Flexion 0-115°.",
    "assessment": "Improving — pain down from 6/10.",
    "plan": "Continue twice weekly.",
}


def note_body(clinic, **over) -> dict:
    body = {"patient_id": str(clinic.patient_id), "template": "core.progress_note", "content": dict(SOAP)}
    body.update(over)
    return body


def line(clinic, **over) -> dict:
    out = {
        "code_system": "CPT",
        "code": "99213",
        "modifiers": ["25"],
        "units": 1,
        "diagnosis_codes": ["M25.561", "M17.11"],
        "rendering_provider_id": str(clinic.provider_id),
        "service_date": "2026-03-02",
        "place_of_service": "11",
    }
    out.update(over)
    return out


async def add_encounter(owner_engine, clinic, ends_at: dt.datetime) -> uuid.UUID:
    encounter_id = uuid.uuid4()
    async with owner_engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO encounters (tenant_id, id, patient_id, provider_id, location_id, starts_at, "
                "ends_at, type, place_of_service) VALUES (:t, :id, :p, :pr, :l, :s, :e, 'office-visit', '11')"
            ),
            {
                "t": clinic.tenant.id,
                "id": encounter_id,
                "p": clinic.patient_id,
                "pr": clinic.provider_id,
                "l": clinic.location_id,
                "s": ends_at - dt.timedelta(minutes=45),
                "e": ends_at,
            },
        )
    return encounter_id


async def count_notes(owner_engine, tenant) -> int:
    async with owner_engine.connect() as conn:
        return await conn.scalar(text("SELECT count(*) FROM notes WHERE tenant_id = :t"), {"t": tenant.id})


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    return await make_clinic(db, make_tenant, make_user, owner_engine)


@pytest.fixture
async def clinician(app, db, make_user, clinic):
    async with await client_with_role(app, db, make_user, clinic.tenant, "clinician") as client:
        yield client


def test_the_hash_is_sha256_of_canonical_json():
    from core.plugin_api import canonical_json, content_sha256

    payload = {"plan": "Rest", "assessment": "Better — 3/10", "n": [1, {"b": 2, "a": 1}]}
    expected = '{"assessment":"Better — 3/10","n":[1,{"a":1,"b":2}],"plan":"Rest"}'.encode()
    assert canonical_json(payload) == expected
    assert content_sha256(payload) == hashlib.sha256(expected).hexdigest()
    assert content_sha256({"a": 1, "b": 2}) == content_sha256({"b": 2, "a": 1})


async def test_draft_save_sign_and_addendum(clinician, clinic, db, owner_engine):
    since = dt.datetime.now(dt.UTC)
    ended = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    encounter_id = await add_encounter(owner_engine, clinic, ended)
    created = await clinician.post(
        "/api/notes", json=note_body(clinic, encounter_id=str(encounter_id), service_lines=[line(clinic)])
    )
    assert created.status_code == 201, created.text
    note = created.json()
    assert note["status"] == "draft" and note["version"] == 1 and note["content_sha256"] is None
    assert note["template"] == {"key": "core.progress_note", "version": 1, "title": "Progress note"}
    assert note["encounter_id"] == str(encounter_id) and note["service_lines"][0]["code"] == "99213"
    await assert_audited(
        db,
        clinic.tenant,
        action="create",
        resource_type="core:notes",
        patient_id=clinic.patient_id,
        since=since,
        route="POST /api/notes",
    )

    changed = {**SOAP, "plan": "Continue twice weekly; add balance work."}
    saved = await clinician.patch(f"/api/notes/{note['id']}", json={"version": 1, "content": changed})
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 2 and saved.json()["content"] == changed
    await assert_audited(
        db,
        clinic.tenant,
        action="update",
        resource_type="core:notes",
        patient_id=clinic.patient_id,
        route="PATCH /api/notes/{note_id}",
    )

    # a second tab still holding version 1 cannot overwrite version 2
    stale = await clinician.patch(f"/api/notes/{note['id']}", json={"version": 1, "content": SOAP})
    assert stale.status_code == 409
    assert "version 1" in stale.json()["detail"] and "version 2" in stale.json()["detail"]

    signed = await clinician.post(f"/api/notes/{note['id']}/sign", json={"version": 2})
    assert signed.status_code == 200, signed.text
    body = signed.json()
    canonical = json.dumps(changed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert body["status"] == "signed" and body["content_sha256"] == hashlib.sha256(canonical).hexdigest()
    assert body["signed_by_user_id"] == body["author_user_id"] and body["signed_at"]
    assert body["late_entry"] is False  # two hours after the visit
    await assert_audited(
        db,
        clinic.tenant,
        action="update",
        resource_type="core:notes",
        patient_id=clinic.patient_id,
        route="POST /api/notes/{note_id}/sign",
    )

    again = await clinician.post(f"/api/notes/{note['id']}/sign")
    assert again.status_code == 409 and "already signed" in again.json()["detail"]
    edit = await clinician.patch(f"/api/notes/{note['id']}", json={"version": 3, "content": SOAP})
    assert edit.status_code == 409 and "signed" in edit.json()["detail"]

    added = await clinician.post(f"/api/notes/{note['id']}/addenda", json={"text": "Pain 3/10 by evening."})
    assert added.status_code == 201, added.text
    addendum = added.json()
    assert addendum["content_sha256"] == hashlib.sha256(b'{"text":"Pain 3/10 by evening."}').hexdigest()
    await assert_audited(
        db,
        clinic.tenant,
        action="create",
        resource_type="core:notes",
        patient_id=clinic.patient_id,
        route="POST /api/notes/{note_id}/addenda",
    )

    shown = await clinician.get(f"/api/notes/{note['id']}")
    assert shown.status_code == 200
    assert [a["text"] for a in shown.json()["addenda"]] == ["Pain 3/10 by evening."]
    assert shown.json()["content"] == changed
    await assert_audited(
        db,
        clinic.tenant,
        action="read",
        resource_type="core:notes",
        patient_id=clinic.patient_id,
        route="GET /api/notes/{note_id}",
    )
    listed = await clinician.get("/api/notes", params={"patient_id": str(clinic.patient_id)})
    assert listed.status_code == 200 and [n["id"] for n in listed.json()["items"]] == [note["id"]]
    event = await assert_audited(
        db,
        clinic.tenant,
        action="read",
        resource_type="core:notes",
        patient_id=clinic.patient_id,
        route="GET /api/notes",
    )
    assert event.detail["note_ids"] == [note["id"]]


async def test_a_note_signed_a_day_after_the_visit_is_a_late_entry(clinician, clinic, owner_engine):
    encounter_id = await add_encounter(owner_engine, clinic, dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
    note = (await clinician.post("/api/notes", json=note_body(clinic, encounter_id=str(encounter_id)))).json()
    signed = await clinician.post(f"/api/notes/{note['id']}/sign")
    assert signed.status_code == 200 and signed.json()["late_entry"] is True


async def test_an_addendum_needs_a_signed_note(clinician, clinic):
    note = (await clinician.post("/api/notes", json=note_body(clinic))).json()
    refused = await clinician.post(f"/api/notes/{note['id']}/addenda", json={"text": "more"})
    assert refused.status_code == 409 and "signed note" in refused.json()["detail"]
    empty = await clinician.post(f"/api/notes/{note['id']}/addenda", json={"text": "  "})
    assert empty.status_code == 422 and errors_of(empty) == {"text": "required"}


async def test_bad_input_is_422_naming_the_field_and_saves_nothing(clinician, clinic, owner_engine):
    cases = [
        ({"template": "core.progress_note"}, {"patient_id": "required", "content": "required"}),
        (note_body(clinic, template="rehab.daily"), "template"),
        (note_body(clinic, template_version=7), "template_version"),
        (note_body(clinic, content={"subjective": 3, "plan": "x"}), "content.subjective"),
        (note_body(clinic, content={"plan": "x"}), "content.assessment"),
        (note_body(clinic, content={**SOAP, "mood": "fine"}), "content.mood"),
        (note_body(clinic, content="free text"), "content"),
        (note_body(clinic, encounter_id=str(uuid.uuid4())), "encounter_id"),
        (note_body(clinic, service_lines=[line(clinic, code="9921")]), "service_lines[0].code"),
        (note_body(clinic, service_lines=[line(clinic, minutes=8)]), "service_lines[0].minutes"),
        (
            note_body(clinic, service_lines=[line(clinic, diagnosis_codes=[])]),
            "service_lines[0].diagnosis_codes",
        ),
        (
            note_body(clinic, service_lines=[line(clinic, rendering_provider_id=str(uuid.uuid4()))]),
            "service_lines[0].rendering_provider_id",
        ),
        (note_body(clinic, service_lines=[line(clinic, modifiers=["gp"])]), "service_lines[0].modifiers"),
        (
            note_body(clinic, service_lines=[line(clinic, place_of_service="1")]),
            "service_lines[0].place_of_service",
        ),
        (note_body(clinic, signed=True), "signed"),
    ]
    for body, field in cases:
        response = await clinician.post("/api/notes", json=body)
        assert response.status_code == 422, (body, response.text)
        if isinstance(field, dict):
            assert errors_of(response) == field
        else:
            assert field in errors_of(response), (field, response.json())
    assert await count_notes(owner_engine, clinic.tenant) == 0
    for params, reason in (({}, "required"), ({"patient_id": "nobody"}, "must be an id (a UUID)")):
        listed = await clinician.get("/api/notes", params=params)
        assert listed.status_code == 422 and errors_of(listed) == {"patient_id": reason}

    note = (await clinician.post("/api/notes", json=note_body(clinic))).json()
    for body, field in (
        ({"content": SOAP}, "version"),
        ({"version": 1}, "content"),
        ({"version": 1, "content": {"plan": "x"}}, "content.assessment"),
    ):
        response = await clinician.patch(f"/api/notes/{note['id']}", json=body)
        assert response.status_code == 422 and field in errors_of(response), response.text
    shown = (await clinician.get(f"/api/notes/{note['id']}")).json()
    assert shown["version"] == 1 and shown["content"] == SOAP  # nothing partial saved


async def test_another_clinics_patient_and_note_are_404(
    app, db, make_tenant, make_user, owner_engine, clinic
):
    other = await make_clinic(db, make_tenant, make_user, owner_engine)
    async with await client_with_role(app, db, make_user, other.tenant, "clinician") as theirs:
        their_note = (await theirs.post("/api/notes", json=note_body(other))).json()
    async with await client_with_role(app, db, make_user, clinic.tenant, "clinician") as ours:
        assert (
            await ours.post("/api/notes", json=note_body(clinic, patient_id=str(other.patient_id)))
        ).status_code == 404
        assert (await ours.get("/api/notes", params={"patient_id": str(other.patient_id)})).status_code == 404
        for call in (
            ours.get(f"/api/notes/{their_note['id']}"),
            ours.patch(f"/api/notes/{their_note['id']}", json={"version": 1, "content": SOAP}),
            ours.post(f"/api/notes/{their_note['id']}/sign"),
            ours.post(f"/api/notes/{their_note['id']}/addenda", json={"text": "x"}),
        ):
            assert (await call).status_code == 404
    await assert_audited(db, clinic.tenant, action="read", resource_type="core:notes", outcome="failure")
    assert await count_notes(owner_engine, clinic.tenant) == 0
    async with owner_engine.connect() as conn:
        status = await conn.scalar(text("SELECT status FROM notes WHERE id = :id"), {"id": their_note["id"]})
    assert status == "draft"


async def test_roles(app, db, make_user, clinic):
    async with await client_with_role(app, db, make_user, clinic.tenant, "clinician") as client:
        note = (await client.post("/api/notes", json=note_body(clinic))).json()
        for role in ("front_desk", "biller", "auditor"):
            headers = await role_headers(db, make_user, clinic.tenant, role)
            for response in (
                await client.get(f"/api/notes/{note['id']}", headers=headers),
                await client.get(
                    "/api/notes", params={"patient_id": str(clinic.patient_id)}, headers=headers
                ),
                await client.post("/api/notes", json=note_body(clinic), headers=headers),
                await client.post(f"/api/notes/{note['id']}/sign", headers=headers),
            ):
                assert response.status_code == 403, (role, response.text)
        # another clinician may read the draft but only its author signs it
        colleague = await role_headers(db, make_user, clinic.tenant, "clinician")
        assert (await client.get(f"/api/notes/{note['id']}", headers=colleague)).status_code == 200
        refused = await client.post(f"/api/notes/{note['id']}/sign", headers=colleague)
        assert refused.status_code == 403 and "author" in refused.json()["detail"]


async def test_my_work_lists_my_drafts_to_sign(app, db, make_user, clinic, client_as):
    author = await make_user(clinic.tenant, roles=("clinician",), name="Dana Author")
    async with await client_with_role(app, db, make_user, clinic.tenant, "clinician") as client:
        client.headers.update(await bearer(db, clinic.tenant, author))  # written with the author's token
        note = (await client.post("/api/notes", json=note_body(clinic))).json()
        signed = (await client.post("/api/notes", json=note_body(clinic))).json()
        assert (await client.post(f"/api/notes/{signed['id']}/sign")).status_code == 200
    async with await client_as(clinic.tenant, author) as c:
        home = await c.get("/")
        work = await c.get("/my-work")
    assert 'href="/my-work"' in home.text
    assert "Notes to sign" in work.text and "Progress note: Ada Example" in work.text
    assert work.text.count("Progress note: Ada Example") == 1  # the signed one is done
    await assert_audited(db, clinic.tenant, action="read", resource_type="core:notes", actor=author)
    assert note["status"] == "draft"
    # someone who writes no notes has neither the entry nor a list
    desk = await make_user(clinic.tenant, roles=("front_desk",))
    async with await client_as(clinic.tenant, desk) as c:
        assert 'href="/my-work"' not in (await c.get("/")).text
        assert "Nothing waiting for you." in (await c.get("/my-work")).text
