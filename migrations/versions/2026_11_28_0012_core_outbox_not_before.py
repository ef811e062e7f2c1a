"""core: delayed outbox entries (``not_before``) and withdrawing an entry before it runs

Revision ID: core_0012
Revises: core_0011

A reminder is asked for when the appointment is booked but must go out two days before
it: the entry waits in the outbox (``pending``) until ``not_before``, and rescheduling or
cancelling marks it ``withdrawn``. The dispatcher reads due rows by (status, not_before).
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0012"
down_revision = "core_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("core_outbox", sa.Column("not_before", sa.DateTime(timezone=True)))
    op.drop_constraint("ck_core_outbox_status_known", "core_outbox", type_="check")
    op.create_check_constraint(
        "ck_core_outbox_status_known",
        "core_outbox",
        "status IN ('pending', 'enqueued', 'done', 'failed', 'withdrawn')",
    )
    op.create_index(
        "ix_core_outbox_due",
        "core_outbox",
        ["status", "not_before"],
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_core_outbox_due", table_name="core_outbox")
    op.execute(
        "UPDATE core_outbox SET status = 'failed', last_error = 'Withdrawn' WHERE status = 'withdrawn'"
    )
    op.drop_constraint("ck_core_outbox_status_known", "core_outbox", type_="check")
    op.create_check_constraint(
        "ck_core_outbox_status_known", "core_outbox", "status IN ('pending', 'enqueued', 'done', 'failed')"
    )
    op.drop_column("core_outbox", "not_before")
