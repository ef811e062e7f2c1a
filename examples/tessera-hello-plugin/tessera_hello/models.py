"""The plugin's tables. Every name starts with ``hello_``; every table is tenant-owned."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.plugin_api import TenantModel, utcnow

MAX_GREETING_LENGTH = 200


class Greeting(TenantModel):
    """A short message a team member left for everyone in their clinic."""

    __tablename__ = "hello_greetings"
    __table_args__ = (
        CheckConstraint(f"char_length(text) BETWEEN 1 AND {MAX_GREETING_LENGTH}", name="text_length"),
    )

    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
