"""scheduling: what a reminder's send needs to be exactly-once

Revision ID: scheduling_0002_d
Revises: scheduling_0001

``outbox_id`` is the delayed outbox entry that will send the reminder (withdrawn with it
when the appointment moves or is cancelled). ``claimed_at`` is when a worker marked the
reminder ``sending``, committed before it talks to the mail server: a retry that finds
the mark younger than the send timeout knows another attempt may still be talking.
"""

import sqlalchemy as sa
from alembic import op

revision = "scheduling_0002_d"
down_revision = "scheduling_0001"
branch_labels = None
depends_on = "core_0012"


def upgrade() -> None:
    op.add_column("scheduling_reminders", sa.Column("outbox_id", sa.Uuid(), nullable=True))
    op.add_column("scheduling_reminders", sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        "ck_scheduling_reminders_sending_claimed",
        "scheduling_reminders",
        "status <> 'sending' OR claimed_at IS NOT NULL",
    )


def downgrade() -> None:
    op.drop_constraint("ck_scheduling_reminders_sending_claimed", "scheduling_reminders", type_="check")
    op.drop_column("scheduling_reminders", "claimed_at")
    op.drop_column("scheduling_reminders", "outbox_id")
