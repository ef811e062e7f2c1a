"""``core_messages``: one row per e-mail or text asked for through ``core.messaging``.

The row is written in the transaction of the change that needs the message (an
invitation, an unlock link, a plugin's notice), together with its outbox entry; the
``core.send_message`` job then sends it once. The row is also the record of each attempt:
it is marked ``sending`` and committed *before* the transport is called, so a retry after
a crash knows an attempt may have reached the mail server or SMS provider.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import TenantModel

#: ``pending`` waits for its job, ``sending`` is an attempt in progress (or one that died),
#: ``sent`` and ``failed`` are final.
MESSAGE_STATUSES = ("pending", "sending", "sent", "failed")
CHANNELS = ("email", "sms")


class OutgoingMessage(TenantModel):
    __tablename__ = "core_messages"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status_known"),
        CheckConstraint("channel IN ('email', 'sms')", name="channel_known"),
    )

    channel: Mapped[str] = mapped_column(String(8))
    #: what the message is for, ``<plugin>.<what>`` (``core.invitation``); never PHI
    purpose: Mapped[str] = mapped_column(String(80))
    recipient: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: the text; emptied once the message is sent (it may carry a one-time link)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    #: when the current (or last) attempt was recorded, before the transport was called
    claimed_at: Mapped[dt.datetime | None] = mapped_column()
    sent_at: Mapped[dt.datetime | None] = mapped_column()
    #: ``smtp`` / ``http`` / ``recorded``
    transport: Mapped[str | None] = mapped_column(String(16))
    #: the Message-ID, or the SMS provider's id
    transport_id: Mapped[str | None] = mapped_column(Text)
    #: why it failed or how it was found sent; never the message or its recipient
    detail: Mapped[str | None] = mapped_column(Text)
    outbox_id: Mapped[uuid.UUID | None] = mapped_column()
