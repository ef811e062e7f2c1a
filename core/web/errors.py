"""Errors as people see them: a short message that says what to do, never a traceback.

``/api/`` paths and clients that ask for JSON get ``{"status_code", "detail"}``; browsers
get a small HTML page. Unexpected exceptions are logged by type and location only (their
message may carry patient data) and answered with a generic 500.
"""

from __future__ import annotations

import html
import json
import logging
import traceback

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import Scope, Send
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger("tessera.errors")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/core/tessera.css"></head>
<body><main class="error-page"><h1>{title}</h1><p>{message}</p></main></body></html>
"""

_TITLES = {
    400: "Bad request",
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    415: "Unsupported content type",
    422: "Check the form",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Busy",
}


def wants_json(path: str, accept: str) -> bool:
    return path.startswith("/api/") or ("application/json" in accept and "text/html" not in accept)


def _body(status: int, message: str, as_json: bool, extra: dict | None = None) -> tuple[bytes, str]:
    if as_json:
        payload = {"status_code": status, "detail": message}
        if extra:
            payload["extra"] = extra
        return json.dumps(payload).encode(), "application/json"
    title = _TITLES.get(status, "Error")
    page = _PAGE.format(title=html.escape(title), message=html.escape(message))
    return page.encode(), "text/html; charset=utf-8"


async def send_error(scope: Scope, send: Send, status: int, message: str) -> None:
    """Answer an error straight from ASGI middleware (before any handler runs)."""
    accept = ""
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            accept = value.decode("latin-1")
    body, content_type = _body(status, message, wants_json(scope.get("path", ""), accept))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_not_found(scope: Scope, send: Send, message: str) -> None:
    """Answer 404 straight from ASGI middleware (before any handler runs)."""
    await send_error(scope, send, 404, message)


def _respond(request: Request, status: int, message: str, extra: dict | None = None) -> Response:
    as_json = wants_json(request.url.path, request.headers.get("accept", ""))
    body, content_type = _body(status, message, as_json, extra)
    # the bare media type: Litestar adds "; charset=utf-8" to text/* itself
    return Response(content=body, status_code=status, media_type=content_type.split(";", 1)[0])


def http_exception_handler(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if status == 401 and not wants_json(request.url.path, request.headers.get("accept", "")):
        return _to_sign_in(request, exc)
    if (
        status == 403
        and isinstance(exc.extra, dict)
        and exc.extra.get("reason") == "mfa_enrolment_required"
        and not wants_json(request.url.path, request.headers.get("accept", ""))
    ):
        return _to_enrolment(request)
    message = (
        exc.detail
        if exc.detail and exc.detail != _default_detail(status)
        else {
            404: "There is nothing at this address.",
            405: "This address does not accept that kind of request.",
        }.get(status, exc.detail or _TITLES.get(status, "Error"))
    )
    extra = None
    if isinstance(exc, ValidationException) and exc.extra:
        extra = {"errors": exc.extra}
    elif status == 409 and isinstance(exc.extra, dict) and exc.extra:
        # what a conflict is with (the booked appointment, the allowed next statuses), so
        # a client can show or link it; the raising code chooses what goes in
        extra = exc.extra
    elif isinstance(exc.extra, dict) and exc.extra.get("reason"):
        # a machine-readable reason for 401/403 (e.g. mfa_required, mfa_enrolment_required)
        extra = {"reason": str(exc.extra["reason"])}
    return _respond(request, status, str(message), extra)


def _to_sign_in(request: Request, exc: HTTPException) -> Response:
    """Browsers are sent to the sign-in page (htmx requests via HX-Redirect)."""
    from urllib.parse import urlencode

    reason = (exc.extra or {}).get("reason") if isinstance(exc.extra, dict) else None
    target = "/mfa" if reason == "mfa_required" else "/login"
    query = {"next": request.url.path}
    if reason:
        query["reason"] = reason
    location = f"{target}?{urlencode(query)}"
    if request.headers.get("hx-request"):
        return Response(content=b"", status_code=401, headers={"HX-Redirect": location})
    return Response(content=b"", status_code=303, headers={"Location": location})


def _to_enrolment(request: Request) -> Response:
    """The clinic requires a second factor this user has not set up: browsers go to the
    enrolment page (htmx requests via HX-Redirect)."""
    from urllib.parse import urlencode

    location = "/account/mfa?" + urlencode({"next": request.url.path})
    if request.headers.get("hx-request"):
        return Response(content=b"", status_code=403, headers={"HX-Redirect": location})
    return Response(content=b"", status_code=303, headers={"Location": location})


def _default_detail(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _route(request: Request) -> str:
    """The handler's name (or the path when no route matched) for a log line."""
    handler = request.scope.get("route_handler")
    return handler.handler_name if handler else request.url.path


def internal_error_handler(request: Request, exc: Exception) -> Response:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f"{frame.filename}:{frame.lineno}" if frame else "?"
    # The exception's message is not logged: it may quote patient data.
    log.error("unhandled %s at %s on %s %s", type(exc).__name__, where, request.method, _route(request))
    return _respond(
        request,
        500,
        "Something went wrong on our side. It has been logged; "
        "please try again, and tell your administrator if it keeps happening.",
    )


def pool_timeout_handler(request: Request, exc: PoolTimeout) -> Response:
    """Every database connection of this process stayed busy for ``TESSERA_DB_POOL_TIMEOUT``
    seconds: the request did nothing, so it is safe to send again."""
    log.warning("no free database connection for %s %s", request.method, _route(request))
    response = _respond(
        request,
        503,
        "The server is busy right now and did not handle this request. Please try again in a moment.",
    )
    response.headers["Retry-After"] = "1"
    return response


#: seconds a client is asked to wait when a database or Redis is unreachable
OUTAGE_RETRY_AFTER = 5


def _database_unreachable(exc: DBAPIError) -> bool:
    """A DBAPI error that means "no working connection", not "this statement failed"."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    cause = getattr(orig, "__cause__", None) or orig
    return isinstance(
        cause,
        OSError
        | asyncpg.exceptions.PostgresConnectionError
        | asyncpg.exceptions.InterfaceError
        | asyncpg.exceptions.CannotConnectNowError,
    )


def outage_response(request: Request, exc: Exception) -> Response:
    """PostgreSQL or Redis is unreachable (refused, reset, timed out): the request could not
    be handled and nothing was changed that the database kept, so answer 503 with
    Retry-After instead of a 500. Token and session requests alike."""
    log.warning("dependency unreachable (%s) on %s %s", type(exc).__name__, request.method, _route(request))
    response = _respond(
        request,
        503,
        "The service is briefly unavailable and did not handle this request. Please try again in a moment.",
    )
    response.headers["Retry-After"] = str(OUTAGE_RETRY_AFTER)
    return response


def database_error_handler(request: Request, exc: DBAPIError) -> Response:
    if _database_unreachable(exc):
        return outage_response(request, exc)
    return internal_error_handler(request, exc)


def connection_error_handler(request: Request, exc: Exception) -> Response:
    """Redis errors, the ``OSError`` asyncpg raises when PostgreSQL refuses a connection and
    asyncpg's own "connection is closed" errors when one dies under a request."""
    if isinstance(
        exc,
        RedisConnectionError
        | RedisTimeoutError
        | ConnectionError
        | TimeoutError
        | asyncpg.exceptions.InterfaceError
        | asyncpg.exceptions.PostgresConnectionError,
    ):
        return outage_response(request, exc)
    return internal_error_handler(request, exc)


#: What the database refused, by SQLSTATE class or code: the client sent a reference or a
#: value that passed the route's own checks but not the schema's (a row deleted meanwhile,
#: a race between two requests, a check no route repeats).
_REFUSED = {
    "23503": (422, "The request refers to a record that does not exist in this clinic (any more)."),
    "23505": (409, "This conflicts with a record that already exists."),
    "23P01": (409, "This conflicts with a record that already exists."),
    "23514": (422, "A value of the request is not acceptable."),
    "23502": (422, "A required value is missing."),
}


def database_refusal_handler(request: Request, exc: IntegrityError | DataError) -> Response:
    """The database refused a value or a reference: a 4xx, never a 500. Every route is
    covered, so a check a handler forgot answers as a client error; the transaction is
    rolled back (the request's session is closed without a commit). Logged with the
    SQLSTATE and the route only: the driver's message quotes the refused values."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or ""
    status, message = _REFUSED.get(
        code, (422, "A value of the request cannot be stored; check the values sent.")
    )
    log.warning(
        "database refused %s (%s) on %s %s", type(exc).__name__, code, request.method, _route(request)
    )
    return _respond(request, status, message)


EXCEPTION_HANDLERS = {
    RedisConnectionError: connection_error_handler,
    RedisTimeoutError: connection_error_handler,
    OSError: connection_error_handler,
    asyncpg.exceptions.InterfaceError: connection_error_handler,
    asyncpg.exceptions.PostgresConnectionError: connection_error_handler,
    DBAPIError: database_error_handler,
    HTTPException: http_exception_handler,
    IntegrityError: database_refusal_handler,
    DataError: database_refusal_handler,
    PoolTimeout: pool_timeout_handler,
    Exception: internal_error_handler,
}
