"""The JSON API accepts only JSON request bodies.

A browser sends a cross-site ``<form>`` (``application/x-www-form-urlencoded``,
``multipart/form-data`` or ``text/plain``) without asking the target site first; a body of
``application/json`` needs a CORS preflight, which Tessera never grants. So every write
under ``/api/`` (POST, PUT, PATCH, DELETE) whose body is not declared as JSON
(``application/json`` or ``application/<something>+json``) is answered 415 before any
handler, guard or database work runs: another site cannot sign a visitor's browser into an
account (login CSRF) or make any other API call with a form. A write without a body needs
no content type. The HTML forms outside ``/api/`` keep their own CSRF rule
(``core/auth/csrf.py``).
"""

from __future__ import annotations

from litestar.types import ASGIApp, Receive, Scope, Send

from core.web.errors import _body

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_PREFIX = "/api/"
MESSAGE = "Send the request body as JSON, with the header Content-Type: application/json."


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def refuses(scope: Scope) -> bool:
    """Is this an API write whose body is not declared as JSON?"""
    if scope.get("method") not in WRITE_METHODS or not scope.get("path", "").startswith(API_PREFIX):
        return False
    content_type = _header(scope, b"content-type")
    if content_type is not None:
        return not is_json(content_type)
    length = _header(scope, b"content-length")
    has_body = _header(scope, b"transfer-encoding") is not None or (length not in (None, "0"))
    return has_body


def json_only_middleware(app: ASGIApp) -> ASGIApp:
    async def json_only(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not refuses(scope):
            await app(scope, receive, send)
            return
        body, content_type = _body(415, MESSAGE, True)
        await send(
            {
                "type": "http.response.start",
                "status": 415,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return json_only
