"""``invitations``: a clinic's pending invitation of an e-mail address.

Inviting never touches an account: the invitation waits, with the roles it will grant,
until the person who reads the e-mail accepts it at ``/invitations/<token>`` (signing in
with the account's own password, or creating the account). Until then the clinic learns
nothing about whether an account with that address exists.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import TenantModel

#: ``pending`` waits for the invitee; ``accepted`` made a membership; ``revoked`` was
#: called off (or replaced by a newer invitation of the same address).
INVITATION_STATUSES = ("pending", "accepted", "revoked")


class Invitation(TenantModel):
    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'accepted', 'revoked')", name="status_known"),
        # one open invitation per address and clinic
        Index(
            "uq_invitations_pending_email",
            "tenant_id",
            text("lower(email)"),
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
    )

    email: Mapped[str] = mapped_column(String(254))
    #: the name the clinic gave; the invitee's own account name is never shown to the clinic
    name: Mapped[str] = mapped_column(Text)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    invited_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[dt.datetime] = mapped_column()
    accepted_at: Mapped[dt.datetime | None] = mapped_column()
    #: the account that accepted (set only then)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
