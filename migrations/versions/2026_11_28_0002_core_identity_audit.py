"""core: users, platform operators, memberships, API tokens, audit log, session policy

Revision ID: core_0002
Revises: core_0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from core.db.rls import grant_global_table, protect_tenant_table, sealer_access

revision = "core_0002"
down_revision = "core_0001"
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
    op.add_column(
        "tenants", sa.Column("session_idle_seconds", sa.Integer(), nullable=False, server_default="900")
    )
    op.add_column(
        "tenants", sa.Column("session_max_seconds", sa.Integer(), nullable=False, server_default="43200")
    )
    op.add_column("tenants", sa.Column("mfa_required", sa.Boolean(), nullable=False, server_default="false"))

    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text()),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default="true"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("password_changed_at", sa.DateTime(timezone=True)),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("mfa_secret", sa.Text()),
        sa.Column("mfa_enabled_at", sa.DateTime(timezone=True)),
        sa.Column("recovery_codes", JSONB(), nullable=False, server_default="[]"),
    )
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
    grant_global_table("users", "SELECT, INSERT, UPDATE")

    op.create_table(
        "platform_operators",
        sa.Column(
            "user_id",
            sa.Uuid(),
            sa.ForeignKey("users.id", name="fk_platform_operators_user_id_users"),
            primary_key=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    grant_global_table("platform_operators", "SELECT, INSERT, DELETE")

    op.create_table(
        "memberships",
        _tenant_fk("memberships"),
        sa.Column(
            "user_id",
            sa.Uuid(),
            sa.ForeignKey("users.id", name="fk_memberships_user_id_users"),
            nullable=False,
        ),
        sa.Column("roles", ARRAY(sa.String(40)), nullable=False, server_default="{}"),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", name="pk_memberships"),
        sa.CheckConstraint("status IN ('active', 'deactivated')", name="ck_memberships_status_known"),
    )
    op.create_index("ix_memberships_user", "memberships", ["user_id"])
    # The tenant switcher lists one user's memberships across tenants (platform role).
    protect_tenant_table("memberships", privileges="SELECT, INSERT, UPDATE", platform_privileges="SELECT")

    op.create_table(
        "api_tokens",
        _tenant_fk("api_tokens"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "user_id",
            sa.Uuid(),
            sa.ForeignKey("users.id", name="fk_api_tokens_user_id_users"),
            nullable=False,
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("token_digest", sa.LargeBinary(), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("scopes", ARRAY(sa.Text()), nullable=False, server_default="{}"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_api_tokens"),
    )
    op.create_index("uq_api_tokens_digest", "api_tokens", ["token_digest"], unique=True)
    protect_tenant_table("api_tokens", privileges="SELECT, INSERT, UPDATE")

    op.create_table(
        "audit_events",
        _tenant_fk("audit_events"),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.clock_timestamp(),
        ),
        sa.Column("actor_type", sa.String(16), nullable=False),
        sa.Column("actor_user_id", sa.Uuid()),
        sa.Column("actor_token_id", sa.Uuid()),
        sa.Column("actor_label", sa.Text()),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.Text()),
        sa.Column("patient_id", sa.Uuid()),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("client_ip", sa.String(64)),
        sa.Column("user_agent", sa.String(512)),
        sa.Column("reason", sa.Text()),
        sa.Column("emergency", sa.Boolean(), nullable=False, server_default="false"),
        sa.Column("detail", JSONB(), nullable=False, server_default="{}"),
        sa.Column("seal_seq", sa.BigInteger()),
        sa.Column("prev_hash", sa.LargeBinary()),
        sa.Column("hash", sa.LargeBinary()),
        sa.Column("sealed_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_audit_events"),
        sa.CheckConstraint(
            "outcome IN ('success', 'denied', 'failure')", name="ck_audit_events_outcome_known"
        ),
    )
    op.create_index("ix_audit_events_time", "audit_events", ["tenant_id", sa.text("occurred_at DESC")])
    op.create_index(
        "ix_audit_events_patient",
        "audit_events",
        ["tenant_id", "patient_id", sa.text("occurred_at DESC")],
        postgresql_where=sa.text("patient_id IS NOT NULL"),
    )
    op.create_index(
        "ix_audit_events_actor", "audit_events", ["tenant_id", "actor_user_id", sa.text("occurred_at DESC")]
    )
    op.create_index("uq_audit_events_seal", "audit_events", ["tenant_id", "seal_seq"], unique=True)
    op.create_index(
        "ix_audit_events_unsealed",
        "audit_events",
        ["tenant_id"],
        postgresql_where=sa.text("seal_seq IS NULL"),
    )
    # Append-only for the app: INSERT and SELECT, never UPDATE or DELETE.
    protect_tenant_table("audit_events", privileges="SELECT, INSERT")
    sealer_access(
        "audit_events", read="SELECT", update_columns=("seal_seq", "prev_hash", "hash", "sealed_at")
    )


def downgrade() -> None:
    for table in ("audit_events", "api_tokens", "memberships", "platform_operators", "users"):
        op.drop_table(table)
    for column in ("mfa_required", "session_max_seconds", "session_idle_seconds"):
        op.drop_column("tenants", column)
