"""The setup screens: types, rooms and resources, a provider's week grid and exceptions,
each through the real HTML forms — inline 422 errors that keep what was typed, 409 for a
clash, 303 on success, audit of changes; clinicians look but cannot change, billers do
not see it; another clinic's ids and a clinic without scheduling answer 404."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from core.tenancy import tenant_scope
from plugins.scheduling.models import AppointmentType, AvailabilityException, AvailabilityTemplate, Resource
from plugins.scheduling.tests.sample_clinic import make_sample_clinic
from tests.audit_helpers import assert_audited


@pytest.fixture
async def clinic(db, make_tenant, make_user, owner_engine):
    return await make_sample_clinic(db, make_tenant, make_user, owner_engine)


async def rows(db, clinic, model, *where):
    with tenant_scope(clinic.tenant.id):
        async with db.session() as session:
            return list(await session.scalars(select(model).where(*where)))


async def test_appointment_types_are_added_and_edited_through_the_forms(db, clinic, client_as, csrf_headers):
    async with await client_as(clinic.tenant, clinic.users["front_desk"]) as client:
        headers = await csrf_headers(client)
        overview = await client.get("/scheduling/setup")
        assert overview.status_code == 200
        assert (
            'href="/scheduling/setup/types"' in overview.text and 'href="/scheduling/feeds"' in overview.text
        )
        assert 'href="/scheduling/setup"' in overview.text  # the main navigation entry

        listing = await client.get("/scheduling/setup/types")
        assert "PT follow-up" in listing.text and "Add a type" in listing.text

        bad = {"name": "", "duration_minutes": "ninety", "colour": "#ff0000", "resource_kind": "gym",
               "encounter_type": "evaluation", "telehealth": "on"}  # fmt: skip
        refused = await client.post("/scheduling/setup/types", data=bad, headers=headers)
        assert refused.status_code == 422
        assert 'id="f-name-error"' in refused.text and 'id="f-duration_minutes-error"' in refused.text
        # nothing typed is lost
        assert 'value="#ff0000"' in refused.text and 'value="gym"' in refused.text
        assert re.search(r'name="telehealth" type="checkbox"\s+checked', refused.text)

        good = {**bad, "name": "Aquatic therapy", "duration_minutes": "45"}
        made = await client.post(
            "/scheduling/setup/types", data=good, headers=headers, follow_redirects=False
        )
        assert made.status_code == 303 and made.headers["location"] == "/scheduling/setup/types"
        (row,) = await rows(db, clinic, AppointmentType, AppointmentType.name == "Aquatic therapy")
        assert (row.duration_minutes, row.colour, row.resource_kind, row.telehealth) == (
            45,
            "#ff0000",
            "gym",
            True,
        )
        assert row.encounter_type == "evaluation"
        await assert_audited(db, clinic.tenant, action="create", resource_type="scheduling:type")

        twice = await client.post("/scheduling/setup/types", data=good, headers=headers)
        assert twice.status_code == 409 and "already exists" in twice.text

        edit = await client.get(f"/scheduling/setup/types/{row.id}")
        assert edit.status_code == 200 and 'value="Aquatic therapy"' in edit.text
        saved = await client.post(
            f"/scheduling/setup/types/{row.id}",
            data={
                "name": "Pool therapy",
                "duration_minutes": "50",
                "colour": "#00ff00",
                "encounter_type": "office-visit",
            },
            headers=headers,
            follow_redirects=False,
        )
        assert saved.status_code == 303
        (row,) = await rows(db, clinic, AppointmentType, AppointmentType.id == row.id)
        assert (row.name, row.duration_minutes, row.active, row.telehealth) == (
            "Pool therapy",
            50,
            False,
            False,
        )
        assert "retired" in (await client.get("/scheduling/setup/types")).text
        wrong = await client.post(
            f"/scheduling/setup/types/{row.id}",
            data={"name": "Pool therapy", "duration_minutes": "2"},
            headers=headers,
        )
        assert wrong.status_code == 422 and "from 5 to 480" in wrong.text


async def test_rooms_and_resources(db, clinic, client_as, csrf_headers):
    async with await client_as(clinic.tenant, clinic.users["owner"]) as client:
        headers = await csrf_headers(client)
        refused = await client.post(
            "/scheduling/setup/resources",
            data={"location_id": str(clinic.annex_id), "name": "Table 9", "kind": ""},
            headers=headers,
        )
        assert (
            refused.status_code == 422
            and 'id="f-kind-error"' in refused.text
            and 'value="Table 9"' in refused.text
        )
        made = await client.post(
            "/scheduling/setup/resources",
            data={"location_id": str(clinic.annex_id), "name": "Table 9", "kind": "table"},
            headers=headers,
            follow_redirects=False,
        )
        assert made.status_code == 303
        (table,) = await rows(db, clinic, Resource)
        assert (table.location_id, table.kind, table.active) == (clinic.annex_id, "table", True)
        page = await client.get("/scheduling/setup/resources")
        assert "Annex, 2nd floor" in page.text and "Take out of service" in page.text
        retired = await client.post(
            f"/scheduling/setup/resources/{table.id}/active", data={"active": "false"}, headers=headers,
            follow_redirects=False,
        )  # fmt: skip
        assert retired.status_code == 303
        assert (await rows(db, clinic, Resource))[0].active is False
        foreign = await client.post(
            "/scheduling/setup/resources",
            data={"location_id": "not-a-location", "name": "X", "kind": "table"},
            headers=headers,
        )
        assert foreign.status_code == 422


async def test_a_providers_week_and_exceptions(db, clinic, client_as, csrf_headers):
    hours = f"/scheduling/setup/availability?provider_id={clinic.provider_id}"
    async with await client_as(clinic.tenant, clinic.users["front_desk"]) as client:
        headers = await csrf_headers(client)
        page = await client.get(hours)
        assert page.status_code == 200 and "Sam Patel" in page.text and "Lee Chen" in page.text
        block = {
            "provider_id": str(clinic.provider_id),
            "location_id": str(clinic.main_id),
            "weekday": "0",
            "start_time": "08:00",
            "end_time": "12:00",
            "valid_from": "2026-01-05",
        }
        added = await client.post("/scheduling/setup/availability/blocks", data=block, headers=headers,
                                  follow_redirects=False)  # fmt: skip
        assert added.status_code == 303 and added.headers["location"] == hours
        (row,) = await rows(db, clinic, AvailabilityTemplate)
        assert (row.weekday, row.start_time, row.end_time) == (0, dt.time(8), dt.time(12))
        grid = (await client.get(hours)).text
        assert "08:00\u201312:00" in grid and "Main Clinic" in grid

        backwards = await client.post(
            "/scheduling/setup/availability/blocks",
            data={**block, "weekday": "2", "start_time": "17:00", "end_time": "09:00"},
            headers=headers,
        )
        assert backwards.status_code == 422 and 'id="f-end_time-error"' in backwards.text
        assert 'value="17:00"' in backwards.text and '<option value="2" selected>' in backwards.text
        clash = await client.post(
            "/scheduling/setup/availability/blocks",
            data={**block, "location_id": str(clinic.annex_id), "start_time": "11:00", "end_time": "13:00"},
            headers=headers,
        )
        assert clash.status_code == 409 and "already works Mondays 08:00-12:00" in clash.text

        # time off for whole days, in the clinic's zone (Chicago, CST: UTC-6)
        off = await client.post(
            "/scheduling/setup/availability/exceptions",
            data={"provider_id": str(clinic.provider_id), "kind": "time-off", "start_date": "2026-12-21",
                  "end_date": "2026-12-23", "reason": "Holiday"},
            headers=headers,
            follow_redirects=False,
        )  # fmt: skip
        assert off.status_code == 303
        (holiday,) = await rows(db, clinic, AvailabilityException)
        assert holiday.starts_at == dt.datetime(2026, 12, 21, 6, tzinfo=dt.UTC)
        assert holiday.ends_at == dt.datetime(2026, 12, 24, 6, tzinfo=dt.UTC)
        assert holiday.location_id is None and holiday.reason == "Holiday"
        listed = (await client.get(hours)).text
        assert "2026-12-21 00:00" in listed and "everywhere" in listed

        nowhere = await client.post(
            "/scheduling/setup/availability/exceptions",
            data={"provider_id": str(clinic.provider_id), "kind": "extra-hours", "start_date": "2026-12-19",
                  "start_time": "09:00", "end_date": "2026-12-19", "end_time": "12:00", "reason": "Saturday clinic"},
            headers=headers,
        )  # fmt: skip
        assert nowhere.status_code == 422 and 'id="f-location_id-error"' in nowhere.text
        assert 'value="Saturday clinic"' in nowhere.text
        undated = await client.post(
            "/scheduling/setup/availability/exceptions",
            data={
                "provider_id": str(clinic.provider_id),
                "kind": "time-off",
                "start_date": "",
                "end_date": "x",
            },
            headers=headers,
        )
        assert (
            undated.status_code == 422
            and 'id="f-start-error"' in undated.text
            and 'id="f-end-error"' in undated.text
        )

        removed = await client.post(f"/scheduling/setup/availability/blocks/{row.id}/delete", headers=headers,
                                    follow_redirects=False)  # fmt: skip
        assert removed.status_code == 303 and await rows(db, clinic, AvailabilityTemplate) == []
        removed = await client.post(f"/scheduling/setup/availability/exceptions/{holiday.id}/delete",
                                    headers=headers, follow_redirects=False)  # fmt: skip
        assert removed.status_code == 303 and await rows(db, clinic, AvailabilityException) == []
        await assert_audited(db, clinic.tenant, action="delete", resource_type="scheduling:exception")


async def test_clinicians_look_billers_do_not(clinic, client_as, csrf_headers):
    async with await client_as(clinic.tenant, clinic.users["clinician"]) as client:
        headers = await csrf_headers(client)
        for path in ("/scheduling/setup", "/scheduling/setup/types", "/scheduling/setup/resources",
                     "/scheduling/setup/availability"):  # fmt: skip
            response = await client.get(path)
            assert response.status_code == 200, path
            assert 'method="post" action="/scheduling/setup' not in response.text, path  # no forms
        assert "Add a type" not in (await client.get("/scheduling/setup/types")).text
        refused = await client.post("/scheduling/setup/types", data={"name": "X", "duration_minutes": "30"},
                                    headers=headers)  # fmt: skip
        assert refused.status_code == 403
    async with await client_as(clinic.tenant, clinic.users["biller"]) as client:
        assert (await client.get("/scheduling/setup")).status_code == 403
        assert 'href="/scheduling/setup"' not in (await client.get("/scheduling/reports")).text


async def test_other_clinics_ids_and_clinics_without_scheduling_get_404(
    db, clinic, make_tenant, make_user, owner_engine, client_as, csrf_headers
):
    other = await make_sample_clinic(db, make_tenant, make_user, owner_engine, name="Other PT")
    async with await client_as(other.tenant, other.users["front_desk"]) as client:
        headers = await csrf_headers(client)
        assert (await client.get(f"/scheduling/setup/types/{clinic.type_id}")).status_code == 404
        assert (
            await client.get(f"/scheduling/setup/availability?provider_id={clinic.provider_id}")
        ).status_code == 404
        foreign_type = await client.post(
            f"/scheduling/setup/types/{clinic.type_id}", data={"name": "Mine now"}, headers=headers
        )
        assert foreign_type.status_code == 404
        with tenant_scope(clinic.tenant.id):
            async with db.session() as session:
                block = AvailabilityTemplate(provider_id=clinic.provider_id, location_id=clinic.main_id, weekday=1,
                                             start_time=dt.time(9), end_time=dt.time(10), valid_from=dt.date(2026, 1, 1))  # fmt: skip
                session.add(block)
                await session.commit()
        gone = await client.post(f"/scheduling/setup/availability/blocks/{block.id}/delete", headers=headers)
        assert gone.status_code == 404
        assert len(await rows(db, clinic, AvailabilityTemplate)) == 1
        # a block for the first clinic's provider is refused as unknown
        sneaky = await client.post(
            "/scheduling/setup/availability/blocks",
            data={"provider_id": str(clinic.provider_id), "location_id": str(other.main_id), "weekday": "1",
                  "start_time": "09:00", "end_time": "10:00"},
            headers=headers,
        )  # fmt: skip
        assert sneaky.status_code == 404
    plain = await make_tenant(name="No Scheduling")
    owner = await make_user(plain, roles=("owner",))
    async with await client_as(plain, owner) as client:
        assert (await client.get("/scheduling/setup")).status_code == 404
        assert (await client.get("/scheduling/setup/types")).status_code == 404
