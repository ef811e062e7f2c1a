"""core: outgoing messages (``core_messages``) and pending invitations (``invitations``)

Revision ID: core_0013
Revises: core_0012

``core_messages`` holds each e-mail or text asked for through ``core.messaging`` and the
record of its attempts (``sending`` is committed before the transport is called, so a
retry after a crash knows to reconcile). Tenant table: RLS forced, app role inside its
tenant only.

``invitations`` holds a clinic's invitation of an e-mail address until the invitee accepts
it (then a membership is made); inviting no longer touches an existing account. Tenant
table: RLS forced; one pending invitation per address and clinic.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

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

    op.create_table(
        "invitations",
        _tenant_fk("invitations"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("roles", ARRAY(sa.String(40)), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("invited_by", sa.Uuid(), sa.ForeignKey("users.id", name="fk_invitations_invited_by_users")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", name="fk_invitations_user_id_users")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_invitations"),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'revoked')", name="ck_invitations_status_known"
        ),
    )
    op.create_index(
        "uq_invitations_pending_email",
        "invitations",
        ["tenant_id", sa.text("lower(email)")],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    protect_tenant_table("invitations", privileges="SELECT, INSERT, UPDATE")


def downgrade() -> None:
    op.drop_table("invitations")
    op.drop_table("core_messages")
