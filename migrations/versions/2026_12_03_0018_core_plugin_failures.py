"""core: plugin failures counted per tenant, plugin and hook, for the platform operator

Revision ID: core_0018
Revises: core_0012

One plugin's exception in a robust hook (navigation, panels, worklist, event consumers)
is skipped instead of failing the page or job; this table is where it is counted
(``core.plugins.failures``). The app role writes its tenant's rows; the platform role
reads every tenant's for ``/platform/plugins``.
"""

import sqlalchemy as sa
from alembic import op

from core.db.rls import protect_tenant_table

revision = "core_0018"
down_revision = "core_0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_plugin_failures",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("plugin", sa.String(40), nullable=False),
        sa.Column("hook", sa.String(120), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_error", sa.String(300), nullable=False),
        sa.Column("last_request_id", sa.String(64)),
        sa.PrimaryKeyConstraint("tenant_id", "plugin", "hook", name="pk_core_plugin_failures"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_core_plugin_failures_tenant_id_tenants"
        ),
    )
    protect_tenant_table(
        "core_plugin_failures", privileges="SELECT, INSERT, UPDATE", platform_privileges="SELECT"
    )


def downgrade() -> None:
    op.drop_table("core_plugin_failures")
