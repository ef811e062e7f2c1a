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
    if not scope.get("path", "").startswith(CACHEABLE_PREFIXES):
        headers["Cache-Control"] = "no-store"
    if scope.get("scheme") == "https":
        headers["Strict-Transport-Security"] = HSTS
