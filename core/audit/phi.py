"""Marking routes that touch PHI, so a meta-test can demand an audit test for each.

Put ``@phi_route`` above the route decorator (or pass ``opt={"phi": True}`` to it) on every
handler that reads or writes patient data. Such a handler must record an audit event
(``core.audit.record``) in the transaction of the access, and some test must prove it with
``tests.audit_helpers.assert_audited(..., route="<the handler's path>")``;
``tests/test_audit_coverage.py`` fails for a PHI route without one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, TypeVar

from litestar.handlers import HTTPRouteHandler

H = TypeVar("H", bound=HTTPRouteHandler)

PHI_OPT = "phi"
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


def phi_route(handler: H) -> H:
    """Mark a Litestar route handler as touching PHI (apply above ``@get``/``@post``...)."""
    if not isinstance(handler, HTTPRouteHandler):
        raise TypeError("@phi_route goes above the route decorator (@get, @post, ...)")
    handler.opt[PHI_OPT] = True
    return handler


def normalize_path(path: str) -> str:
    """``/api/patients/{patient_id:uuid}`` -> ``/api/patients/{patient_id}``."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path.rstrip("/") or "/")


def phi_routes(app: Any) -> Iterator[tuple[str, str]]:
    """``(method, path)`` of every PHI handler of a Litestar app (paths normalized)."""
    seen: set[tuple[str, str]] = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not handler.opt.get(PHI_OPT):
                continue
            for method in sorted(getattr(handler, "http_methods", ()) or ("GET",)):
                key = (method, normalize_path(route.path))
                if key not in seen:
                    seen.add(key)
                    yield key
