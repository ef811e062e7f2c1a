"""The plugin's tables: every name starts with ``{{name}}_``, every table is tenant-owned."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.plugin_api import TenantModel, Timestamps

MAX_TEXT = 200


class Item(Timestamps, TenantModel):
    """One item of a clinic."""

    __tablename__ = "{{name}}_items"
    __table_args__ = (CheckConstraint(f"char_length(text) BETWEEN 1 AND {MAX_TEXT}", name="text_length"),)

    text: Mapped[str] = mapped_column(Text)
