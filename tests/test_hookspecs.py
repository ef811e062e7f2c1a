"""Meta-tests that keep the plugin contract honest (after Datasette's test_docs/test_plugins):
every hook — the kernel's and those first-party plugins publish for each other — is
documented in its spec and in docs/plugins.md, and has a test_hook_<name>."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from core import hookspecs

ROOT = Path(__file__).resolve().parent.parent


def _published_specs() -> list:
    """The kernel's hookspecs and every first-party plugin's ``tessera_hookspecs``."""
    modules = [hookspecs]
    for package in sorted((ROOT / "plugins").glob("*/__init__.py")):
        plugin = importlib.import_module(f"plugins.{package.parent.name}")
        if getattr(plugin, "tessera_hookspecs", None) is not None:
            modules.append(plugin.tessera_hookspecs)
    return modules


HOOKS = sorted(
    (name, fn)
    for module in _published_specs()
    for name, fn in inspect.getmembers(module, inspect.isfunction)
    if name.startswith("tessera_")
)


def test_published_plugin_hooks_are_checked_too():
    names = {name for name, _ in HOOKS}
    assert "tessera_scheduling_booking_check" in names


def test_the_kernel_has_the_hooks_the_spine_needs():
    names = {name for name, _ in HOOKS}
    assert {
        "tessera_routes",
        "tessera_migration_dirs",
        "tessera_permissions",
        "tessera_navigation",
        "tessera_template_dirs",
        "tessera_static_dirs",
        "tessera_jobs",
        "tessera_chart_panels",
        "tessera_tenant_plugin_enabled",
        "tessera_tenant_plugin_disabled",
        "tessera_demo_data",
    } <= names


@pytest.mark.parametrize(("name", "fn"), HOOKS, ids=[n for n, _ in HOOKS])
def test_hookspec_is_documented_in_its_docstring(name, fn):
    doc = inspect.getdoc(fn) or ""
    assert len(doc) > 40, f"{name} needs a docstring that says what it is for"
    for param in inspect.signature(fn).parameters:
        assert f":param {param}:" in doc, f"{name} does not document its parameter {param!r}"


@pytest.mark.parametrize(("name", "fn"), HOOKS, ids=[n for n, _ in HOOKS])
def test_hookspec_is_documented_in_the_plugin_guide(name, fn):
    guide = (ROOT / "docs" / "plugins.md").read_text()
    signature = f"{name}({', '.join(inspect.signature(fn).parameters)})"
    assert re.search(rf"^#+ {re.escape(signature)}\s*$", guide, re.MULTILINE), (
        f"docs/plugins.md needs a heading '### {signature}'"
    )


def _test_names() -> set[str]:
    names = set()
    for folder in ("tests", "plugins", "examples"):
        for path in (ROOT / folder).rglob("test_*.py"):
            names.update(re.findall(r"def (test_hook_\w+)\(", path.read_text()))
    return names


@pytest.mark.parametrize(("name", "fn"), HOOKS, ids=[n for n, _ in HOOKS])
def test_hookspec_has_a_test(name, fn):
    assert f"test_hook_{name}" in _test_names(), f"write a test named test_hook_{name}"
