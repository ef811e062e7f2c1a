"""Recording audit events. Every PHI read or write goes through ``record`` in the same
transaction as the access, so a crash loses both or neither."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.audit.actions import is_known
from core.audit.models import OUTCOMES
from core.auth.principal import Principal, RequestMeta, current_principal, current_request_meta
from core.db import hot
from core.db.base import new_id
from core.tenancy.context import require_tenant_id, tenant_scope

#: the columns the app writes (occurred_at is the server's clock_timestamp(); the chain
#: columns are the sealer's)
_WRITTEN = (
    "id", "actor_type", "actor_user_id", "actor_token_id", "actor_label", "action", "resource_type",
    "resource_id", "patient_id", "outcome", "client_ip", "user_agent", "reason", "emergency", "detail",
)  # fmt: skip
INSERT_EVENT = hot.TenantSQL(
    "audit event",
    f"INSERT INTO audit_events (tenant_id, {', '.join(_WRITTEN)}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(_WRITTEN) + 2))})",
)


@dataclass(frozen=True, slots=True)
class Event:
    """An audit event as recorded: the columns the app writes (see :data:`_WRITTEN`)."""

    tenant_id: uuid.UUID
    id: uuid.UUID
    actor_type: str
    actor_user_id: uuid.UUID | None
    actor_token_id: uuid.UUID | None
    actor_label: str | None
    action: str
    resource_type: str
    resource_id: str | None
    patient_id: uuid.UUID | None
    outcome: str
    client_ip: str | None
    user_agent: str | None
    reason: str | None
    emergency: bool
    detail: dict[str, Any]


def build_event(
    *,
    action: str,
    resource_type: str,
    resource_id: Any = None,
    patient_id: uuid.UUID | None = None,
    outcome: str = "success",
    reason: str | None = None,
    emergency: bool = False,
    detail: dict[str, Any] | None = None,
    principal: Principal | None = None,
    meta: RequestMeta | None = None,
    actor_label: str | None = None,
) -> Event:
    if not is_known(action):
        raise ValueError(
            f"unknown audit action {action!r}; add it to core.audit.models.ACTIONS, or declare a "
            "plugin's '<plugin>.<action>' in its tessera_audit_actions hook"
        )
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    principal = principal if principal is not None else current_principal()
    meta = meta or current_request_meta()
    if principal is None:
        actor_type, user_id, token_id = ("system" if actor_label else "anonymous"), None, None
    else:
        actor_type, user_id, token_id = principal.actor_type, principal.user_id, principal.token_id
        actor_label = actor_label or principal.email
    # a plain record, not an AuditEvent: the ORM's instrumented constructor cost more than
    # the INSERT's own CPU on the chart read (docs/benchmarks.md)
    return Event(
        tenant_id=require_tenant_id(),
        id=new_id(),
        actor_type=actor_type,
        actor_user_id=user_id,
        actor_token_id=token_id,
        actor_label=actor_label,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        patient_id=patient_id,
        outcome=outcome,
        client_ip=meta.client_ip,
        user_agent=(meta.user_agent or "")[:512] or None,
        reason=reason,
        emergency=emergency,
        detail=detail or {},
    )


async def record(session: AsyncSession, **event: Any) -> Event:
    """Add an audit event to ``session``'s transaction (the caller commits with its change).

    Keyword arguments are those of :func:`build_event`; the actor and client come from the
    current request unless given.
    """
    built = build_event(**event)
    if session.new or session.dirty or session.deleted:
        await session.flush()  # the caller's pending changes first, as before
    # One INSERT on the session's connection, without the unit of work (docs/benchmarks.md).
    await hot.execute(session, INSERT_EVENT, *event_params(built))
    return built


def event_params(event: Event) -> list[Any]:
    """The values of ``event``'s written columns, in :data:`_WRITTEN` order, as bound."""
    values = [getattr(event, c) for c in _WRITTEN]
    values[-1] = json.dumps(values[-1])  # jsonb is sent as text (SQLAlchemy's codec)
    return values


def insert_event_per_row(source: str, first: int) -> str:
    """An INSERT of one audit event for each row of ``source`` (a CTE of the same
    statement), with the tenant from ``$1`` and the event's :func:`event_params` bound from
    ``$first`` on.

    For a data-modifying CTE: a read and its audit event in one round trip, and the event
    only when the read found its row. A hot path's choice (the chart read); everything else
    calls :func:`record`.
    """
    params = ", ".join(f"${i}" for i in range(first, first + len(_WRITTEN)))
    return f"INSERT INTO audit_events (tenant_id, {', '.join(_WRITTEN)}) SELECT $1, {params} FROM {source}"


async def record_now(db, tenant_id: uuid.UUID, **event: Any) -> None:
    """Record an event in its own transaction: for events not tied to a data change
    (failed sign-ins, refused requests), which must survive the request failing."""
    with tenant_scope(tenant_id):
        async with db.session() as session:
            await record(session, **event)
            await session.commit()
