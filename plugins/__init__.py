"""First-party plugins. Each sub-package is shaped exactly like a third-party plugin and
is registered through the ``tessera.plugins`` entry-point group in pyproject.toml."""
