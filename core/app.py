"""``create_app(settings) -> Litestar``: the whole web app, assembled from plugins.

No module-level app state: each call builds its own plugin registry, database pool and
Redis pool, so tests can run several apps side by side.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from typing import Any

from litestar import Litestar, Router
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from litestar.types import Scope
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core import __version__
from core.auth.guards import public, requires_login
from core.auth.middleware import Authenticator, auth_middleware_factory
from core.auth.sessions import SessionStore
from core.auth.throttle import SignInThrottle
from core.authz.emergency import emergency_offer_handler
from core.authz.enforcer import Authorizer
from core.authz.guards import EmergencyAccessOffered, per_site, requires_operator
from core.db.session import Database
from core.plugins.registry import PluginError, PluginRegistry, flatten
from core.plugins.settings import PluginSettingError, plugin_settings
from core.settings import Settings
from core.web.context import TenantDirectory, request_session, site_of
from core.web.errors import EXCEPTION_HANDLERS
from core.web.hosts import host_middleware_factory
from core.web.json_only import json_only_middleware
from core.web.openapi import declare_shared_responses
from core.web.request_checks import request_checks_middleware
from core.web.schema_scope import scope_renders
from core.web.security_headers import add_security_headers


def build_registry(settings: Settings, extra_plugins: Iterable[Any] = ()) -> PluginRegistry:
    """Load core's builtin plugin, installed entry points and configured modules.

    A broken plugin (core range, missing requirement, misspelt hook, an installation hook
    that raises) is left out with one log line and listed in ``registry.broken`` for the
    platform operator; every other plugin loads, so one plugin cannot stop every clinic.
    """
    from core import builtin

    registry = PluginRegistry()
    registry.load(
        builtin=[(builtin.manifest, builtin)],
        modules=settings.plugin_modules,
        objects=extra_plugins,
        blocked=settings.plugins_blocked,
        strict=False,
    )
    for plugin in registry.plugins.values():
        try:
            plugin_settings(settings, plugin.manifest)  # a bad value stops the boot, named
        except PluginSettingError as exc:
            raise PluginError(str(exc)) from None
    return registry


def plugin_enabled_guard(plugin: str):
    """Routes of ``plugin`` exist only on the sites of tenants that enabled it."""

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        site = site_of(connection)
        if not site.is_tenant or plugin not in site.enabled_plugins:
            raise NotFoundException()

    guard.__name__ = f"plugin_enabled[{plugin}]"
    return guard


async def provide_db_session(state: State, scope: Scope) -> AsyncGenerator[AsyncSession, None]:
    """A session in the request's tenant scope; handlers commit what they change, and what
    they do not commit is rolled back when the handler returns or raises.

    On a clinic's site this is the request's own session (``request_session``), in which
    authentication already looked the caller up: the handler continues that transaction
    on the same connection instead of checking out another.
    """
    shared = request_session(scope)
    if shared is None:
        async with state.db.session() as session:
            yield session
        return
    try:
        yield shared
    finally:
        await shared.close()


def create_app(
    settings: Settings | None = None,
    *,
    registry: PluginRegistry | None = None,
    extra_plugins: Iterable[Any] = (),
) -> Litestar:
    settings = settings or Settings.from_env()
    registry = registry or build_registry(settings, extra_plugins)
    permissions = registry.permissions()  # a plugin outside its namespace fails boot here
    db = Database(settings)
    directory = TenantDirectory(db, registry)
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    sessions = SessionStore(redis) if redis is not None else None
    throttle = SignInThrottle.from_settings(redis, settings) if redis is not None else None

    route_handlers: list[Any] = []
    for name, handlers in registry.call_each("tessera_routes"):
        handlers = flatten([handlers])
        # the error answers every route shares, in the OpenAPI document (core.web.openapi);
        # before the handlers are registered (a router registers copies)
        declare_shared_responses(handlers)
        if registry.is_builtin(name):
            route_handlers.extend(handlers)
        elif handlers:
            route_handlers.append(
                Router(
                    path="/",
                    route_handlers=handlers,
                    guards=[plugin_enabled_guard(name)],
                    opt={"plugin": name},
                )
            )
    for name, dirs in registry.call_each("tessera_static_dirs"):
        dirs = flatten([dirs])
        if dirs:
            route_handlers.append(
                create_static_files_router(
                    path=f"/static/{name}",
                    directories=dirs,
                    name=f"static:{name}",
                    include_in_schema=False,
                    guards=[
                        *([] if registry.is_builtin(name) else [plugin_enabled_guard(name)]),
                        public("static assets"),
                    ],
                )
            )
    template_dirs = [d for _, dirs in registry.call_each("tessera_template_dirs") for d in flatten([dirs])]

    async def close_resources(app: Litestar) -> None:
        await db.dispose()
        if redis is not None:
            await redis.aclose()

    return Litestar(
        route_handlers=route_handlers,
        middleware=[
            request_checks_middleware,  # NUL characters, deep JSON: refused before anything else
            host_middleware_factory(settings.base_domain, directory),
            json_only_middleware,  # before authentication: a form body never reaches it
            auth_middleware_factory(Authenticator(db, sessions)),
        ],
        dependencies={"db_session": Provide(provide_db_session)},
        template_config=TemplateConfig(directory=template_dirs, engine=JinjaTemplateEngine),
        exception_handlers={**EXCEPTION_HANDLERS, EmergencyAccessOffered: emergency_offer_handler},
        openapi_config=scope_renders(
            OpenAPIConfig(
                title="Tessera",
                version=__version__,
                # the API description is for signed-in members (and operators), not the public
                openapi_router=Router(
                    path="/schema",
                    route_handlers=[],
                    guards=[per_site(tenant=requires_login, platform=requires_operator)],
                    include_in_schema=False,
                ),
            )
        ),
        state=State(
            {
                "settings": settings,
                "db": db,
                "registry": registry,
                "directory": directory,
                "permissions": permissions,
                "authz": Authorizer(permissions, registry.roles()),
                "encounter_types": {code: kind.title for code, kind in registry.encounter_types().items()},
                "note_templates": registry.note_templates(),
                "instruments": registry.instruments(),
                "redis": redis,
                "sessions": sessions,
                "throttle": throttle,
            }
        ),
        on_shutdown=[close_resources],
        before_send=[add_security_headers],
        debug=settings.debug,
    )


def create_served_app() -> Litestar:
    """The app as ``tessera serve`` runs it in each worker process (uvicorn's factory).

    Once the worker has started, everything built so far (modules, the app, the plugin
    registry, templates) is moved out of the garbage collector's sight with
    ``gc.freeze()``: the collector's full passes then walk only what requests create,
    instead of every object of the process — those passes were the worker's longest stalls
    (docs/benchmarks.md). Tests use :func:`create_app`, which leaves the collector alone.
    """
    app = create_app()
    app.on_startup.append(_settle_heap)
    return app


def _settle_heap() -> None:
    import gc

    gc.collect()
    gc.freeze()
