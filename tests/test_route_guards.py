"""Meta-test: every route of the app declares who may use it.

Each route handler's resolved guards (app, routers, controller, handler) must include at
least one Tessera guard — a callable carrying ``__tessera_guard__``: ``requires(obj,
action)``, ``requires_login``, ``requires_operator`` and friends, or ``public(reason)``.
Public routes are an explicit allowlist: adding an open route means adding it here, in
review.
"""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from core.app import create_app
from core.auth.guards import public, requires_login
from core.authz.guards import per_site, requires, requires_operator

#: the only routes anyone may call without signing in: (path, reason)
PUBLIC_ROUTES = {
    ("/healthz", "load balancer health check"),
    ("/login", "the sign-in page"),
    ("/login", "the sign-in form"),
    ("/api/auth/login", "sign-in"),
    ("/logout", "signing out"),
    ("/api/auth/logout", "signing out"),
    ("/mfa", "second-factor step of sign-in"),
    ("/api/auth/mfa", "second-factor step of sign-in"),
    ("/account/unlock/{token:str}", "unlock link from a sign-in e-mail"),
    ("/account/setup/{token:str}", "invitation link"),
    ("/invitations/{token:str}", "invitation link"),
    # scheduling: the signed token is the capability (plugins/scheduling/links.py)
    ("/scheduling/link/{purpose:str}/{token:str}", "patient confirm/cancel link from a reminder"),
    ("/scheduling/feeds/{token:str}", "calendar feed: the secret token in the URL is the credential"),
}
#: static files are public (each plugin's under /static/<plugin>/)
STATIC_REASON = "static assets"


def declared_guards(handler) -> list:
    # Litestar wraps sync guards in AsyncCallable; ``func`` is the declared guard
    return [getattr(g, "func", g) for g in handler.resolve_guards()]


def tessera_guards(handler) -> list[str]:
    return [g.__tessera_guard__ for g in declared_guards(handler) if getattr(g, "__tessera_guard__", None)]


def _is_automatic_options(handler) -> bool:
    """Litestar adds an OPTIONS handler per path that only answers the Allow header."""
    return (
        set(getattr(handler, "http_methods", ())) == {"OPTIONS"} and handler.handler_name == "options_handler"
    )


def walk(app: Litestar):
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not _is_automatic_options(handler):
                yield route, handler


def unguarded(app: Litestar) -> list[str]:
    return [
        f"{sorted(getattr(handler, 'http_methods', ['?']))} {route.path} ({handler.handler_name})"
        for route, handler in walk(app)
        if not tessera_guards(handler)
    ]


def public_routes(app: Litestar) -> set[tuple[str, str]]:
    found = set()
    for route, handler in walk(app):
        for guard in tessera_guards(handler):
            if guard.startswith("public: "):
                found.add((route.path, guard.removeprefix("public: ")))
    return found


@pytest.fixture(scope="module")
def full_app(settings, registry):
    return create_app(settings, registry=registry)


def test_every_route_has_a_tessera_guard(full_app):
    routes = list(walk(full_app))
    assert len(routes) > 20  # the walk really saw the app (core, sample plugin, schema)
    assert unguarded(full_app) == []


def test_public_routes_are_exactly_the_allowlist(full_app, registry):
    static = {(route.path, STATIC_REASON) for route, _ in walk(full_app) if route.path.startswith("/static/")}
    assert {path.split("/")[2] for path, _ in static} >= {"core", "sample"}
    assert public_routes(full_app) == PUBLIC_ROUTES | static


def test_plugin_routes_keep_the_enabled_guard_first(full_app):
    """A disabled plugin answers 404 before any sign-in or permission check."""
    for route, handler in walk(full_app):
        if handler.opt.get("plugin") and isinstance(route, HTTPRoute):
            names = [getattr(g, "__name__", "") for g in declared_guards(handler)]
            assert names[0].startswith("plugin_enabled["), (route.path, names)


def test_meta_test_flags_an_unguarded_route(settings):
    """Proof the meta-test bites: a plugin adding a route without a guard is reported."""
    from litestar import get

    from core.app import build_registry
    from core.plugins.manifest import Manifest
    from core.plugins.markers import hookimpl

    @get("/careless/page", name="careless:page")
    async def careless() -> str:
        return "open to all"

    @get("/careless/ok", name="careless:ok", guards=[requires("careless:things", "read")])
    async def guarded() -> str:
        return "fine"

    class Careless:
        manifest = Manifest(name="careless", version="1.0", title="Careless", description="", core=">=0.1")

        @hookimpl
        def tessera_routes(self):
            return [careless, guarded]

    app = create_app(settings, registry=build_registry(settings, extra_plugins=[Careless()]))
    assert [line for line in unguarded(app) if "careless" in line] == ["['GET'] /careless/page (careless)"]


def test_guard_markers():
    assert requires_login.__tessera_guard__ == "login"
    assert requires_operator.__tessera_guard__ == "operator"
    assert requires("x:y", "read").__tessera_guard__ == "x:y read"
    assert public("why").__tessera_guard__ == "public: why"
    combined = per_site(tenant=requires_login, platform=requires_operator)
    assert combined.__tessera_guard__ == "tenant: login; platform: operator"
    with pytest.raises(ValueError):
        public("")
    with pytest.raises(ValueError):
        requires("no-namespace", "read")
    with pytest.raises(ValueError):
        per_site(tenant=lambda c, h: None, platform=requires_operator)
