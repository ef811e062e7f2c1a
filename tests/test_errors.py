"""Bad input gets a clear 4xx; failures get a generic 500 with no traceback and no PHI logged."""

from __future__ import annotations

import logging


async def signed_in(client_as, session_store, tenant, user):
    """A client with a real session on the tenant's host, sending its CSRF token."""
    from core.auth.sessions import COOKIE_NAME

    client = await client_as(tenant, user)
    client.headers["X-CSRF-Token"] = (await session_store.get(client.cookies.get(COOKIE_NAME))).csrf_token
    return client


async def test_unexpected_error_is_a_generic_500_without_phi(make_tenant, make_user, client_as, caplog):
    tenant = await make_tenant(plugins=("sample",))
    user = await make_user(tenant)
    with caplog.at_level(logging.DEBUG):
        async with await client_as(tenant, user) as client:
            api = await client.get("/api/sample/boom")
            page = await client.get("/api/sample/boom", headers={"accept": "text/html"})
    assert api.status_code == 500
    assert api.json()["detail"].startswith("Something went wrong on our side.")
    for body in (api.text, page.text):
        assert "Jane" not in body and "Traceback" not in body and "RuntimeError" not in body
    assert "Jane" not in caplog.text
    assert "unhandled RuntimeError" in caplog.text  # what failed and where is still logged


async def test_malformed_json_is_a_400_with_a_message(make_tenant, make_user, client_as, session_store):
    tenant = await make_tenant(plugins=("sample",))
    async with await signed_in(client_as, session_store, tenant, await make_user(tenant)) as client:
        response = await client.post(
            "/api/sample/notes", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["detail"]


async def test_unknown_path_and_wrong_method_are_readable(make_tenant, client_for):
    tenant = await make_tenant()
    async with client_for(tenant.slug) as client:
        missing = await client.get("/no/such/page", headers={"accept": "text/html"})
        wrong = await client.delete("/api/sample/notes")
    assert missing.status_code == 404 and "There is nothing at this address." in missing.text
    assert wrong.status_code in (404, 405)
