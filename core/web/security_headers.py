"""Security headers on every response (a Litestar ``before_send`` hook, so answers made
before any route matched — a 404 from the host middleware, an unknown path, a 503 — get
them as well).

* ``Content-Security-Policy``: scripts and style sheets only from this site (no inline
  script, no ``eval``: htmx runs with ``allowEval: false`` and without its injected
  indicator style); ``style`` *attributes* stay allowed (``style-src-attr``) because the
  calendar places appointments with computed grid rows; no framing (``frame-ancestors
  'none'``), no plugins, no ``<base>``.
* ``X-Frame-Options: DENY`` for browsers without ``frame-ancestors``.
* ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin`` (links in
  patient pages never tell another site which chart they came from).
* ``Cache-Control: no-store`` on everything except static assets: pages and API answers
  may carry PHI and must not be kept by the browser or a proxy.
* ``Strict-Transport-Security`` when the request came over https (``X-Forwarded-Proto``
  from a trusted proxy counts: ``tessera serve`` runs uvicorn with proxy headers on).
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
#: The API viewers Litestar serves under ``/schema`` (Swagger UI, ReDoc, RapiDoc, Elements,
#: for signed-in members only; no patient data) are third-party pages that load their
#: scripts from CDNs and start them inline. They get a policy of their own that allows
#: that; every page of the app itself keeps the strict one above.
API_VIEWER_PREFIX = "/schema"
API_VIEWER_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com https://cdn.redoc.ly",
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com https://fonts.googleapis.com",
        "font-src 'self' https://fonts.gstatic.com",
        "img-src 'self' data: https:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
HSTS = "max-age=31536000; includeSubDomains"

_ALWAYS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)

#: paths whose answers may be cached (vendored, non-personal assets)
CACHEABLE_PREFIXES = ("/static/",)


async def add_security_headers(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in _ALWAYS:
        headers[name] = value
    path = scope.get("path", "")
    if path == API_VIEWER_PREFIX or path.startswith(API_VIEWER_PREFIX + "/"):
        headers["Content-Security-Policy"] = API_VIEWER_POLICY
    if not path.startswith(CACHEABLE_PREFIXES):
        headers["Cache-Control"] = "no-store"
    if scope.get("scheme") == "https":
        headers["Strict-Transport-Security"] = HSTS
