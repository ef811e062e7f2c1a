"""JSON API of encounters: each endpoint, times in the location's zone, validation,
the status lifecycle (every allowed transition, forbidden ones answer 409), the status
hook, audit of every read and change, roles, and another clinic's ids (404)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
from litestar.exceptions import ClientException
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text

from core.app import build_registry, create_app
from core.encounters import status as lifecycle
from core.encounters.models import Encounter, EncounterStatusHistory
from core.lifecycle.plugins import enable_plugin
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from core.practice.models import Location, Provider, ProviderLocation
from core.tenancy import tenant_scope
from tests.audit_helpers import assert_audited
from tests.test_practice_api import bearer, errors_of

START = "2026-03-02T15:30:00Z"  # 09:30 in Chicago (CST, UTC-6)
END = "2026-03-02T16:15:00Z"


@dataclass
class Clinic:
    tenant: object
    owner: object
    location_id: uuid.UUID
    provider_id: uuid.UUID
    patient_id: uuid.UUID
    other_location_id: uuid.UUID


async def add_patient(owner_engine, tenant, given="Ada", family="Example") -> uuid.UUID:
    """A patient row, written as the schema owner (the patients API is not under test)."""
    patient_id = uuid.uuid4()
    async with owner_engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO patients (tenant_id, id, mrn, given_name, family_name, birth_date, "
                "family_norm, given_norm, preferred_norm) "
                "VALUES (:t, :id, :mrn, :g, :f, '1970-01-01', :fn, :gn, '')"
            ),
            {
                "t": tenant.id,
                "id": patient_id,
                "mrn": uuid.uuid4().hex[:8],
                "g": given,
                "f": family,
                "fn": family.lower(),
                "gn": given.lower(),
            },
        )
    return patient_id


async def make_clinic(db, make_tenant, make_user, owner_engine, *, time_zone="America/Chicago") -> Clinic:
    tenant = await make_tenant()
    owner = await make_user(tenant, roles=("owner",))
    clinician = await make_user(tenant, roles=("clinician",), name="Pat Therapist")
    with tenant_scope(tenant.id):
        async with db.session() as session:
            main = Location(name="Main", time_zone=time_zone, place_of_service="11")
            annex = Location(name="Annex", place_of_service="22")
            session.add_all([main, annex])
            await session.flush()
            provider = Provider(user_id=clinician.id, credentials="PT, DPT", npi="1234567893")
            session.add(provider)
            await session.flush()
            session.add(ProviderLocation(provider_id=provider.id, location_id=main.id))
            await session.commit()
    patient_id = await add_patient(owner_engine, tenant)
    return Clinic(tenant, owner, main.id, provider.id, patient_id, annex.id)


async def client_with_role(app, db, make_user, tenant, role) -> AsyncTestClient:
    """A client on the tenant's host with a Bearer token of a new user with ``role``.

    Open one client of an app at a time: each runs the app in its own event loop, and two
    at once would share the app's connection pool across loops. For another user, pass
    ``headers=await role_headers(...)``; for another clinic, an absolute URL."""
    client = AsyncTestClient(app=app, base_url=f"http://{tenant.slug}.localhost")
    client.headers.update(await role_headers(db, make_user, tenant, role))
    return client


async def role_headers(db, make_user, tenant, role) -> dict[str, str]:
    return await bearer(db, tenant, await make_user(tenant, roles=(role,)))


def encounter_body(clinic: Clinic, **over) -> dict:
    body = {
        "patient_id": str(clinic.patient_id),
        "provider_id": str(clinic.provider_id),
        "location_id": str(clinic.location_id),
        "start": START,
        "end": END,
        "type": "evaluation",
    }
    body.update(over)
    return body


async def audit_rows(owner_engine, tenant, **where):
    clauses = " AND ".join(f"{k} = :{k}" for k in where)
    query = "SELECT action, outcome, resource_id, patient_id, detail FROM audit_events WHERE tenant_id = :t"
    if clauses:
        query += " AND " + clauses
    async with owner_engine.connect() as conn:
        return (await conn.execute(text(query + " ORDER BY occurred_at"), {"t": tenant.id, **where})).all()


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    return await make_clinic(db, make_tenant, make_user, owner_engine)


@pytest.fixture
async def front_desk(app, db, make_user, clinic):
    async with await client_with_role(app, db, make_user, clinic.tenant, "front_desk") as client:
        yield client


# -- create, show, update ---------------------------------------------------------------


async def test_create_show_and_update_an_encounter(front_desk, clinic, owner_engine):
    created = await front_desk.post("/api/encounters", json=encounter_body(clinic))
    assert created.status_code == 201, created.text
    enc = created.json()
    assert enc["status"] == "planned" and enc["allowed_next_statuses"] == ["arrived", "cancelled", "no-show"]
    assert enc["start"] == START and enc["end"] == END
    # shown in the location's zone beside UTC
    assert enc["time_zone"] == "America/Chicago"
    assert (
        enc["start_local"] == "2026-03-02T09:30:00-06:00" and enc["end_local"] == "2026-03-02T10:15:00-06:00"
    )
    assert enc["type"] == "evaluation" and enc["type_name"] == "Evaluation"
    # the place of service defaults to the location's
    assert enc["place_of_service"] == "11" and enc["place_of_service_name"] == "Office"
    assert [(h["from_status"], h["to_status"]) for h in enc["status_history"]] == [(None, "planned")]

    shown = await front_desk.get(f"/api/encounters/{enc['id']}")
    assert shown.status_code == 200 and shown.json() == enc

    # after the clocks change (CDT, UTC-5)
    changed = await front_desk.patch(
        f"/api/encounters/{enc['id']}",
        json={
            "start": "2026-07-01T09:00:00-05:00",
            "end": "2026-07-01T10:00:00-05:00",
            "type": "telehealth",
            "place_of_service": "10",
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["start"] == "2026-07-01T14:00:00Z" and body["start_local"] == "2026-07-01T09:00:00-05:00"
    assert body["type"] == "telehealth" and body["place_of_service"] == "10"
    assert body["status"] == "planned"

    rows = await audit_rows(owner_engine, clinic.tenant, resource_id=enc["id"])
    assert [r.action for r in rows] == ["create", "read", "update"]
    assert all(r.patient_id == clinic.patient_id and r.outcome == "success" for r in rows)
    assert sorted(rows[2].detail["fields"]) == ["ends_at", "place_of_service", "starts_at", "type"]


async def test_times_use_the_clinics_zone_when_the_location_has_none(
    app, db, make_tenant, make_user, owner_engine
):
    clinic = await make_clinic(db, make_tenant, make_user, owner_engine, time_zone=None)
    async with await client_with_role(app, db, make_user, clinic.tenant, "front_desk") as client:
        enc = (await client.post("/api/encounters", json=encounter_body(clinic))).json()
    assert enc["time_zone"] == "UTC" and enc["start_local"] == "2026-03-02T15:30:00+00:00"


async def test_invalid_encounters_are_refused_with_field_and_reason(
    front_desk, clinic, owner_engine, make_tenant
):
    bad = await front_desk.post(
        "/api/encounters",
        json={
            "patient_id": "x",
            "start": "2026-03-02T09:30:00",
            "end": "tomorrow",
            "type": "massage",
            "place_of_service": "98",
            "status": "finished",
        },
    )
    assert bad.status_code == 422
    errors = errors_of(bad)
    assert "UUID" in errors["patient_id"]
    assert errors["provider_id"] == "required" and errors["location_id"] == "required"
    assert "UTC offset" in errors["start"] and "ISO 8601" in errors["end"]
    assert "office-visit" in errors["type"] and "place-of-service" in errors["place_of_service"]
    assert "unknown field" in errors["status"]

    backwards = await front_desk.post("/api/encounters", json=encounter_body(clinic, end=START, start=END))
    assert backwards.status_code == 422 and errors_of(backwards)["end"] == "must be after the start"

    nobody = await front_desk.post(
        "/api/encounters", json=encounter_body(clinic, patient_id=str(uuid.uuid4()))
    )
    assert nobody.status_code == 422 and "no such patient" in errors_of(nobody)["patient_id"]
    # another clinic's patient is as unknown as a made-up one
    elsewhere = await make_tenant()
    foreign_patient = await add_patient(owner_engine, elsewhere)
    foreign = await front_desk.post(
        "/api/encounters", json=encounter_body(clinic, patient_id=str(foreign_patient))
    )
    assert foreign.status_code == 422 and "no such patient" in errors_of(foreign)["patient_id"]

    not_there = await front_desk.post(
        "/api/encounters", json=encounter_body(clinic, location_id=str(clinic.other_location_id))
    )
    assert (
        not_there.status_code == 422
        and "does not work at this location" in errors_of(not_there)["location_id"]
    )
    no_provider = await front_desk.post(
        "/api/encounters", json=encounter_body(clinic, provider_id=str(uuid.uuid4()))
    )
    assert no_provider.status_code == 422 and "no such provider" in errors_of(no_provider)["provider_id"]

    enc = (await front_desk.post("/api/encounters", json=encounter_body(clinic))).json()
    refused = await front_desk.patch(
        f"/api/encounters/{enc['id']}",
        json={"patient_id": str(uuid.uuid4()), "status": "finished", "end": "2026-03-02T15:00:00Z"},
    )
    assert refused.status_code == 422
    assert set(errors_of(refused)) == {"patient_id", "status"}
    backwards = await front_desk.patch(f"/api/encounters/{enc['id']}", json={"end": "2026-03-02T15:00:00Z"})
    assert backwards.status_code == 422 and errors_of(backwards)["end"] == "must be after the start"
    assert (await front_desk.patch(f"/api/encounters/{enc['id']}", json=[1])).status_code == 422


# -- the status lifecycle ---------------------------------------------------------------

PATH_TO = {
    "planned": [],
    "arrived": ["arrived"],
    "in-progress": ["arrived", "in-progress"],
    "finished": ["arrived", "in-progress", "finished"],
    "cancelled": ["cancelled"],
    "no-show": ["no-show"],
}
ALLOWED = [(old, new) for old, nexts in lifecycle.TRANSITIONS.items() for new in nexts]
FORBIDDEN = [
    ("planned", "in-progress"),
    ("planned", "finished"),
    ("arrived", "planned"),
    ("arrived", "finished"),
    ("in-progress", "cancelled"),
    ("in-progress", "arrived"),
    ("finished", "planned"),
    ("cancelled", "arrived"),
    ("no-show", "arrived"),
    ("planned", "planned"),
]


def test_the_lifecycle_table():
    assert set(lifecycle.TRANSITIONS) == set(lifecycle.STATUSES)
    assert sorted(ALLOWED) == sorted(
        [
            ("planned", "arrived"),
            ("planned", "cancelled"),
            ("planned", "no-show"),
            ("arrived", "in-progress"),
            ("arrived", "cancelled"),
            ("in-progress", "finished"),
        ]
    )
    assert lifecycle.TERMINAL == {"finished", "cancelled", "no-show"}
    for old in lifecycle.STATUSES:
        for new in lifecycle.STATUSES:
            assert lifecycle.is_allowed(old, new) == ((old, new) in ALLOWED)


async def _walk(client, encounter_id, statuses):
    for status in statuses:
        moved = await client.post(f"/api/encounters/{encounter_id}/status", json={"status": status})
        assert moved.status_code == 200, moved.text


@pytest.mark.parametrize(("old", "new"), ALLOWED, ids=[f"{o}->{n}" for o, n in ALLOWED])
async def test_every_allowed_transition(front_desk, clinic, owner_engine, old, new):
    enc = (await front_desk.post("/api/encounters", json=encounter_body(clinic))).json()
    await _walk(front_desk, enc["id"], PATH_TO[old])
    moved = await front_desk.post(
        f"/api/encounters/{enc['id']}/status", json={"status": new, "reason": "because"}
    )
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["status"] == new and body["status_reason"] == "because"
    assert body["allowed_next_statuses"] == list(lifecycle.TRANSITIONS[new])
    history = [(h["from_status"], h["to_status"]) for h in body["status_history"]]
    expected = [(None, "planned")]
    for status in [*PATH_TO[old], new]:
        expected.append((expected[-1][1], status))
    assert history == expected
    assert body["status_history"][-1]["reason"] == "because"
    assert body["status_history"][-1]["changed_by_user_id"]
    updates = await audit_rows(owner_engine, clinic.tenant, resource_id=enc["id"], action="update")
    assert updates[-1].detail["status"] == [old, new] and updates[-1].patient_id == clinic.patient_id


@pytest.mark.parametrize(("old", "new"), FORBIDDEN, ids=[f"{o}->{n}" for o, n in FORBIDDEN])
async def test_forbidden_transitions_answer_409_naming_what_is_allowed(front_desk, clinic, old, new):
    enc = (await front_desk.post("/api/encounters", json=encounter_body(clinic))).json()
    await _walk(front_desk, enc["id"], PATH_TO[old])
    refused = await front_desk.post(f"/api/encounters/{enc['id']}/status", json={"status": new})
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    nexts = lifecycle.TRANSITIONS[old]
    if nexts:
        assert f"can become: {', '.join(nexts)}" in detail
    else:
        assert "final" in detail
    after = (await front_desk.get(f"/api/encounters/{enc['id']}")).json()
    assert after["status"] == old and len(after["status_history"]) == len(PATH_TO[old]) + 1


async def test_status_input_is_checked_and_final_encounters_are_not_edited(front_desk, clinic):
    enc = (await front_desk.post("/api/encounters", json=encounter_body(clinic))).json()
    unknown = await front_desk.post(f"/api/encounters/{enc['id']}/status", json={"status": "done"})
    assert unknown.status_code == 422 and "planned, arrived" in errors_of(unknown)["status"]
    missing = await front_desk.post(f"/api/encounters/{enc['id']}/status", json={"reason": "x"})
    assert missing.status_code == 422 and errors_of(missing)["status"] == "required"
    await _walk(front_desk, enc["id"], ["cancelled"])
    frozen = await front_desk.patch(f"/api/encounters/{enc['id']}", json={"type": "group"})
    assert frozen.status_code == 409 and "cancelled" in frozen.json()["detail"]


# -- listing ----------------------------------------------------------------------------


async def test_list_filters_and_pagination(front_desk, clinic, owner_engine):
    second_patient = await add_patient(owner_engine, clinic.tenant, given="Bo")
    day = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
    ids = []
    for i in range(5):
        start = day + dt.timedelta(days=i)
        body = encounter_body(
            clinic,
            start=start.isoformat(),
            end=(start + dt.timedelta(minutes=45)).isoformat(),
            patient_id=str(second_patient if i % 2 else clinic.patient_id),
        )
        created = await front_desk.post("/api/encounters", json=body)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    await _walk(front_desk, ids[0], ["arrived"])
    await _walk(front_desk, ids[1], ["no-show"])

    page = (await front_desk.get("/api/encounters?limit=2")).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 0
    assert [e["id"] for e in page["items"]] == ids[:2]
    page3 = (await front_desk.get("/api/encounters?limit=2&offset=4")).json()
    assert [e["id"] for e in page3["items"]] == ids[4:]

    mine = (await front_desk.get(f"/api/encounters?patient_id={second_patient}")).json()
    assert [e["id"] for e in mine["items"]] == [ids[1], ids[3]]
    both = (await front_desk.get("/api/encounters?status=arrived,no-show")).json()
    assert [e["id"] for e in both["items"]] == ids[:2]
    # dates are whole days in the clinic's zone (UTC here); from/to combine
    window = (await front_desk.get("/api/encounters?from=2026-03-03&to=2026-03-04")).json()
    assert [e["id"] for e in window["items"]] == ids[1:3]
    instant = (await front_desk.get("/api/encounters?from=2026-03-05T00:00:00Z")).json()
    assert [e["id"] for e in instant["items"]] == ids[3:]
    by_provider = await front_desk.get(
        f"/api/encounters?provider_id={clinic.provider_id}&location_id={clinic.location_id}"
    )
    assert by_provider.json()["total"] == 5
    assert (await front_desk.get(f"/api/encounters?provider_id={uuid.uuid4()}")).json()["total"] == 0

    bad = await front_desk.get("/api/encounters?patient_id=x&from=soon&status=done&limit=0&offset=-1")
    assert bad.status_code == 422
    assert set(errors_of(bad)) == {"patient_id", "from", "status", "limit", "offset"}
    assert (await front_desk.get("/api/encounters?limit=201")).status_code == 422

    # each listing is audited per patient
    reads = await audit_rows(owner_engine, clinic.tenant, action="read", patient_id=second_patient)
    assert reads and reads[-1].detail["via"] == "list"


# -- tenancy and roles ------------------------------------------------------------------


async def test_another_clinics_encounter_answers_404_and_is_audited(
    app, db, make_tenant, make_user, owner_engine, front_desk, clinic
):
    other = await make_clinic(db, make_tenant, make_user, owner_engine)
    theirs = (
        await front_desk.post(
            f"http://{other.tenant.slug}.localhost/api/encounters",
            json=encounter_body(other),
            headers=await role_headers(db, make_user, other.tenant, "front_desk"),
        )
    ).json()
    url = f"/api/encounters/{theirs['id']}"
    assert (await front_desk.get(url)).status_code == 404
    assert (await front_desk.patch(url, json={"type": "group"})).status_code == 404
    assert (await front_desk.post(url + "/status", json={"status": "arrived"})).status_code == 404
    assert (await front_desk.get(f"/api/encounters?patient_id={other.patient_id}")).json()["items"] == []
    refused = await audit_rows(owner_engine, clinic.tenant, resource_id=theirs["id"])
    assert len(refused) == 3 and {r.outcome for r in refused} == {"failure"}
    async with owner_engine.connect() as conn:
        status = await conn.scalar(text("SELECT status FROM encounters WHERE id = :id"), {"id": theirs["id"]})
    assert status == "planned"


async def test_roles_front_desk_writes_biller_reads(app, db, make_user, front_desk, clinic):
    enc = (await front_desk.post("/api/encounters", json=encounter_body(clinic))).json()
    assert (
        await front_desk.post(f"/api/encounters/{enc['id']}/status", json={"status": "arrived"})
    ).status_code == 200
    biller = await role_headers(db, make_user, clinic.tenant, "biller")
    assert (await front_desk.get(f"/api/encounters/{enc['id']}", headers=biller)).status_code == 200
    assert (await front_desk.get("/api/encounters", headers=biller)).status_code == 200
    refused = await front_desk.post(
        f"/api/encounters/{enc['id']}/status", json={"status": "in-progress"}, headers=biller
    )
    assert refused.status_code == 403
    assert (
        await front_desk.patch(f"/api/encounters/{enc['id']}", json={"type": "group"}, headers=biller)
    ).status_code == 403
    assert (
        await front_desk.post("/api/encounters", json=encounter_body(clinic), headers=biller)
    ).status_code == 403
    clinician = await role_headers(db, make_user, clinic.tenant, "clinician")
    moved = await front_desk.post(
        f"/api/encounters/{enc['id']}/status", json={"status": "in-progress"}, headers=clinician
    )
    assert moved.status_code == 200
    front_desk.headers.pop("authorization")
    assert (await front_desk.get("/api/encounters")).status_code == 401


def test_encounter_handlers_are_marked_phi(app):
    handlers = {
        h.name: h
        for route in app.routes
        if route.path.startswith("/api/encounters")
        for h in route.route_handlers
        if (h.name or "").startswith("core:api-")
    }
    assert len(handlers) == 5
    assert all(h.opt.get("phi") is True for h in handlers.values())


# -- the hook ---------------------------------------------------------------------------


class StatusWatcher:
    """A plugin that records each status change and what its transaction shows."""

    def __init__(self, name: str) -> None:
        self.manifest = Manifest(name=name, version="1.0", title=name)
        self.seen: list[tuple] = []

    @hookimpl
    async def tessera_encounter_status_changed(self, encounter, old_status, new_status, session):
        in_db = await session.scalar(select(Encounter.status).where(Encounter.id == encounter.id))
        rows = await session.scalar(
            select(EncounterStatusHistory.to_status)
            .where(EncounterStatusHistory.encounter_id == encounter.id)
            .order_by(EncounterStatusHistory.changed_at.desc())
            .limit(1)
        )
        self.seen.append((encounter.id, old_status, new_status, in_db, rows))


class StatusVeto:
    """A plugin that refuses every change (as billing might without coverage)."""

    manifest = Manifest(name="enc_veto", version="1.0", title="Veto")

    @hookimpl
    def tessera_encounter_status_changed(self, encounter, new_status):
        if new_status == "cancelled":
            raise RuntimeError("crashed")
        raise ClientException("Billing refuses: no active coverage for this visit.")


async def test_hook_tessera_encounter_status_changed(settings, db, make_tenant, make_user, owner_engine):
    enabled, disabled, veto = StatusWatcher("enc_watch_on"), StatusWatcher("enc_watch_off"), StatusVeto()
    registry = build_registry(settings, extra_plugins=[enabled, disabled, veto])
    app = create_app(settings, registry=registry)
    a = await make_clinic(db, make_tenant, make_user, owner_engine)
    b = await make_clinic(db, make_tenant, make_user, owner_engine)
    for clinic_, plugin in ((a, "enc_watch_on"), (b, "enc_veto")):
        async with db.session() as session:
            await enable_plugin(session, registry, clinic_.tenant, plugin)
            await session.commit()

    async with await client_with_role(app, db, make_user, a.tenant, "front_desk") as client:
        enc = (await client.post("/api/encounters", json=encounter_body(a))).json()
        moved = await client.post(f"/api/encounters/{enc['id']}/status", json={"status": "arrived"})
        assert moved.status_code == 200, moved.text
    # the enabled plugin saw the change inside its transaction (status and history written)
    assert enabled.seen == [(uuid.UUID(enc["id"]), "planned", "arrived", "arrived", "arrived")]
    # an installed plugin the tenant did not enable is not called
    assert disabled.seen == []

    async with await client_with_role(app, db, make_user, b.tenant, "front_desk") as client:
        enc_b = (await client.post("/api/encounters", json=encounter_body(b))).json()
        refused = await client.post(f"/api/encounters/{enc_b['id']}/status", json={"status": "arrived"})
        assert refused.status_code == 400
        assert refused.json()["detail"] == "Billing refuses: no active coverage for this visit."
        crashed = await client.post(f"/api/encounters/{enc_b['id']}/status", json={"status": "cancelled"})
        assert crashed.status_code == 500 and "crashed" not in crashed.text
        after = (await client.get(f"/api/encounters/{enc_b['id']}")).json()
    # a plugin that raises aborts the transition: nothing changed, nothing recorded
    assert after["status"] == "planned"
    assert [(h["from_status"], h["to_status"]) for h in after["status_history"]] == [(None, "planned")]
    assert await audit_rows(owner_engine, b.tenant, resource_id=enc_b["id"], action="update") == []
    assert enabled.seen[1:] == [] and disabled.seen == []


# -- audit ------------------------------------------------------------------------------


async def test_every_encounter_route_is_audited_with_the_patient(app, db, make_user, clinic):
    user = await make_user(clinic.tenant, roles=("front_desk",))
    async with AsyncTestClient(app=app, base_url=f"http://{clinic.tenant.slug}.localhost") as client:
        client.headers.update(await bearer(db, clinic.tenant, user))
        since = dt.datetime.now(dt.UTC)
        enc = (await client.post("/api/encounters", json=encounter_body(clinic))).json()
        await assert_audited(
            db,
            clinic.tenant,
            action="create",
            patient_id=clinic.patient_id,
            actor=user,
            since=since,
            route="POST /api/encounters",
        )
        assert (await client.get(f"/api/encounters/{enc['id']}")).status_code == 200
        await assert_audited(
            db,
            clinic.tenant,
            action="read",
            patient_id=clinic.patient_id,
            actor=user,
            since=since,
            route="GET /api/encounters/{encounter_id}",
        )
        since = dt.datetime.now(dt.UTC)
        assert (await client.get(f"/api/encounters?patient_id={clinic.patient_id}")).status_code == 200
        await assert_audited(
            db,
            clinic.tenant,
            action="read",
            patient_id=clinic.patient_id,
            actor=user,
            since=since,
            route="GET /api/encounters",
        )
        assert (await client.patch(f"/api/encounters/{enc['id']}", json={"type": "group"})).status_code == 200
        await assert_audited(
            db,
            clinic.tenant,
            action="update",
            patient_id=clinic.patient_id,
            actor=user,
            since=since,
            route="PATCH /api/encounters/{encounter_id}",
        )
        since = dt.datetime.now(dt.UTC)
        moved = await client.post(f"/api/encounters/{enc['id']}/status", json={"status": "arrived"})
        assert moved.status_code == 200
        event = await assert_audited(
            db,
            clinic.tenant,
            action="update",
            patient_id=clinic.patient_id,
            actor=user,
            since=since,
            route="POST /api/encounters/{encounter_id}/status",
        )
        assert event.resource_type == "core:encounters" and event.detail["status"] == ["planned", "arrived"]


async def test_the_api_is_described_in_the_openapi_schema(front_desk):
    schema = await front_desk.get("/schema/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/locations",
        "/api/locations/{location_id}",
        "/api/providers",
        "/api/providers/{provider_id}",
        "/api/encounters",
        "/api/encounters/{encounter_id}",
        "/api/encounters/{encounter_id}/status",
    ):
        assert path in paths, path
    params = {p["name"] for p in paths["/api/encounters"]["get"]["parameters"]}
    assert {"patient_id", "provider_id", "location_id", "from", "to", "status", "limit", "offset"} <= params
