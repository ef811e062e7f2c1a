from __future__ import annotations

import uuid

from sqlalchemy import ForeignKeyConstraint, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db.base import TenantModel


class Notebook(TenantModel):
    __tablename__ = "sample_notebooks"

    title: Mapped[str] = mapped_column(Text)
    notes: Mapped[list[Note]] = relationship(back_populates="notebook", lazy="selectin")


class Note(TenantModel):
    __tablename__ = "sample_notes"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "notebook_id"],
            ["sample_notebooks.tenant_id", "sample_notebooks.id"],
            name="fk_sample_notes_notebook",
        ),
    )

    notebook_id: Mapped[uuid.UUID] = mapped_column()
    body: Mapped[str] = mapped_column(Text)
    notebook: Mapped[Notebook] = relationship(back_populates="notes")
