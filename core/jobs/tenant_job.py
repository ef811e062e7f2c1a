"""``tenant_job``: every background job carries ``tenant_id`` and runs in that tenant's scope.

A plugin writes::

    from core.plugin_api import hookimpl, tenant_job

    @tenant_job("billing.submit_claim", timeout=120)
    async def submit_claim(ctx, session, *, claim_id: str) -> None:
        claim = await session.get(Claim, claim_id)  # only this tenant's rows are visible
        ...  # write through ``session``; do not commit, the wrapper does

    @hookimpl
    def tessera_jobs():
        return [submit_claim]

and causes the job with ``core.plugin_api.enqueue_job(session, "billing.submit_claim",
claim_id=...)`` in the transaction of the change that needs it (see ``core.jobs.outbox``).

The contract of a job body, ``async def body(ctx, session, **kwargs)``:

* ``ctx`` is arq's job context (``job_id``, ``job_try``, ``redis``, ``settings``, ``db``).
* ``session`` is an ``AsyncSession`` whose transaction is already open in the tenant's
  scope (ORM guard and row-level security both apply). The wrapper commits it when the body
  returns and rolls it back when the body raises. The body must not commit.
* ``kwargs`` are the job's own arguments: JSON values, ids rather than PHI (arq logs the
  arguments of every job it starts).
* Every job carries ``tenant_id``, is idempotent and survives a retry: a worker may die at
  any point and the job then runs again. For outbox jobs the wrapper makes the body's
  writes happen exactly once (the outbox row is locked while the body runs and marked
  ``done`` in the same transaction as the body's writes; a retry finds it ``done`` and skips
  the body). Effects outside the database (an e-mail, a call to a clearing house) must be
  made idempotent by the job itself, e.g. with the outbox id as the idempotency key
  (``ctx["outbox_id"]``).
* A suspended tenant's jobs do not run: the wrapper logs and returns without calling the
  body (the outbox row stays open and runs when the tenant is resumed). Neither do jobs of
  a plugin the tenant has not enabled (their outbox rows end ``failed``, ``PluginDisabled``).
* A failure records the exception *type* on the outbox row (never its message: it may
  hold PHI) and retries with back-off up to ``max_tries``; then the row is ``failed``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from arq.worker import Function, Retry, func
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.session import Database
from core.jobs.models import OutboxEntry
from core.plugins.failures import recording_to
from core.tenancy.context import TenantScopeError, require_tenant_id, tenant_scope
from core.tenancy.models import Tenant, TenantPlugin

log = logging.getLogger("tessera.jobs")

#: arq's default, made explicit so the wrapper and arq agree on when to give up.
DEFAULT_MAX_TRIES = 5
#: Keyword arguments the wrapper owns; a job's own arguments may not use them.
RESERVED_KWARGS = frozenset({"tenant_id", "outbox_id"})

JOB_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")

JobBody = Callable[..., Awaitable[Any]]


class JobError(RuntimeError):
    """A job was defined or called wrongly; the message says how to fix the call."""


class JobFailedError(RuntimeError):
    """A job body raised. Carries only the exception type: messages may contain PHI."""


def check_job_name(name: str) -> str:
    if not isinstance(name, str) or not JOB_NAME.match(name):
        raise JobError(
            f"job name {name!r} must be '<plugin>.<job>' in lower case, e.g. 'billing.submit_claim'"
        )
    return name


def job_max_tries(function: Function) -> int:
    return function.max_tries or DEFAULT_MAX_TRIES


def _backoff_seconds(job_try: int) -> float:
    return float(min(2 ** max(job_try - 1, 0), 60))


def tenant_job(name: str, *, timeout: float | None = None, max_tries: int | None = None):
    """Decorate ``async def body(ctx, session, **kwargs)`` as a tenant job named ``name``.

    Returns an ``arq.worker.Function`` (return it from the ``tessera_jobs`` hook). Its
    coroutine must be called with keyword ``tenant_id`` (a ``JobError`` otherwise), checks
    that the tenant exists and is active, opens a session in ``tenant_scope(tenant_id)`` and
    calls the body inside its transaction. With ``outbox_id`` (set by the dispatcher) it also
    locks the outbox row, skips the body when the row is already ``done`` and marks it
    ``done`` in the same transaction as the body's writes. See the module docstring for the
    whole contract: jobs carry ``tenant_id``, are idempotent and survive a retry.

    :param name: ``"<plugin>.<job>"``.
    :param timeout: seconds before arq cancels the job (default ``TESSERA_JOB_TIMEOUT``).
    :param max_tries: runs before the job is given up and its outbox row marked ``failed``.
    """
    check_job_name(name)
    tries = max_tries or DEFAULT_MAX_TRIES
    if tries < 1:
        raise JobError(f"job {name!r}: max_tries must be at least 1")

    def decorate(body: JobBody) -> Function:
        async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            if args:
                raise JobError(f"job {name!r} takes keyword arguments only")
            if kwargs.get("tenant_id") is None:
                raise JobError(
                    f"job {name!r} was called without tenant_id: every job runs for one tenant; "
                    "enqueue it with core.plugin_api.enqueue_job() inside tenant_scope()"
                )
            return await _run_tenant_job(name, body, tries, ctx, **kwargs)

        run.__name__ = getattr(body, "__name__", "job")
        run.__qualname__ = getattr(body, "__qualname__", run.__name__)
        run.__doc__ = body.__doc__
        run.__wrapped__ = body  # type: ignore[attr-defined]
        # keep_result=0: arq stores no result, so a job id can be enqueued again by the
        # sweeper once its run is over (the outbox row, not arq, is the record of the work).
        return func(run, name=name, timeout=timeout, max_tries=tries, keep_result=0)

    return decorate


async def _run_tenant_job(
    name: str,
    body: JobBody,
    max_tries: int,
    ctx: dict[str, Any],
    /,
    *,
    tenant_id: Any,
    outbox_id: Any = None,
    **kwargs: Any,
) -> Any:
    db: Database = ctx["db"]
    try:
        tid = uuid.UUID(str(tenant_id))
        oid = uuid.UUID(str(outbox_id)) if outbox_id is not None else None
    except ValueError:
        raise JobError(f"job {name!r}: tenant_id and outbox_id must be UUIDs") from None

    plugin = name.partition(".")[0]
    job_ctx = {**ctx, "tenant_id": tid, "outbox_id": oid}
    body_started = False
    with tenant_scope(tid), recording_to(db, f"job:{oid or ctx.get('job_id') or name}"):
        try:
            async with db.session() as session, session.begin():
                tenant = await session.get(Tenant, tid)
                if tenant is None:
                    raise JobError(f"job {name!r}: there is no tenant {tid}")
                if not tenant.is_active:
                    log.info("job %s for tenant %s skipped: the tenant is %s", name, tid, tenant.status)
                    return None
                entry = None
                if oid is not None:
                    entry = await session.scalar(
                        select(OutboxEntry).where(OutboxEntry.id == oid).with_for_update()
                    )
                    if entry is None:
                        raise TenantScopeError(f"job {name!r}: outbox entry {oid} is not tenant {tid}'s")
                    if entry.status in ("done", "failed", "withdrawn"):
                        log.info("job %s outbox %s already %s; not run again", name, oid, entry.status)
                        return None
                if plugin != "core" and not await _plugin_enabled(session, plugin):
                    log.info("job %s for tenant %s skipped: plugin %s is not enabled", name, tid, plugin)
                    if entry is not None:
                        entry.status = "failed"
                        entry.finished_at = dt.datetime.now(dt.UTC)
                        entry.last_error = "PluginDisabled"
                    return None
                body_started = True
                result = await body(job_ctx, session, **kwargs)
                if entry is not None:
                    entry.status = "done"
                    entry.finished_at = dt.datetime.now(dt.UTC)
                    entry.last_error = None
            log.info("job %s for tenant %s done (outbox %s, try %s)", name, tid, oid, ctx.get("job_try"))
            return result
        except Exception as exc:
            if not body_started:
                raise  # the wrapper refused the call: retrying cannot help
            error = type(exc).__name__
            job_try = int(ctx.get("job_try") or 1)
            give_up = job_try >= max_tries
            if oid is not None:
                await _record_failure(db, oid, error, give_up)
            if give_up:
                log.warning("job %s for tenant %s failed (%s) after %d tries", name, tid, error, job_try)
                raise JobFailedError(f"job {name} failed: {error}") from None
            log.info("job %s for tenant %s failed (%s), try %d of %d", name, tid, error, job_try, max_tries)
            raise Retry(defer=_backoff_seconds(job_try)) from None


async def _plugin_enabled(session: AsyncSession, plugin: str) -> bool:
    row = await session.get(TenantPlugin, (require_tenant_id(), plugin))
    return row is not None and row.enabled


async def _record_failure(db: Database, oid: uuid.UUID, error: str, give_up: bool) -> None:
    values: dict[str, Any] = {"last_error": error}
    if give_up:
        values.update(status="failed", finished_at=dt.datetime.now(dt.UTC))
    async with db.session() as session, session.begin():
        await session.execute(
            update(OutboxEntry)
            .where(OutboxEntry.id == oid, OutboxEntry.status.in_(("pending", "enqueued")))
            .values(**values)
        )
