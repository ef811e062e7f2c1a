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
    assert wrong.status_code == 405


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_no_free_database_connection_is_a_503_to_retry(
    settings, registry, make_tenant, make_user, session_store
):
    """Every pooled connection busy past TESSERA_DB_POOL_TIMEOUT: a 503 with Retry-After,
    not a 500; and the next request, once a connection is free, is served."""
    from litestar.testing import AsyncTestClient

    from core.app import create_app
    from core.auth.sessions import COOKIE_NAME

    tenant = await make_tenant()
    user = await make_user(tenant)
    app = create_app(
        settings.with_(db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.2), registry=registry
    )
    client = AsyncTestClient(app=app, base_url=f"http://{tenant.slug}.localhost")
    lines = _Lines()
    logging.getLogger("tessera.errors").addHandler(lines)
    try:
        async with client:
            session_id, _ = await session_store.create(
                user_id=user.id, tenant_id=tenant.id, mfa_verified=True
            )
            client.cookies.set(COOKIE_NAME, session_id)
            assert (await client.get("/api/patients")).status_code == 200  # the pool works
            held = await app.state.db.engine.connect()  # the only connection, busy elsewhere
            try:
                busy = await client.get("/api/patients")
            finally:
                await held.close()
            assert busy.status_code == 503, busy.text
            assert busy.headers["retry-after"] == "1"
            assert "try again" in busy.json()["detail"]
            assert any(line.startswith("no free database connection") for line in lines.lines)
            assert (await client.get("/api/patients")).status_code == 200  # and it recovers
    finally:
        logging.getLogger("tessera.errors").removeHandler(lines)
