"""Appointment reminders: the clinic's policy, planning them, and sending each exactly once.

**Policy.** The clinic's plugin configuration lists rules, ``reminders: [{"channel":
"email", "hours_before": 48}, ...]`` (``manifest.DEFAULT_REMINDERS`` when it lists none),
and may replace the e-mail and text templates (``email_template``, ``sms_template``;
placeholders ``{clinic}``, ``{when}``, ``{location}``, ``{provider}``, ``{confirm_url}``,
``{cancel_url}``). Times are written in the location's time zone, else the clinic's.

**Planning** follows ``tessera_scheduling_appointment_changed``, in the booking's
transaction: ``booked`` and ``rescheduled`` add one ``scheduling_reminders`` row per rule
whose due time is still ahead (unique per appointment, rule and appointment version) and a
delayed outbox entry for it (``enqueue_job(..., _not_before=due_at)``); ``rescheduled``,
``cancelled`` and ``no-show`` withdraw the pending reminders of the old time (row
``withdrawn``, outbox entry ``withdrawn``). A confirmed appointment is still reminded.

**Sending exactly once** (``send_reminder``, run by the outbox when due). The database
knows a reminder was sent only after the mail server said so, and a worker can die in
between, so the job works in three steps:

1. *Claim*, in a transaction of its own that commits before anything is sent: lock the
   appointment (``FOR SHARE``: a reschedule in flight finishes first), then the reminder;
   go on only if it is ``pending`` and the appointment still holds its time at the
   reminder's version (else the reminder is ``withdrawn``). Mark it ``sending``,
   ``attempts + 1``, ``claimed_at = now``.
2. *Send*, bounded by ``TESSERA_SEND_TIMEOUT`` as a whole, with a Message-ID derived from
   the reminder's id (``<reminder-<id>@<base domain>>``) and, for texts, the same value as
   the provider's idempotency key.
3. *Record*: mark it ``sent`` (only if still ``sending`` under this attempt's number) and
   audit the disclosure, in the job's transaction, which also marks the outbox entry done.

A retry (arq after a dead worker, or the outbox sweeper) that finds ``sent``,
``withdrawn`` or ``failed`` does nothing. One that finds ``sending`` knows an earlier
attempt died or failed mid-send. If the mark is younger than the send timeout that attempt
may still be talking to the server, so the retry waits until it is not (the outbox row's
lock also keeps two live attempts of one job apart). Then an e-mail is sent again with the
same Message-ID, and a text is first looked up at the provider by its idempotency key and
sent again only if the provider has none (``core.plugin_api.deliver``). That is the choice
of at-least-once over at-most-once: a forgotten reminder costs a missed visit, a duplicate
costs a second message. The residual windows (the provider's response time for a text
whose provider cannot be asked; milliseconds after an SMTP server's ``250``) are stated in
docs/security.md, "Outgoing messages".
A transport that answers with a definite refusal puts the reminder back to ``pending``
(or ``failed`` when retrying cannot help, or after the last try), so a retry sends it
without waiting.

Message text never reaches a log or an error column; the audit event (action ``export``:
PHI leaves the system) names the patient, the channel and the rule.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from core.plugin_api import (
    Location,
    Patient,
    TransportError,
    clinic_site,
    deliver,
    enqueue_job,
    job_database,
    job_settings,
    location_time_zone,
    outgoing,
    plausible_email,
    provider_names,
    record,
    stored_plugin_config,
    tenant_job,
    transports_for,
    utcnow,
    withdraw_job,
)
from plugins.scheduling.links import link_nonce, link_url
from plugins.scheduling.manifest import DEFAULT_REMINDERS
from plugins.scheduling.models import Appointment, Reminder

log = logging.getLogger("tessera.scheduling.reminders")

SEND_JOB = "scheduling.send_reminder"
MAX_TRIES = 5
RESOURCE_TYPE = "scheduling:reminder"
#: statuses whose reminders are still wanted (arrived/completed: the visit is under way)
REMINDED = ("booked", "confirmed")

DEFAULT_EMAIL_TEMPLATE = """Hello,

This is a reminder of your appointment at {clinic}.

When:  {when}
Where: {location}
With:  {provider}

Will you come? Please confirm: {confirm_url}
Cannot make it? Cancel here, so the time can go to someone else: {cancel_url}

Please do not reply to this e-mail; call the clinic with any questions.
"""
DEFAULT_SMS_TEMPLATE = (
    "{clinic}: reminder of your appointment {when} at {location}. Confirm: {confirm_url} Cancel: {cancel_url}"
)
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Rule:
    channel: str
    hours_before: int

    @property
    def name(self) -> str:
        return f"{self.channel}-{self.hours_before}h"


def rules_of(config: dict[str, Any]) -> list[Rule]:
    """The clinic's reminder rules (the defaults when it set none; ``[]`` turns them off)."""
    raw = config.get("reminders")
    rules: list[Rule] = []
    for item in DEFAULT_REMINDERS if raw is None else raw:
        rule = Rule(str(item["channel"]), int(item["hours_before"]))
        if rule not in rules:
            rules.append(rule)
    return rules


def fill(template: str, values: dict[str, str]) -> str:
    """Replace ``{name}`` placeholders; unknown ones stay as written (a clinic's typo shows
    up in the message instead of failing every reminder), and no attribute or index
    lookups happen (``str.format`` would allow ``{clinic.__class__}``)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def local_when(instant: dt.datetime, zone: str) -> str:
    local = instant.astimezone(zoneinfo.ZoneInfo(zone))
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M} ({local.tzname()})"


# -- planning and withdrawing (in the booking's transaction) ------------------------------


async def plan_reminders(session, appointment: Appointment) -> list[Reminder]:
    """Add this appointment time's reminders that are still ahead; returns the new rows.
    Idempotent: a rule already planned for this version is not planned again."""
    if appointment.status not in REMINDED:
        return []
    config = await stored_plugin_config(session, "scheduling")
    planned = set(
        await session.scalars(
            select(Reminder.rule).where(
                Reminder.appointment_id == appointment.id,
                Reminder.appointment_version == appointment.version,
            )
        )
    )
    now = utcnow()
    added = []
    for rule in rules_of(config):
        due_at = appointment.starts_at - dt.timedelta(hours=rule.hours_before)
        if due_at <= now or rule.name in planned:
            continue
        reminder = Reminder(
            appointment_id=appointment.id,
            appointment_version=appointment.version,
            rule=rule.name,
            channel=rule.channel,
            due_at=due_at,
            status="pending",
        )
        session.add(reminder)
        await session.flush()
        entry = await enqueue_job(session, SEND_JOB, _not_before=due_at, reminder_id=reminder.id)
        reminder.outbox_id = entry.id
        added.append(reminder)
    await session.flush()
    return added


async def withdraw_reminders(
    session, appointment_id: uuid.UUID, *, why: str, keep_version: int | None = None
) -> int:
    """Withdraw the appointment's pending reminders (all, or those not of ``keep_version``)
    and their outbox entries; returns how many. One being sent right now is left to its
    job, which re-reads the appointment before it sends."""
    query = select(Reminder).where(Reminder.appointment_id == appointment_id, Reminder.status == "pending")
    if keep_version is not None:
        query = query.where(Reminder.appointment_version != keep_version)
    reminders = list(await session.scalars(query.with_for_update()))
    for reminder in reminders:
        reminder.status = "withdrawn"
        reminder.detail = why
        if reminder.outbox_id is not None:
            await withdraw_job(session, reminder.outbox_id)
    await session.flush()
    return len(reminders)


async def follow_change(session, appointment_id: uuid.UUID, change: str) -> None:
    """The reminders' reaction to ``tessera_scheduling_appointment_changed``."""
    if change not in ("booked", "rescheduled", "cancelled", "no-show"):
        return
    appointment = await session.scalar(select(Appointment).where(Appointment.id == appointment_id))
    if appointment is None:
        return
    if change in ("cancelled", "no-show"):
        await withdraw_reminders(session, appointment_id, why=f"appointment {change}")
        return
    if change == "rescheduled":
        await withdraw_reminders(
            session, appointment_id, why="appointment rescheduled", keep_version=appointment.version
        )
    await plan_reminders(session, appointment)


# -- composing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Composed:
    to: str | None
    subject: str
    text: str


async def compose(session, settings, reminder: Reminder, appointment: Appointment) -> Composed:
    """The message of ``reminder``: the clinic's template filled with its name, the time in
    the location's zone, the location, the provider and signed confirm/cancel links."""
    clinic = await clinic_site(session)
    config = await stored_plugin_config(session, "scheduling")
    location = await session.get(Location, (appointment.tenant_id, appointment.location_id))
    patient = await session.get(Patient, (appointment.tenant_id, appointment.patient_id))
    zone = await location_time_zone(session, appointment.location_id)
    names = await provider_names(session, [appointment.provider_id])
    where = location.name if location else ""
    if location is not None:
        street = ", ".join(p for p in (location.address_line1, location.city) if p)
        where = f"{where}, {street}" if street else where
    links = {}
    for purpose in ("confirm", "cancel"):
        links[purpose] = link_url(
            clinic.url(settings),
            secret_key=settings.secret_key,
            tenant_id=appointment.tenant_id,
            appointment_id=appointment.id,
            version=reminder.appointment_version,
            purpose=purpose,
            expires_at=appointment.starts_at,
            nonce=link_nonce(str(reminder.id), purpose),
        )
    values = {
        "clinic": clinic.name,
        "when": local_when(appointment.starts_at, zone),
        "location": where,
        "provider": names.get(appointment.provider_id, ""),
        "confirm_url": links["confirm"],
        "cancel_url": links["cancel"],
    }
    if reminder.channel == "email":
        template = config.get("email_template") or DEFAULT_EMAIL_TEMPLATE
        to = patient.email.strip() if patient is not None and plausible_email(patient.email) else None
    else:
        template = config.get("sms_template") or DEFAULT_SMS_TEMPLATE
        to = phone_number(patient.phone) if patient is not None else None
    subject = f"Reminder: your appointment at {clinic.name}, {values['when']}"
    return Composed(to=to, subject=subject, text=fill(template, values))


def phone_number(raw: str | None) -> str | None:
    """The number as the SMS provider wants it: digits, with a leading + if it had one."""
    if not raw:
        return None
    digits = re.sub(r"\D", "", raw)
    if len(digits) < 7:
        return None
    return f"+{digits}" if raw.strip().startswith("+") else digits


# -- sending (the job) --------------------------------------------------------------------


class ReminderBusyError(RuntimeError):
    """Another attempt marked the reminder ``sending`` within the send timeout."""


@dataclass(frozen=True)
class Claimed:
    attempt: int
    #: an earlier attempt was recorded and never finished (reconcile before sending)
    resumed: bool = False


@dataclass(frozen=True)
class Wait:
    seconds: float


async def _claim(db, reminder_id: uuid.UUID, send_timeout: float) -> Claimed | Wait | None:
    """Step 1, committed on its own (see the module docstring). None: nothing to send."""
    async with db.session() as claim, claim.begin():
        found = await claim.scalar(select(Reminder.appointment_id).where(Reminder.id == reminder_id))
        if found is None:
            return None
        appointment = await claim.scalar(
            select(Appointment).where(Appointment.id == found).with_for_update(read=True)
        )
        reminder = await claim.scalar(select(Reminder).where(Reminder.id == reminder_id).with_for_update())
        if reminder.status in ("sent", "withdrawn", "failed"):
            return None
        now = utcnow()
        resumed = reminder.status == "sending"
        if resumed:
            busy_until = reminder.claimed_at + dt.timedelta(seconds=send_timeout)
            if busy_until > now:
                return Wait((busy_until - now).total_seconds())
            log.warning(
                "reminder %s was left sending by attempt %d; sending it again", reminder.id, reminder.attempts
            )
        if appointment.status not in REMINDED or appointment.version != reminder.appointment_version:
            reminder.status = "withdrawn"
            reminder.detail = (
                "appointment moved"
                if appointment.version != reminder.appointment_version
                else "appointment " + appointment.status
            )
            return None
        reminder.status = "sending"
        reminder.attempts += 1
        reminder.claimed_at = now
        return Claimed(reminder.attempts, resumed)


async def _release(db, reminder_id: uuid.UUID, attempt: int, *, final: bool, detail: str) -> None:
    """A definite refusal: back to ``pending`` for the retry, or ``failed``."""
    async with db.session() as release, release.begin():
        await release.execute(
            update(Reminder)
            .where(Reminder.id == reminder_id, Reminder.status == "sending", Reminder.attempts == attempt)
            .values(status="failed" if final else "pending", detail=detail[:300], claimed_at=None)
        )


async def _finish(session, reminder_id: uuid.UUID, attempt: int, **values: Any) -> bool:
    result = await session.execute(
        update(Reminder)
        .where(Reminder.id == reminder_id, Reminder.status == "sending", Reminder.attempts == attempt)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


@tenant_job(SEND_JOB, max_tries=MAX_TRIES)
async def send_reminder(ctx, session, *, reminder_id: str) -> str:
    """Send one reminder if it is still wanted; returns what happened (for logs/tests)."""
    settings, db = job_settings(ctx), job_database(ctx)
    rid = uuid.UUID(str(reminder_id))
    claimed = await _claim(db, rid, settings.send_timeout)
    if isinstance(claimed, Wait):
        await asyncio.sleep(claimed.seconds)
        claimed = await _claim(db, rid, settings.send_timeout)
    if isinstance(claimed, Wait):  # still in another attempt's hands: let arq retry later
        raise ReminderBusyError(f"reminder {rid} is being sent by another attempt")
    if claimed is None:
        return "skipped"

    reminder = await session.scalar(
        select(Reminder).where(Reminder.id == rid).execution_options(populate_existing=True)
    )
    appointment = await session.scalar(select(Appointment).where(Appointment.id == reminder.appointment_id))
    composed = await compose(session, settings, reminder, appointment)
    if composed.to is None:
        what = "e-mail address" if reminder.channel == "email" else "mobile number"
        await _finish(
            session, rid, claimed.attempt, status="failed", detail=f"the patient has no {what} on file"
        )
        return "failed"

    message = outgoing(
        settings,
        reminder.channel,
        key=f"reminder-{rid}",
        to=composed.to,
        text=composed.text,
        subject=composed.subject,
    )
    try:
        delivered = await deliver(
            transports_for(settings, reminder.tenant_id), message, resumed=claimed.resumed
        )
    except TransportError as exc:
        final = exc.permanent or int(ctx.get("job_try") or 1) >= MAX_TRIES
        await _release(db, rid, claimed.attempt, final=final, detail=str(exc))
        if final:
            log.warning("reminder %s not sent: %s", rid, exc)
            return "failed"
        raise
    kind, transport_id = delivered.transport, delivered.transport_id

    if not await _finish(
        session, rid, claimed.attempt, status="sent", sent_at=utcnow(), transport_id=transport_id, detail=None
    ):
        log.warning(
            "reminder %s was sent by attempt %d but another attempt took it over", rid, claimed.attempt
        )
    await record(
        session,
        action="export",
        resource_type=RESOURCE_TYPE,
        resource_id=rid,
        patient_id=appointment.patient_id,
        actor_label=SEND_JOB,
        detail={
            "channel": reminder.channel,
            "rule": reminder.rule,
            "transport": kind,
            "appointment_id": str(appointment.id),
            "attempt": claimed.attempt,
            **({"reconciled": True} if delivered.reconciled else {}),
        },
    )
    return "sent"


__all__ = [
    "DEFAULT_EMAIL_TEMPLATE",
    "DEFAULT_SMS_TEMPLATE",
    "Rule",
    "compose",
    "follow_change",
    "plan_reminders",
    "rules_of",
    "send_reminder",
    "withdraw_reminders",
]
