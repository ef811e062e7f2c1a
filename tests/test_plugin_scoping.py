"""What a clinic sees of a plugin it has not enabled: none of its roles, none of its API
in ``/schema``; the tenant table of plugin failures keeps clinics apart."""

from __future__ import annotations

import uuid

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from core.app import build_registry, create_app
from core.auth.sessions import COOKIE_NAME
from core.authz.enforcer import Authorizer
from core.lifecycle.plugins import enable_plugin
from core.lifecycle.registry import get_tenant
from core.plugins.failures import PluginFailure, _count
from core.plugins.manifest import Manifest
from core.plugins.markers import hookimpl
from core.plugins.types import Permission
from core.tenancy import tenant_scope


class RoleGiver:
    """Brings a role of its own (``aide``) through a default grant."""

    manifest = Manifest(name="aides", version="1.0", title="Aides")

    @hookimpl
    def tessera_permissions(self):
        return [Permission("aides:tasks", ("read",), "Aide tasks", default_grants={"aide": ("read",)})]


def test_a_plugins_role_is_offered_only_where_the_plugin_is_enabled():
    authz = Authorizer([RoleGiver().tessera_permissions()[0]])
    assert "aide" in authz.roles  # known to the installation
    assert "aide" in authz.roles_for({"aides"})
    assert "aide" not in authz.roles_for({"scheduling"})
    assert {"owner", "clinician", "front_desk", "biller", "auditor"} <= set(authz.roles_for(()))


async def test_the_users_screen_and_api_offer_a_plugins_role_only_where_it_is_enabled(
    settings, db, make_tenant, make_user, session_store
):
    registry = build_registry(settings, extra_plugins=[RoleGiver()])
    app = create_app(settings, registry=registry)
    on, off = await make_tenant(), await make_tenant()
    async with db.session() as session:
        await enable_plugin(session, registry, await get_tenant(session, on.slug), "aides")
        await session.commit()

    async def as_owner(tenant):
        owner = await make_user(tenant, roles=("owner",))
        session_id, data = await session_store.create(
            user_id=owner.id, tenant_id=tenant.id, mfa_verified=True
        )
        client = AsyncTestClient(app=app, base_url=f"http://{tenant.slug}.localhost")
        client.cookies.set(COOKIE_NAME, session_id)
        client.headers["X-CSRF-Token"] = data.csrf_token
        return client

    invite = {"email": f"aide-{uuid.uuid4().hex[:8]}@example.test", "name": "Ann Aide", "roles": ["aide"]}
    async with await as_owner(on) as c:
        assert 'value="aide"' in (await c.get("/users")).text
        assert (await c.post("/api/users", json=invite)).status_code == 202
    async with await as_owner(off) as c:
        assert 'value="aide"' not in (await c.get("/users")).text
        refused = await c.post("/api/users", json=invite)
    assert refused.status_code == 422 and "unknown role aide" in refused.text


async def test_schema_lists_only_the_api_of_plugins_the_clinic_enabled(make_tenant, make_user, client_as):
    on, off = await make_tenant(plugins=("sample",)), await make_tenant()
    async with await client_as(on, await make_user(on)) as c:
        with_plugin = (await c.get("/schema/openapi.json")).json()
        yaml = (await c.get("/schema/openapi.yaml")).text
    async with await client_as(off, await make_user(off)) as c:
        without = (await c.get("/schema/openapi.json")).json()
        yaml_without = (await c.get("/schema/openapi.yaml")).text
    assert "/api/sample/notes" in with_plugin["paths"] and "/api/sample/notes" in yaml
    assert not [p for p in without["paths"] if p.startswith("/api/sample")]
    assert "/api/sample/notes" not in yaml_without
    assert "/api/patients" in without["paths"]  # core's API is everyone's


async def test_plugin_failures_are_isolated_by_tenant(db, make_tenant):
    a, b = await make_tenant(), await make_tenant()
    for tenant in (a, b):
        with tenant_scope(tenant.id):
            async with db.session() as session, session.begin():
                await _count(session, tenant.id, "sample", "tessera_navigation", "KeyError at x.py:1", "r1")
    with tenant_scope(a.id):
        async with db.session() as session:
            rows = list(await session.scalars(select(PluginFailure)))
    assert {r.tenant_id for r in rows} == {a.id}
    with tenant_scope(a.id), pytest.raises(Exception, match="row-level security"):
        async with db.session() as session, session.begin():
            await _count(session, b.id, "sample", "tessera_navigation", "KeyError at x.py:1", "r2")
