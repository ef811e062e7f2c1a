"""Layer 4: the HTTP entry point resolves the tenant from the Host header."""

from __future__ import annotations

import pytest

from core.lifecycle.registry import get_tenant, set_status
from core.web.hosts import slug_for


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", ""),
        ("riverside.localhost", "riverside"),
        ("riverside.localhost.", "riverside"),
        ("a.b.localhost", None),  # one label only
        ("evil.com", None),
        ("riverside.localhost.evil.com", None),
        ("-bad.localhost", None),
        ("UPPER.localhost".lower(), "upper"),
    ],
)
def test_slug_for(host, expected):
    assert slug_for(host, "localhost") == expected


async def signed_in(client_as, session_store, tenant, user):
    """A client with a real session on the tenant's host, sending its CSRF token."""
    from core.auth.sessions import COOKIE_NAME

    client = await client_as(tenant, user)
    client.headers["X-CSRF-Token"] = (await session_store.get(client.cookies.get(COOKIE_NAME))).csrf_token
    return client


async def test_tenant_host_is_served_in_the_tenants_scope(make_tenant, make_user, client_as, session_store):
    tenant = await make_tenant(name="Scope Clinic", plugins=("sample",))
    async with await signed_in(client_as, session_store, tenant, await make_user(tenant)) as client:
        response = await client.post("/api/sample/notes", json={"body": "hello"})
        assert response.status_code == 201, response.text
        listed = (await client.get("/api/sample/notes")).json()
    assert [n["body"] for n in listed] == ["hello"]


async def test_unknown_tenant_answers_a_404_page(client_for):
    async with client_for("no-such-clinic") as client:
        page = await client.get("/", headers={"accept": "text/html"})
        api = await client.get("/api/sample/notes")
    assert page.status_code == 404
    assert "There is no clinic at this address." in page.text
    assert "<html" in page.text
    assert api.status_code == 404
    assert api.json()["detail"] == "There is no clinic at this address."


async def test_suspended_tenant_answers_404_until_resumed(db, make_tenant, make_user, client_as):
    tenant = await make_tenant()
    async with await client_as(tenant, await make_user(tenant)) as client:
        assert (await client.get("/")).status_code == 200
        async with db.session() as session:
            await set_status(session, await get_tenant(session, tenant.slug), "suspended")
            await session.commit()
        suspended = await client.get("/")
        assert suspended.status_code == 404
        assert "There is no clinic at this address." in suspended.text
        async with db.session() as session:
            await set_status(session, await get_tenant(session, tenant.slug), "active")
            await session.commit()
        assert (await client.get("/")).status_code == 200


async def test_base_domain_is_the_platform_area(db, make_tenant, client_as):
    from core.auth.models import PlatformOperator, User

    tenant = await make_tenant(plugins=("sample",))
    async with db.session() as session:
        operator = User(email=f"op-{tenant.slug}@example.test", display_name="Operator")
        session.add(operator)
        await session.flush()
        session.add(PlatformOperator(user_id=operator.id))
        await session.commit()
    async with await client_as(None, operator) as client:
        home = await client.get("/")
        plugin_page = await client.get("/sample/notes")
    assert home.status_code == 200 and "Tessera platform" in home.text
    assert tenant.name not in home.text
    # tenant plugin pages do not exist on the platform host
    assert plugin_page.status_code == 404


async def test_foreign_host_is_refused_but_health_answers(app):
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app=app, base_url="http://evil.example") as client:
        assert (await client.get("/")).status_code == 404
        assert (await client.get("/healthz")).json() == {"status": "ok"}
