"""Revisions of plugins that are gone: set aside before migrating, put back when they return.

``alembic_version`` holds one row per branch head. When a plugin's package is removed (or
blocked with ``TESSERA_PLUGINS_BLOCKED``) its branch is no longer among the version
locations, and Alembic refuses to do anything ("Can't locate revision identified by ...")
for core and every other plugin too. Before each ``tessera db upgrade`` / ``downgrade``,
``migrations/env.py`` calls :func:`reconcile_versions`: rows no installed branch knows move
to ``alembic_parked_revisions``, and parked rows whose branch is known again move back, so a
returning plugin continues where it stopped instead of creating its tables again. Both moves
happen in one transaction with the version rows themselves, so nothing is lost halfway.

The table is migration bookkeeping like ``alembic_version`` (created here, not by a
revision: the first upgrade after a plugin disappeared could not run a revision yet). Only
the schema owner uses it.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, inspect, text

log = logging.getLogger("tessera.db")

PARKED_TABLE = "alembic_parked_revisions"
VERSION_TABLE = "alembic_version"


def reconcile_versions(connection: Connection, known: set[str]) -> tuple[list[str], list[str]]:
    """Park unknown version rows and restore known parked ones; returns ``(parked,
    restored)``. Commits its own transaction (the caller migrates afterwards)."""
    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE not in tables:
        connection.commit()
        return [], []
    if PARKED_TABLE not in tables:
        connection.execute(
            text(
                f"CREATE TABLE {PARKED_TABLE} (revision varchar(64) PRIMARY KEY, "
                "parked_at timestamptz NOT NULL DEFAULT now())"
            )
        )
    current = set(connection.scalars(text(f"SELECT version_num FROM {VERSION_TABLE}")))
    parked = set(connection.scalars(text(f"SELECT revision FROM {PARKED_TABLE}")))
    to_park = sorted(current - known)
    to_restore = sorted((parked & known) - current)
    for revision in to_park:
        connection.execute(text(f"INSERT INTO {PARKED_TABLE} (revision) VALUES (:r)"), {"r": revision})
        connection.execute(text(f"DELETE FROM {VERSION_TABLE} WHERE version_num = :r"), {"r": revision})
        log.warning(
            "revision %s belongs to no installed plugin (removed or blocked): set aside in %s "
            "until it returns",
            revision,
            PARKED_TABLE,
        )
    for revision in to_restore:
        connection.execute(text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:r)"), {"r": revision})
        log.info("revision %s is known again: its branch continues from there", revision)
    if parked & known:
        connection.execute(
            text(f"DELETE FROM {PARKED_TABLE} WHERE revision = ANY(:r)"), {"r": sorted(parked & known)}
        )
    connection.commit()
    return to_park, to_restore
