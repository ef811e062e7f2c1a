"""What the OpenAPI document at ``/schema`` says every route may answer besides success.

Handlers declare their own success answer; the error answers come from code every route
shares (the request checks, the host and authentication middleware, the guards, the input
readers, the database refusal handler, the pool timeout), so they are declared here once
and applied to every route of the document by :func:`declare_shared_responses` when the
app is built — a route added tomorrow is described truthfully without anyone remembering.
``tests/test_api_schemathesis.py`` checks the document against the running API.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from litestar import Router
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec


@dataclass
class ErrorBody:
    """The JSON body of every error answer of the API (``core.web.errors``)."""

    status_code: int
    detail: str
    #: the validation problems (``{"errors": [{"field", "reason"}]}``), a conflict's
    #: details, or a machine-readable ``reason`` for 401/403
    extra: dict[str, Any] | list[Any] | None = None


def _spec(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)


#: every route
ALWAYS = {
    400: _spec(
        "Malformed request: a parameter or body of the wrong type, a NUL character, JSON nested too deep"
    ),
    401: _spec("Not signed in, or the token or session is not valid on this clinic's site"),
    403: _spec("Signed in, but the role or the token's scopes do not allow this (or CSRF token missing)"),
    404: _spec("No such record in this clinic, or the feature is not enabled for this clinic"),
    422: _spec("Well-formed but unacceptable values; extra.errors names each field and what is wrong"),
    503: _spec("The server or a service it depends on is busy or unavailable; try again (Retry-After)"),
}
#: routes that change something
WRITES = {
    409: _spec("Conflicts with the current state (a booked slot, a duplicate, a status that cannot follow)"),
}
#: routes that take a request body
BODIES = {
    413: _spec("The request body is too large"),
    415: _spec("The body is not JSON (send Content-Type: application/json)"),
}
#: routes that check a password or a second-factor code (``opt={"throttled": True}``)
THROTTLED = {
    429: _spec(
        "Too many attempts for this account or address: wait Retry-After seconds (the sign-in throttle)"
    ),
}
_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def shared_responses(
    methods: Iterable[str], takes_body: bool, throttled: bool = False
) -> dict[int, ResponseSpec]:
    responses = dict(ALWAYS)
    if throttled:
        responses.update(THROTTLED)
    if set(methods) & _WRITE_METHODS:
        responses.update(WRITES)
    if takes_body:
        responses.update(BODIES)
    return responses


def declare_shared_responses(route_handlers: Iterable[Any]) -> None:
    """Add the shared error answers to each handler in the OpenAPI document (a handler's
    own declaration of a status wins). The document describes the JSON API: a handler with
    no path under ``/api/`` (a page, a form post) is left out of it, since its errors are
    pages for browsers. Called on the handlers a plugin contributes, before they are
    registered; a router's handlers are reached through its routes."""
    for item in route_handlers:
        if isinstance(item, HTTPRouteHandler):
            _declare(item, item.paths)
        elif isinstance(item, Router):
            for route in item.routes:
                for handler in getattr(route, "route_handlers", ()):
                    if isinstance(handler, HTTPRouteHandler):
                        _declare(handler, {route.path})


def _declare(handler: HTTPRouteHandler, paths: Iterable[str]) -> None:
    if handler.include_in_schema is False:
        return
    if not any(path.startswith("/api/") for path in paths):
        handler.include_in_schema = False
        return
    takes_body = "data" in inspect.signature(handler.fn).parameters
    shared = shared_responses(handler.http_methods, takes_body, bool(handler.opt.get("throttled")))
    handler.responses = {**shared, **(handler.responses or {})}
