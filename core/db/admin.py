"""Owner-side database administration: create the database and roles, run migrations.

These run as the schema owner (``TESSERA_DATABASE_URL``); the app itself never does.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core.settings import REPO_ROOT, Settings

log = logging.getLogger("tessera.db")

CORE_MIGRATIONS = REPO_ROOT / "migrations"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def init_database(settings: Settings) -> list[str]:
    """Create the database (if missing) and the app/platform roles. Idempotent.

    Returns the list of things it did, for the CLI to print.
    """
    done: list[str] = []
    url = make_url(settings.owner_url())
    dbname = url.database or "postgres"
    maintenance = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with maintenance.connect() as conn:
            exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": dbname})
            if not exists:
                await conn.exec_driver_sql(f"CREATE DATABASE {_quote_ident(dbname)}")
                done.append(f"created database {dbname}")
            app, platform = settings.app_db_role, settings.platform_db_role
            sealer = settings.sealer_db_role
            for role, attrs in (
                (app, f"LOGIN NOINHERIT PASSWORD {_quote_literal(settings.app_db_password)}"),
                (platform, "NOLOGIN"),
                (sealer, f"LOGIN NOINHERIT PASSWORD {_quote_literal(settings.sealer_db_password)}"),
            ):
                safe = "NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                has = await conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
                verb = "ALTER" if has else "CREATE"
                await conn.exec_driver_sql(f"{verb} ROLE {_quote_ident(role)} {attrs} {safe}")
                if not has:
                    done.append(f"created role {role}")
            await conn.exec_driver_sql(f"GRANT {_quote_ident(platform)} TO {_quote_ident(app)}")
    finally:
        await maintenance.dispose()

    owner = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with owner.connect() as conn:
            for role in (settings.app_db_role, settings.platform_db_role, settings.sealer_db_role):
                await conn.exec_driver_sql(
                    f"GRANT CONNECT ON DATABASE {_quote_ident(dbname)} TO {_quote_ident(role)}"
                )
                await conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {_quote_ident(role)}")
            # Nobody but the owner creates objects in the schema.
            await conn.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    finally:
        await owner.dispose()
    return done


def alembic_config(settings: Settings, migration_dirs: list[Path]) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(CORE_MIGRATIONS))
    locations = [CORE_MIGRATIONS / "versions", *migration_dirs]
    cfg.set_main_option("version_locations", " ".join(str(p) for p in locations))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["settings"] = settings
    return cfg


def upgrade(settings: Settings, migration_dirs: list[Path], target: str = "heads") -> None:
    """Apply core's migrations and every installed plugin's branch (``alembic upgrade heads``).

    Synchronous: Alembic drives its own event loop, so call it outside a running one.
    """
    command.upgrade(alembic_config(settings, migration_dirs), target)


def downgrade_plugin(settings: Settings, migration_dirs: list[Path], plugin: str) -> list[str]:
    """Undo every revision of one plugin's branch (``alembic downgrade <plugin>@base``), so
    its tables go and its revisions leave ``alembic_version``; core and the other branches
    are not touched. Returns the revisions of the branch. Raises ``LookupError`` when no
    installed branch carries the label ``plugin``."""
    from alembic.script import ScriptDirectory

    config = alembic_config(settings, migration_dirs)
    script = ScriptDirectory.from_config(config)
    branch = [rev.revision for rev in script.walk_revisions() if plugin in rev.branch_labels]
    if not branch:
        labelled = sorted({label for rev in script.walk_revisions() for label in rev.branch_labels})
        raise LookupError(
            f"no migration branch {plugin!r} among the installed plugins "
            f"(branches: {', '.join(labelled) or 'none'}); its package must be installed to downgrade it"
        )
    command.downgrade(config, f"{plugin}@base")
    return branch


def current_heads(settings: Settings, migration_dirs: list[Path]) -> list[str]:
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory.from_config(alembic_config(settings, migration_dirs)).get_heads())
