"""``tessera dev run`` (``make run``): one command from a fresh clone to a running platform.

1. bring the database up to date: create it and the roles (``tessera db init``), apply
   core's and every installed plugin's migrations (``tessera db upgrade``);
2. create the three demo tenants of ``core/demo.py`` (skipping those that exist) with their
   practice-type presets, then let core's builtin plugin and every plugin each of them
   enabled add its demonstration data (``tessera_demo_data``, which is idempotent);
3. run the web server and the job worker as two child processes until Ctrl-C or SIGTERM;
   if either dies, stop the other and exit non-zero.

The settings arrive with database and Redis URLs: ``load_settings`` has already started the
embedded servers for unset ones and exported the URLs, so the children inherit them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import unquote

from core.demo import (
    DEMO_OPERATOR,
    DEMO_PASSWORD,
    DEMO_SHARED_BILLER,
    DEMO_TENANTS,
    demo_email,
    seed_demo_operator,
)
from core.settings import REPO_ROOT, Settings
from core.supervisor import Supervisor

#: Seconds the children get to finish after SIGTERM before they are killed.
STOP_GRACE_SECONDS = 15
#: Seconds to wait for the web server's health check before saying so.
READY_TIMEOUT_SECONDS = 90


def say(message: str = "") -> None:
    print(f"[tessera dev] {message}" if message else "", flush=True)


# -- database ------------------------------------------------------------------------


def prepare_database(settings: Settings, registry) -> None:
    """``tessera db init`` + ``tessera db upgrade``, both idempotent."""
    from core.db.admin import init_database, upgrade
    from core.plugins.registry import flatten

    done = asyncio.run(init_database(settings))
    for line in done:
        say(line)
    dirs = [d for _, found in registry.call_each("tessera_migration_dirs") for d in flatten([found])]
    upgrade(settings, dirs)
    installed = ", ".join(m.name for m in registry.optional()) or "no plugins installed"
    say(f"database is at the latest revision (core; {installed})")


async def seed_demo_tenants(settings: Settings, registry) -> list[str]:
    """Create the demo tenants that do not exist yet, then refresh every one's demo data.

    Returns the slugs of the demo tenants (existing and new).
    """
    from sqlalchemy import select

    from core.db.session import Database
    from core.lifecycle.errors import TenantError
    from core.lifecycle.plugins import enabled_plugins
    from core.lifecycle.presets import apply_preset, get_preset
    from core.lifecycle.registry import create_tenant
    from core.tenancy.context import tenant_scope
    from core.tenancy.models import Tenant

    db = Database(settings, pool_size=1)
    slugs = []
    try:
        for demo in DEMO_TENANTS:
            async with db.session() as session:
                tenant = await session.scalar(select(Tenant).where(Tenant.slug == demo.slug))
                if tenant is None:
                    preset = get_preset(demo.preset)
                    try:
                        tenant = await create_tenant(
                            session,
                            slug=demo.slug,
                            name=demo.name,
                            time_zone=demo.time_zone,
                            preset=preset.name,
                        )
                    except TenantError:
                        # Another process created it between our look-up and insert.
                        tenant = await session.scalar(select(Tenant).where(Tenant.slug == demo.slug))
                        if tenant is None:
                            raise
                    else:
                        report = await apply_preset(session, registry, tenant, preset)
                        await session.commit()
                        say(
                            f"created demo tenant {demo.slug} ({demo.name}), preset {preset.name}: "
                            f"enabled {', '.join(report.enabled) or 'no plugins'}"
                        )
                        if report.not_installed:
                            say(f"  not installed, skipped: {', '.join(report.not_installed)}")
                        for name, why in report.failed.items():
                            say(f"  plugin {name} was not enabled: {why}")
                else:
                    added = await enable_newly_installed(session, registry, tenant, get_preset(demo.preset))
                    await session.commit()
                    if added:
                        say(f"demo tenant {demo.slug} exists; enabled newly installed {', '.join(added)}")
                    else:
                        say(f"demo tenant {demo.slug} exists; left as it is")
            slugs.append(demo.slug)

            with tenant_scope(tenant.id):
                async with db.session() as session:
                    enabled = await enabled_plugins(session, tenant)
                    hooks = registry.for_tenant(enabled)
                    await hooks.collect("tessera_demo_data", tenant=tenant, session=session, hooks=hooks)
                    await session.commit()
        await seed_demo_operator(db)
    finally:
        await db.dispose()
    return slugs


async def enable_newly_installed(session, registry, tenant, preset) -> list[str]:
    """Enable the preset's plugins installed since the demo tenant was made: those the
    tenant never had (a plugin it once had and a developer disabled stays off)."""
    from sqlalchemy import select

    from core.lifecycle.plugins import enable_plugin
    from core.tenancy.context import tenant_scope
    from core.tenancy.models import TenantPlugin

    with tenant_scope(tenant.id):
        known = set(await session.scalars(select(TenantPlugin.plugin)))
    added = []
    for name in preset.plugins:
        if name in registry.plugins and name not in known:
            await enable_plugin(session, registry, tenant, name)
            added.append(name)
    return added


# -- processes -----------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the child gets SIGTERM if ``tessera dev run`` itself is killed outright."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _child_env(settings: Settings, port: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if port is not None:
        # The worker writes links into reminders with no request to copy the address from:
        # without TESSERA_PUBLIC_URL it builds them from TESSERA_PORT, so it must be the
        # port the web process really serves on, not the default.
        env["TESSERA_PORT"] = str(port)
    env["TESSERA_DATABASE_URL"] = settings.database_url
    env["TESSERA_REDIS_URL"] = settings.redis_url
    # One key for both processes (otherwise each would pick its own random one).
    env["TESSERA_SECRET_KEY"] = settings.secret_key
    # The services are up; the children need not try to start them again.
    env.pop("TESSERA_EMBEDDED", None)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _start(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
    # Each child leads its own process group: a Ctrl-C in the terminal reaches only this
    # process, which then stops the children in order (and their own children with them).
    return subprocess.Popen(
        [sys.executable, "-m", "core.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        process_group=0,
        preexec_fn=_die_with_parent,  # single-threaded here, so preexec_fn is safe
    )


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_children(children: dict[str, subprocess.Popen]) -> None:
    for proc in children.values():
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for name, proc in children.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop within {STOP_GRACE_SECONDS} s; killing it")
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _embedded_note(settings: Settings) -> list[str]:
    """Which of the two services run embedded under the data folder."""
    data_dir = settings.data_dir.resolve()
    embedded = []
    pid_file = data_dir / "postgres" / "postmaster.pid"
    if pid_file.exists():
        lines = pid_file.read_text().splitlines()
        socket_dir = lines[4] if len(lines) > 4 else ""
        if socket_dir and socket_dir in unquote(settings.database_url):
            embedded.append("PostgreSQL")
    redis_pid = data_dir / "redis" / "redis.pid"
    if settings.redis_url.startswith("unix://") and redis_pid.exists():
        embedded.append("Redis")
    return embedded


def _banner(settings: Settings, port: int, slugs: list[str]) -> None:
    base = settings.base_domain
    say()
    say(f"platform:  http://{base}:{port}/")
    for slug in slugs:
        say(f"tenant:    http://{slug}.{base}:{port}/")
    embedded = _embedded_note(settings)
    if embedded:
        say(
            f"data:      embedded {' and '.join(embedded)} keep their data in {settings.data_dir} "
            "(TESSERA_DATA_DIR); they keep running after Ctrl-C - `make stop` stops them"
        )
    else:
        say("data:      in the PostgreSQL and Redis named by TESSERA_DATABASE_URL / TESSERA_REDIS_URL")
    _print_demo_logins(base, port, slugs)
    say("Ctrl-C stops the web server and the worker.")
    say()


def _print_demo_logins(base: str, port: int, slugs: list[str]) -> None:
    by_slug = {demo.slug: demo for demo in DEMO_TENANTS}
    say()
    say(f"demo logins - password for all: {DEMO_PASSWORD}")
    say("  (a development password printed for local use only: never use these accounts on a")
    say("   server anyone else can reach)")
    for slug in slugs:
        demo = by_slug.get(slug)
        if demo is None:
            continue
        emails = ", ".join(f"{demo_email(role, slug)} ({role.replace('_', ' ')})" for role, _ in demo.staff)
        say(f"  http://{slug}.{base}:{port}/login  {emails}")
    say(f"  {DEMO_SHARED_BILLER[0]} is a biller in every demo clinic (try the clinic switcher)")
    say(f"  http://{base}:{port}/login  {DEMO_OPERATOR[0]} (platform operator)")
    say()


def run_dev(settings: Settings, port: int) -> None:
    """Prepare the database and demo tenants, then run web + worker until stopped."""
    from core.app import build_registry

    host = settings.host
    if not _port_free(host, port):
        raise SystemExit(
            f"tessera: port {port} on {host} is in use (another `make run`?); "
            "choose another with TESSERA_PORT=8001 make run"
        )

    registry = build_registry(settings)
    prepare_database(settings, registry)
    slugs = asyncio.run(seed_demo_tenants(settings, registry))

    stopping: list[int] = []

    def request_stop(signum, _frame) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    env = _child_env(settings, port)
    children: dict[str, subprocess.Popen] = {}
    exit_code = 0
    try:
        commands = {"web": ["serve", "--host", host, "--port", str(port)], "worker": ["worker"]}
        # a crashed child is started again (core/supervisor.py) rather than stopping the rest
        supervisor = Supervisor(lambda name: _start(name, commands[name], env), list(commands), say=say)
        children = supervisor.processes()
        say(f"started web (pid {children['web'].pid}) and worker (pid {children['worker'].pid})")

        announced = False
        started = time.monotonic()
        while not stopping:
            give_up = supervisor.check()
            children.update(supervisor.processes())
            if give_up:
                say(give_up)
                exit_code = 1
                break
            if not announced:
                if _healthy(port):
                    _banner(settings, port, slugs)
                    announced = True
                elif time.monotonic() - started > READY_TIMEOUT_SECONDS:
                    say(f"the web server has not answered /healthz after {READY_TIMEOUT_SECONDS} s")
                    _banner(settings, port, slugs)
                    announced = True
            time.sleep(0.25)
        if stopping:
            say(f"received {signal.Signals(stopping[0]).name}; stopping web and worker")
    finally:
        stop_children(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say("stopped")
    if exit_code:
        raise SystemExit(exit_code)


__all__ = ["enable_newly_installed", "prepare_database", "run_dev", "seed_demo_tenants"]
