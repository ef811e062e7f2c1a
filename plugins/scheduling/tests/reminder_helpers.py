"""Helpers for the reminder tests: times on the booking clinic's weekdays and reading rows
as the schema owner. The real SMTP server and SMS gateway are core's test servers
(``tests.message_servers``), re-exported here."""

from __future__ import annotations

import datetime as dt
import json
import uuid
import zoneinfo

from sqlalchemy import text

from tests.message_servers import free_port, sms_gateway, smtp_server

__all__ = ["free_port", "sms_gateway", "smtp_server"]

ZONE = "America/Chicago"


def future_weekday_at(hhmm: str, *, days_ahead: int = 10, zone: str = ZONE) -> dt.datetime:
    """An aware instant ``days_ahead`` or a few more days from now, on a weekday, at the
    local wall time ``hhmm`` (the booking clinic works Monday-Friday)."""
    day = dt.date.today() + dt.timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    hours, minutes = map(int, hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(hours, minutes), tzinfo=zoneinfo.ZoneInfo(zone))


async def rows(owner_engine, sql: str, **params) -> list[dict]:
    async with owner_engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(text(sql), params)).all()]


async def execute(owner_engine, sql: str, **params) -> None:
    async with owner_engine.begin() as conn:
        await conn.execute(text(sql), params)


async def reminders_of(owner_engine, appointment_id: uuid.UUID) -> list[dict]:
    return await rows(
        owner_engine,
        "SELECT r.*, o.status AS outbox_status, o.not_before, o.kwargs, o.job "
        "FROM scheduling_reminders r LEFT JOIN core_outbox o "
        "ON o.tenant_id = r.tenant_id AND o.id = r.outbox_id "
        "WHERE r.appointment_id = :a ORDER BY r.appointment_version, r.rule",
        a=appointment_id,
    )


async def set_contact(owner_engine, patient_id, *, email_address=None, phone=None) -> None:
    await execute(
        owner_engine,
        "UPDATE patients SET email = :e, phone = :p WHERE id = :id",
        e=email_address,
        p=phone,
        id=patient_id,
    )


async def set_config(owner_engine, tenant, config: dict) -> None:
    await execute(
        owner_engine,
        "UPDATE tenant_plugins SET config = CAST(:c AS jsonb) WHERE tenant_id = :t AND plugin = 'scheduling'",
        c=json.dumps(config),
        t=tenant.id,
    )
