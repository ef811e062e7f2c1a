"""core: outgoing messages (``core_messages``)

Revision ID: core_0013
Revises: core_0012

``core_messages`` holds each e-mail or text asked for through ``core.messaging`` and the
record of its attempts (``sending`` is committed before the transport is called, so a
retry after a crash knows to reconcile). Tenant table: RLS forced, app role inside its
tenant only.
"""

import sqlalchemy as sa
from alembic import op

from core.db.rls import protect_tenant_table

revision = "core_0013"
down_revision = "core_0012"
branch_labels = None
depends_on = None


def _tenant_fk(table: str) -> sa.Column:
    return sa.Column(
        "tenant_id",
        sa.Uuid(),
        sa.ForeignKey("tenants.id", name=f"fk_{table}_tenant_id_tenants"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "core_messages",
        _tenant_fk("core_messages"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("purpose", sa.String(80), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False, server_default=""),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("transport", sa.String(16)),
        sa.Column("transport_id", sa.Text()),
        sa.Column("detail", sa.Text()),
        sa.Column("outbox_id", sa.Uuid()),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_core_messages"),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed')", name="ck_core_messages_status_known"
        ),
        sa.CheckConstraint("channel IN ('email', 'sms')", name="ck_core_messages_channel_known"),
    )
    protect_tenant_table("core_messages", privileges="SELECT, INSERT, UPDATE")


def downgrade() -> None:
    op.drop_table("core_messages")
