"""Alembic revisions of the ``hello`` branch (Alembic skips this file)."""
