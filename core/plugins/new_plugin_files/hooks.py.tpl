"""The hook implementations: what the plugin adds to Tessera."""

from __future__ import annotations

from pathlib import Path

from core.plugin_api import NavItem, Permission, hookimpl

HERE = Path(__file__).parent


@hookimpl
def tessera_routes():
    from {{name}}.routes import ROUTES

    return ROUTES


@hookimpl
def tessera_migration_dirs():
    return [HERE / "migrations"]


@hookimpl
def tessera_template_dirs():
    return [HERE / "templates"]


@hookimpl
def tessera_permissions():
    return [
        Permission(
            "{{name}}:items",
            ("read", "write"),
            "Read the clinic's {{title}} items and add new ones",
            default_grants={"owner": ("read", "write"), "clinician": ("read", "write")},
        )
    ]


@hookimpl
def tessera_navigation(request):
    return [NavItem(label="{{title}}", href="/{{dash}}", order=70, permission="{{name}}:items")]
