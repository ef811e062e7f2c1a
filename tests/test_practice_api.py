"""JSON API of locations and providers: each endpoint, validation (400 with field and
reason), uniqueness (409), roles, and another clinic's ids (404)."""

from __future__ import annotations

import uuid

from litestar.testing import AsyncTestClient

from core.auth.tokens import create_token
from core.tenancy import tenant_scope


async def bearer(db, tenant, user) -> dict[str, str]:
    with tenant_scope(tenant.id):
        async with db.session() as session:
            token, _ = await create_token(session, user_id=user.id, name="tests")
            await session.commit()
    return {"authorization": f"Bearer {token}"}


async def api_client(app, db, make_user, tenant, roles=("owner",)):
    """A client on the tenant's host carrying a Bearer token of a new user with ``roles``."""
    user = await make_user(tenant, roles=roles)
    client = AsyncTestClient(app=app, base_url=f"http://{tenant.slug}.localhost")
    client.headers.update(await bearer(db, tenant, user))
    return client, user


def errors_of(response) -> dict[str, str]:
    return {e["field"]: e["reason"] for e in response.json()["extra"]["errors"]}


LOCATION = {
    "name": "Riverside Main",
    "address_line1": "1 River Rd",
    "city": "Springfield",
    "state": "IL",
    "postal_code": "62701",
    "phone": "+1 217 555 0100",
    "time_zone": "America/Chicago",
    "place_of_service": "11",
}


async def test_locations_create_list_show_update(app, db, make_tenant, make_user):
    tenant = await make_tenant()
    client, _ = await api_client(app, db, make_user, tenant)
    async with client:
        created = await client.post("/api/locations", json=LOCATION)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["name"] == "Riverside Main" and body["time_zone"] == "America/Chicago"
        assert body["place_of_service"] == "11" and body["place_of_service_name"] == "Office"
        assert body["active"] is True
        # a second location with defaults: no zone of its own (the clinic's), office POS
        other = await client.post("/api/locations", json={"name": "Annex"})
        assert other.status_code == 201
        assert other.json()["time_zone"] is None and other.json()["effective_time_zone"] == "UTC"
        assert other.json()["place_of_service"] == "11"

        listed = (await client.get("/api/locations")).json()["items"]
        assert [loc["name"] for loc in listed] == ["Annex", "Riverside Main"]

        shown = await client.get(f"/api/locations/{body['id']}")
        assert shown.status_code == 200 and shown.json() == body

        changed = await client.patch(
            f"/api/locations/{body['id']}",
            json={"place_of_service": "22", "time_zone": "America/New_York", "active": False},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["place_of_service_name"] == "On Campus-Outpatient Hospital"
        assert changed.json()["time_zone"] == "America/New_York" and changed.json()["active"] is False
        assert changed.json()["name"] == "Riverside Main"  # untouched fields stay

        active = (await client.get("/api/locations?active=true")).json()["items"]
        assert [loc["name"] for loc in active] == ["Annex"]
        inactive = (await client.get("/api/locations?active=false")).json()["items"]
        assert [loc["name"] for loc in inactive] == ["Riverside Main"]
        assert (await client.get("/api/locations?active=maybe")).status_code == 422


async def test_location_validation_names_the_field_and_reason(app, db, make_tenant, make_user):
    tenant = await make_tenant()
    client, _ = await api_client(app, db, make_user, tenant)
    async with client:
        bad = await client.post(
            "/api/locations",
            json={"name": " ", "time_zone": "America/Springfield", "place_of_service": "98", "colour": "red"},
        )
        assert bad.status_code == 422
        errors = errors_of(bad)
        assert errors["name"] == "required"
        assert "not a known time zone" in errors["time_zone"]
        assert "not a place-of-service code" in errors["place_of_service"]
        assert "unknown field" in errors["colour"]
        assert "time_zone" in bad.json()["detail"]

        assert (await client.post("/api/locations", json=["not", "an", "object"])).status_code == 422
        not_json = await client.post(
            "/api/locations", content=b"{oops", headers={"content-type": "application/json"}
        )
        assert not_json.status_code == 400

        loc = (await client.post("/api/locations", json={"name": "Main"})).json()
        bad = await client.patch(
            f"/api/locations/{loc['id']}", json={"active": "yes", "place_of_service": None}
        )
        assert bad.status_code == 422
        assert set(errors_of(bad)) == {"active", "place_of_service"}
        assert (await client.patch(f"/api/locations/{uuid.uuid4()}", json={"name": "x"})).status_code == 404


async def test_providers_create_list_show_update(app, db, make_tenant, make_user):
    tenant = await make_tenant()
    client, _ = await api_client(app, db, make_user, tenant)
    therapist = await make_user(tenant, roles=("clinician",), name="Pat Therapist")
    async with client:
        main = (await client.post("/api/locations", json={"name": "Main"})).json()
        annex = (await client.post("/api/locations", json={"name": "Annex"})).json()
        created = await client.post(
            "/api/providers",
            json={
                "user_id": str(therapist.id),
                "credentials": "PT, DPT",
                "npi": "1234567893",
                "taxonomy_code": "225100000x",
                "location_ids": [main["id"], annex["id"]],
            },
        )
        assert created.status_code == 201, created.text
        provider = created.json()
        assert provider["display_name"] == "Pat Therapist" and provider["credentials"] == "PT, DPT"
        assert provider["npi"] == "1234567893" and provider["taxonomy_code"] == "225100000X"
        assert sorted(provider["location_ids"]) == sorted([main["id"], annex["id"]])

        listed = (await client.get("/api/providers")).json()["items"]
        assert [p["id"] for p in listed] == [provider["id"]]
        at_annex = (await client.get(f"/api/providers?location_id={annex['id']}")).json()["items"]
        assert len(at_annex) == 1

        changed = await client.patch(
            f"/api/providers/{provider['id']}", json={"location_ids": [main["id"]], "credentials": "PT"}
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["location_ids"] == [main["id"]] and changed.json()["credentials"] == "PT"
        assert (await client.get(f"/api/providers?location_id={annex['id']}")).json()["items"] == []
        shown = await client.get(f"/api/providers/{provider['id']}")
        assert shown.json() == changed.json()

        off = await client.patch(f"/api/providers/{provider['id']}", json={"active": False, "npi": None})
        assert off.json()["active"] is False and off.json()["npi"] is None
        assert (await client.get("/api/providers?active=true")).json()["items"] == []


async def test_provider_validation_and_uniqueness(app, db, make_tenant, make_user):
    tenant = await make_tenant()
    client, _ = await api_client(app, db, make_user, tenant)
    first, second = await make_user(tenant), await make_user(tenant)
    outsider_tenant = await make_tenant()
    outsider = await make_user(outsider_tenant)
    async with client:
        bad = await client.post(
            "/api/providers",
            json={
                "user_id": "nope",
                "npi": "1234567890",
                "taxonomy_code": "225100000",
                "location_ids": ["x"],
            },
        )
        assert bad.status_code == 422
        errors = errors_of(bad)
        assert "UUID" in errors["user_id"]
        assert "check digit" in errors["npi"]
        assert "followed by X" in errors["taxonomy_code"]
        assert "not an id" in errors["location_ids"]

        # a user of another clinic cannot be made a provider here
        foreign = await client.post("/api/providers", json={"user_id": str(outsider.id)})
        assert foreign.status_code == 422 and "not an active member" in errors_of(foreign)["user_id"]
        missing_loc = await client.post(
            "/api/providers", json={"user_id": str(first.id), "location_ids": [str(uuid.uuid4())]}
        )
        assert missing_loc.status_code == 422 and "no such location" in errors_of(missing_loc)["location_ids"]

        ok = await client.post("/api/providers", json={"user_id": str(first.id), "npi": "1234567893"})
        assert ok.status_code == 201
        again = await client.post("/api/providers", json={"user_id": str(first.id)})
        assert again.status_code == 409 and "already has a provider record" in again.json()["detail"]
        same_npi = await client.post("/api/providers", json={"user_id": str(second.id), "npi": "1234567893"})
        assert same_npi.status_code == 409 and "NPI" in same_npi.json()["detail"]
        moved = await client.patch(f"/api/providers/{ok.json()['id']}", json={"user_id": str(second.id)})
        assert moved.status_code == 422 and "user_id" in errors_of(moved)

    # the same NPI is fine in another clinic (unique per tenant)
    other_client, _ = await api_client(app, db, make_user, outsider_tenant)
    async with other_client:
        elsewhere = await other_client.post(
            "/api/providers", json={"user_id": str(outsider.id), "npi": "1234567893"}
        )
        assert elsewhere.status_code == 201


async def test_another_clinics_locations_and_providers_answer_404(app, db, make_tenant, make_user):
    a, b = await make_tenant(), await make_tenant()
    client_a, _ = await api_client(app, db, make_user, a)
    client_b, _ = await api_client(app, db, make_user, b)
    member_b = await make_user(b)
    async with client_b:
        loc_b = (await client_b.post("/api/locations", json={"name": "B only"})).json()
        prov_b = (await client_b.post("/api/providers", json={"user_id": str(member_b.id)})).json()
    async with client_a:
        assert (await client_a.get(f"/api/locations/{loc_b['id']}")).status_code == 404
        assert (
            await client_a.patch(f"/api/locations/{loc_b['id']}", json={"name": "mine"})
        ).status_code == 404
        assert (await client_a.get(f"/api/providers/{prov_b['id']}")).status_code == 404
        assert (
            await client_a.patch(f"/api/providers/{prov_b['id']}", json={"credentials": "x"})
        ).status_code == 404
        assert (await client_a.get("/api/locations")).json()["items"] == []
        assert (await client_a.get("/api/providers")).json()["items"] == []


async def test_practice_roles(app, db, make_tenant, make_user):
    tenant = await make_tenant()
    owner, _ = await api_client(app, db, make_user, tenant)
    async with owner:
        loc = (await owner.post("/api/locations", json={"name": "Main"})).json()
    for role in ("clinician", "front_desk", "biller"):
        client, _ = await api_client(app, db, make_user, tenant, roles=(role,))
        async with client:
            assert (await client.get("/api/locations")).status_code == 200, role
            assert (await client.get("/api/providers")).status_code == 200, role
            assert (await client.post("/api/locations", json={"name": "x"})).status_code == 403, role
            assert (await client.patch(f"/api/locations/{loc['id']}", json={"name": "x"})).status_code == 403
            assert (
                await client.post("/api/providers", json={"user_id": str(uuid.uuid4())})
            ).status_code == 403
    anonymous = AsyncTestClient(app=app, base_url=f"http://{tenant.slug}.localhost")
    async with anonymous:
        assert (await anonymous.get("/api/locations")).status_code == 401
