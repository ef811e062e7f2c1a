"""Removing a plugin: `tessera db upgrade` keeps working for core and the other plugins
when a plugin's package is gone or blocked, `tessera db downgrade --plugin` undoes one
branch, and `tessera plugins uninstall` refuses while the plugin is in use.

Throwaway plugins are written to a temporary folder and loaded by import path; everything
runs in a database of its own (``<test database>_removal``) so the session's stays as is.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from core.app import build_registry
from core.db.admin import init_database, upgrade
from core.db.parking import PARKED_TABLE
from core.lifecycle.uninstall import plugin_tables
from core.settings import Settings
from tests.fixtures import migration_dirs
from tests.test_cli import assert_one_line_error

PLUGIN = """
from pathlib import Path

from core.plugin_api import Manifest, hookimpl

manifest = Manifest(
    name="{name}", version="0.1.0", title="{name}", description="thrown away by a test", core=">=0.1,<1.0"
)


@hookimpl
def tessera_migration_dirs():
    return [Path(__file__).parent / "migrations"]
"""

FIRST = """
import sqlalchemy as sa
from alembic import op

from core.plugin_api import protect_tenant_table

revision = "{name}_0001"
down_revision = None
branch_labels = ("{name}",)
depends_on = "core_0001"


def upgrade():
    op.create_table(
        "{name}_items",
        sa.Column("tenant_id", sa.Uuid(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_{name}_items"),
    )
    protect_tenant_table("{name}_items")


def downgrade():
    op.drop_table("{name}_items")
"""

SECOND = """
import sqlalchemy as sa
from alembic import op

revision = "{name}_0002"
down_revision = "{name}_0001"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("{name}_items", sa.Column("label", sa.Text(), nullable=True))


def downgrade():
    op.drop_column("{name}_items", "label")
"""


def write_plugin(folder: Path, name: str) -> None:
    package = folder / name
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN.format(name=name))
    (package / "migrations" / "__init__.py").write_text("")
    (package / "migrations" / f"{name}_0001.py").write_text(FIRST.format(name=name))
    (package / "migrations" / f"{name}_0002.py").write_text(SECOND.format(name=name))


async def _recreate(url: str) -> None:
    parsed = make_url(url)
    engine = create_async_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
            await conn.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await engine.dispose()


def query(settings: Settings, sql: str, **params):
    async def run():
        engine = create_async_engine(settings.owner_url())
        try:
            async with engine.begin() as conn:
                return (await conn.execute(text(sql), params)).all()
        finally:
            await engine.dispose()

    return asyncio.run(run())


def versions(settings: Settings) -> set[str]:
    return {row[0] for row in query(settings, "SELECT version_num FROM alembic_version")}


def tables(settings: Settings) -> set[str]:
    return {row[0] for row in query(settings, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


@pytest.fixture(scope="module")
def removal(settings: Settings, tmp_path_factory):
    """Settings for a database of its own, and a folder with two throwaway plugins on
    sys.path (and on PYTHONPATH for the CLI's subprocesses)."""
    folder = tmp_path_factory.mktemp("throwaway")
    suffix = uuid.uuid4().hex[:6]
    names = (f"gone_{suffix}", f"fresh_{suffix}")
    for name in names:
        write_plugin(folder, name)
    url = make_url(settings.database_url)
    own = settings.with_(
        database_url=url.set(database=f"{url.database}_removal").render_as_string(hide_password=False)
    )
    asyncio.run(_recreate(own.database_url))
    asyncio.run(init_database(own))
    sys.path.insert(0, str(folder))
    try:
        yield own, folder, names
    finally:
        sys.path.remove(str(folder))


def with_plugins(settings: Settings, *modules: str, blocked: tuple[str, ...] = ()) -> Settings:
    return settings.with_(plugin_modules=(*settings.plugin_modules, *modules), plugins_blocked=blocked)


def migrate(settings: Settings) -> None:
    upgrade(settings, migration_dirs(build_registry(settings)))


def test_upgrade_goes_on_without_a_removed_plugin_and_resumes_when_it_returns(removal):
    base, _, (gone, fresh) = removal
    migrate(with_plugins(base, gone))
    assert f"{gone}_0002" in versions(base)
    assert f"{gone}_items" in tables(base)

    # The package is gone and another plugin arrives: core and the newcomer still migrate
    # (this raised "Can't locate revision identified by 'gone_..._0002'" before parking).
    migrate(with_plugins(base, fresh))
    assert f"{fresh}_0002" in versions(base)
    assert f"{gone}_0002" not in versions(base)
    assert query(base, f"SELECT revision FROM {PARKED_TABLE}") == [(f"{gone}_0002",)]
    assert f"{gone}_items" in tables(base)  # its data is not touched

    # Blocked instead of removed: the same.
    migrate(with_plugins(base, gone, fresh, blocked=(gone,)))
    assert f"{gone}_0002" not in versions(base)
    # It comes back: its branch continues from 0002 instead of creating its table again.
    migrate(with_plugins(base, gone, fresh))
    assert {f"{gone}_0002", f"{fresh}_0002"} <= versions(base)
    assert query(base, f"SELECT revision FROM {PARKED_TABLE}") == []


def tessera(
    base: Settings, folder: Path, *args: str, modules: tuple[str, ...]
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "TESSERA_DATABASE_URL": base.database_url,
        "TESSERA_PLUGIN_MODULES": ",".join((*base.plugin_modules, *modules)),
        "PYTHONPATH": os.pathsep.join([str(folder), str(Path(__file__).resolve().parent.parent)]),
    }
    env.pop("TESSERA_EMBEDDED", None)
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_downgrade_plugin_undoes_one_branch_only(removal):
    base, folder, (gone, fresh) = removal
    migrate(with_plugins(base, gone, fresh))
    before = versions(base)
    result = tessera(base, folder, "db", "downgrade", "--plugin", fresh, modules=(gone, fresh))
    assert result.returncode == 0, result.stderr
    assert versions(base) == before - {f"{fresh}_0002"}
    assert f"{fresh}_items" not in tables(base) and f"{gone}_items" in tables(base)
    # Without its package there is nothing to run its downgrade steps with.
    missing = tessera(base, folder, "db", "downgrade", "--plugin", fresh, modules=(gone,))
    assert_one_line_error(missing, f"no migration branch {fresh!r}")
    # Upgrading again brings it back.
    migrate(with_plugins(base, gone, fresh))
    assert f"{fresh}_items" in tables(base)


def test_uninstall_refuses_while_enabled_or_holding_data(removal):
    base, folder, (gone, fresh) = removal
    settings = with_plugins(base, gone, fresh)
    migrate(settings)
    slug = f"rm-{uuid.uuid4().hex[:8]}"
    modules = (gone, fresh)
    assert (
        tessera(
            base, folder, "tenants", "create", "--slug", slug, "--name", "Removal", modules=modules
        ).returncode
        == 0
    )
    assert tessera(base, folder, "plugins", "enable", gone, "--tenant", slug, modules=modules).returncode == 0

    enabled = tessera(base, folder, "plugins", "uninstall", gone, modules=modules)
    assert_one_line_error(enabled, f"plugin {gone!r} is enabled for 1 tenant(s) ({slug})")
    assert (
        tessera(base, folder, "plugins", "disable", gone, "--tenant", slug, modules=modules).returncode == 0
    )

    (tenant_id,) = query(base, "SELECT id FROM tenants WHERE slug = :s", s=slug)[0]
    _insert_as_tenant(base, f"{gone}_items", tenant_id)
    holding = tessera(base, folder, "plugins", "uninstall", gone, modules=modules)
    assert_one_line_error(holding, f"{gone}_items (1 rows)", "--drop-tables")
    assert f"{gone}_items" in tables(base)

    dropped = tessera(base, folder, "plugins", "uninstall", gone, "--drop-tables", modules=modules)
    assert dropped.returncode == 0, dropped.stderr
    assert f"{gone}_items" not in tables(base)
    assert not {v for v in versions(base) if v.startswith(gone)}
    assert query(base, "SELECT count(*) FROM tenant_plugins WHERE plugin = :p", p=gone) == [(0,)]
    # Its package may now go: upgrade without it has nothing to park and migrates the rest.
    migrate(with_plugins(base, fresh))
    assert query(base, f"SELECT revision FROM {PARKED_TABLE} WHERE revision LIKE :p", p=f"{gone}%") == []

    builtin = tessera(base, folder, "plugins", "uninstall", "core", modules=(fresh,))
    assert_one_line_error(builtin, "part of core")
    unknown = tessera(base, folder, "plugins", "uninstall", "nonesuch", modules=(fresh,))
    assert_one_line_error(unknown, "'nonesuch' is not installed")


def _insert_as_tenant(settings: Settings, table: str, tenant_id) -> None:
    async def run():
        engine = create_async_engine(settings.owner_url())
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)}
                )
                await conn.execute(
                    text(f"INSERT INTO {table} (tenant_id, id) VALUES (:t, :i)"),
                    {"t": tenant_id, "i": uuid.uuid4()},
                )
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_plugin_tables_are_its_namespace_only():
    assert plugin_tables(
        ["hello_greetings", "hello_world_items", "helloish", "patients"], "hello", ["hello", "hello_world"]
    ) == ["hello_greetings"]
