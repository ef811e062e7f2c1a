"""The arq worker, assembled from the plugins' ``tessera_jobs`` hooks.

``tessera worker`` calls ``run_worker(settings)``. Each worker process also runs the outbox
dispatcher and sweeper (``core.jobs.outbox``) and the audit sealer (``core.audit.seal``),
so there is nothing else to deploy: start as
many workers as the load needs; ``FOR UPDATE SKIP LOCKED`` shares the outbox between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Function, Worker, func
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.audit.seal import AuditSealer
from core.db.session import Database
from core.jobs.outbox import OutboxDispatcher
from core.jobs.tenant_job import DEFAULT_MAX_TRIES, job_max_tries
from core.plugins.registry import PluginError, PluginRegistry, flatten
from core.settings import ConfigurationError, Settings

log = logging.getLogger("tessera.jobs.worker")


async def ping(ctx: dict[str, Any]) -> str:
    """Liveness probe (``core.ping``): touches no tenant data, takes no arguments.

    It also lets a worker start on an installation whose plugins define no jobs yet
    (arq refuses a worker without functions); such a worker still dispatches the outbox.
    """
    return "pong"


def collect_jobs(registry: PluginRegistry) -> list[Function]:
    """Every plugin's jobs, each checked to be named ``"<plugin>.<job>"`` and unique."""
    jobs: dict[str, Function] = {}
    for plugin, result in registry.call_each("tessera_jobs"):  # awaited at boot when async
        for item in flatten([result]):
            if not isinstance(item, Function):
                if not inspect.iscoroutinefunction(item):
                    raise PluginError(
                        f"plugin {plugin!r} returned {item!r} from tessera_jobs; return functions "
                        "decorated with core.plugin_api.tenant_job('<plugin>.<job>')"
                    )
                item = func(item)
            if not item.name.startswith(f"{plugin}.") or item.name == f"{plugin}.":
                raise PluginError(
                    f"plugin {plugin!r} defines job {item.name!r}; its jobs must be named '{plugin}.<job>'"
                )
            if item.name in jobs:
                raise PluginError(f"two jobs are named {item.name!r}")
            jobs[item.name] = item
    return list(jobs.values())


def redis_settings(settings: Settings) -> RedisSettings:
    if not settings.redis_url:
        raise ConfigurationError(
            "TESSERA_REDIS_URL is not set; point it at Redis (redis://host:6379/0 or unix:///path)"
        )
    try:
        return RedisSettings.from_dsn(settings.redis_url)
    except (RuntimeError, ValueError) as exc:
        raise ConfigurationError(f"TESSERA_REDIS_URL is not usable: {exc}") from None


def build_worker_settings(settings: Settings, registry: PluginRegistry) -> dict[str, Any]:
    """arq ``Worker`` keyword arguments: the plugins' jobs, Redis, queue, timeouts, and the
    startup/shutdown hooks that open the database pool and run the outbox dispatcher.

    Job context (``ctx``) carries ``settings``, ``registry``, ``db`` (a
    ``core.db.session.Database``) and arq's ``redis``, ``job_id`` and ``job_try``.
    """
    functions = collect_jobs(registry)
    max_tries = {f.name: job_max_tries(f) for f in functions}

    async def on_startup(ctx: dict[str, Any]) -> None:
        ctx["db"] = Database(settings)
        dispatcher = OutboxDispatcher(
            ctx["db"],
            ctx["redis"],
            queue_name=settings.queue_name,
            max_tries=max_tries,
            poll_seconds=settings.outbox_poll_seconds,
            stale_seconds=settings.outbox_stale_seconds,
        )
        ctx["dispatcher"] = dispatcher
        dispatcher.start()
        sealer = AuditSealer(settings)
        ctx["audit_sealer"] = sealer
        sealer.start()
        log.info("worker started: queue %s, %d job(s)", settings.queue_name, len(functions))

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        sealer = ctx.pop("audit_sealer", None)
        if sealer is not None:
            await sealer.stop()
        dispatcher = ctx.pop("dispatcher", None)
        if dispatcher is not None:
            await dispatcher.stop()
        db = ctx.pop("db", None)
        if db is not None:
            await db.dispose()

    return {
        "functions": [*functions, func(ping, name="core.ping", max_tries=1, keep_result=0)],
        "redis_settings": redis_settings(settings),
        "queue_name": settings.queue_name,
        "job_timeout": settings.job_timeout,
        "max_tries": DEFAULT_MAX_TRIES,
        # A job may hold two pooled connections at once (its own transaction, and one in
        # which a send records its attempt before talking to a mail server: core.messaging,
        # reminders), and the dispatcher needs one: more concurrent jobs than that would
        # starve each other of connections until the pool times out.
        "max_jobs": max(1, (settings.db_pool_size - 1) // 2),
        "keep_result": 0,
        "health_check_interval": 30,
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "ctx": {"settings": settings, "registry": registry},
        "log_results": False,
    }


def run_worker(settings: Settings) -> None:
    """Run a worker until SIGINT/SIGTERM (``tessera worker``)."""
    from core.app import build_registry

    # arq's own per-job lines print the job's arguments; those are ids by contract, but a
    # log line is the wrong place to find out that a plugin broke it. The wrapper logs
    # each job's name, tenant and outcome instead.
    logging.getLogger("arq").setLevel(logging.WARNING)
    logging.getLogger("tessera").setLevel(logging.INFO)
    worker_settings = build_worker_settings(settings, build_registry(settings))
    if not settings.public_url:
        # links in e-mails and texts are built here, with no request to copy the address from
        log.info(
            "links in messages point at %s (TESSERA_PUBLIC_URL is unset; set it to the address "
            "people reach the app at)",
            settings.site_url("<clinic>"),
        )
    asyncio.run(serve_worker(worker_settings))


#: seconds between reconnection attempts while Redis is unreachable (doubling up to the max)
RECONNECT_FIRST, RECONNECT_MAX = 0.5, 10.0


def redis_unreachable(exc: BaseException) -> bool:
    """Redis went away (refused, reset, timed out): wait and connect again."""
    return isinstance(exc, RedisConnectionError | RedisTimeoutError | ConnectionError | OSError)


async def serve_worker(worker_settings: dict[str, Any], *, stop: asyncio.Event | None = None) -> None:
    """Run arq workers until SIGINT/SIGTERM (or ``stop``), starting a new one whenever Redis
    drops the current one: an outage pauses the jobs instead of ending the process. Jobs
    running when the connection went are retried by arq (their in-progress mark expires),
    and the outbox sweeper re-enqueues anything Redis lost.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    delay = RECONNECT_FIRST
    while not stop.is_set():
        worker = Worker(**worker_settings, handle_signals=False)
        run = asyncio.create_task(worker.async_run())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({run, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not run.done():  # asked to stop
            await _close(worker, run, worker_settings, graceful=True)
            return
        failure = None if run.cancelled() else run.exception()
        await _close(worker, run, worker_settings, graceful=False)
        if failure is None:
            return
        if not redis_unreachable(failure):
            raise failure
        log.warning("Redis is unreachable (%s); reconnecting in %.1f s", type(failure).__name__, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        delay = min(delay * 2, RECONNECT_MAX)
        if worker.jobs_complete or worker.jobs_failed:
            delay = RECONNECT_FIRST


async def _close(
    worker: Worker, run: asyncio.Task, worker_settings: dict[str, Any], *, graceful: bool
) -> None:
    """Stop one arq worker. ``graceful``: arq's own close (waits for running jobs). After a
    lost connection arq's close would fail on its first Redis call and skip the shutdown
    hook, so the jobs are cancelled, the hook is run and the pool dropped here instead."""
    if graceful:
        try:
            await worker.close()
        except Exception as exc:  # Redis went away while stopping: fall through to the hard way
            log.info("worker close failed (%s); stopping it without Redis", type(exc).__name__)
        else:
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run
            return
    run.cancel()
    tasks = list(worker.tasks.values())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await run
    with contextlib.suppress(Exception):
        await worker_settings["on_shutdown"](worker.ctx)
    pool = worker._pool  # arq keeps it private; it must not leak a connection per outage
    worker._pool = None
    if pool is not None:
        with contextlib.suppress(Exception):
            await pool.close(close_connection_pool=True)
