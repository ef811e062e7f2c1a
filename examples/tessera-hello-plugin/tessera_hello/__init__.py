"""tessera-hello-plugin: per-tenant greetings, a worked example of a third-party plugin.

Tessera loads this module through the ``tessera.plugins`` entry point ``hello`` and
registers it with pluggy: it must expose ``manifest`` and the hook implementations.
"""

from tessera_hello.hooks import (
    tessera_chart_panels,
    tessera_demo_data,
    tessera_migration_dirs,
    tessera_navigation,
    tessera_permissions,
    tessera_routes,
    tessera_static_dirs,
    tessera_template_dirs,
    tessera_tenant_plugin_disabled,
    tessera_tenant_plugin_enabled,
)
from tessera_hello.manifest import manifest

__all__ = [
    "manifest",
    "tessera_chart_panels",
    "tessera_demo_data",
    "tessera_migration_dirs",
    "tessera_navigation",
    "tessera_permissions",
    "tessera_routes",
    "tessera_static_dirs",
    "tessera_template_dirs",
    "tessera_tenant_plugin_disabled",
    "tessera_tenant_plugin_enabled",
]
