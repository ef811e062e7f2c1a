"""scheduling: one head again (merges the waitlist-offer and reminder-sending revisions)

Revision ID: scheduling_0003
Revises: scheduling_0002_c, scheduling_0002_d

The two 0002 revisions were written side by side on ``scheduling_0001``; each plugin's branch
must end in exactly one head (tests/test_migration_meta.py), so a later revision has one
parent and ``tessera db downgrade --plugin scheduling`` walks one line. Changes nothing.
"""

revision = "scheduling_0003"
down_revision = ("scheduling_0002_c", "scheduling_0002_d")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
