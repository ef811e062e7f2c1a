"""Security headers on every kind of answer, generated from the app's own route table.

Every GET route of the app (core's and every installed plugin's, HTML pages, JSON API,
static files, public links, the OpenAPI document) is requested on a clinic's site as its
signed-in owner, with made-up path parameters — so some answer 200 and others 404 or 422,
and each kind of answer is checked. A route added tomorrow is covered without anyone
remembering to add it here. See core/web/security_headers.py for what each header is for.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from core.web.security_headers import API_VIEWER_POLICY, CONTENT_SECURITY_POLICY

_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


def _fill(path: str) -> str:
    def value(match: re.Match) -> str:
        kind = match.group(2) or "str"
        return {
            "uuid": str(uuid.uuid4()),
            "int": "1",
            "date": dt.date.today().isoformat(),
            "path": "core/tessera.css",
        }.get(kind, "sample")

    return _PARAM.sub(value, path)


def get_paths(app) -> list[str]:
    """One concrete path per GET route of the app."""
    paths = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        if "GET" in route.methods:
            paths.add(_fill(route.path))
    return sorted(paths)


def assert_security_headers(response, what: str, *, cacheable: bool = False, viewer: bool = False) -> None:
    headers = response.headers
    problems = []
    expected = API_VIEWER_POLICY if viewer else CONTENT_SECURITY_POLICY
    if headers.get("content-security-policy") != expected:
        problems.append(f"Content-Security-Policy is {headers.get('content-security-policy')!r}")
    csp = headers.get("content-security-policy") or ""
    for needed in ("frame-ancestors 'none'", "script-src 'self'", "object-src 'none'"):
        if needed not in csp:
            problems.append(f"CSP lacks {needed}")
    if "unsafe-eval" in csp or (not viewer and "unsafe-inline" in csp.split("style-src-attr")[0]):
        problems.append("CSP allows inline script/style elements or eval")
    if headers.get("x-content-type-options") != "nosniff":
        problems.append("X-Content-Type-Options is not nosniff")
    if headers.get("x-frame-options") != "DENY":
        problems.append("X-Frame-Options is not DENY")
    if headers.get("referrer-policy") not in (
        "same-origin",
        "no-referrer",
        "strict-origin-when-cross-origin",
    ):
        problems.append(f"Referrer-Policy is {headers.get('referrer-policy')!r}")
    if not cacheable and "no-store" not in (headers.get("cache-control") or ""):
        problems.append(f"Cache-Control is {headers.get('cache-control')!r}, not no-store")
    assert not problems, f"{what} ({response.status_code}): " + "; ".join(problems)


@pytest.fixture
async def clinic(make_tenant, make_user):
    tenant = await make_tenant(plugins=("scheduling",))
    owner = await make_user(tenant, roles=("owner",))
    return tenant, owner


async def test_every_get_route_answers_with_the_security_headers(app, clinic, client_as):
    tenant, owner = clinic
    paths = get_paths(app)
    assert len(paths) > 40, paths  # the route table was read, not an empty list
    statuses = set()
    async with await client_as(tenant, owner) as client:
        for path in paths:
            response = await client.get(path, follow_redirects=False)
            statuses.add(response.status_code)
            assert response.status_code < 500, f"GET {path} answered {response.status_code}"
            assert_security_headers(
                response,
                f"GET {path}",
                cacheable=path.startswith("/static/"),
                viewer=path == "/schema" or path.startswith("/schema/"),
            )
            if path.startswith("/api/"):
                assert "no-store" in response.headers["cache-control"]
    # the sample holds pages that render and answers that refuse
    assert 200 in statuses and statuses & {404, 422}, statuses


async def test_answers_made_before_any_route_get_the_headers_too(app, clinic, client_for):
    tenant, _ = clinic
    async with client_for("no-such-clinic") as client:  # the host middleware's 404
        response = await client.get("/patients")
        assert response.status_code == 404
        assert_security_headers(response, "unknown clinic")
    async with client_for(tenant.slug) as client:
        for path, status in (("/no/such/page", 404), ("/patients", 303), ("/api/patients", 401)):
            response = await client.get(path, follow_redirects=False)
            assert response.status_code == status, path
            assert_security_headers(response, f"anonymous GET {path}")
        response = await client.get("/login")
        assert response.status_code == 200 and "text/html" in response.headers["content-type"]
        assert_security_headers(response, "sign-in page")
        assert "Strict-Transport-Security" not in response.headers  # plain http: no HSTS
    async with client_for(None) as client:  # the platform area
        assert_security_headers(await client.get("/login"), "platform sign-in page")


async def test_hsts_only_over_https(app, clinic):
    tenant, _ = clinic
    async with AsyncTestClient(app=app, base_url=f"https://{tenant.slug}.localhost") as client:
        response = await client.get("/login")
    assert response.status_code == 200
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    assert_security_headers(response, "sign-in page over https")


async def test_pages_carry_no_inline_script(app, clinic, client_as):
    """The CSP forbids inline script; so must the pages (an inline <script> or on*=
    attribute would simply not run in the browser)."""
    tenant, owner = clinic
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=", re.I)
    checked = 0
    async with await client_as(tenant, owner) as client:
        for path in get_paths(app):
            if path.startswith(("/static/", "/api/", "/schema")):
                continue
            response = await client.get(path)
            if "text/html" not in response.headers.get("content-type", ""):
                continue
            checked += 1
            found = inline.search(response.text)
            assert found is None, f"GET {path}: inline script {found.group(0)!r}"
    assert checked > 10
