"""Alembic revisions of the ``scheduling`` branch (Alembic skips this file)."""
