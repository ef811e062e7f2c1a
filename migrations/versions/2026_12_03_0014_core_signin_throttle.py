"""core: the account-wide sign-in lock goes (``users.failed_logins``, ``users.locked_until``)

Revision ID: core_0014
Revises: core_0012

Failed sign-ins are now counted in Redis per (account, site) and per client address, with
growing waits instead of a lock (core/auth/throttle.py, docs/security.md "Throttling"). The
two columns held one lock for the account on every site: five wrong passwords at one
clinic's address locked the person out of all their clinics.
"""

import sqlalchemy as sa
from alembic import op

revision = "core_0014"
down_revision = "core_0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_column("users", "locked_until")
    op.drop_column("users", "failed_logins")


def downgrade() -> None:
    op.add_column("users", sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("users", sa.Column("locked_until", sa.DateTime(timezone=True)))
