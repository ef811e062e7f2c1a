"""Alembic environment: core's revisions plus every installed plugin's branch.

Run through ``tessera db upgrade`` (which passes the settings and the plugins' version
locations); it connects as the schema owner, never as the app role.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from core.db.base import Base
from core.db.parking import reconcile_versions
from core.settings import Settings

config = context.config
settings: Settings = config.attributes.get("settings") or Settings.from_env()
target_metadata = Base.metadata


def _run(connection) -> None:
    # Revisions of plugins that are no longer installed would stop Alembic for everyone.
    known = {script.revision for script in context.script.walk_revisions()}
    reconcile_versions(connection, known)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(settings.owner_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=settings.owner_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
