"""``tessera plugins new NAME``: write a complete plugin package that passes its own tests.

The package has a manifest, the entry point, one tenant-owned model with its own
migration branch, one page, one JSON route, a permission and tests that run against the
real kernel with ``core.testing``. The files are written from the templates in
``new_plugin_files/`` (``{{name}}``, ``{{dash}}``, ``{{title}}`` and ``{{core_dist}}``
are filled in).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from core.plugins.manifest import NAME_RE

FILES = Path(__file__).parent / "new_plugin_files"

#: template -> where it goes in the package folder ({name} is the import package)
LAYOUT = {
    "pyproject.toml.tpl": "pyproject.toml",
    "README.md.tpl": "README.md",
    "__init__.py.tpl": "{name}/__init__.py",
    "manifest.py.tpl": "{name}/manifest.py",
    "hooks.py.tpl": "{name}/hooks.py",
    "models.py.tpl": "{name}/models.py",
    "routes.py.tpl": "{name}/routes.py",
    "migration.py.tpl": "{name}/migrations/0001_{name}_items.py",
    "page.html.tpl": "{name}/templates/{name}/page.html",
    "conftest.py.tpl": "tests/conftest.py",
    "test_plugin.py.tpl": "tests/test_plugin.py",
}


class NewPluginError(ValueError):
    """The name or the folder does not do; the message says what to change."""


def core_distribution() -> str:
    """The name of the distribution that ships ``core`` (what a plugin depends on)."""
    return (importlib.metadata.packages_distributions().get("core") or ["tessera"])[0]


def write_plugin(name: str, parent: Path) -> Path:
    """Write the package of plugin ``name`` into ``parent/tessera-<name>``; returns it."""
    if not NAME_RE.match(name):
        raise NewPluginError(
            f"{name!r} cannot be a plugin name: use 2 to 40 lower-case letters, digits and "
            "underscores, starting with a letter (e.g. acme_notes)"
        )
    dash = name.replace("_", "-")
    target = parent / f"tessera-{dash}"
    if target.exists():
        raise NewPluginError(f"{target} already exists; choose another folder or name")
    values = {
        "name": name,
        "dash": dash,
        "title": name.replace("_", " ").capitalize(),
        "core_dist": core_distribution(),
    }
    for template, where in LAYOUT.items():
        text = (FILES / template).read_text()
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        path = target / where.format(name=name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (target / name / "migrations" / "__init__.py").write_text("")
    return target
