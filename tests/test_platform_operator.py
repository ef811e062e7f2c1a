"""The platform-operator area at the base domain: tenants listed, created from a preset with
a first owner, plugins enabled and disabled, tenants suspended and resumed — in HTML and
JSON, audited in the affected tenant's log, closed to everyone but operators."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select, text

from core.audit.models import AuditEvent
from core.auth.models import Membership, PlatformOperator, User
from core.tenancy import tenant_scope
from tests.audit_helpers import assert_audited
from tests.message_servers import no_unsent_messages_left  # noqa: F401 - used by name
from tests.sample_plugin.hooks import add_note

pytestmark = pytest.mark.usefixtures("no_unsent_messages_left")


@pytest.fixture
async def operator(db):
    async with db.session() as session:
        user = User(email=f"op-{uuid.uuid4().hex[:8]}@example.test", display_name="Olga Operator")
        session.add(user)
        await session.flush()
        session.add(PlatformOperator(user_id=user.id))
        await session.commit()
    return user


@pytest.fixture
async def operator_client(operator, client_as, csrf_headers):
    """A signed-in operator on the base domain; unsafe requests carry the CSRF header."""
    async with await client_as(None, operator) as client:
        client.headers.update(await csrf_headers(client))
        yield client


@pytest.fixture
def clinic_client(settings, registry, session_store):
    """A client on a clinic's host of a SECOND app instance (one open test client per app
    at a time: the operator's client stays open meanwhile), signed in as ``user`` if given."""
    from litestar.testing import AsyncTestClient

    from core.app import create_app
    from core.auth.sessions import COOKIE_NAME

    second = create_app(settings, registry=registry)

    async def make(tenant_or_slug, user=None):
        slug = getattr(tenant_or_slug, "slug", tenant_or_slug)
        client = AsyncTestClient(app=second, base_url=f"http://{slug}.localhost")
        if user is not None:
            session_id, _ = await session_store.create(
                user_id=user.id, tenant_id=tenant_or_slug.id, mfa_verified=True
            )
            client.cookies.set(COOKIE_NAME, session_id)
        return client

    return make


async def _form(client, csrf_headers, url: str, data: dict):
    token = (await csrf_headers(client))["X-CSRF-Token"]
    return await client.post(url, data={**data, "_csrf": token}, follow_redirects=False)


def _new_tenant_body(unique_slug, **extra) -> dict:
    return {
        "slug": unique_slug("plat"),
        "name": "Lakeside Rehab",
        "preset": "rehab",
        "time_zone": "America/Chicago",
        "owner_email": f"owner-{uuid.uuid4().hex[:8]}@example.test",
        "owner_name": "Orla Owner",
        **extra,
    }


# -- who may come in ----------------------------------------------------------------------


async def test_only_operators_on_the_base_domain_get_in(db, make_tenant, make_user, client_as, client_for):
    tenant = await make_tenant(name="Secret Clinic")
    owner = await make_user(tenant, roles=("owner",))
    paths = ["/platform/tenants", f"/platform/tenants/{tenant.slug}", "/api/platform/tenants"]
    # a clinic owner on the clinic's host: the area does not exist there
    async with await client_as(tenant, owner) as client:
        for path in paths:
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get(f"/api/platform/tenants/{tenant.slug}")).status_code == 404
    # anonymous on the base domain: sign in first, nothing listed
    async with client_for(None) as client:
        api = await client.get("/api/platform/tenants")
        assert api.status_code == 401 and "Secret Clinic" not in api.text
        page = await client.get("/platform/tenants", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        created = await client.post("/api/platform/tenants", json={"slug": "x"})
        assert created.status_code == 401
    # a signed-in user without operator rights on the base domain
    async with await client_as(None, owner) as client:
        for path in paths:
            response = await client.get(path, headers={"accept": "application/json"})
            # a clinic member's session is not valid on the platform host: anonymous there
            assert response.status_code == 401, path
            assert "Secret Clinic" not in response.text
        changed = await client.patch(f"/api/platform/tenants/{tenant.slug}", json={"status": "suspended"})
        assert changed.status_code == 403  # an unsafe method without a CSRF token, refused first
    async with db.session() as session:
        assert (await session.get(type(tenant), tenant.id)).status == "active"


# -- listing ------------------------------------------------------------------------------


async def test_tenants_are_listed_with_plan_status_plugins_and_creation(operator_client, make_tenant, db):
    tenant = await make_tenant(plugins=("sample",), name="Listed Clinic")
    async with db.session() as session:
        await session.execute(text("UPDATE tenants SET preset = 'minimal' WHERE id = :id"), {"id": tenant.id})
        await session.commit()
    api = await operator_client.get("/api/platform/tenants")
    assert api.status_code == 200
    mine = next(t for t in api.json() if t["slug"] == tenant.slug)
    assert mine["name"] == "Listed Clinic"
    assert (mine["preset"], mine["status"], mine["plugins"]) == ("minimal", "active", ["sample"])
    assert mine["created_at"][:4].isdigit()
    html = await operator_client.get("/platform/tenants")
    assert html.status_code == 200
    row = re.search(rf'<tr id="tenant-{tenant.slug}">(.*?)</tr>', html.text, re.S).group(1)
    for fragment in (tenant.slug, "Listed Clinic", "minimal", "active", "sample"):
        assert fragment in row
    home = await operator_client.get("/")
    assert 'href="/platform/tenants"' in home.text
    # the JSON twins are described in the OpenAPI schema
    paths = (await operator_client.get("/schema/openapi.json")).json()["paths"]
    assert {"/api/platform/tenants", "/api/platform/tenants/{slug}"} <= set(paths)
    assert set(paths["/api/platform/tenants/{slug}/plugins/{plugin}"]) == {"put", "delete"}


# -- creating -----------------------------------------------------------------------------


async def setup_link_sent_to(owner_engine, address: str) -> str:
    """The set-password link in the e-mail queued for ``address`` (core_messages)."""
    async with owner_engine.connect() as conn:
        body = await conn.scalar(
            text("SELECT body FROM core_messages WHERE recipient = :a AND purpose = 'core.owner_setup'"),
            {"a": address},
        )
    return re.search(r"(http://\S+/account/setup/\S+)", body).group(1)


async def test_create_from_preset_with_a_new_owner(
    operator_client, operator, db, registry, unique_slug, clinic_client, owner_engine
):
    body = _new_tenant_body(unique_slug)
    response = await operator_client.post("/api/platform/tenants", json=body)
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["tenant"]["slug"] == body["slug"] and out["tenant"]["preset"] == "rehab"
    # the rehab preset names plugins this instance does not have: reported, not fatal
    assert {"scheduling", "rehab", "billing", "portal"} - set(registry.plugins) <= set(
        out["plugins"]["not_installed"]
    )
    assert out["plugins"]["not_installed"]
    assert out["owner"]["new_user"] is True and out["owner"]["roles"] == ["owner"]
    # the set-password link is e-mailed to the owner, never in the answer
    assert out["owner"]["setup_link_emailed"] is True and "/account/setup/" not in response.text
    setup_url = await setup_link_sent_to(owner_engine, body["owner_email"])
    assert setup_url.startswith(f"http://{body['slug']}.localhost/account/setup/")

    # the link opens the set-password page at the new clinic's address
    async with await clinic_client(body["slug"]) as clinic:
        assert (await clinic.get(setup_url.split("localhost", 1)[1])).status_code == 200

    async with db.session() as session:
        tenant = await session.scalar(select(type_tenant()).where(type_tenant().slug == body["slug"]))
        assert tenant.time_zone == "America/Chicago"
        with tenant_scope(tenant.id):
            membership = await session.scalar(select(Membership))
            assert membership.roles == ["owner"]
    event = await assert_audited(db, tenant, action="create", resource_type="tenant", actor=operator)
    assert event.resource_id == str(tenant.id)
    assert event.detail["preset"] == "rehab" and event.detail["owner_is_new"] is True

    listed = await operator_client.get("/api/platform/tenants")
    assert body["slug"] in [t["slug"] for t in listed.json()]


def type_tenant():
    from core.tenancy.models import Tenant

    return Tenant


async def test_an_existing_user_becomes_the_owner_without_a_link(
    operator_client, make_tenant, make_user, unique_slug, db
):
    elsewhere = await make_tenant()
    user = await make_user(elsewhere, roles=("biller",))
    body = _new_tenant_body(unique_slug, preset="minimal", owner_email=user.email.upper())
    response = await operator_client.post("/api/platform/tenants", json=body)
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["owner"]["user_id"] == str(user.id)
    assert out["owner"]["new_user"] is False and out["owner"]["setup_link_emailed"] is False
    assert out["plugins"] == {"enabled": [], "not_installed": [], "failed": {}}


async def test_create_form_emails_the_link_and_shows_the_missing_plugins(
    operator_client, csrf_headers, unique_slug, registry, owner_engine
):
    body = _new_tenant_body(unique_slug)
    response = await _form(operator_client, csrf_headers, "/platform/tenants", body)
    assert response.status_code == 201, response.text
    assert f"Tenant {body['slug']} was created" in response.text
    assert "not installed on this instance" in response.text
    assert "billing" in response.text
    assert "/account/setup/" not in response.text and "was e-mailed to" in response.text
    assert (await setup_link_sent_to(owner_engine, body["owner_email"])).startswith(
        f"http://{body['slug']}.localhost/account/setup/"
    )
    again = await operator_client.get(f"/platform/tenants/{body['slug']}")
    assert "/account/setup/" not in again.text


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"slug": "Bad Slug"}, 422, "not usable in a web address"),
        ({"slug": "www"}, 422, "reserved"),
        ({"preset": "nonesuch"}, 422, "unknown preset 'nonesuch'"),
        ({"time_zone": "Mars/Olympus"}, 422, "unknown time zone"),
        ({"owner_email": "not-an-address"}, 422, "valid e-mail"),
        ({"owner_name": ""}, 422, "owner's name"),
        ({"name": ""}, 422, "clinic's name"),
        ({"name": 42}, 422, "must be text"),
    ],
)
async def test_bad_input_is_refused_readably_and_creates_nothing(
    operator_client, unique_slug, db, change, status, message
):
    body = _new_tenant_body(unique_slug, **change)
    response = await operator_client.post("/api/platform/tenants", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]
    async with db.session() as session:
        found = await session.scalar(
            select(type_tenant()).where(type_tenant().slug == str(body["slug"]).strip().lower())
        )
    assert found is None or body["slug"] == "www"


async def test_duplicate_slug_and_non_object_bodies(operator_client, make_tenant, unique_slug, csrf_headers):
    tenant = await make_tenant()
    body = _new_tenant_body(unique_slug, slug=tenant.slug)
    response = await operator_client.post("/api/platform/tenants", json=body)
    assert response.status_code == 422 and "already exists" in response.json()["detail"]
    assert (await operator_client.post("/api/platform/tenants", json=[1, 2])).status_code == 400
    form = await _form(operator_client, csrf_headers, "/platform/tenants", body)
    assert form.status_code == 422
    assert "already exists" in form.text and 'role="alert"' in form.text
    assert f'value="{tenant.slug}"' in form.text  # the form keeps what was typed


# -- plugins ------------------------------------------------------------------------------


async def test_enable_and_disable_a_plugin_with_its_configuration(operator_client, operator, make_tenant, db):
    tenant = await make_tenant()
    url = f"/api/platform/tenants/{tenant.slug}/plugins/sample"
    bad = await operator_client.put(url, json={"config": {"greeting": 5}})
    assert bad.status_code == 422
    assert (
        bad.json()["detail"]
        == "invalid configuration for plugin 'sample' at greeting: 5 is not of type 'string'"
    )
    extra = await operator_client.put(url, json={"config": {"colour": "red"}})
    assert extra.status_code == 422 and "'colour' was unexpected" in extra.json()["detail"]
    assert (await operator_client.put(url, json={"config": "hi"})).status_code == 422

    ok = await operator_client.put(url, json={"config": {"greeting": "hello"}})
    assert ok.status_code == 200, ok.text
    sample = next(p for p in ok.json()["plugin_states"] if p["name"] == "sample")
    assert sample["enabled"] and sample["config"] == {"greeting": "hello"}
    assert ok.json()["plugins"] == ["sample"]
    event = await assert_audited(db, tenant, action="update", resource_type="tenant", actor=operator)
    assert event.detail == {"plugin": "sample", "enabled": True, "config_keys": ["greeting"]}

    off = await operator_client.delete(url)
    assert off.status_code == 200 and off.json()["plugins"] == []
    event = await assert_audited(db, tenant, action="update", resource_type="tenant", actor=operator)
    assert event.detail == {"plugin": "sample", "enabled": False}
    again = await operator_client.delete(url)
    assert again.status_code == 409 and "not enabled" in again.json()["detail"]

    missing = await operator_client.put(f"/api/platform/tenants/{tenant.slug}/plugins/nonesuch", json={})
    assert missing.status_code == 422 and "not installed" in missing.json()["detail"]
    assert (
        await operator_client.put("/api/platform/tenants/no-such-clinic/plugins/sample", json={})
    ).status_code == 404
    assert (await operator_client.get("/api/platform/tenants/no-such-clinic")).status_code == 404
    assert (await operator_client.get("/platform/tenants/no-such-clinic")).status_code == 404


async def test_plugin_forms_show_schema_and_json_errors_inline(
    operator_client, csrf_headers, make_tenant, db
):
    tenant = await make_tenant()
    url = f"/platform/tenants/{tenant.slug}/plugins/sample"
    page = await operator_client.get(f"/platform/tenants/{tenant.slug}")
    assert page.status_code == 200 and 'id="plugin-sample"' in page.text

    broken = await _form(operator_client, csrf_headers, url, {"action": "enable", "config": "{greeting: hi"})
    assert broken.status_code == 400
    assert "not valid JSON" in broken.text and 'aria-invalid="true"' in broken.text
    assert "{greeting: hi" in broken.text  # what was typed is kept for correcting

    schema = await _form(
        operator_client, csrf_headers, url, {"action": "enable", "config": '{"greeting": 7}'}
    )
    assert schema.status_code == 422
    assert "at greeting: 7 is not of type" in schema.text

    ok = await _form(operator_client, csrf_headers, url, {"action": "enable", "config": '{"greeting": "hi"}'})
    assert ok.status_code == 303 and ok.headers["location"] == f"/platform/tenants/{tenant.slug}"
    page = await operator_client.get(f"/platform/tenants/{tenant.slug}")
    assert "Disable sample" in page.text
    off = await _form(operator_client, csrf_headers, url, {"action": "disable"})
    assert off.status_code == 303
    assert "Enable sample" in (await operator_client.get(f"/platform/tenants/{tenant.slug}")).text
    # without the CSRF token nothing changes
    forged = await operator_client.post(
        url, data={"action": "enable", "config": "{}"}, headers={"X-CSRF-Token": "forged"}
    )
    assert forged.status_code == 403


# -- suspend and resume -------------------------------------------------------------------


async def test_suspend_takes_the_site_and_jobs_offline_until_resumed(
    operator_client, operator, make_tenant, make_user, clinic_client, db, settings, owner_engine
):
    tenant = await make_tenant(plugins=("sample",))
    member = await make_user(tenant)
    ctx = {"db": db, "settings": settings, "job_try": 1}

    async def notes(body: str) -> int:
        async with owner_engine.connect() as conn:
            return await conn.scalar(
                text("SELECT count(*) FROM sample_notes WHERE tenant_id = :t AND body = :b"),
                {"t": tenant.id, "b": body},
            )

    suspended = await operator_client.patch(
        f"/api/platform/tenants/{tenant.slug}", json={"status": "suspended"}
    )
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    event = await assert_audited(db, tenant, action="update", resource_type="tenant", actor=operator)
    assert event.detail == {"status": {"from": "active", "to": "suspended"}}

    async with await clinic_client(tenant, member) as clinic:
        gone = await clinic.get("/")
        assert gone.status_code == 404 and "There is no clinic at this address." in gone.text
    assert await add_note.coroutine(ctx, tenant_id=str(tenant.id), body="while suspended") is None
    assert await notes("while suspended") == 0

    again = await operator_client.patch(f"/api/platform/tenants/{tenant.slug}", json={"status": "suspended"})
    assert again.status_code == 409 and "already suspended" in again.json()["detail"]
    bad = await operator_client.patch(f"/api/platform/tenants/{tenant.slug}", json={"status": "closed"})
    assert bad.status_code == 422 and "status must be one of" in bad.json()["detail"]

    resumed = await operator_client.patch(f"/api/platform/tenants/{tenant.slug}", json={"status": "active"})
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    async with await clinic_client(tenant, member) as clinic:
        assert (await clinic.get("/")).status_code == 200
    assert await add_note.coroutine(ctx, tenant_id=str(tenant.id), body="after resume")
    assert await notes("after resume") == 1


async def test_suspend_and_resume_from_the_tenant_page(operator_client, csrf_headers, make_tenant, db):
    tenant = await make_tenant()
    url = f"/platform/tenants/{tenant.slug}/status"
    response = await _form(operator_client, csrf_headers, url, {"status": "suspended"})
    assert response.status_code == 303
    page = await operator_client.get(f"/platform/tenants/{tenant.slug}")
    assert "Resume" in page.text and "answers 404 while suspended" in page.text
    assert (await _form(operator_client, csrf_headers, url, {"status": "suspended"})).status_code == 409
    assert (await _form(operator_client, csrf_headers, url, {"status": "active"})).status_code == 303
    with tenant_scope(tenant.id):
        async with db.session() as session:
            actions = list(
                await session.scalars(
                    select(AuditEvent.detail)
                    .where(AuditEvent.resource_type == "tenant")
                    .order_by(AuditEvent.occurred_at)
                )
            )
    assert [d["status"]["to"] for d in actions] == ["suspended", "active"]
    assert (
        await _form(
            operator_client, csrf_headers, "/platform/tenants/nobody-here/status", {"status": "active"}
        )
    ).status_code == 404
