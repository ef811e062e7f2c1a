"""core: tenant registry, per-tenant plugins, outbox

Revision ID: core_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from core.db.rls import grant_global_table, protect_tenant_table
from core.tenancy.models import SLUG_PATTERN

revision = "core_0001"
down_revision = None
branch_labels = ("core",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("preset", sa.String(40)),
        sa.Column("time_zone", sa.Text(), nullable=False, server_default="UTC"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("config_version", sa.Integer(), nullable=False, server_default="1"),
        sa.CheckConstraint(f"slug ~ '{SLUG_PATTERN}'", name="ck_tenants_slug_format"),
        sa.CheckConstraint("status IN ('active', 'suspended')", name="ck_tenants_status_known"),
        sa.UniqueConstraint("slug", name="uq_tenants_slug"),
    )
    # The app reads the registry to resolve hosts; the platform area and CLI create and
    # suspend tenants through it (no DELETE: purging a tenant runs as the owner).
    grant_global_table("tenants", "SELECT, INSERT, UPDATE")

    op.create_table(
        "tenant_plugins",
        sa.Column(
            "tenant_id",
            sa.Uuid(),
            sa.ForeignKey("tenants.id", name="fk_tenant_plugins_tenant_id_tenants"),
            nullable=False,
        ),
        sa.Column("plugin", sa.String(40), nullable=False),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
        sa.Column("config", JSONB(), nullable=False, server_default="{}"),
        sa.PrimaryKeyConstraint("tenant_id", "plugin", name="pk_tenant_plugins"),
    )
    protect_tenant_table("tenant_plugins", platform_privileges="SELECT")

    op.create_table(
        "core_outbox",
        sa.Column(
            "tenant_id",
            sa.Uuid(),
            sa.ForeignKey("tenants.id", name="fk_core_outbox_tenant_id_tenants"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job", sa.String(120), nullable=False),
        sa.Column("kwargs", JSONB(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("enqueued_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_core_outbox"),
        sa.CheckConstraint(
            "status IN ('pending', 'enqueued', 'done', 'failed')", name="ck_core_outbox_status_known"
        ),
    )
    op.create_index(
        "ix_core_outbox_open",
        "core_outbox",
        ["status", "created_at"],
        postgresql_where=sa.text("status IN ('pending', 'enqueued')"),
    )
    # The dispatcher and sweeper (unscoped platform code) claim entries of every tenant.
    protect_tenant_table("core_outbox", platform_privileges="SELECT, UPDATE")


def downgrade() -> None:
    op.drop_table("core_outbox")
    op.drop_table("tenant_plugins")
    op.drop_table("tenants")
