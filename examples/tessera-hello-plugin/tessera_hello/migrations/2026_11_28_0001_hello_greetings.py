"""hello: greetings

Revision ID: hello_0001
"""

import sqlalchemy as sa
from alembic import op

from core.plugin_api import protect_tenant_table

revision = "hello_0001"
down_revision = None
branch_labels = ("hello",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "hello_greetings",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_hello_greetings"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_hello_greetings_tenant_id_tenants"),
        sa.CheckConstraint("char_length(text) BETWEEN 1 AND 200", name="ck_hello_greetings_text_length"),
    )
    protect_tenant_table("hello_greetings")


def downgrade() -> None:
    op.drop_table("hello_greetings")
