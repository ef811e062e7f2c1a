"""{{title}}: a Tessera plugin.

Tessera loads this module through the ``tessera.plugins`` entry point ``{{name}}``: it
exposes ``manifest`` and the hook implementations.
"""

from {{name}}.hooks import (
    tessera_migration_dirs,
    tessera_navigation,
    tessera_permissions,
    tessera_routes,
    tessera_template_dirs,
)
from {{name}}.manifest import manifest

__all__ = [
    "manifest",
    "tessera_migration_dirs",
    "tessera_navigation",
    "tessera_permissions",
    "tessera_routes",
    "tessera_template_dirs",
]
