"""The owner's settings area: profile, locations, providers, plugins; guards, inline
errors (4xx, never 500), audit events and clinic isolation."""

from __future__ import annotations

import re

from sqlalchemy import select

from core.audit.models import AuditEvent
from core.practice.codes import NPI_ISSUER_PREFIX, luhn_check_digit
from core.practice.models import Location, Provider, ProviderLocation
from core.tenancy import tenant_scope
from core.tenancy.models import Tenant, TenantPlugin


def _npi(body: str) -> str:
    return body + str(luhn_check_digit(NPI_ISSUER_PREFIX + body))


async def _events(db, tenant, resource_type):
    with tenant_scope(tenant.id):
        async with db.session() as session:
            return list(
                await session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.resource_type == resource_type)
                    .order_by(AuditEvent.id)
                )
            )


async def test_index_lists_sections_and_nav_has_one_settings_entry(make_tenant, make_user, client_as):
    tenant = await make_tenant()
    owner = await make_user(tenant, roles=("owner",))
    async with await client_as(tenant, owner) as client:
        index = await client.get("/settings")
    assert index.status_code == 200
    for href in (
        "/settings/profile",
        "/settings/locations",
        "/settings/providers",
        "/settings/plugins",
        "/users",
        "/settings/security",
    ):
        assert f'href="{href}"' in index.text
    main_nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', index.text, re.S).group(1)
    assert 'href="/settings"' in main_nav and "/settings/security" not in main_nav
    assert 'href="/users"' in main_nav and 'href="/audit"' in main_nav


async def test_settings_need_permissions(make_tenant, make_user, client_as, csrf_headers, db):
    tenant = await make_tenant()
    desk = await make_user(tenant, roles=("front_desk",))
    clinician = await make_user(tenant, roles=("clinician",))
    async with await client_as(tenant, desk) as client:
        assert (await client.get("/settings")).status_code == 403
        assert (await client.get("/settings/profile")).status_code == 403
        assert (await client.get("/settings/plugins")).status_code == 403
        headers = await csrf_headers(client)
        refused = await client.post(
            "/settings/profile", data={"name": "Mine", "time_zone": "UTC"}, headers=headers
        )
        assert refused.status_code == 403
        refused = await client.post("/settings/plugins/sample/enable", data={}, headers=headers)
        assert refused.status_code == 403
    # a clinician may read locations (core:practice read) but not change them
    async with await client_as(tenant, clinician) as client:
        assert (await client.get("/settings/locations")).status_code == 200
        assert "Add a location" not in (await client.get("/settings/locations")).text
        created = await client.post(
            "/settings/locations", data={"name": "Nope"}, headers=await csrf_headers(client)
        )
        assert created.status_code == 403
    async with db.session() as session:
        assert (await session.get(Tenant, tenant.id)).name == "Test Clinic"


async def test_signed_out_is_sent_to_sign_in(make_tenant, client_for):
    tenant = await make_tenant()
    async with client_for(tenant.slug) as client:
        response = await client.get("/settings/profile", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_profile_validates_time_zone_and_is_audited(
    make_tenant, make_user, client_as, csrf_headers, db
):
    tenant = await make_tenant()
    owner = await make_user(tenant, roles=("owner",))
    async with await client_as(tenant, owner) as client:
        headers = await csrf_headers(client)
        bad = await client.post(
            "/settings/profile", data={"name": "", "time_zone": "Mars/Olympus_Mons"}, headers=headers
        )
        assert bad.status_code == 422
        assert "not a known time zone" in bad.text and "needs a name" in bad.text
        assert 'aria-invalid="true"' in bad.text
        good = await client.post(
            "/settings/profile",
            data={"name": "Lakeside Rehab", "time_zone": "America/Denver"},
            headers=headers,
            follow_redirects=False,
        )
        assert good.status_code == 303
        shown = await client.get(good.headers["location"])
        assert "Saved." in shown.text and 'value="Lakeside Rehab"' in shown.text
    async with db.session() as session:
        row = await session.get(Tenant, tenant.id)
        assert (row.name, row.time_zone) == ("Lakeside Rehab", "America/Denver")
    events = await _events(db, tenant, "tenant_settings")
    assert [(e.action, e.resource_id) for e in events] == [("update", "profile")]
    assert events[0].detail["after"] == {"name": "Lakeside Rehab", "time_zone": "America/Denver"}


async def test_locations_create_edit_with_inline_errors(make_tenant, make_user, client_as, csrf_headers, db):
    tenant = await make_tenant()
    owner = await make_user(tenant, roles=("owner",))
    async with await client_as(tenant, owner) as client:
        headers = await csrf_headers(client)
        bad = await client.post(
            "/settings/locations",
            data={"name": "", "time_zone": "Nowhere/Else", "place_of_service": "11"},
            headers=headers,
        )
        assert bad.status_code == 422
        assert "required" in bad.text and "not a known time zone" in bad.text
        made = await client.post(
            "/settings/locations",
            data={"name": "Main Street", "city": "Springfield", "time_zone": "", "place_of_service": "11"},
            headers=headers,
            follow_redirects=False,
        )
        assert made.status_code == 303
        listing = await client.get("/settings/locations")
        assert "Main Street" in listing.text and "Springfield" in listing.text
        with tenant_scope(tenant.id):
            async with db.session() as session:
                location = await session.scalar(select(Location))
        assert location.time_zone is None
        edit = await client.get(f"/settings/locations/{location.id}")
        assert edit.status_code == 200 and 'value="Main Street"' in edit.text
        saved = await client.post(
            f"/settings/locations/{location.id}",
            data={"name": "Main St. Clinic", "time_zone": "America/Chicago", "place_of_service": "22"},
            headers=headers,
            follow_redirects=False,
        )
        assert saved.status_code == 303
        bad_edit = await client.post(
            f"/settings/locations/{location.id}",
            data={"name": "Main St. Clinic", "place_of_service": "77", "active": "on"},
            headers=headers,
        )
        assert bad_edit.status_code == 422 and "place-of-service" in bad_edit.text
    with tenant_scope(tenant.id):
        async with db.session() as session:
            location = await session.get(Location, (tenant.id, location.id))
    assert (location.name, location.time_zone, location.place_of_service, location.active) == (
        "Main St. Clinic",
        "America/Chicago",
        "22",
        False,  # the checkbox was not sent: inactive
    )
    events = await _events(db, tenant, "location")
    assert [e.action for e in events] == ["create", "update"]
    assert set(events[1].detail["fields"]) >= {"name", "time_zone", "place_of_service", "active"}


async def test_providers_create_edit(make_tenant, make_user, client_as, csrf_headers, db):
    tenant = await make_tenant()
    owner = await make_user(tenant, roles=("owner",))
    clinician = await make_user(tenant, roles=("clinician",), name="Pat Therapist")
    with tenant_scope(tenant.id):
        async with db.session() as session:
            north, south = Location(name="North"), Location(name="South")
            session.add_all([north, south])
            await session.commit()
    async with await client_as(tenant, owner) as client:
        headers = await csrf_headers(client)
        form = await client.get("/settings/providers")
        assert "Pat Therapist" in form.text and "North" in form.text
        bad = await client.post(
            "/settings/providers",
            data={"user_id": str(clinician.id), "npi": "1234567890", "taxonomy_code": "PT"},
            headers=headers,
        )
        assert bad.status_code == 422
        assert "check digit" in bad.text and "taxonomy code is 10 characters" in bad.text
        npi = _npi("123456789")
        made = await client.post(
            "/settings/providers",
            data={
                "user_id": str(clinician.id),
                "credentials": "PT, DPT",
                "npi": npi,
                "taxonomy_code": "225100000x",
                "location_ids": [str(north.id), str(south.id)],
            },
            headers=headers,
            follow_redirects=False,
        )
        assert made.status_code == 303
        listing = await client.get("/settings/providers")
        assert npi in listing.text and "PT, DPT" in listing.text and "225100000X" in listing.text
        with tenant_scope(tenant.id):
            async with db.session() as session:
                provider = await session.scalar(select(Provider))
        # the same member again: a conflict, answered with the form and a message
        again = await client.post(
            "/settings/providers", data={"user_id": str(owner.id), "npi": npi}, headers=headers
        )
        assert again.status_code == 409 and "already has this NPI" in again.text
        saved = await client.post(
            f"/settings/providers/{provider.id}",
            data={
                "credentials": "PT",
                "npi": npi,
                "taxonomy_code": "225100000X",
                "location_ids": [str(south.id)],
                "active": "on",
            },
            headers=headers,
            follow_redirects=False,
        )
        assert saved.status_code == 303
    with tenant_scope(tenant.id):
        async with db.session() as session:
            provider = await session.get(Provider, (tenant.id, provider.id))
            links = list(await session.scalars(select(ProviderLocation.location_id)))
    assert provider.credentials == "PT" and links == [south.id]
    events = await _events(db, tenant, "provider")
    assert [e.action for e in events] == ["create", "update"]


async def test_plugins_enable_with_config_and_disable(make_tenant, make_user, client_as, csrf_headers, db):
    tenant = await make_tenant()
    owner = await make_user(tenant, roles=("owner",))
    async with await client_as(tenant, owner) as client:
        headers = await csrf_headers(client)
        listing = await client.get("/settings/plugins")
        assert listing.status_code == 200
        assert "Sample notes" in listing.text and "Not enabled" in listing.text
        assert 'href="/sample/notes"' not in listing.text
        not_json = await client.post(
            "/settings/plugins/sample/enable", data={"config": "{greeting: hi}"}, headers=headers
        )
        assert not_json.status_code == 422 and "not valid JSON" in not_json.text
        wrong = await client.post(
            "/settings/plugins/sample/enable", data={"config": '{"colour": "red"}'}, headers=headers
        )
        assert wrong.status_code == 422 and "invalid configuration" in wrong.text
        assert "Additional properties are not allowed" in wrong.text
        unknown = await client.post("/settings/plugins/nope/enable", data={}, headers=headers)
        assert unknown.status_code == 404 and "No plugin named" in unknown.text
        core = await client.post("/settings/plugins/core/enable", data={}, headers=headers)
        assert core.status_code == 404
        enabled = await client.post(
            "/settings/plugins/sample/enable",
            data={"config": '{"greeting": "Hello"}'},
            headers=headers,
            follow_redirects=False,
        )
        assert enabled.status_code == 303
        shown = await client.get(enabled.headers["location"])
        assert "Sample notes is enabled." in shown.text
        assert 'href="/sample/notes"' in shown.text  # its navigation entry appears
        assert (await client.get("/sample/notes")).status_code == 200
        disabled = await client.post(
            "/settings/plugins/sample/disable", data={}, headers=headers, follow_redirects=False
        )
        assert disabled.status_code == 303
        assert (await client.get("/sample/notes")).status_code == 404
        twice = await client.post("/settings/plugins/sample/disable", data={}, headers=headers)
        assert twice.status_code == 409 and "not enabled" in twice.text
    with tenant_scope(tenant.id):
        async with db.session() as session:
            row = await session.get(TenantPlugin, (tenant.id, "sample"))
    assert row.config == {"greeting": "Hello"} and row.disabled_at is not None
    events = await _events(db, tenant, "tenant_plugin")
    assert [(e.action, e.detail["enabled"]) for e in events] == [("create", True), ("update", False)]


async def test_other_clinics_rows_answer_404(make_tenant, make_user, client_as, csrf_headers, db):
    mine, theirs = await make_tenant(), await make_tenant()
    owner = await make_user(mine, roles=("owner",))
    other_member = await make_user(theirs, roles=("clinician",))
    with tenant_scope(theirs.id):
        async with db.session() as session:
            location = Location(name="Their place")
            session.add(location)
            await session.flush()
            provider = Provider(user_id=other_member.id)
            session.add(provider)
            await session.commit()
    async with await client_as(mine, owner) as client:
        headers = await csrf_headers(client)
        for path in (f"/settings/locations/{location.id}", f"/settings/providers/{provider.id}"):
            assert (await client.get(path)).status_code == 404
            assert (await client.post(path, data={"name": "Mine now"}, headers=headers)).status_code == 404
        # a member of another clinic cannot be made a provider here
        taken = await client.post(
            "/settings/providers", data={"user_id": str(other_member.id)}, headers=headers
        )
        assert taken.status_code == 422 and "not an active member" in taken.text
        assert "Their place" not in (await client.get("/settings/locations")).text
    # the other clinic's owner's session does not open this clinic's settings
    their_owner = await make_user(theirs, roles=("owner",))
    async with await client_as(theirs, their_owner) as client:
        client.base_url = client.base_url.copy_with(host=f"{mine.slug}.localhost")
        assert (await client.get("/settings/profile", follow_redirects=False)).status_code == 303
    with tenant_scope(theirs.id):
        async with db.session() as session:
            assert (await session.get(Location, (theirs.id, location.id))).name == "Their place"
