"""CSRF protection: a synchronizer token kept in the server-side session.

Every unsafe request (POST, PUT, PATCH, DELETE) that arrives with a live session cookie
must carry the session's token, either in the ``X-CSRF-Token`` header (htmx: ``base.html``
puts it in ``hx-headers`` on ``<body>``, so swaps and boosted pages send it) or as the form
field ``_csrf``. Requests authenticated by ``Authorization: Bearer`` are exempt (a browser
never adds that header on its own), and so are requests without a live session (they
carry no ambient authority; the route guards answer them). A missing or wrong token is
answered 403 and written to the audit log (``csrf_rejected``).

It runs as ASGI middleware just inside the authentication middleware, which has already
looked the session up (``scope["state"]["session"]``).
"""

from __future__ import annotations

import hmac
import logging
from urllib.parse import parse_qs

from litestar.types import ASGIApp, Receive, Scope, Send

from core.web.errors import _body, wants_json

log = logging.getLogger("tessera.auth")

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_FIELD = "_csrf"
HEADER = b"x-csrf-token"
#: bodies larger than this are not searched for the form field (send the header instead)
MAX_BODY = 10 * 1024 * 1024
MESSAGE = (
    "This form has expired or did not come from this site, so nothing was changed. "
    "Reload the page and try again."
)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def token_from_body(content_type: str, body: bytes) -> str | None:
    """The ``_csrf`` field of an urlencoded or multipart form body, if any."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        try:
            values = parse_qs(body.decode("utf-8"), keep_blank_values=True).get(FORM_FIELD)
        except UnicodeDecodeError:
            return None
        return values[0] if values else None
    if kind == "multipart/form-data":
        boundary = None
        for param in content_type.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.lower() == "boundary":
                boundary = value.strip('"')
        if not boundary:
            return None
        for part in body.split(b"--" + boundary.encode("latin-1")):
            head, sep, content = part.partition(b"\r\n\r\n")
            if sep and f'name="{FORM_FIELD}"'.encode() in head:
                return content.removesuffix(b"\r\n").decode("utf-8", "replace")
    return None


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """(body, complete): the whole request body, unless it is larger than MAX_BODY."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return b"", False
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), True


async def _reject(scope: Scope, send: Send, db, reason: str) -> None:
    state = scope.get("state", {})
    site = state.get("site")
    where = f"{scope.get('method')} {scope.get('path')}"
    if site is not None and site.is_tenant:
        from core.audit.record import record_now

        await record_now(
            db,
            site.tenant.id,
            action="csrf_rejected",
            resource_type="request",
            resource_id=where,
            outcome="denied",
            reason=reason,
        )
    else:
        log.warning("csrf_rejected on the platform site: %s (%s)", where, reason)
    body, content_type = _body(
        403, MESSAGE, wants_json(scope.get("path", ""), _header(scope, b"accept") or "")
    )
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def csrf_middleware(app: ASGIApp, db) -> ASGIApp:
    async def check_csrf(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in UNSAFE_METHODS:
            await app(scope, receive, send)
            return
        if (_header(scope, b"authorization") or "")[:7].lower() == "bearer ":
            await app(scope, receive, send)
            return
        held = scope.get("state", {}).get("session")
        if held is None:
            await app(scope, receive, send)
            return
        expected = held[1].csrf_token
        supplied = _header(scope, HEADER)
        downstream_receive = receive
        if supplied is None:
            body, complete = await _read_body(receive)
            if complete:
                supplied = token_from_body(_header(scope, b"content-type") or "", body)
            replayed = False

            async def replay() -> dict:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            downstream_receive = replay
        if not supplied:
            await _reject(scope, send, db, "csrf_missing")
            return
        if not expected or not hmac.compare_digest(supplied.encode(), expected.encode()):
            await _reject(scope, send, db, "csrf_mismatch")
            return
        await app(scope, downstream_receive, send)

    return check_csrf
