"""Login CSRF and its whole class: the JSON API accepts only JSON bodies (415 otherwise),
checked for every write route of the app's route table; the HTML sign-in form keeps its
own CSRF rule (tests/test_auth_csrf.py)."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from litestar.routes import HTTPRoute
from sqlalchemy import select

from core.app import create_app
from core.audit.models import AuditEvent
from core.auth.sessions import COOKIE_NAME
from core.tenancy import tenant_scope
from core.web.json_only import WRITE_METHODS, refuses

PASSWORD = "correct horse battery"

#: what a cross-site <form> can send without a CORS preflight
FORM_BODIES = {
    "text/plain": ("text/plain", b'{"email": "x@example.test", "password": "y"}'),
    "urlencoded": ("application/x-www-form-urlencoded", b"email=x%40example.test&password=y"),
    "multipart": (
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--\r\n',
    ),
    "no type": (None, b'{"email": "x@example.test"}'),
}


async def test_api_login_refuses_a_cross_site_form(db, make_tenant, make_user, client_for):
    # Seen to fail before: a text/plain body holding JSON signed the browser in (200).
    tenant = await make_tenant()
    user = await make_user(tenant)
    credentials = json.dumps({"email": user.email, "password": PASSWORD}).encode()
    async with client_for(tenant.slug) as client:
        for content_type in (
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=b",
        ):
            response = await client.post(
                "/api/auth/login", content=credentials, headers={"content-type": content_type}
            )
            assert response.status_code == 415, (content_type, response.text)
            assert "Content-Type: application/json" in response.json()["detail"]
            assert COOKIE_NAME not in response.headers.get("set-cookie", "")
        form = await client.post("/api/auth/login", data={"email": user.email, "password": PASSWORD})
        assert form.status_code == 415
        ok = await client.post(
            "/api/auth/login",
            content=credentials,
            headers={"content-type": "application/json; charset=utf-8"},
        )
        assert ok.status_code == 200
    with tenant_scope(tenant.id):
        async with db.session() as session:
            logins = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "login")))
    assert len(logins) == 1  # only the JSON request signed in


def test_the_rule_in_isolation():
    def scope(method, path, headers):
        return {"type": "http", "method": method, "path": path, "headers": headers}

    assert refuses(scope("POST", "/api/x", [(b"content-type", b"text/plain")]))
    assert refuses(scope("DELETE", "/api/x", [(b"content-length", b"3")]))
    assert refuses(scope("PUT", "/api/x", [(b"transfer-encoding", b"chunked")]))
    assert not refuses(scope("POST", "/api/x", [(b"content-type", b"application/json")]))
    assert not refuses(scope("PATCH", "/api/x", [(b"content-type", b"application/merge-patch+json")]))
    assert not refuses(scope("POST", "/api/x", [(b"content-length", b"0")]))  # no body at all
    assert not refuses(scope("GET", "/api/x", [(b"content-type", b"text/plain")]))
    assert not refuses(scope("POST", "/login", [(b"content-type", b"application/x-www-form-urlencoded")]))


def concrete(path: str) -> str:
    """A route's path with every parameter filled in with a value of its type."""
    values = {"uuid": str(uuid.uuid4()), "int": "1", "date": "2026-01-05", "str": "x", "path": "x"}
    return re.sub(r"\{(\w+):(\w+)\}", lambda m: values.get(m.group(2), "x"), path)


def api_writes(app) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith("/api/"):
            for method in sorted(route.methods & WRITE_METHODS):
                found.append((method, route.path))
    return found


@pytest.fixture(scope="module")
def full_app(settings, registry):
    return create_app(settings, registry=registry)


async def test_no_api_write_route_accepts_a_form_or_text_body(
    full_app, make_tenant, make_user, session_store
):
    """Every write route under /api/, from the app's own route table (plugins' too), asked
    by a signed-in owner with a valid CSRF token: a form, text or untyped body is 415."""
    from litestar.testing import AsyncTestClient

    tenant = await make_tenant(plugins=("scheduling",))
    owner = await make_user(tenant, roles=("owner",))
    session_id, data = await session_store.create(user_id=owner.id, tenant_id=tenant.id, mfa_verified=True)
    routes = api_writes(full_app)
    assert len(routes) > 40 and ("POST", "/api/auth/login") in routes
    accepted = []
    async with AsyncTestClient(app=full_app, base_url=f"http://{tenant.slug}.localhost") as client:
        client.cookies.set(COOKIE_NAME, session_id)
        for method, path in routes:
            for name, (content_type, body) in FORM_BODIES.items():
                headers = {"X-CSRF-Token": data.csrf_token}
                if content_type:
                    headers["content-type"] = content_type
                response = await client.request(method, concrete(path), content=body, headers=headers)
                if response.status_code != 415:
                    accepted.append(f"{method} {path} with {name}: {response.status_code}")
    assert accepted == []
