"""The owner's user screens and API: invite, roles, deactivation, the set-password link, and
policy changes made through one app instance enforced by another."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from core.app import create_app
from core.audit.models import AuditEvent
from core.auth.sessions import COOKIE_NAME
from core.tenancy import tenant_scope
from tests.message_servers import no_unsent_messages_left  # noqa: F401 - used by name

pytestmark = pytest.mark.usefixtures("no_unsent_messages_left")

JSON = {"accept": "application/json"}


async def _with_csrf(client, session_store):
    client.headers["X-CSRF-Token"] = (await session_store.get(client.cookies.get(COOKIE_NAME))).csrf_token
    return client


@pytest.fixture
def signed_in(client_as, session_store):
    async def make(tenant, user):
        return await _with_csrf(await client_as(tenant, user), session_store)

    return make


async def _events(db, tenant, action):
    with tenant_scope(tenant.id):
        async with db.session() as session:
            return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def test_owner_lists_invites_and_changes_users_through_the_api(db, make_tenant, make_user, signed_in):
    tenant = await make_tenant(plugins=("sample",))
    owner = await make_user(tenant, roles=("owner",), email=f"owner-{tenant.slug}@example.test")
    existing = await make_user(await make_tenant(), roles=("biller",))  # a member elsewhere
    async with await signed_in(tenant, owner) as client:
        listed = await client.get("/api/users")
        assert listed.status_code == 200
        assert [(u["email"], u["roles"], u["status"]) for u in listed.json()] == [
            (owner.email, ["owner"], "active")
        ]

        new = await client.post(
            "/api/users",
            json={"email": "New.Person@example.test", "name": "New Person", "roles": ["clinician"]},
        )
        assert new.status_code == 202, new.text
        assert new.json()["roles"] == ["clinician"] and new.json()["status"] == "pending"
        assert "setup_url" not in new.json() and "user_id" not in new.json()  # the link goes by e-mail

        again = await client.post(
            "/api/users",
            json={"email": existing.email.upper(), "name": "Biller Elsewhere", "roles": ["biller"]},
        )
        assert again.status_code == 202 and again.json()["status"] == "pending"
        # nobody became a member by being invited
        assert [u["email"] for u in (await client.get("/api/users")).json()] == [owner.email]
        member = await make_user(tenant, roles=("clinician",))

        dup = await client.post("/api/users", json={"email": member.email, "name": "X", "roles": ["biller"]})
        assert dup.status_code == 409 and "already a user of this clinic" in dup.json()["detail"]
        bad_role = await client.post(
            "/api/users", json={"email": "a@example.test", "name": "A", "roles": ["wizard"]}
        )
        assert bad_role.status_code == 422 and "unknown role wizard" in bad_role.json()["detail"]
        no_role = await client.post("/api/users", json={"email": "a@example.test", "name": "A", "roles": []})
        assert no_role.status_code == 422 and "at least one role" in no_role.json()["detail"]
        bad_email = await client.post("/api/users", json={"email": "nope", "name": "A", "roles": ["biller"]})
        assert bad_email.status_code == 422 and "e-mail" in bad_email.json()["detail"]
        missing = await client.post("/api/users", json={"name": "A"})
        assert missing.status_code == 400

        uid = str(member.id)
        changed = await client.patch(f"/api/users/{uid}", json={"roles": ["clinician", "biller"]})
        assert changed.status_code == 200 and changed.json()["roles"] == ["biller", "clinician"]
        off = await client.patch(f"/api/users/{uid}", json={"status": "deactivated"})
        assert off.status_code == 200 and off.json()["status"] == "deactivated"
        on = await client.patch(f"/api/users/{uid}", json={"status": "active"})
        assert on.json()["status"] == "active"
        assert (await client.patch(f"/api/users/{uid}", json={"status": "gone"})).status_code == 422
        assert (await client.patch(f"/api/users/{uid}", json={})).status_code == 422
        # the last owner cannot remove their own ownership or deactivate themselves
        last = await client.patch(f"/api/users/{owner.id}", json={"roles": ["clinician"]})
        assert last.status_code == 409 and "at least one active owner" in last.json()["detail"]
        assert (
            await client.patch(f"/api/users/{owner.id}", json={"status": "deactivated"})
        ).status_code == 409
        # another clinic's user is not found here
        stranger = await make_user(await make_tenant(), roles=("owner",))
        assert (
            await client.patch(f"/api/users/{stranger.id}", json={"roles": ["biller"]})
        ).status_code == 404
        assert (await client.patch("/api/users/not-a-uuid", json={"roles": ["biller"]})).status_code in (
            400,
            404,
        )

    invited = {e.resource_id: e for e in await _events(db, tenant, "user_invited")}
    first = invited[new.json()["invitation_id"]]
    assert first.detail == {"roles": ["clinician"], "replaced": 0} and first.actor_user_id == owner.id
    assert first.resource_type == "core:invitations"
    [role_change] = await _events(db, tenant, "role_changed")
    assert role_change.detail == {"from": ["clinician"], "to": ["biller", "clinician"]}
    [deactivated] = await _events(db, tenant, "user_deactivated")
    assert deactivated.resource_id == uid


async def test_users_screens_need_core_users(make_tenant, make_user, signed_in):
    tenant = await make_tenant()
    clinician = await make_user(tenant, roles=("clinician",))
    async with await signed_in(tenant, clinician) as client:
        assert (await client.get("/api/users")).status_code == 403
        assert (await client.get("/users", headers={"accept": "text/html"})).status_code == 403
        assert (
            await client.post("/api/users", json={"email": "x@example.test", "name": "X", "roles": ["owner"]})
        ).status_code == 403


async def test_html_forms_change_roles_and_status(db, make_tenant, make_user, signed_in):
    tenant = await make_tenant()
    owner = await make_user(tenant, roles=("owner",))
    member = await make_user(tenant, roles=("front_desk",), name="Desk Person")
    async with await signed_in(tenant, owner) as client:
        page = await client.get("/users")
        assert page.status_code == 200 and "Desk Person" in page.text and 'name="_csrf"' in page.text
        saved = await client.post(
            f"/users/{member.id}",
            data={"set_roles": "1", "roles": ["biller", "front_desk"]},
            follow_redirects=False,
        )
        assert saved.status_code == 303, saved.text
        off = await client.post(f"/users/{member.id}", data={"status": "deactivated"}, follow_redirects=False)
        assert off.status_code == 303
        listing = (await client.get("/api/users")).json()
        assert {u["email"]: (u["roles"], u["status"]) for u in listing}[member.email] == (
            ["biller", "front_desk"],
            "deactivated",
        )
        refused = await client.post(f"/users/{owner.id}", data={"set_roles": "1", "roles": ["biller"]})
        assert refused.status_code == 409 and "at least one active owner" in refused.text
        empty = await client.post(f"/users/{member.id}", data={"set_roles": "1"})
        assert empty.status_code == 422 and "at least one role" in empty.text


async def test_policy_changes_through_one_instance_apply_in_another(
    settings, registry, make_tenant, make_user, session_store
):
    """Two app instances (as two processes would be): the owner changes roles through
    instance 1; instance 2 enforces them on the very next request."""
    tenant = await make_tenant(plugins=("sample",))
    owner = await make_user(tenant, roles=("owner",))
    member = await make_user(tenant, roles=("clinician",))
    one, two = create_app(settings, registry=registry), create_app(settings, registry=registry)
    assert one.state.authz is not two.state.authz

    async def client(app, user):
        session_id, data = await session_store.create(user_id=user.id, tenant_id=tenant.id, mfa_verified=True)
        c = AsyncTestClient(app=app, base_url=f"http://{tenant.slug}.localhost")
        c.cookies.set(COOKIE_NAME, session_id)
        c.headers["X-CSRF-Token"] = data.csrf_token
        return c

    async with await client(one, owner) as admin, await client(two, member) as worker:
        assert (await worker.get("/api/sample/notes")).status_code == 200
        assert (await worker.get("/api/users")).status_code == 403

        # adding a role
        r = await admin.patch(f"/api/users/{member.id}", json={"roles": ["clinician", "owner"]})
        assert r.status_code == 200
        assert (await worker.get("/api/users")).status_code == 200
        # removing roles
        r = await admin.patch(f"/api/users/{member.id}", json={"roles": ["front_desk"]})
        assert r.status_code == 200
        assert (await worker.get("/api/users")).status_code == 403
        assert (await worker.get("/api/sample/notes")).status_code == 403
        # deactivation ends access at once; reactivation restores it
        assert (
            await admin.patch(f"/api/users/{member.id}", json={"status": "deactivated"})
        ).status_code == 200
        gone = await worker.get("/api/sample/whoami")
        assert gone.status_code == 401 and "not active here" in gone.json()["detail"]
        assert (
            await admin.patch(f"/api/users/{member.id}", json={"status": "active", "roles": ["clinician"]})
        ).status_code == 200
        assert (await worker.get("/api/sample/notes")).status_code == 200
    # instance 2's enforcer holds the member's current assignment, synced from the membership
    assert two.state.authz.enforcer.get_roles_for_user_in_domain(str(member.id), str(tenant.id)) == [
        "clinician"
    ]
