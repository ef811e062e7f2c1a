"""The ``tessera`` command. Errors print one readable line and exit non-zero."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from core.settings import ConfigurationError, Settings

log = logging.getLogger("tessera.cli")


class CommandError(RuntimeError):
    """A command cannot do what was asked; the message is shown as is."""


def load_settings() -> Settings:
    settings = Settings.from_env()
    if settings.embedded:
        from core.devstack import ensure_services

        settings = ensure_services(settings)
        # Child processes (uvicorn workers, arq) read the environment.
        os.environ["TESSERA_DATABASE_URL"] = settings.database_url
        os.environ["TESSERA_REDIS_URL"] = settings.redis_url
        os.environ["TESSERA_SECRET_KEY"] = settings.secret_key
    return settings


def _registry(settings: Settings):
    from core.app import build_registry

    return build_registry(settings)


def _migration_dirs(registry) -> list:
    from core.plugins.registry import flatten

    return [d for _, dirs in registry.call_each("tessera_migration_dirs") for d in flatten([dirs])]


# -- db ------------------------------------------------------------------------------


def cmd_db_init(args, settings: Settings) -> None:
    from core.db.admin import init_database

    done = asyncio.run(init_database(settings))
    print("\n".join(done) if done else "database and roles already in place")


def cmd_db_upgrade(args, settings: Settings) -> None:
    from core.db.admin import upgrade

    registry = _registry(settings)
    upgrade(settings, _migration_dirs(registry))
    print(
        "database is at the latest revision of core and: "
        + (", ".join(m.name for m in registry.optional()) or "no plugins")
    )


def cmd_db_downgrade(args, settings: Settings) -> None:
    from core.db.admin import downgrade_plugin

    registry = _registry(settings)
    try:
        branch = downgrade_plugin(settings, _migration_dirs(registry), args.plugin)
    except LookupError as exc:
        raise CommandError(str(exc)) from None
    print(
        f"undid the {args.plugin} branch ({len(branch)} revisions); core and the other plugins are unchanged"
    )


# -- tenants -------------------------------------------------------------------------


async def _with_session(settings: Settings, fn: Callable):
    from core.db.session import Database

    db = Database(settings, pool_size=1)
    try:
        async with db.session() as session:
            result = await fn(session)
            await session.commit()
            return result
    finally:
        await db.dispose()


def cmd_tenants_create(args, settings: Settings) -> None:
    from core.lifecycle.presets import apply_preset, get_preset
    from core.lifecycle.registry import create_tenant

    registry = _registry(settings)
    preset = get_preset(args.preset) if args.preset else None

    async def run(session):
        tenant = await create_tenant(
            session,
            slug=args.slug,
            name=args.name,
            time_zone=args.time_zone,
            preset=preset.name if preset else None,
        )
        report = await apply_preset(session, registry, tenant, preset) if preset else None
        return tenant, report

    tenant, report = asyncio.run(_with_session(settings, run))
    print(
        f"created tenant {tenant.slug} ({tenant.name}) at http://{tenant.slug}.{settings.base_domain}:{settings.port}"
    )
    if report:
        print("enabled plugins: " + (", ".join(report.enabled) or "none"))
        for name in report.not_installed:
            print(f"preset {preset.name!r} names plugin {name!r}, which is not installed; skipped")
        for name, why in report.failed.items():
            print(f"plugin {name!r} was not enabled: {why}")


def cmd_tenants_list(args, settings: Settings) -> None:
    from core.lifecycle.plugins import enabled_plugins
    from core.lifecycle.registry import list_tenants

    async def run(session):
        out = []
        for tenant in await list_tenants(session):
            out.append((tenant, await enabled_plugins(session, tenant)))
            await session.commit()
        return out

    rows = asyncio.run(_with_session(settings, run))
    if args.json:
        print(
            json.dumps(
                [
                    {"slug": t.slug, "name": t.name, "status": t.status, "preset": t.preset, "plugins": p}
                    for t, p in rows
                ],
                indent=2,
            )
        )
        return
    if not rows:
        print("no tenants yet: `tessera tenants create --slug S --name N`")
    for tenant, plugins in rows:
        print(
            f"{tenant.slug:<24} {tenant.status:<10} {tenant.preset or '-':<15} {tenant.name}  [{', '.join(plugins)}]"
        )


def _cmd_tenant_status(status: str):
    def cmd(args, settings: Settings) -> None:
        from core.lifecycle.registry import get_tenant, set_status

        async def run(session):
            await set_status(session, await get_tenant(session, args.tenant), status)

        asyncio.run(_with_session(settings, run))
        print(f"tenant {args.tenant} is now {status}")

    return cmd


def cmd_tenants_export(args, settings: Settings) -> None:
    from core.lifecycle.export import export_tenant

    report = asyncio.run(export_tenant(settings, args.tenant, args.out))
    print(
        f"exported {args.tenant}: {report.total} rows from {len(report.counts)} tables to {report.path} "
        "(mode 0600; the export is recorded in the tenant's audit log)"
    )


def cmd_tenants_purge(args, settings: Settings) -> None:
    from core.lifecycle.purge import purge_tenant

    def confirm(plan) -> bool:
        print(
            f"This removes tenant {plan.slug} ({plan.name}) and all {plan.total} of its rows from "
            f"{len(plan.counts)} tables. {plan.export.path} (exported {plan.export.exported_at}) "
            "still matches them."
        )
        if args.yes:
            return True
        try:
            typed = input(f"Type the slug ({plan.slug}) to purge it: ")
        except EOFError:
            return False
        return typed.strip() == plan.slug

    report = asyncio.run(purge_tenant(settings, args.tenant, args.export, confirm=confirm))
    print(f"purged {report.slug}: {sum(report.deleted.values())} rows from {len(report.deleted)} tables")
    print(
        f"{report.users} user account(s) were members; users are global and were kept "
        f"({report.users_without_other_clinic} of them now belong to no clinic)"
    )
    if report.sessions_cleared is not None:
        print(f"cleared {report.sessions_cleared} session(s) of {report.slug}")
    for note in report.notes:
        print(note)


# -- plugins -------------------------------------------------------------------------


def cmd_plugins_list(args, settings: Settings) -> None:
    registry = _registry(settings)
    enabled: set[str] = set()
    if args.tenant:
        from core.lifecycle.plugins import enabled_plugins
        from core.lifecycle.registry import get_tenant

        async def run(session):
            return await enabled_plugins(session, await get_tenant(session, args.tenant))

        enabled = set(asyncio.run(_with_session(settings, run)))
    manifests = registry.optional()
    if not manifests:
        print("no plugins installed")
    for m in manifests:
        mark = ("on " if m.name in enabled else "off") if args.tenant else ""
        requires = f" (requires {', '.join(m.requires)})" if m.requires else ""
        print(f"{mark} {m.name:<16} {m.version:<10} {m.title}{requires}".strip())


def cmd_plugins_enable(args, settings: Settings) -> None:
    from core.lifecycle.plugins import enable_plugin
    from core.lifecycle.registry import get_tenant

    registry = _registry(settings)
    try:
        config = json.loads(args.config) if args.config else None
    except json.JSONDecodeError as exc:
        raise CommandError(f"--config is not valid JSON: {exc}") from None

    async def run(session):
        await enable_plugin(session, registry, await get_tenant(session, args.tenant), args.name, config)

    asyncio.run(_with_session(settings, run))
    print(f"enabled {args.name} for {args.tenant}")


def cmd_plugins_disable(args, settings: Settings) -> None:
    from core.lifecycle.plugins import disable_plugin
    from core.lifecycle.registry import get_tenant

    registry = _registry(settings)

    async def run(session):
        await disable_plugin(session, registry, await get_tenant(session, args.tenant), args.name)

    asyncio.run(_with_session(settings, run))
    print(f"disabled {args.name} for {args.tenant} (its data is kept)")


def cmd_plugins_uninstall(args, settings: Settings) -> None:
    from core.db.admin import downgrade_plugin
    from core.lifecycle.uninstall import check_installed, forget_tenant_settings, plugin_usage, refusal

    registry = _registry(settings)
    check_installed(registry, args.name)
    usage = asyncio.run(plugin_usage(settings, registry, args.name))
    reason = refusal(args.name, usage, args.drop_tables)
    if reason:
        raise CommandError(reason)
    downgrade_plugin(settings, _migration_dirs(registry), args.name)
    forgotten = asyncio.run(forget_tenant_settings(settings, args.name))
    dropped = f"dropped {', '.join(usage.tables)}" if usage.tables else "it had no tables"
    print(
        f"uninstalled {args.name} from the database ({dropped}; forgot {forgotten} tenant setting(s)); "
        "now remove its package (pip uninstall) and restart"
    )


def cmd_plugins_settings(args, settings: Settings) -> None:
    from core.plugins.settings import plugin_settings

    registry = _registry(settings)
    rows = [
        (setting.variable(p.manifest.name), plugin_settings(settings, p.manifest)[setting.name], setting)
        for p in registry.plugins.values()
        for setting in p.manifest.settings
    ]
    if not rows:
        print("no plugin declares settings")
    for variable, value, setting in rows:
        print(f"{variable} = {value!r} (default {setting.default!r}) {setting.description}".rstrip())


def cmd_plugins_new(args, settings: Settings) -> None:
    from core.plugins.new_plugin import NewPluginError, write_plugin

    try:
        target = write_plugin(args.name, Path(args.dir))
    except NewPluginError as exc:
        raise CommandError(str(exc)) from None
    print(f"wrote {target}; run its tests there with: python -m pytest -q")


# -- processes -----------------------------------------------------------------------


def cmd_serve(args, settings: Settings) -> None:
    import uvicorn

    _registry(settings)  # fail here, readably, if a plugin cannot load
    # the app's default public address (Settings.site_url) names the port it really serves on
    os.environ["TESSERA_PORT"] = str(args.port or settings.port)
    uvicorn.run(
        "core.app:create_served_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers,
        log_level="info",
        proxy_headers=True,
        access_log=False,
    )


def cmd_worker(args, settings: Settings) -> None:
    from core.jobs.worker import run_worker

    run_worker(settings)


def cmd_dev(args, settings: Settings) -> None:
    from core.devserver import run_dev

    run_dev(settings, port=args.port or settings.port)


def cmd_dev_stop(args, settings: Settings) -> None:
    from core.devstack import stop_services

    stopped = stop_services(Settings.from_env())
    print("stopped: " + (", ".join(stopped) or "nothing was running"))


# -- parser --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tessera", description="Tessera EMR platform")
    sub = parser.add_subparsers(dest="group", required=True)

    db = sub.add_parser("db", help="database setup").add_subparsers(dest="cmd", required=True)
    db.add_parser("init", help="create the database and the app roles").set_defaults(fn=cmd_db_init)
    db.add_parser("upgrade", help="apply core's and every plugin's migrations").set_defaults(
        fn=cmd_db_upgrade
    )
    down = db.add_parser("downgrade", help="undo one plugin's migrations (its tables go)")
    down.add_argument("--plugin", required=True, metavar="NAME", help="the plugin whose branch to undo")
    down.set_defaults(fn=cmd_db_downgrade)

    tenants = sub.add_parser("tenants", help="manage tenants").add_subparsers(dest="cmd", required=True)
    create = tenants.add_parser("create", help="create a tenant")
    create.add_argument("--slug", required=True, help="web address label: <slug>.<base domain>")
    create.add_argument("--name", required=True)
    create.add_argument("--preset", help="practice-type preset (core/lifecycle/presets/*.toml)")
    create.add_argument("--time-zone", default="UTC", help="IANA time zone, e.g. America/Chicago")
    create.set_defaults(fn=cmd_tenants_create)
    lst = tenants.add_parser("list", help="list tenants")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(fn=cmd_tenants_list)
    for name, status in (("suspend", "suspended"), ("resume", "active")):
        p = tenants.add_parser(name, help=f"mark a tenant {status}")
        p.add_argument("--tenant", required=True, metavar="SLUG")
        p.set_defaults(fn=_cmd_tenant_status(status))
    export = tenants.add_parser(
        "export", help="write all of a tenant's data to a JSON bundle (docs/export.md)"
    )
    export.add_argument("--tenant", required=True, metavar="SLUG")
    export.add_argument("--out", required=True, metavar="FILE", help="a new file (never overwritten)")
    export.set_defaults(fn=cmd_tenants_export)
    purge = tenants.add_parser("purge", help="remove a suspended tenant and all its rows, after an export")
    purge.add_argument("--tenant", required=True, metavar="SLUG")
    purge.add_argument(
        "--export", required=True, metavar="FILE", help="an export of this tenant that still matches"
    )
    purge.add_argument("--yes", action="store_true", help="do not ask to type the slug (for scripts)")
    purge.set_defaults(fn=cmd_tenants_purge)

    plugins = sub.add_parser("plugins", help="installed plugins and per-tenant enabling").add_subparsers(
        dest="cmd", required=True
    )
    pl = plugins.add_parser("list", help="list installed plugins")
    pl.add_argument("--tenant", metavar="SLUG", help="also show which are on for this tenant")
    pl.set_defaults(fn=cmd_plugins_list)
    plugins.add_parser(
        "settings", help="the installed plugins' TESSERA_<PLUGIN>_* settings and their values"
    ).set_defaults(fn=cmd_plugins_settings)
    new = plugins.add_parser("new", help="write a new plugin package (model, page, JSON route, tests)")
    new.add_argument("name", help="the plugin's name, e.g. acme_notes")
    new.add_argument("--dir", default=".", help="the folder to write tessera-<name> into")
    new.set_defaults(fn=cmd_plugins_new)
    for name, fn in (("enable", cmd_plugins_enable), ("disable", cmd_plugins_disable)):
        p = plugins.add_parser(name, help=f"{name} a plugin for a tenant")
        p.add_argument("name")
        p.add_argument("--tenant", required=True, metavar="SLUG")
        if name == "enable":
            p.add_argument("--config", help="the tenant's configuration of the plugin, as JSON")
        p.set_defaults(fn=fn)
    un = plugins.add_parser(
        "uninstall", help="undo an installed plugin's migrations before removing its package"
    )
    un.add_argument("name")
    un.add_argument("--drop-tables", action="store_true", help="drop its tables even when they hold rows")
    un.set_defaults(fn=cmd_plugins_uninstall)

    serve = sub.add_parser("serve", help="serve the web app")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(fn=cmd_serve)
    sub.add_parser("worker", help="run the arq job worker").set_defaults(fn=cmd_worker)

    from core.audit import cli as audit_cli
    from core.auth import cli as auth_cli
    from core.messaging import cli as messages_cli

    auth_cli.register(sub)
    audit_cli.register(sub)
    messages_cli.register(sub)

    dev = sub.add_parser("dev", help="development stack").add_subparsers(dest="cmd", required=True)
    run = dev.add_parser("run", help="start services, migrate, seed, serve web + worker (make run)")
    run.add_argument("--port", type=int)
    run.set_defaults(fn=cmd_dev)
    dev.add_parser("stop", help="stop the embedded PostgreSQL and Redis").set_defaults(fn=cmd_dev_stop)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("tessera").setLevel(logging.INFO)
    args = build_parser().parse_args(argv)
    from core.lifecycle.errors import TenantError
    from core.plugins.registry import PluginError
    from core.tenancy.context import TenantScopeError

    try:
        settings = load_settings() if args.fn not in (cmd_dev_stop, cmd_plugins_new) else Settings.from_env()
        args.fn(args, settings)
    except (CommandError, ConfigurationError, PluginError, TenantError, TenantScopeError) as exc:
        print(f"tessera: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"tessera: {exc.strerror or exc} (is the database/Redis reachable?)", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
