"""Sending a message so that it survives a crash: ``send_email_later`` / ``send_text_later``.

Called inside the transaction of the change that needs the message (inside
``tenant_scope``, as requests and jobs are), they add a ``core_messages`` row and an outbox
entry for the ``core.send_message`` job. Roll the transaction back and nothing is sent;
commit it and the message goes out once the worker picks the job up, even if the web
process dies right after the commit::

    from core.plugin_api import send_email_later

    await send_email_later(session, to=address, subject="...", text="...", purpose="billing.statement")

The job sends each message once, in three steps (the same ones scheduling's reminders
take):

1. *Record the attempt*, in a transaction of its own that commits before anything is
   sent: lock the row, go on only if it is ``pending`` (or ``sending`` left by an attempt
   that died), mark it ``sending``, ``attempts + 1``, ``claimed_at = now``.
2. *Send*, with a stable identity: e-mail's Message-ID ``<message-<id>@<base domain>>``,
   a text's idempotency key ``message-<id>``. A retry that finds ``sending`` first waits
   out ``TESSERA_SEND_TIMEOUT`` from the mark (the earlier attempt may still be talking to
   the server), then *reconciles*: for a text it asks the provider whether a message
   under that key already arrived (``find_text``) and, if so, records it as sent without
   sending again. Only when the provider says it has none (or cannot tell) is it sent
   again, under the same key.
3. *Record the result* (``sent``, the transport's id, the text emptied) in the job's
   transaction, which also marks the outbox entry done. A definite refusal puts the row
   back to ``pending`` for the retry, or ``failed`` when retrying cannot help.

``deliver`` is step 2 on its own, for a plugin that keeps its own attempt record (a
reminder row) and wants the same reconciliation.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.base import utcnow
from core.jobs.outbox import enqueue_job
from core.jobs.tenant_job import tenant_job
from core.messaging.models import OutgoingMessage
from core.messaging.transports import Email, TextMessage, TransportError, Transports, transports_for

log = logging.getLogger("tessera.messaging")

SEND_JOB = "core.send_message"
MAX_TRIES = 5


class MessageError(ValueError):
    """A message was asked for wrongly (no recipient, an unknown channel)."""


async def _queue(session: AsyncSession, **values: Any) -> OutgoingMessage:
    if not (values.get("recipient") or "").strip():
        raise MessageError("a message needs a recipient")
    if not values.get("purpose"):
        raise MessageError("a message needs a purpose, e.g. 'core.invitation'")
    message = OutgoingMessage(status="pending", attempts=0, **values)
    session.add(message)
    await session.flush()
    entry = await enqueue_job(session, SEND_JOB, message_id=message.id)
    message.outbox_id = entry.id
    await session.flush()
    return message


async def send_email_later(
    session: AsyncSession, *, to: str, subject: str, text: str, purpose: str
) -> OutgoingMessage:
    """Send an e-mail once ``session`` commits (see the module docstring). ``purpose``
    names what it is for (``"<plugin>.<what>"``); it appears in logs, the text never does."""
    return await _queue(
        session, channel="email", recipient=to.strip(), subject=subject, body=text, purpose=purpose
    )


async def send_text_later(session: AsyncSession, *, to: str, text: str, purpose: str) -> OutgoingMessage:
    """Send a text message (SMS) to the number ``to`` once ``session`` commits."""
    return await _queue(session, channel="sms", recipient=to.strip(), subject="", body=text, purpose=purpose)


# -- step 2: deliver, reconciling an interrupted attempt -----------------------------------


@dataclass(frozen=True)
class Delivered:
    #: "smtp" / "http" / "recorded"
    transport: str
    transport_id: str
    #: True when an earlier, interrupted attempt was found to have arrived (nothing sent now)
    reconciled: bool = False


async def deliver(transports: Transports, message: Email | TextMessage, *, resumed: bool) -> Delivered:
    """Hand ``message`` to its transport. ``resumed``: an earlier attempt of the same
    message was recorded and never finished; for a text, ask the provider by its
    idempotency key first and send only if it has none. Raises ``TransportError`` on a
    definite refusal (anything else: unknown whether it arrived)."""
    if isinstance(message, TextMessage):
        if resumed:
            try:
                found = await transports.sms.find_text(message.reference)
            except TransportError as exc:
                # Cannot tell: send again under the same key (providers that honour it drop it).
                log.warning("could not reconcile text %s (%s); sending it again", message.reference, exc)
                found = None
            if found is not None:
                return Delivered(transports.sms_kind, found, reconciled=True)
        return Delivered(transports.sms_kind, await transports.sms.send_text(message))
    return Delivered(transports.email_kind, await transports.email.send_email(message))


# -- the job -------------------------------------------------------------------------------


class MessageBusyError(RuntimeError):
    """Another attempt marked the message ``sending`` within the send timeout."""


@dataclass(frozen=True)
class Claimed:
    attempt: int
    resumed: bool


@dataclass(frozen=True)
class Wait:
    seconds: float


async def _claim(db, message_id: uuid.UUID, send_timeout: float) -> Claimed | Wait | None:
    """Step 1, committed on its own. None: nothing to send."""
    async with db.session() as claim, claim.begin():
        message = await claim.scalar(
            select(OutgoingMessage).where(OutgoingMessage.id == message_id).with_for_update()
        )
        if message is None or message.status in ("sent", "failed"):
            return None
        now = utcnow()
        resumed = message.status == "sending"
        if resumed:
            busy_until = message.claimed_at + dt.timedelta(seconds=send_timeout)
            if busy_until > now:
                return Wait((busy_until - now).total_seconds())
            log.warning("message %s was left sending by attempt %d", message.id, message.attempts)
        message.status = "sending"
        message.attempts += 1
        message.claimed_at = now
        return Claimed(message.attempts, resumed)


async def _release(db, message_id: uuid.UUID, attempt: int, *, final: bool, detail: str) -> None:
    async with db.session() as release, release.begin():
        await release.execute(
            update(OutgoingMessage)
            .where(
                OutgoingMessage.id == message_id,
                OutgoingMessage.status == "sending",
                OutgoingMessage.attempts == attempt,
            )
            .values(status="failed" if final else "pending", detail=detail[:300], claimed_at=None)
        )


def outgoing(
    settings, channel: str, *, key: str, to: str, text: str, subject: str = ""
) -> Email | TextMessage:
    """The ``Email`` or ``TextMessage`` to hand to ``deliver``, with its stable identity
    made from ``key`` (``"<what>-<id>"``, the same on every attempt): the e-mail's
    Message-ID ``<key@base domain>``, the text's idempotency key ``key``."""
    if channel == "email":
        return Email(
            to=to,
            subject=subject,
            text=text,
            message_id=f"<{key}@{settings.base_domain}>",
            sender=settings.sender_address(),
        )
    return TextMessage(to=to, text=text, reference=key)


@tenant_job(SEND_JOB, max_tries=MAX_TRIES)
async def send_message(ctx, session, *, message_id: str) -> str:
    """Send one queued message if it has not been sent; returns what happened."""
    settings, db = ctx["settings"], ctx["db"]
    mid = uuid.UUID(str(message_id))
    claimed = await _claim(db, mid, settings.send_timeout)
    if isinstance(claimed, Wait):
        await asyncio.sleep(claimed.seconds)
        claimed = await _claim(db, mid, settings.send_timeout)
    if isinstance(claimed, Wait):
        raise MessageBusyError(f"message {mid} is being sent by another attempt")
    if claimed is None:
        return "skipped"
    row = await session.scalar(
        select(OutgoingMessage).where(OutgoingMessage.id == mid).execution_options(populate_existing=True)
    )
    message = outgoing(
        settings, row.channel, key=f"message-{mid}", to=row.recipient, text=row.body, subject=row.subject
    )
    try:
        delivered = await deliver(transports_for(settings, row.tenant_id), message, resumed=claimed.resumed)
    except TransportError as exc:
        final = exc.permanent or int(ctx.get("job_try") or 1) >= MAX_TRIES
        await _release(db, mid, claimed.attempt, final=final, detail=str(exc))
        if final:
            log.warning("message %s (%s) not sent: %s", mid, row.purpose, exc)
            return "failed"
        raise
    result = await session.execute(
        update(OutgoingMessage)
        .where(
            OutgoingMessage.id == mid,
            OutgoingMessage.status == "sending",
            OutgoingMessage.attempts == claimed.attempt,
        )
        .values(
            status="sent",
            sent_at=utcnow(),
            transport=delivered.transport,
            transport_id=delivered.transport_id,
            body="",
            detail="found at the provider after an interrupted attempt" if delivered.reconciled else None,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        log.warning(
            "message %s was sent by attempt %d but another attempt took it over", mid, claimed.attempt
        )
    return "reconciled" if delivered.reconciled else "sent"


__all__ = [
    "SEND_JOB",
    "Delivered",
    "MessageError",
    "deliver",
    "outgoing",
    "send_email_later",
    "send_message",
    "send_text_later",
]
