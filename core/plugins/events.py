"""Durable events: "something happened", delivered after the change committed.

A plugin (or core) announces a change with ``publish_event(session, "<publisher>.<event>",
{...})`` inside the transaction that makes it. The event is an outbox entry: it exists
exactly when the change committed. The worker then

1. runs ``core.fan_out_event`` for it: reads which plugins the tenant has enabled and
   writes one ``core.deliver_event`` outbox entry per enabled plugin whose
   ``tessera_event_consumers`` consumes that event;
2. runs each ``core.deliver_event`` as a tenant job: the consumer's
   ``handler(session, payload)`` in the tenant's scope, in its own transaction, retried
   with back-off when it raises (``core.jobs.tenant_job``), skipped when the plugin has
   been disabled meanwhile. Each failure is also counted for the platform operator
   (``core.plugins.failures``).

So a slow or failing consumer never undoes, delays or fails the user's action, and one
consumer's failure does not touch another's delivery. Use in-transaction hooks instead
for a veto or for work that must commit together with the change.

The payload is JSON (UUIDs and dates become strings) and, like every job argument, holds
ids rather than patient data: the consumer reads what it needs through its session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.jobs.outbox import enqueue_job
from core.jobs.tenant_job import check_job_name, tenant_job
from core.plugins import failures
from core.tenancy.models import TenantPlugin

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.jobs.models import OutboxEntry
    from core.plugins.registry import PluginRegistry

FAN_OUT_JOB = "core.fan_out_event"
DELIVER_JOB = "core.deliver_event"

Handler = Callable[["AsyncSession", dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class EventConsumer:
    """``handler(session, payload)`` is called for every ``event`` (``"<publisher>.<event>"``)
    published in a tenant that enabled the consuming plugin."""

    event: str
    handler: Handler


async def publish_event(
    session: AsyncSession, event: str, payload: dict[str, Any] | None = None
) -> OutboxEntry:
    """Announce ``event`` for the current tenant once ``session`` commits.

    :param session: the transaction of the change; roll it back and no one hears of it.
    :param event: ``"<publisher>.<event>"``, e.g. ``"scheduling.appointment_changed"``.
    :param payload: JSON values, ids rather than patient data.
    """
    check_job_name(event)
    return await enqueue_job(session, FAN_OUT_JOB, event=event, payload=payload or {})


def consumers_of(registry: PluginRegistry, event: str) -> list[tuple[str, EventConsumer]]:
    """``(plugin, consumer)`` for every installed plugin consuming ``event``."""
    found = []
    for plugin, result in registry.call_each("tessera_event_consumers"):
        for consumer in result or []:
            if consumer.event == event:
                found.append((plugin, consumer))
    return found


async def _enabled(session: AsyncSession) -> set[str]:
    rows = await session.scalars(select(TenantPlugin.plugin).where(TenantPlugin.disabled_at.is_(None)))
    return set(rows)


@tenant_job(FAN_OUT_JOB)
async def fan_out_event(
    ctx: dict[str, Any], session: AsyncSession, *, event: str, payload: dict[str, Any]
) -> int:
    """One delivery per consuming plugin the tenant enabled; returns how many."""
    registry: PluginRegistry = ctx["registry"]
    enabled = await _enabled(session)
    count = 0
    for plugin, _ in consumers_of(registry, event):
        if registry.is_builtin(plugin) or plugin in enabled:
            await enqueue_job(session, DELIVER_JOB, plugin=plugin, event=event, payload=payload)
            count += 1
    return count


@tenant_job(DELIVER_JOB)
async def deliver_event(
    ctx: dict[str, Any], session: AsyncSession, *, plugin: str, event: str, payload: dict[str, Any]
) -> bool:
    """Hand one event to one plugin's consumers; returns whether any ran.

    Raising makes the wrapper retry the delivery (only this plugin's) with back-off.
    """
    registry: PluginRegistry = ctx["registry"]
    if not registry.is_builtin(plugin) and plugin not in await _enabled(session):
        return False  # disabled (or uninstalled) since the event was published
    ran = False
    for owner, consumer in consumers_of(registry, event):
        if owner != plugin:
            continue
        try:
            await consumer.handler(session, payload)
        except Exception as exc:
            await failures.report(plugin, f"event {event}", exc)
            raise
        ran = True
    return ran


JOBS = [fan_out_event, deliver_event]
